"""The distribution builds as one wheel holding exactly the three import packages."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_holds_the_three_packages_and_works(tmp_path: Path) -> None:
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
    assert top == {"fedledger_crypto", "fedledger_platform", "fedledger_clients"}
    assert "fedledger_crypto/py.typed" in names
    assert not any(n.startswith(("platform/", "crypto/", "clients/")) for n in names)
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
        "import fedledger_crypto, fedledger_platform, fedledger_clients, platform, sys;"
        "print(fedledger_crypto.__file__); print(platform.python_version())"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(target)!r}); "
            f"sys.path.extend({sys.path!r}); " + probe,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out[0].startswith(str(target))
