"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apt_packages import apt_install

import fedledger_crypto as fc
from fedledger_platform.ledger.devnet import HardhatNode, free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def secret_context() -> Any:
    """One secret CKKS context of the default parameter set (key generation takes ~15 ms)."""
    return fc.create_secret_context(fc.DEFAULT_PARAMS)


@pytest.fixture(scope="session")
def parameters_context(secret_context: Any) -> Any:
    """The parameters-only context derived from ``secret_context``."""
    return fc.load_parameters_context(fc.parameters_bytes(secret_context), fc.DEFAULT_PARAMS)


@pytest.fixture(scope="session")
def encryptor(secret_context: Any) -> fc.UpdateEncryptor:
    """A participant-side encryptor over ``secret_context``."""
    return fc.UpdateEncryptor(secret_context)


@pytest.fixture(scope="session")
def hardhat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``hardhat node`` for the whole session, started and stopped here.

    Never skipped: when Hardhat is not installed the tests fail and say `make setup`.
    """
    log_path = tmp_path_factory.mktemp("hardhat") / "node.log"
    with log_path.open("wb") as log, HardhatNode(port=free_port(), log=log) as node:
        yield node.url


def _postgres_bindir() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    return None


def _install_postgres() -> Path:
    """Install PostgreSQL from Debian's packages (CI machines may lack it)."""
    apt_install(["postgresql"], lambda: _postgres_bindir() is not None)
    bindir = _postgres_bindir()
    assert bindir is not None
    return bindir


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A private PostgreSQL server on 127.0.0.1 for the session; yields its base URL.

    PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.
    """
    bindir = _postgres_bindir() or _install_postgres()
    root = Path(tempfile.mkdtemp(prefix="fedledger-pg-"))
    root.chmod(0o755)
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(sockets, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [
            *as_user,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *as_user,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "-l",
            str(root / "server.log"),
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    import psycopg

    name = f"fedledger_{uuid.uuid4().hex[:12]}"
    plain = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{plain}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_server}/{name}"
