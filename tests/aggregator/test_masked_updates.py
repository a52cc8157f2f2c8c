"""No one reads an individual update: a real masked round (embedded chain, the aggregator on a
loopback port, participants' own code), 102,003 values per update. The update an auditor
downloads, decrypted with the shared key any participant holds, is independent of the true
update; the round's aggregate decrypts to the true sum."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from harness import METRICS, TASK, make_federation, wait_for
from tenseal import sealapi

import fedledger_crypto as fc
from fedledger_clients.tasks.base import Aggregation, LocalResult
from fedledger_platform.modelfile import encode_model
from fedledger_platform.protocol import RoundPhase

WIDTH = 34_000  # 3 × 34,000 weights + 3 biases = 102,003 values


def _update(index: int) -> LocalResult:
    """A strongly structured update (values ≈ their position), different per participant."""
    g = torch.Generator().manual_seed(index)
    ramp = torch.linspace(-1, 1, 3 * WIDTH).reshape(3, WIDTH)
    update = {
        "layer.weight": ramp + 0.01 * torch.randn(3, WIDTH, generator=g),
        "layer.bias": torch.full((3,), float(index)),
    }
    return LocalResult(update=update, weight=10, metrics={"correct": 5, "total": 10})


def _plaintext_residues(blob: bytes, secret: Any) -> np.ndarray:
    """The decrypted plaintext polynomials of ``blob``: residues mod q as SEAL holds them."""
    _, vectors = fc.load_blob(blob, secret, fc.DEFAULT_PARAMS)
    decryptor = sealapi.Decryptor(secret.data.seal_context(), secret.data.secret_key())
    out = []
    for vector in vectors:
        plain = sealapi.Plaintext()
        decryptor.decrypt(vector.data.ciphertext()[0], plain)
        out.append(np.fromiter((plain[i] for i in range(4096)), dtype=np.uint64, count=4096))
    return np.concatenate(out)


def test_a_stored_update_decrypts_to_noise_and_the_aggregate_to_the_sum(tmp_path: Path) -> None:
    # Prepare: three members of a masked round, each submitting a large structured update.
    fed = make_federation(tmp_path, participants=3)
    g = torch.Generator().manual_seed(0)
    state = {"layer.weight": torch.randn(3, WIDTH, generator=g), "layer.bias": torch.zeros(3)}
    model = encode_model(state, task=TASK, metric_names=METRICS, round_number=0)
    try:
        server = fed.serve(fed.settings(f"sqlite:///{tmp_path / 'a.db'}", count=1), model=model)
        participants = fed.join(server)
        client = fed.client(server)
        auditor = fed.client(server, fed.auditor)
        wait_for(lambda: (c := client.current_round()) and c["phase"] == "open", what="open")
        base = participants[0].base_model(1)
        schema = base.schema()
        truths = []
        for i, p in enumerate(participants):
            result = _update(i)
            p.submit(1, p.encrypt(base, result, aggregation=Aggregation.MEAN, round_number=1))
            truths.append(schema.layout.flatten(result.update) * result.weight)
        wait_for(lambda: fed.ledger.get_round(1).status is RoundPhase.CLOSED, what="close")
        # Execute: the auditor downloads participant 0's stored update; participant 1, holding
        # the shared key, decrypts it and the round's aggregate.
        stored = auditor.update_blob(1, participants[0].address).data
        alone = participants[1].encryptor.decrypt(stored, schema)
        secret = fc.load_secret_context(participants[1].secret_context, fc.DEFAULT_PARAMS)
        residues = _plaintext_residues(stored, secret)
        total = participants[1].encryptor.decrypt(client.aggregate(1).data, schema)
    finally:
        fed.close()
    # Assert: the stored update is uncorrelated with the true one, its plaintext uniform mod q...
    assert len(alone.values) == 3 * WIDTH + 3 > 100_000
    assert abs(np.corrcoef(alone.values, truths[0])[0, 1]) < 0.01
    q = 1152921504606830593
    counts = np.bincount((residues.astype(np.float64) / q * 64).astype(int), minlength=64)
    expected = len(residues) / 64
    assert float(((counts - expected) ** 2 / expected).sum()) < 117.0  # chi2(63) at 0.9999
    # ...while the aggregate decrypts to the true sum within the encryption noise of three.
    bound = 8 * np.sqrt(3) * fc.DEFAULT_PARAMS.noise_std()
    assert np.max(np.abs(total.values - np.sum(truths, axis=0))) < bound
    assert abs(total.weight - 30.0) < bound and total.contributors == 3
