"""Polling for a condition another thread or process brings about (a round opening, a phase)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_for"]

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout_s: float = 60.0, what: str = "") -> T:
    """Poll ``predicate`` every 50 ms until it returns something truthy, and return that.

    Raises :class:`TimeoutError` naming ``what`` (else the predicate) after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what or predicate}")
