"""Debian packages a test needs, installed with apt-get when missing (CI machines may lack them).

Installs are serialized with a lock file: test processes running side by side would otherwise
race for dpkg's own lock and one of them would fail.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

__all__ = ["apt_install"]

_LOCK = Path("/tmp/fedledger-tests-apt.lock")


def apt_install(packages: list[str], installed: Callable[[], bool]) -> None:
    """Install ``packages`` unless ``installed()`` already holds; fail the test naming why not."""
    with _LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed():  # another test process may have installed them while we waited
            return
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            pytest.fail(
                f"{' and '.join(packages)} not installed and cannot be installed here "
                f"(needs root + apt): `apt-get install {' '.join(packages)}`"
            )
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", *packages], check=True, env=env, capture_output=True
        )
    if not installed():
        pytest.fail(f"apt-get installed {' '.join(packages)} but they are still not usable")
