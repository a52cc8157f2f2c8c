"""``fedledger contracts compile``: build ``contracts/`` into the committed Python artifacts.

Compiles with **py-solc-x** (``compile_standard``). It uses a native ``solc`` of the pinned
version when one is installed, else the repository's small Node shim over solc-js
(``scripts/solc``; no native solc is available from the package registries). The settings are
the project's single build configuration, identical to ``hardhat/hardhat.config.ts``, so both
routes produce the same bytecode byte for byte (``bytecodeHash: none`` keeps source paths out of
the bytecode).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from fedledger_platform.errors import CompilationError
from fedledger_platform.ledger.artifacts import ARTIFACT_DIR, CONTRACT_NAMES

__all__ = [
    "SOLC_SETTINGS",
    "SOLC_VERSION",
    "compile_contracts",
    "repository_root",
    "write_artifacts",
]

SOLC_VERSION = "0.8.37"
SOLC_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "prague",
    "metadata": {"bytecodeHash": "none"},
    "remappings": ["@openzeppelin/=hardhat/node_modules/@openzeppelin/"],
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}


def repository_root() -> Path:
    """The source checkout holding ``contracts/`` (compilation needs the sources)."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "contracts").is_dir():
        raise CompilationError(
            f"contracts/ not found at {root}: compiling needs a source checkout of fedledger"
        )
    return root


def _solc_binary(root: Path) -> Path:
    """A native solc of the pinned version if installed, else the solc-js shim."""
    import solcx

    native = shutil.which("solc")
    if native:
        try:
            if str(solcx.get_solc_version()) == SOLC_VERSION:
                return Path(native)
        except Exception:  # a broken or foreign `solc` on PATH: fall back to the shim
            pass
    shim = root / "scripts" / "solc"
    if not (root / "hardhat" / "node_modules" / "solc").is_dir():
        raise CompilationError(
            "solc-js is not installed (hardhat/node_modules/solc); run `make setup` first"
        )
    return shim


def compile_contracts(root: Path | None = None) -> dict[str, dict[str, Any]]:
    """Compile every contract in ``contracts/``; returns artifacts by contract name."""
    import solcx

    root = root or repository_root()
    sources = {
        f"contracts/{path.name}": {"content": path.read_text()}
        for path in sorted((root / "contracts").glob("*.sol"))
    }
    if not sources:
        raise CompilationError(f"no Solidity sources in {root / 'contracts'}")
    try:
        output = solcx.compile_standard(
            {"language": "Solidity", "sources": sources, "settings": SOLC_SETTINGS},
            base_path=str(root),
            allow_paths=[str(root / "hardhat" / "node_modules")],
            solc_binary=_solc_binary(root),
        )
    except Exception as exc:  # solcx raises SolcError with the compiler's stderr/errors
        raise CompilationError(f"compilation failed: {exc}") from exc
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompilationError("\n".join(e.get("formattedMessage", str(e)) for e in errors))
    artifacts: dict[str, dict[str, Any]] = {}
    for source, contracts in output["contracts"].items():
        if not source.startswith("contracts/"):
            continue
        for name, data in contracts.items():
            if name not in CONTRACT_NAMES:
                continue
            artifacts[name] = {
                "contractName": name,
                "sourceName": source,
                "abi": data["abi"],
                "bytecode": "0x" + data["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
                "compiler": {"version": SOLC_VERSION, "settings": SOLC_SETTINGS},
            }
    missing = set(CONTRACT_NAMES) - set(artifacts)
    if missing:
        raise CompilationError(f"compiler output lacks {sorted(missing)}")
    return artifacts


def write_artifacts(
    artifacts: dict[str, dict[str, Any]], directory: Path = ARTIFACT_DIR
) -> list[Path]:
    """Write artifacts as stable, diff-friendly JSON; returns the written paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, artifact in sorted(artifacts.items()):
        path = directory / f"{name}.json"
        path.write_text(json.dumps(artifact, indent=2, sort_keys=True) + "\n")
        paths.append(path)
    return paths
