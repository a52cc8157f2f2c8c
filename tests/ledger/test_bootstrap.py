"""`fedledger federation bootstrap` on a Hardhat node: only the aggregator is funded (it relays),
the clients hold zero ether and are admitted in one transaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fedledger_app.cli import app
from fedledger_platform.ledger import AGGREGATOR_ROLE, RELAYER_ROLE, Ledger, connect
from fedledger_platform.ledger.deployment import Deployment


@pytest.mark.hardhat
def test_bootstrap_funds_the_aggregator_only(hardhat_url: str, tmp_path: Path) -> None:
    # Execute
    out = tmp_path / "federation"
    args = ["federation", "bootstrap", "--rpc-url", hardhat_url, "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--clients", "3", "--scrypt-n", "16384"])

    # Assert: the aggregator holds both roles and ether; the clients none, all admitted at once
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{") :])
    chain = connect(hardhat_url)
    ledger = Ledger(chain, Deployment.load(out / "deployment.json").ledger)
    aggregator = summary["aggregator"]["address"]
    assert all(ledger.has_role(role, aggregator) for role in (AGGREGATOR_ROLE, RELAYER_ROLE))
    assert chain.w3.eth.get_balance(aggregator) > 0
    clients = [c["address"] for c in summary["clients"]]
    assert [chain.w3.eth.get_balance(c) for c in clients] == [0, 0, 0]
    assert sorted(ledger.participants()) == sorted(clients)
    admissions = list(ledger.events(names=["ParticipantAdmitted"]))
    assert len({e.tx_hash for e in admissions}) == 1
    assert ledger.key_dealer() == summary["key_dealer"] == clients[0]
