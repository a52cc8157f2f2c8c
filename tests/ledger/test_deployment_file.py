"""The deployment file carries the contracts' ABIs, so an integrator needs nothing else."""

from __future__ import annotations

import json
from pathlib import Path

from web3 import Web3

from fedledger_platform.ledger import connect
from fedledger_platform.ledger.artifacts import CONTRACT_NAMES, load_artifact
from fedledger_platform.ledger.deployment import Deployment, create_devnet_federation


def test_the_deployment_file_carries_the_abis_that_call_the_deployed_contracts(
    tmp_path: Path,
) -> None:
    # Prepare: a federation on the embedded chain, its file written
    chain = connect()
    fed = create_devnet_federation(chain, participants=1)
    path = tmp_path / "deployment.json"

    # Execute
    fed.deployment.save(path)
    data = json.loads(path.read_text())

    # Assert: both ABIs, as compiled; the file still loads; the ABIs alone call the contracts
    assert set(data["abi"]) == set(CONTRACT_NAMES)
    for name in CONTRACT_NAMES:
        assert data["abi"][name] == load_artifact(name).abi
    assert Deployment.load(path) == fed.deployment
    w3: Web3 = chain.w3
    ledger = w3.eth.contract(address=data["ledger"], abi=data["abi"]["FederationLedger"])
    token = w3.eth.contract(address=data["token"], abi=data["abi"]["ContributionToken"])
    assert ledger.functions.token().call() == data["token"]
    assert ledger.functions.keyDealer().call() == fed.participants[0].address
    assert token.functions.symbol().call() == "FLC"
