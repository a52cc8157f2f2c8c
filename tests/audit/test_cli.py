"""`fedledger audit` as a user runs it: usage errors exit 2; against a Hardhat node (the embedded
chain cannot be shared with a command), a clean federation exits 0 with a table, JSON and HTML,
and a tampered one exits 1 naming the round and the participant."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

import fedledger_crypto as fc
from fedledger_platform.accounts import create_keystore
from fedledger_platform.ledger import connect

with warnings.catch_warnings():  # typer touches click APIs that Click 8.3 deprecates
    warnings.simplefilter("ignore", DeprecationWarning)
    from typer.testing import CliRunner

    from fedledger_app.cli import app

PASSPHRASE = "correct horse battery staple"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, ["audit", *args])


def test_usage_and_configuration_errors_exit_2(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.json")
    result = invoke("--rounds", "3..1", "--deployment", missing)
    assert result.exit_code == 2 and "A must not exceed B" in result.stderr
    result = invoke("--rounds", "x", "--deployment", missing)
    assert result.exit_code == 2 and "expected N, A..B" in result.stderr
    result = invoke("--explorer", "https://explorer.example/tx/", "--deployment", missing)
    assert result.exit_code == 2 and "{tx}" in result.stderr
    result = invoke("--deployment", missing)
    assert result.exit_code == 2 and "run `fedledger deploy` first" in result.stderr
    assert invoke("--no-such-option").exit_code == 2
    help_text = invoke("--help").stdout
    for option in ("--rpc-url", "--deployment", "--aggregator", "--key", "--rounds", "--html"):
        assert option in help_text


@pytest.mark.hardhat
def test_cli_audits_a_devnet_federation(hardhat_url: str, tmp_path: Path, kit: Any) -> None:
    # Prepare: an auditor keystore, a federation on the Hardhat node, two complete rounds
    keystore, passphrase_file = tmp_path / "auditor.json", tmp_path / "auditor.pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    auditor = create_keystore(keystore, PASSPHRASE, scrypt_n=2**10)
    fed, deployment = kit.make_chain_federation(connect(hardhat_url), tmp_path, auditor)
    try:
        run = kit.start(fed, count=2)
        for number in (1, 2):
            kit.play_round(run, number)
        common = [
            "--rpc-url",
            hardhat_url,
            "--deployment",
            str(deployment),
            "--aggregator",
            run.server.url,
            "--key",
            str(keystore),
            "--passphrase-file",
            str(passphrase_file),
        ]
        html = tmp_path / "report" / "audit.html"
        # Execute: JSON and HTML
        result = invoke(
            *common, "--json", "--html", str(html), "--explorer", "https://x.test/tx/{tx}"
        )
        # Assert
        assert result.exit_code == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["ok"] and [r["verdict"] for r in data["rounds"]] == ["pass", "pass"]
        assert data["chain_id"] == 31337 and data["auditor"] == auditor.address
        page = html.read_text()
        assert f'href="https://x.test/tx/{data["rounds"][1]["transactions"]["close"]}"' in page
        # The table, for one round.
        result = invoke(*common, "--rounds", "2")
        assert result.exit_code == 0, result.stderr
        assert "all checks passed" in result.stdout and "served_aggregate" in result.stdout
        # Tamper: one byte of participant 0's round-1 update.
        victim = fed.participants[0].address
        (meta,) = [u for u in run.client.updates(1) if u["participant"] == victim]
        path = Path(run.blobs.path(fc.hash_from_hex(meta["update_hash"])))
        data_bytes = bytearray(path.read_bytes())
        data_bytes[100] ^= 0xFF
        with kit.tampered(path, bytes(data_bytes)):
            table = invoke(*common)
            as_json = invoke(*common, "--json")
        assert table.exit_code == 1 and as_json.exit_code == 1
        text = " ".join(table.stdout.split())
        assert f"FAIL round 1 update participant {victim}" in text
        assert f"FAIL round 1 update participant {victim}" in as_json.stderr
        failures = json.loads(as_json.stdout)["failures"]
        assert [(f["round"], f["check"], f["participant"]) for f in failures] == [
            (1, "update", victim),
            (1, "aggregate", None),
        ]
        # A consumer fetches the latest model, checked against the chain's ModelPublished.
        fetch = ["model", "fetch", *common[:6], "--out", str(tmp_path / "model.safetensors")]
        result = CliRunner().invoke(app, fetch)
        assert result.exit_code == 0, result.stderr
        published = fed.ledger.get_round(2).published_model_hash
        assert json.loads(result.stdout)["model_hash"] == fc.hash_hex(published)
        assert fc.keccak256((tmp_path / "model.safetensors").read_bytes()) == published
        # The aggregator's bytes for that hash replaced: refused, nothing written.
        other = run.blobs.path(fed.ledger.get_round(1).published_model_hash).read_bytes()
        with kit.tampered(run.blobs.path(published), other):
            refused = CliRunner().invoke(app, [*fetch[:-1], str(tmp_path / "bad.safetensors")])
        assert refused.exit_code == 1 and "refusing them" in " ".join(refused.stderr.split())
        assert not (tmp_path / "bad.safetensors").exists()
    finally:
        fed.close()
