"""The repository layout: the top-level entries, and four source roots that are not packages,
each holding one ``fedledger_`` import package (tests/test_layering.py checks how they depend on
each other)."""

from __future__ import annotations

import platform
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_ROOTS = {
    "crypto": "fedledger_crypto",
    "platform": "fedledger_platform",
    "clients": "fedledger_clients",
    "app": "fedledger_app",
}


def test_required_top_level_entries_exist() -> None:
    for entry in [
        "contracts",
        "platform",
        "crypto",
        "clients",
        "app",
        "tests",
        "hardhat",
        "docs",
        "docker-compose.yml",
        "pyproject.toml",
        "Makefile",
        "README.md",
    ]:
        assert (ROOT / entry).exists(), f"missing top-level entry {entry}"


def test_source_roots_are_not_packages() -> None:
    assert not (ROOT / "__init__.py").exists()
    assert not (ROOT / "tests" / "__init__.py").exists()
    for root, package in SOURCE_ROOTS.items():
        assert not (ROOT / root / "__init__.py").exists(), f"{root}/ must not be a package"
        importable = sorted(
            p.name
            for p in (ROOT / root).iterdir()
            if p.suffix == ".py" or (p.is_dir() and not p.name.startswith((".", "_")))
        )
        assert importable == [package], f"{root}/ must hold only {package}, found {importable}"
        assert (ROOT / root / package / "__init__.py").is_file()


def _is_stdlib(module_file: str) -> bool:
    return Path(module_file).resolve().parent == Path(sysconfig.get_paths()["stdlib"]).resolve()


def test_platform_is_the_standard_library_under_pytest() -> None:
    assert _is_stdlib(platform.__file__)
    assert platform.python_version()  # the real module, not a namespace package


def test_platform_is_the_standard_library_from_the_repository_root() -> None:
    for args in (["-c", "import platform; print(platform.__file__)"], ["-m", "platform"]):
        result = subprocess.run(
            [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=True
        )
        if args[0] == "-c":
            assert _is_stdlib(result.stdout.strip()), result.stdout
        else:
            assert result.stdout.strip()  # `python -m platform` prints the platform string
