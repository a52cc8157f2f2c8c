"""Pair seeds, the mask PRG and the neighbour graph: the properties docs/crypto.md claims."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import given, settings
from hypothesis import strategies as st

import fedledger_crypto as fc
from fedledger_crypto import masking as mk

CONTEXT = mk.RoundContext(31337, "0x" + "ab" * 20, 7)
Q60 = 1152921504606830593  # the default set's data prime


def _account(i: int) -> LocalAccount:
    return Account.from_key(bytes([i + 1]) * 32)


def _members(count: int) -> list[str]:
    return ["0x" + (i + 1).to_bytes(20, "big").hex() for i in range(count)]


# -- seeds ---------------------------------------------------------------------------------------


def test_both_sides_of_a_pair_derive_the_same_seed() -> None:
    a, b = _account(0), _account(1)
    from_a = mk.pair_seed(bytes(a.key), a.address, b.address, fc.public_key_of(b), CONTEXT)
    from_b = mk.pair_seed(bytes(b.key), b.address, a.address, fc.public_key_of(a), CONTEXT)
    assert from_a == from_b and len(from_a) == 32


def test_a_seed_is_bound_to_chain_ledger_round_and_pair() -> None:
    a, b, c = _account(0), _account(1), _account(2)

    def seed(ctx: mk.RoundContext, peer: LocalAccount = b) -> bytes:
        return mk.pair_seed(bytes(a.key), a.address, peer.address, fc.public_key_of(peer), ctx)

    seeds = {
        seed(CONTEXT),
        seed(mk.RoundContext(1, CONTEXT.ledger, CONTEXT.round)),
        seed(mk.RoundContext(CONTEXT.chain_id, "0x" + "cd" * 20, CONTEXT.round)),
        seed(mk.RoundContext(CONTEXT.chain_id, CONTEXT.ledger, CONTEXT.round + 1)),
        seed(CONTEXT, c),
    }
    assert len(seeds) == 5


def test_seed_derivation_rejects_bad_inputs() -> None:
    a = _account(0)
    with pytest.raises(fc.MaskingError, match="64 bytes"):
        mk.shared_point(bytes(a.key), b"\x01" * 33)
    with pytest.raises(fc.MaskingError, match="not on secp256k1"):
        mk.shared_point(bytes(a.key), b"\x01" * 64)
    with pytest.raises(fc.MaskingError, match="distinct"):
        mk.seed_from_point(b"\x02" * 33, CONTEXT, a.address, a.address.lower())
    with pytest.raises(fc.MaskingError, match="20-byte"):
        mk.RoundContext(1, "0x1234", 1)


# -- PRG -----------------------------------------------------------------------------------------


def _chi_square(values: np.ndarray, modulus: int, buckets: int = 64) -> float:
    counts = np.bincount(
        (values.astype(np.float64) / modulus * buckets).astype(int), minlength=buckets
    )
    expected = len(values) / buckets
    return float(((counts - expected) ** 2 / expected).sum())


# 63 degrees of freedom: the 0.9999 quantile of chi-square is about 117.
CHI2_LIMIT = 117.0


def test_prg_is_deterministic_uniform_and_below_the_prime() -> None:
    seed = bytes(range(32))
    out = mk.expand(seed, Q60, 0, degree=4096, start=0, stop=32)
    assert out.shape == (32, 4096) and out.dtype == np.uint64
    assert np.array_equal(out, mk.expand(seed, Q60, 0, degree=4096, start=0, stop=32))
    assert int(out.max()) < Q60
    assert _chi_square(out.ravel(), Q60) < CHI2_LIMIT


def test_prg_chunks_do_not_depend_on_the_run_requested() -> None:
    seed = bytes(range(32))
    run = mk.expand(seed, Q60, 0, degree=4096, start=3, stop=9)
    assert np.array_equal(run[2], mk.expand(seed, Q60, 0, degree=4096, start=5, stop=6)[0])


def test_prg_streams_are_separated_by_chunk_prime_and_seed() -> None:
    seed = bytes(range(32))
    base = mk.expand(seed, Q60, 0, degree=4096, start=0, stop=2)
    other_prime = mk.expand(seed, Q60, 1, degree=4096, start=0, stop=2)
    other_seed = mk.expand(bytes(32), Q60, 0, degree=4096, start=0, stop=2)
    for other in (base[1:], other_prime, other_seed):
        assert not np.any(base[0] == other[0]) or np.mean(base[0] == other[0]) < 1e-3


def test_prg_rejection_keeps_exact_uniformity_for_a_prime_far_below_a_power_of_two() -> None:
    # 2**59 + 2**58 + 1 has 60 bits: a quarter of the 60-bit words are rejected and replaced.
    modulus = 2**59 + 2**58 + 1
    seed = bytes(range(32))
    out = mk.expand(seed, modulus, 0, degree=4096, start=0, stop=16)
    assert int(out.max()) < modulus
    assert _chi_square(out.ravel(), modulus) < CHI2_LIMIT
    assert np.array_equal(out[7], mk.expand(seed, modulus, 0, degree=4096, start=7, stop=8)[0])


def test_prg_rejects_bad_arguments() -> None:
    with pytest.raises(fc.MaskingError, match="32 bytes"):
        mk.expand(b"short", Q60, 0, degree=4096, start=0, stop=1)
    with pytest.raises(fc.MaskingError, match="cannot expand"):
        mk.expand(bytes(32), Q60, 0, degree=4095, start=0, stop=1)


# -- graph ---------------------------------------------------------------------------------------


def _connected(graph: mk.NeighbourGraph) -> bool:
    seen = {graph.members[0]}
    todo = deque(seen)
    while todo:
        for peer in graph.of(todo.popleft()):
            if peer not in seen:
                seen.add(peer)
                todo.append(peer)
    return len(seen) == len(graph.members)


def test_small_rounds_use_the_complete_graph() -> None:
    members = _members(32)
    graph = mk.neighbour_graph(reversed(members), bytes(32))
    assert graph.complete and graph.members == tuple(members)
    assert all(len(graph.of(m)) == 31 and m not in graph.of(m) for m in members)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=3, max_value=300),
    randomness=st.binary(min_size=32, max_size=32),
    half=st.one_of(st.none(), st.integers(min_value=1, max_value=12)),
)
def test_large_rounds_get_a_regular_symmetric_connected_graph(
    n: int, randomness: bytes, half: int | None
) -> None:
    members = _members(n)
    degree = None if half is None else 2 * half
    graph = mk.neighbour_graph(members, randomness, complete_up_to=2, degree=degree)
    k = mk.default_degree(n) if degree is None else degree
    if k >= n - 1:
        assert graph.complete
        k = n - 1
    for m in members:
        peers = graph.of(m)
        assert len(peers) == k and m not in peers  # k-regular, no self-loop
        assert all(graph.linked(p, m) for p in peers)  # symmetric
    assert _connected(graph)
    assert graph == mk.neighbour_graph(
        list(reversed(members)), randomness, complete_up_to=2, degree=degree
    )  # deterministic, order-free


def test_the_default_degree_is_twice_the_ceiling_log2() -> None:
    graph = mk.neighbour_graph(_members(100), bytes(32))
    assert not graph.complete
    assert {len(graph.of(m)) for m in graph.members} == {2 * math.ceil(math.log2(100))} == {14}
    assert sum(1 for _ in graph.edges()) == 100 * 14 // 2


def test_other_randomness_draws_another_graph() -> None:
    members = _members(100)
    graphs = {tuple(sorted(mk.neighbour_graph(members, bytes([b]) * 32).edges())) for b in range(5)}
    assert len(graphs) == 5


def test_graph_settings_are_checked() -> None:
    with pytest.raises(fc.MaskingError, match="even"):
        mk.neighbour_graph(_members(100), bytes(32), degree=7)
    with pytest.raises(fc.MaskingError, match="32 bytes"):
        mk.neighbour_graph(_members(3), b"\x00")
    with pytest.raises(fc.MaskingError, match="more than once"):
        mk.neighbour_graph([_members(1)[0], _members(1)[0].upper().replace("0X", "0x")], bytes(32))
    with pytest.raises(fc.MaskingError, match="not a member"):
        mk.neighbour_graph(_members(3), bytes(32)).of(_members(4)[3])
