"""The distribution builds as one wheel holding exactly the four import packages."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_holds_the_four_packages_and_works(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("fedledger-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.startswith("fedledger-")}
    assert top == {"fedledger_crypto", "fedledger_platform", "fedledger_clients", "fedledger_app"}
    assert "fedledger_crypto/py.typed" in names
    assert "fedledger_app/py.typed" in names
    # the benchmarks are modules of the package, run by `fedledger bench NAME`
    assert "fedledger_app/bench/crypto.py" in names
    assert "fedledger_app/bench/round/flower_side.py" in names
    assert not any(n.startswith(("platform/", "crypto/", "clients/", "app/")) for n in names)
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert (
        "fedledger = fedledger_app.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    )
    # Install the wheel alone into a target folder and import it from there, not from the tree.
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    probe = (
        "import fedledger_crypto, fedledger_platform, fedledger_clients, fedledger_app, platform;"
        "print(fedledger_crypto.__file__); print(fedledger_app.__file__);"
        "print(platform.python_version())"
    )
    out = _run_installed(target, probe, cwd=tmp_path, check=True).stdout.splitlines()
    assert out[0].startswith(str(target))
    assert out[1].startswith(str(target))
    # Installed from a wheel there is no source checkout whose docs a benchmark could rewrite:
    # `--update-docs` says so and exits before measuring anything.
    refused = _run_installed(
        target,
        "import sys; from fedledger_app.cli import main;"
        "sys.argv = ['fedledger', 'bench', 'gas', '--json', '--update-docs']; main()",
        cwd=tmp_path,
        check=False,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--update-docs rewrites docs/benchmarks.md of a fedledger source checkout" in (
        refused.stderr
    )
    assert refused.stdout == ""


def _run_installed(
    target: Path, code: str, *, cwd: Path, check: bool
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` importing our packages from ``target`` first (isolated mode: not the tree)."""
    return subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(target)!r}); "
            f"sys.path.extend({sys.path!r}); " + code,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=check,
    )
