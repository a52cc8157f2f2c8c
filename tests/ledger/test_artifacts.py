"""The committed ABI/bytecode artifacts are what contracts/ compiles to today."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fedledger_platform.ledger.artifacts import ARTIFACT_DIR, CONTRACT_NAMES
from fedledger_platform.ledger.compile import compile_contracts

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_committed_artifacts_are_current() -> None:
    fresh = compile_contracts(ROOT)
    for name in CONTRACT_NAMES:
        committed = json.loads((ARTIFACT_DIR / f"{name}.json").read_text())
        assert committed["bytecode"] == fresh[name]["bytecode"], (
            f"{name} artifact is stale: run `make compile-contracts` and commit the result"
        )
        assert committed["deployedBytecode"] == fresh[name]["deployedBytecode"]
        assert committed["abi"] == fresh[name]["abi"]


def test_python_build_matches_hardhat_build() -> None:
    """py-solc-x (through the solc-js shim) and Hardhat produce the same bytecode."""
    built = list((ROOT / "hardhat" / "artifacts").rglob("FederationLedger.json"))
    if not built:
        pytest.fail("hardhat/artifacts is missing: `make test` runs the Hardhat build first")
    hardhat = json.loads(built[0].read_text())
    committed = json.loads((ARTIFACT_DIR / "FederationLedger.json").read_text())
    assert hardhat["bytecode"] == committed["bytecode"]
