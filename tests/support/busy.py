"""A CPU-bound function importable by spawned test processes (test modules are not: pytest
imports them with ``--import-mode=importlib``)."""

from __future__ import annotations

import time


def spin(seconds: float) -> None:
    """Keep one core busy for ``seconds`` of this process's CPU time."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
