"""Memory guard: uploads of a 1,000,000-parameter update raise the peak RSS of a separate
``fedledger serve`` process by at most 3x the size of one encrypted update.

The full measurement (200 sequential uploads) is ``fedledger bench aggregator`` (see
docs/benchmarks.md); this guard uploads 24 distinct updates, four at a time, so that a service
that buffered whole request bodies (four in flight) would fail it as well.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import fedledger_crypto as fc
from fedledger_app.bench.served import flat_model, random_update_blob, served

PARAMETERS = 1_000_000
UPLOADS = 24
CONCURRENT = 4


@pytest.mark.hardhat
@pytest.mark.slow
def test_peak_rss_stays_within_three_updates(hardhat_url: str, tmp_path: Path) -> None:
    # Prepare: the service is up and round 1 is open; the baseline is its RSS then.
    with served(
        hardhat_url,
        tmp_path / "federation",
        participants=UPLOADS,
        model=flat_model(PARAMETERS),
        rounds={"count": 1, "min_updates": UPLOADS},
        max_upload_bytes=64 * PARAMETERS,
    ) as fed:
        fed.start()
        participants = fed.participants()
        fed.set_up_keys(participants, seal=False)
        fed.wait_phase(1, ("open",))
        baseline = fed.memory_kib()
        schema = participants[0].base_model(1).schema()
        blobs = [
            random_update_blob(participants[0].encryptor, schema, seed=i) for i in range(UPLOADS)
        ]
        for p, blob in zip(participants, blobs, strict=True):
            fed.ledger.commit_update(p.account, 1, fc.keccak256(blob))

        # Execute: every participant uploads, four at a time; the round closes with all.
        with ThreadPoolExecutor(CONCURRENT) as pool:
            receipts = list(
                pool.map(
                    lambda i: participants[i].client.upload_update(1, blobs[i]), range(UPLOADS)
                )
            )
        info = fed.wait_phase(1, ("closed", "published"))
        final = fed.memory_kib()

    # Assert
    assert all(r["new"] for r in receipts) and info["accepted"] == UPLOADS
    increase = (final["VmHWM"] - baseline["VmRSS"]) * 1024
    size = len(blobs[0])
    assert increase <= 3 * size, (
        f"peak RSS rose by {increase / 2**20:.1f} MiB, more than 3 x {size / 2**20:.1f} MiB "
        f"(baseline {baseline}, final {final})"
    )
