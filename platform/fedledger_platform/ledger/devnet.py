"""The Hardhat devnet node: started from the repository's ``hardhat/`` project on loopback.

Used by ``fedledger devnet`` and by the test fixtures that need a real node. The node runs in its
own process group so that stopping it also stops the npx/node wrappers around it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import requests

from fedledger_platform.errors import ChainUnavailableError, ConfigurationError

__all__ = ["HardhatNode", "free_port"]


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HardhatNode:
    """``hardhat node`` on ``host:port`` (chain id 31337, prague, 20 funded accounts)."""

    def __init__(
        self,
        *,
        port: int = 8545,
        host: str = "127.0.0.1",
        root: Path | None = None,
        log: IO[bytes] | int | None = None,
        startup_timeout_s: float = 180.0,
    ) -> None:
        # The repository checkout holding hardhat/: FEDLEDGER_REPO_DIR when the package is
        # installed elsewhere (e.g. a container image), else the source tree of this module.
        default_root = os.environ.get("FEDLEDGER_REPO_DIR") or Path(__file__).resolve().parents[3]
        self.root = root or Path(default_root)
        self.port = port
        self.host = host
        # Reach it over loopback even when it listens on every interface.
        self.url = f"http://127.0.0.1:{port}"
        self._log = log
        self._timeout = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> HardhatNode:
        """Start the node and wait until it answers JSON-RPC."""
        project = self.root / "hardhat"
        if not (project / "node_modules" / "hardhat").is_dir():
            raise ConfigurationError(
                f"Hardhat is not installed in {project}; run `make setup` first"
            )
        self._check_address()
        self._process = subprocess.Popen(
            [
                str(self.root / "scripts" / "with-node"),
                "npx",
                "hardhat",
                "node",
                "--hostname",
                self.host,
                "--port",
                str(self.port),
            ],
            cwd=project,
            stdout=self._log if self._log is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ChainUnavailableError(
                    f"hardhat node exited with status {self._process.returncode} while starting"
                )
            if self.is_ready():
                return self
            time.sleep(0.25)
        self.stop()
        raise ChainUnavailableError(
            f"hardhat node did not answer on {self.url} in {self._timeout} s"
        )

    def _check_address(self) -> None:
        """Name the usual causes of a node that cannot listen, which it only logs."""
        if not 1 <= self.port <= 65535:
            raise ConfigurationError(f"port {self.port} is not a TCP port (1-65535)")
        with socket.socket() as sock:
            try:
                sock.bind((self.host, self.port))
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot listen on {self.host}:{self.port} ({exc.strerror}): another "
                    "process (a devnet already running?) holds the port, or the address is "
                    "not this machine's; choose another --port or --host"
                ) from exc

    def is_ready(self) -> bool:
        """Whether the node answers ``eth_chainId``."""
        with contextlib.suppress(requests.RequestException, ValueError):
            reply = requests.post(
                self.url,
                json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                timeout=2,
            )
            return reply.ok and "result" in reply.json()
        return False

    def wait(self) -> int:
        """Block until the node exits; returns its exit status."""
        if self._process is None:
            raise RuntimeError("the node was not started")
        return self._process.wait()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the node (SIGTERM to its process group, SIGKILL after ``timeout_s``)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def __enter__(self) -> HardhatNode:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
