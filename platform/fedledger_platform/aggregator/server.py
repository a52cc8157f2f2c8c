"""Serving the aggregator with uvicorn: in the foreground (``fedledger serve``) or in a
background thread on a loopback port (``fedledger demo`` and the integration tests)."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from fedledger_platform.errors import ConfigurationError

__all__ = ["ServerThread"]


class ServerThread:
    """uvicorn serving ``app`` on ``host:port`` in a daemon thread; a context manager."""

    def __init__(
        self, app: FastAPI, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
    ) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level=log_level, lifespan="on", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.host = host
        self._thread = threading.Thread(target=self.server.run, name="aggregator", daemon=True)

    @property
    def port(self) -> int:
        """The bound port (resolved when ``port=0`` was asked)."""
        for server in self.server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        raise ConfigurationError("the server is not listening")

    @property
    def url(self) -> str:
        """Base URL of the running service."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 60.0) -> ServerThread:
        """Start and wait until the app's start-up (lifespan) completed."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive():
                raise ConfigurationError("the aggregator failed to start (see the log above)")
            if time.monotonic() > deadline:
                raise ConfigurationError(f"the aggregator did not start within {timeout_s} s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self.server.should_exit = True
        self._thread.join(timeout=30)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
