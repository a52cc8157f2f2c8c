"""The protocol stands on its documents: a participant written from docs/protocol.md and the
contract sources alone (``participant.py``, no fedledger import) takes part in a federation on a
real Hardhat node beside two of the project's daemons (one of them the key dealer) — it obtains
its key, submits, is included and rewarded, and attests the same model hash as everyone else,
for two rounds — and the audit of that federation passes."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from harness import Federation

import fedledger_crypto as fc
from fedledger_app.initial_model import initial_model_bytes
from fedledger_clients.config import ClientConfig, TaskConfig
from fedledger_clients.daemon import ClientDaemon
from fedledger_platform.api_client import AggregatorClient
from fedledger_platform.audit import run_audit
from fedledger_platform.ledger import connect
from fedledger_platform.ledger.deployment import create_devnet_federation
from fedledger_platform.protocol import RoundPhase

PROGRAM = Path(__file__).with_name("participant.py")
ROUNDS = 2
#: What the independent participant may import: the standard library and vetted libraries
#: (eth_utils is eth-account's own helper package, for keccak256).
ALLOWED = {
    "tenseal",
    "cryptography",
    "eth_abi",
    "eth_account",
    "eth_utils",
    "ecies",
    "httpx",
    "numpy",
}


def test_the_independent_participant_imports_nothing_of_fedledger() -> None:
    tree = ast.parse(PROGRAM.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not {m for m in imported if m.startswith("fedledger")}
    assert imported - sys.stdlib_module_names <= ALLOWED, imported - sys.stdlib_module_names


@pytest.mark.hardhat
@pytest.mark.slow
def test_an_independent_participant_joins_a_federation(hardhat_url: str, tmp_path: Path) -> None:
    # Prepare: a federation on Hardhat (the first account deals the key), its deployment file
    chain = connect(hardhat_url)
    devnet = create_devnet_federation(chain, participants=3)
    # The independent participant implements protocol 1.0 and 1.1 (docs/protocol.md), not the
    # optional masking of 1.2: this federation does not mask, as the contract lets an operator
    # choose before its first round.
    devnet.ledger.configure_masking(devnet.operator, enabled=False)
    deployment = tmp_path / "deployment.json"
    devnet.deployment.save(deployment)
    fed = Federation(
        chain,
        devnet.ledger,
        devnet.operator,
        devnet.aggregator,
        devnet.auditor,
        devnet.participants,
        tmp_path,
    )
    ledger, outsider = fed.ledger, fed.accounts[2]
    try:
        server = fed.serve(
            fed.settings(f"sqlite:///{tmp_path / 'agg.db'}", count=ROUNDS, min_updates=3),
            model=initial_model_bytes("sentiment", 0),
        )
        daemons = []
        for i, account in enumerate(fed.accounts[:2]):
            config = ClientConfig(
                aggregator=server.url,
                chain=hardhat_url,
                deployment=deployment,
                keystore=None,
                passphrase_file=None,
                state_dir=tmp_path / f"client-{i}",
                task=TaskConfig(name="sentiment", client_index=i, num_clients=3, seed=0),
                poll_interval_s=0.1,
            )
            client = AggregatorClient(
                server.url, account=account, scope=fc.RequestScope(chain.chain_id, ledger.address)
            )
            fed.clients.append(client)
            daemons.append(ClientDaemon(config, account=account, ledger=ledger, client=client))
        threads = [threading.Thread(target=d.run, daemon=True) for d in daemons]
        for thread in threads:
            thread.start()

        # Execute: the independent participant, in its own process
        report_path = tmp_path / "report.json"
        completed = subprocess.run(
            [
                sys.executable,
                str(PROGRAM),
                "--deployment",
                str(deployment),
                "--rpc-url",
                hardhat_url,
                "--aggregator",
                server.url,
                "--key",
                "0x" + bytes(outsider.key).hex(),
                "--rounds",
                str(ROUNDS),
                "--report",
                str(report_path),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        for thread in threads:
            # the daemons finish with the participant; if it failed, they never will
            thread.join(300 if completed.returncode == 0 else 0)
        for daemon in daemons:
            daemon.stop()

        # Assert: it ran to the end, was included, rewarded, and attested the published hash
        assert completed.returncode == 0, completed.stderr[-3000:]
        report = json.loads(report_path.read_text())
        assert report["address"] == outsider.address
        reward = ledger.reward_per_update()
        commits = {
            int(e.args["round"]): fc.hash_hex(bytes(e.args["updateHash"]))
            for e in ledger.events(names=("UpdateCommitted",))
            if e.args["participant"] == outsider.address
        }
        attested: dict[int, set[str]] = {}
        for entry in report["rounds"]:
            number = entry["round"]
            info = ledger.get_round(number)
            assert info.status is RoundPhase.PUBLISHED, entry
            assert entry["included"] is True and entry["contributors"] == 3
            assert entry["reward"] == reward
            assert entry["wei"] == 0  # it never held ether: the aggregator relayed everything
            assert entry["update_hash"] == commits[number]
            assert entry["model_hash"] == fc.hash_hex(info.published_model_hash)
            attested[number] = set()
        for event in ledger.events(names=("ModelAttested",)):
            attested[int(event.args["round"])].add(fc.hash_hex(bytes(event.args["modelHash"])))
        assert attested == {e["round"]: {e["model_hash"]} for e in report["rounds"]}
        assert ledger.token_balance(outsider.address) == ROUNDS * reward
        # Everything the aggregator served in those rounds audits green.
        audit = run_audit(ledger, server.url, fed.auditor)
        assert audit.ok, [f.line() for f in audit.failures]
    finally:
        fed.close()
