"""Compiled contract artifacts (ABI + bytecode), committed next to this module.

They are generated from ``contracts/`` by ``fedledger contracts compile`` (see ``compile.py``),
never edited by hand; a test recompiles and fails when they are stale.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedledger_platform.errors import ConfigurationError

__all__ = ["ARTIFACT_DIR", "CONTRACT_NAMES", "ContractArtifact", "load_artifact"]

ARTIFACT_DIR = Path(__file__).resolve().parents[1] / "contracts" / "artifacts"
CONTRACT_NAMES = ("FederationLedger", "ContributionToken")


@dataclass(frozen=True)
class ContractArtifact:
    """One contract's ABI, creation bytecode and the compiler settings that produced it."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    compiler: dict[str, Any]


@functools.cache
def load_artifact(name: str) -> ContractArtifact:
    """Load a committed artifact by contract name."""
    path = ARTIFACT_DIR / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(
            f"contract artifact {path} is missing; run `fedledger contracts compile`"
        ) from None
    return ContractArtifact(
        name=data["contractName"],
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
        compiler=data["compiler"],
    )
