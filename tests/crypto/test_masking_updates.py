"""Masked updates on real TenSEAL ciphertexts: exact cancellation, hiding, dropouts, reveals."""

from __future__ import annotations

import tempfile
from typing import Any

import numpy as np
import pytest
import tenseal as ts
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import given, settings
from hypothesis import strategies as st
from tenseal import sealapi

import fedledger_crypto as fc
from fedledger_crypto import masking as mk

CONTEXT = mk.RoundContext(31337, "0x" + "ab" * 20, 7)
HEADROOM = fc.HeadroomPolicy(fc.DEFAULT_PARAMS, max_clients=16)
ACCOUNTS = [Account.from_key((i + 1).to_bytes(32, "big")) for i in range(10)]
KEYS = {a.address: fc.public_key_of(a) for a in ACCOUNTS}


def _mask(account: LocalAccount, graph: mk.NeighbourGraph, ctx: mk.RoundContext = CONTEXT) -> Any:
    return mk.participant_mask(bytes(account.key), account.address, graph, KEYS, ctx)


@pytest.fixture(scope="module")
def deterministic(secret_context: Any) -> fc.UpdateEncryptor:
    """An encryptor whose SEAL randomness is fixed: every encryption of the same plaintext
    draws the same ``a`` and ``e``. Masked and unmasked encryptions of an update then differ
    only by the mask in ``c0``, so their sums can be compared byte for byte.
    """
    parms = secret_context.data.seal_context().key_context_data().parms()
    fixed = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS)
    fixed.set_poly_modulus_degree(parms.poly_modulus_degree())
    fixed.set_coeff_modulus(parms.coeff_modulus())
    fixed.set_random_generator(sealapi.Blake2xbPRNGFactory([7] * 8))
    seal_context = sealapi.SEALContext(fixed, True, sealapi.SEC_LEVEL_TYPE.TC128)
    encryptor = fc.UpdateEncryptor(secret_context)
    encryptor._seal._encryptor = sealapi.Encryptor(seal_context, secret_context.data.secret_key())
    return encryptor


@settings(max_examples=6, deadline=None)
@given(
    n=st.integers(min_value=2, max_value=8),
    half=st.integers(min_value=1, max_value=3),
    complete_up_to=st.sampled_from([1, 32]),
    randomness=st.binary(min_size=32, max_size=32),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_masks_cancel_exactly_in_the_encrypted_sum(
    deterministic: fc.UpdateEncryptor,
    parameters_context: Any,
    *,
    n: int,
    half: int,
    complete_up_to: int,
    randomness: bytes,
    seed: int,
) -> None:
    # Prepare: n participants, a graph (complete or k-regular), one update each.
    accounts = ACCOUNTS[:n]
    graph = mk.neighbour_graph(
        [a.address for a in accounts], randomness, complete_up_to=complete_up_to, degree=2 * half
    )
    schema = fc.UpdateSchema(fc.TensorLayout.vector(5000))  # two chunks
    rng = np.random.default_rng(seed)
    values = [rng.uniform(-1, 1, 5000) for _ in accounts]
    # Execute: encrypt each update with and without its mask, under the same SEAL randomness.
    plain = [deterministic.encrypt(schema, v, weight=1.0, headroom=HEADROOM) for v in values]
    masked = [
        deterministic.encrypt(schema, v, weight=1.0, headroom=HEADROOM, mask=_mask(a, graph))
        for a, v in zip(accounts, values, strict=True)
    ]
    # Assert: every update changed, and the sums are the same bytes — the same ciphertext, so
    # the same plaintext polynomial coefficient for coefficient.
    assert all(m != p for m, p in zip(masked, plain, strict=True))
    assert fc.aggregate_blobs(parameters_context, masked) == fc.aggregate_blobs(
        parameters_context, plain
    )


def _c0_c1(chunk: bytes, ctx: Any) -> tuple[np.ndarray, np.ndarray]:
    """A chunk's two ciphertext polynomials as SEAL holds them (NTT form, ``c1`` expanded from
    its seed), read through SEAL's own loader."""
    ct = ts.ckks_vector_from(ctx, chunk).data.ciphertext()[0]
    with tempfile.TemporaryDirectory() as scratch:
        ct.save(f"{scratch}/ct")
        loaded = sealapi.Ciphertext()
        loaded.load(ctx.data.seal_context(), f"{scratch}/ct")
    data = loaded.dyn_array()
    words = np.fromiter((data.at(i) for i in range(2 * 4096)), dtype=np.uint64, count=2 * 4096)
    return words[:4096], words[4096:]


def test_a_masked_chunk_is_the_unmasked_chunk_with_the_mask_added_to_c0(
    deterministic: fc.UpdateEncryptor, parameters_context: Any
) -> None:
    # Prepare: one chunk's values, its mask polynomial, SEAL's randomness fixed.
    schema = fc.UpdateSchema(fc.TensorLayout.vector(3000))
    values = np.random.default_rng(3).uniform(-1, 1, 3000)
    graph = mk.neighbour_graph([a.address for a in ACCOUNTS[:8]], bytes(32))
    mask = _mask(ACCOUNTS[0], graph)
    q = np.uint64(deterministic._seal.io.moduli[0])
    (r,) = mask.polynomials(deterministic._seal.io.moduli, 4096, 0, 1)[0]
    # Execute: the same encryption without and with the mask.
    plain = deterministic.encrypt(schema, values, weight=1.0, headroom=HEADROOM)
    masked = deterministic.encrypt(schema, values, weight=1.0, headroom=HEADROOM, mask=mask)
    header = fc.parse_header(plain, fc.DEFAULT_PARAMS)
    (start, end), (m_start, m_end) = (
        header.chunk_spans[0],
        fc.parse_header(masked, fc.DEFAULT_PARAMS).chunk_spans[0],
    )
    offset = len(plain) - header.chunk_spans[-1][1]
    p0, p1 = _c0_c1(plain[offset + start : offset + end], parameters_context)
    m0, m1 = _c0_c1(masked[offset + m_start : offset + m_end], parameters_context)
    # Assert: the same a (c1, expanded from the same seed) and c0 + r exactly, modulo q.
    assert np.array_equal(m1, p1)
    assert np.array_equal(m0, (p0 + r) % q)
    assert not np.array_equal(m0, p0)


def _plaintext_residues(encryptor: fc.UpdateEncryptor, blob: bytes, ctx: Any) -> np.ndarray:
    """The decrypted plaintext polynomials of a blob, residues mod q as SEAL holds them."""
    _, vectors = fc.load_blob(blob, ctx, fc.DEFAULT_PARAMS)
    decryptor = sealapi.Decryptor(ctx.data.seal_context(), ctx.data.secret_key())
    out = []
    for vector in vectors:
        plain = sealapi.Plaintext()
        decryptor.decrypt(vector.data.ciphertext()[0], plain)
        out.append(np.fromiter((plain[i] for i in range(4096)), dtype=np.uint64, count=4096))
    return np.concatenate(out)


def test_a_masked_update_decrypts_to_noise_while_the_sum_is_exact(
    encryptor: fc.UpdateEncryptor, secret_context: Any, parameters_context: Any
) -> None:
    # Prepare: three participants, 100,000 values each with a strong signal (values ≈ index).
    size = 100_000
    schema = fc.UpdateSchema(fc.TensorLayout.vector(size))
    graph = mk.neighbour_graph([a.address for a in ACCOUNTS[:3]], bytes(32))
    rng = np.random.default_rng(0)
    values = [np.linspace(-1, 1, size) + 0.01 * rng.standard_normal(size) for _ in range(3)]
    # Execute
    blobs = [
        encryptor.encrypt(schema, v, weight=1.0, headroom=HEADROOM, mask=_mask(a, graph))
        for a, v in zip(ACCOUNTS[:3], values, strict=True)
    ]
    alone = encryptor.decrypt(blobs[0], schema)
    residues = _plaintext_residues(encryptor, blobs[0], secret_context)
    total = encryptor.decrypt(fc.aggregate_blobs(parameters_context, blobs), schema)
    # Assert: one update alone is uncorrelated with its values, its plaintext uniform mod q...
    assert abs(np.corrcoef(alone.values, values[0])[0, 1]) < 0.01
    q = 1152921504606830593
    counts = np.bincount((residues.astype(np.float64) / q * 64).astype(int), minlength=64)
    expected = len(residues) / 64
    assert float(((counts - expected) ** 2 / expected).sum()) < 117.0  # chi2(63) at 0.9999
    # ...and the sum decrypts to the true sum within the encryption noise of three updates.
    bound = 8 * np.sqrt(3) * fc.DEFAULT_PARAMS.noise_std()
    assert np.max(np.abs(total.values - np.sum(values, axis=0))) < bound
    assert abs(total.weight - 3.0) < bound


def test_masking_adds_no_bytes(encryptor: fc.UpdateEncryptor) -> None:
    size = 24 * 4096 - 1  # with the weight: 24 full chunks, as in a large model
    schema = fc.UpdateSchema(fc.TensorLayout.vector(size))
    graph = mk.neighbour_graph([a.address for a in ACCOUNTS[:8]], bytes(32))
    values = np.random.default_rng(1).uniform(-1, 1, size)
    plain = encryptor.encrypt(schema, values, weight=1.0, headroom=HEADROOM)
    masked = encryptor.encrypt(
        schema, values, weight=1.0, headroom=HEADROOM, mask=_mask(ACCOUNTS[0], graph)
    )
    # c0 is uniform modulo q with or without the mask: the compressed size is the same to a
    # few bytes per chunk, and the update keeps its seeded form (8.1 bytes per parameter).
    assert len(masked) <= len(plain) * 1.001
    assert len(masked) / size < 8.1
    assert list(encryptor._seal.io.scratch.iterdir()) == []  # masks pass through files too


# -- dropouts ------------------------------------------------------------------------------------

RING = [a.address for a in ACCOUNTS[:6]]  # a 2-regular graph: not every pair is linked
SCHEMA = fc.UpdateSchema(fc.TensorLayout.vector(5000))


@pytest.fixture(scope="module")
def ring_round(encryptor: fc.UpdateEncryptor) -> tuple[mk.NeighbourGraph, list[Any], list[bytes]]:
    graph = mk.neighbour_graph(RING, bytes(range(32)), complete_up_to=1, degree=2)
    rng = np.random.default_rng(2)
    values = [rng.uniform(-1, 1, 5000) for _ in RING]
    blobs = [
        encryptor.encrypt(SCHEMA, v, weight=1.0, headroom=HEADROOM, mask=_mask(a, graph))
        for a, v in zip(ACCOUNTS[:6], values, strict=True)
    ]
    return graph, values, blobs


def _account_of(address: str) -> LocalAccount:
    return next(a for a in ACCOUNTS if a.address.lower() == address.lower())


def _reveals(graph: mk.NeighbourGraph, dropped: list[str]) -> list[mk.Reveal]:
    return [
        mk.make_reveal(bytes(_account_of(j).key), KEYS[_account_of(d).address], CONTEXT)
        for d in dropped
        for j in graph.of(d)
        if j not in {x.lower() for x in dropped}
    ]


def _correct(graph: mk.NeighbourGraph, dropped: list[str], reveals: list[mk.Reveal]) -> mk.Mask:
    survivors = [m for m in graph.members if m not in {d.lower() for d in dropped}]
    return mk.correction(reveals, graph, survivors, dropped, public_keys=KEYS, context=CONTEXT)


@pytest.mark.parametrize("dropped_at", [(2,), (1, 2), (0, 3)])
def test_corrections_recover_the_survivors_sum(
    ring_round: Any, encryptor: fc.UpdateEncryptor, parameters_context: Any, dropped_at: tuple[int]
) -> None:
    # Prepare: the sum of the survivors' masked updates only.
    graph, values, blobs = ring_round
    dropped = [RING[i] for i in dropped_at]
    kept = [i for i in range(len(RING)) if i not in dropped_at]
    aggregate = fc.aggregate_blobs(parameters_context, [blobs[i] for i in kept])
    # Execute: survivors reveal, anyone verifies and corrects (no secret key).
    correction = _correct(graph, dropped, _reveals(graph, dropped))
    fixed = fc.apply_correction(parameters_context, aggregate, correction)
    # Assert: masks gone without a correction would leave noise; with it, the true sum.
    bound = 8 * np.sqrt(len(kept)) * fc.DEFAULT_PARAMS.noise_std()
    truth = np.sum([values[i] for i in kept], axis=0)
    assert np.max(np.abs(encryptor.decrypt(aggregate, SCHEMA).values - truth)) > 1e3
    out = encryptor.decrypt(fixed, SCHEMA)
    assert np.max(np.abs(out.values - truth)) < bound and out.contributors == len(kept)
    assert fixed == fc.apply_correction(parameters_context, aggregate, correction)


def test_a_correction_applied_twice_is_detected(
    ring_round: Any, encryptor: fc.UpdateEncryptor, parameters_context: Any
) -> None:
    graph, values, blobs = ring_round
    dropped = [RING[4]]
    aggregate = fc.aggregate_blobs(parameters_context, [b for i, b in enumerate(blobs) if i != 4])
    correction = _correct(graph, dropped, _reveals(graph, dropped))
    once = fc.apply_correction(parameters_context, aggregate, correction)
    twice = fc.apply_correction(parameters_context, once, correction)
    assert fc.keccak256(twice) != fc.keccak256(once)
    truth = np.sum([v for i, v in enumerate(values) if i != 4], axis=0)
    assert np.max(np.abs(encryptor.decrypt(twice, SCHEMA).values - truth)) > 1e3


def test_a_correction_applies_to_aggregates_only(ring_round: Any, parameters_context: Any) -> None:
    graph, _, blobs = ring_round
    correction = _correct(graph, [RING[4]], _reveals(graph, [RING[4]]))
    with pytest.raises(fc.MalformedBlobError, match="aggregate"):
        fc.apply_correction(parameters_context, blobs[0], correction)


def _forge(reveal: mk.Reveal, **changes: Any) -> mk.Reveal:
    fields = {
        k: getattr(reveal, k) for k in ("revealer", "dropped", "point", "challenge", "response")
    }
    fields.update(changes)
    return mk.Reveal(**fields)


def _flip(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def test_forged_reveals_are_refused(ring_round: Any) -> None:
    graph, _, _ = ring_round
    dropped = RING[2]
    good = _reveals(graph, [dropped])
    j = _account_of(good[0].revealer)
    other = next(
        a for a in ACCOUNTS[:6] if a.address.lower() not in (good[0].revealer, dropped.lower())
    )
    forgeries = {
        "wrong point": _forge(good[0], point=mk.shared_point(bytes(j.key), KEYS[other.address])),
        "altered challenge": _forge(good[0], challenge=_flip(good[0].challenge)),
        "altered response": _forge(good[0], response=_flip(good[0].response)),
        "proof for another round": mk.make_reveal(
            bytes(j.key),
            KEYS[_account_of(dropped).address],
            mk.RoundContext(CONTEXT.chain_id, CONTEXT.ledger, CONTEXT.round + 1),
        ),
        "proof for another pair": _forge(
            mk.make_reveal(bytes(j.key), KEYS[other.address], CONTEXT), dropped=dropped
        ),
    }
    for what, forged in forgeries.items():
        with pytest.raises(fc.RevealError, match=f"round {CONTEXT.round}") as caught:
            _correct(graph, [dropped], [forged, *good[1:]])
        assert good[0].revealer in str(caught.value), what
        with pytest.raises(fc.RevealError, match="does not verify"):
            mk.verify_reveal(
                forged,
                revealer_public_key=KEYS[j.address],
                dropped_public_key=KEYS[_account_of(dropped).address],
                context=CONTEXT,
            )


def test_reveals_outside_the_dropout_edges_are_refused(ring_round: Any) -> None:
    graph, _, _ = ring_round
    dropped = RING[2]
    good = _reveals(graph, [dropped])
    outsider = next(m for m in graph.members if m not in graph.of(dropped) and m != dropped.lower())
    by_outsider = mk.make_reveal(
        bytes(_account_of(outsider).key), KEYS[_account_of(dropped).address], CONTEXT
    )
    with pytest.raises(fc.RevealError, match="not for a surviving neighbour"):
        _correct(graph, [dropped], [*good, by_outsider])
    with pytest.raises(fc.RevealError, match="given twice"):
        _correct(graph, [dropped], [*good, good[0]])
    with pytest.raises(fc.RevealError, match="missing reveals"):
        _correct(graph, [dropped], good[1:])


def test_the_reveal_list_has_one_canonical_encoding(ring_round: Any) -> None:
    graph, _, _ = ring_round
    reveals = _reveals(graph, [RING[1], RING[4]])
    encoded = mk.encode_reveals(reveals, CONTEXT)
    assert encoded == mk.encode_reveals(list(reversed(reveals)), CONTEXT)
    assert mk.reveals_hash(reveals, CONTEXT) == fc.keccak256(encoded)
    assert mk.decode_reveals(encoded) == (
        CONTEXT,
        sorted(reveals, key=lambda r: (r.dropped, r.revealer)),
    )
    other = mk.RoundContext(CONTEXT.chain_id, CONTEXT.ledger, CONTEXT.round + 1)
    assert mk.reveals_hash(reveals, other) != mk.reveals_hash(reveals, CONTEXT)
    with pytest.raises(fc.RevealError, match="bytes"):
        mk.decode_reveals(encoded[:-1])
    swapped = (
        encoded[:69] + encoded[69 + 137 : 69 + 274] + encoded[69 : 69 + 137] + encoded[69 + 274 :]
    )
    with pytest.raises(fc.RevealError, match="canonical"):
        mk.decode_reveals(swapped)
    with pytest.raises(fc.RevealError, match="more than once"):
        mk.encode_reveals([reveals[0], reveals[0]], CONTEXT)
