"""run_federation with one process per client daemon on a real Hardhat node (the shape
`fedledger bench round` measures), and with pairwise masking switched off (its `--masking
off`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedledger_app.federation import FederationSpec, run_federation
from fedledger_platform.errors import ConfigurationError


@pytest.mark.slow
@pytest.mark.hardhat
def test_client_processes_on_a_hardhat_node(tmp_path: Path) -> None:
    run = run_federation(
        FederationSpec(
            task="sentiment",
            clients=3,
            rounds=2,
            chain="hardhat",
            out=tmp_path,
            client_processes=True,
        )
    )
    assert [r.participants for r in run.rounds] == [3, 3]
    assert len(run.round_seconds) == 2 and all(s > 0 for s in run.round_seconds)
    assert set(run.balances.values()) == {2.0}
    assert run.rounds[-1].test_metrics["accuracy"] > 0.5
    # What each process did is in its state folder, read back by the parent.
    states = sorted((tmp_path / "clients").glob("client-*/state.json"))
    assert len(states) == 3


def test_client_processes_refuse_the_embedded_chain(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="outside this process"):
        run_federation(FederationSpec(chain="embedded", client_processes=True, out=tmp_path))


def test_a_federation_with_masking_off(tmp_path: Path) -> None:
    # Prepare / Execute: the switch `fedledger bench round --masking off` uses.
    run = run_federation(
        FederationSpec(
            task="hashtags", clients=2, rounds=1, out=tmp_path, evaluate=False, masking=False
        )
    )
    # Assert: the chain's rule says unmasked, and the round completed with both.
    assert not run.ledger.masking().enabled
    assert [r.participants for r in run.rounds] == [2]
