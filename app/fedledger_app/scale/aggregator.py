"""The aggregator of a simulation in its own OS process, so its memory is its own.

The driver runs :func:`main` in a new Python process and writes one JSON line on its
standard input: the aggregator's settings, the chain's JSON-RPC URL (a node, or the embedded
chain served by :class:`~fedledger_app.scale.rpc.EmbeddedRpcServer`), the ledger's address
and the aggregator account's key (a devnet key, never written to disk). The process serves the
real FastAPI app on a loopback port, answers with its URL on one line of standard output, and
serves until its standard input is closed: the driver closing the pipe, or dying, ends it.

The driver reads the process's memory from ``/proc/<pid>/status`` (:class:`RoundPeaks`): per
round, its resident size (``VmRSS``) when the round opens and its peak (``VmHWM``, reset to the
resident size at that moment through ``/proc/<pid>/clear_refs``, Linux) until the next opens.
"""

from __future__ import annotations

import contextlib
import json
import logging
import select
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from fedledger_platform.errors import ConfigurationError

__all__ = ["AggregatorProcess", "RoundPeaks", "main", "reset_peak", "status_bytes"]


def status_bytes(pid: int, field: str) -> int:
    """A size from ``/proc/<pid>/status`` in bytes (``VmRSS``, ``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise ConfigurationError(f"/proc/{pid}/status has no {field}")


def reset_peak(pid: int) -> None:
    """Reset process ``pid``'s peak resident size (``VmHWM``) to its current one (Linux)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class RoundPeaks:
    """Per round, a process's resident size when the round opened and its peak until the next
    round opened (or :meth:`end`): :meth:`opened` reads the size and resets the peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.rounds: list[dict[str, int]] = []

    def opened(self, number: int) -> None:
        """Round ``number`` has just opened: close the previous round's window, open its own."""
        self.end()
        resident = status_bytes(self.pid, "VmRSS")
        reset_peak(self.pid)
        self.rounds.append({"round": number, "rss_at_opening_bytes": resident})

    def end(self) -> None:
        """Close the open window (the last round is published): read its peak."""
        if self.rounds and "peak_bytes" not in self.rounds[-1]:
            last = self.rounds[-1]
            last["peak_bytes"] = status_bytes(self.pid, "VmHWM")
            last["peak_increase_bytes"] = last["peak_bytes"] - last["rss_at_opening_bytes"]


#: The child's program (``-m`` would run this module a second time after the package's import).
_CHILD = "from fedledger_app.scale.aggregator import main; main()"


class AggregatorProcess:
    """The aggregator serving in a child process while the ``with`` block runs."""

    def __init__(
        self,
        settings: Any,
        *,
        chain_url: str,
        ledger: str,
        key: bytes,
        # Imports and start-up: seconds, minutes on a loaded machine. A process that fails
        # is seen at once (its output ends); only a hung one waits this long.
        start_timeout_s: float = 600.0,
    ) -> None:
        self._launch = {
            "settings": settings.model_dump(mode="json"),
            "chain": chain_url,
            "ledger": ledger,
            "key": key.hex(),
            "start_timeout_s": start_timeout_s,
        }
        self._timeout_s = start_timeout_s
        self._process: subprocess.Popen[str] | None = None
        self.url = ""

    @property
    def pid(self) -> int:
        """The serving process's id."""
        if self._process is None:
            raise ConfigurationError("the aggregator process is not running")
        return self._process.pid

    def __enter__(self) -> AggregatorProcess:
        process = subprocess.Popen(
            [sys.executable, "-c", _CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._process = process
        stdin, stdout = _pipes(process)
        try:
            stdin.write(json.dumps(self._launch) + "\n")
            stdin.flush()
            ready, _, _ = select.select([stdout], [], [], self._timeout_s)
            line = stdout.readline().strip() if ready else ""
        except BaseException:
            self._stop()
            raise
        if not line.startswith("http"):
            code = process.poll()
            self._stop()
            why = f"exited with code {code}" if code is not None else "did not answer"
            raise ConfigurationError(
                f"the aggregator process {why} within {self._timeout_s:.0f} s (its log is above)"
            )
        self.url = line
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.stdin is not None and not process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()  # the process serves until its input ends
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def _pipes(process: subprocess.Popen[str]) -> tuple[IO[str], IO[str]]:
    if process.stdin is None or process.stdout is None:
        raise ConfigurationError("the aggregator process has no pipes")
    return process.stdin, process.stdout


def main() -> None:
    """The child process: serve the aggregator described on standard input (see the module
    docstring) until standard input ends."""
    from eth_account import Account

    from fedledger_platform.aggregator import AggregatorSettings, create_app
    from fedledger_platform.aggregator.server import ServerThread
    from fedledger_platform.heap import limit_malloc_arenas
    from fedledger_platform.ledger import Ledger, connect

    limit_malloc_arenas()  # as `fedledger serve` does, before any thread exists
    logging.basicConfig(level=logging.WARNING, format="aggregator: %(name)s %(message)s")
    launch = json.loads(sys.stdin.readline())
    settings = AggregatorSettings(**launch["settings"])
    ledger = Ledger(connect(launch["chain"]), launch["ledger"])
    account = Account.from_key(bytes.fromhex(launch["key"]))
    # The process serves nothing else: the heap is frozen out of the cyclic GC as in `serve`.
    app = create_app(settings, ledger=ledger, account=account, freeze_heap=True)
    server = ServerThread(app).start(timeout_s=float(launch["start_timeout_s"]))
    try:
        print(server.url, flush=True)
        sys.stdin.read()  # until the driver closes the pipe (or dies)
    finally:
        server.stop()
