"""The wake-up of the long-polls of ``GET /v1/rounds/current`` when a round changes phase."""

from __future__ import annotations

import asyncio

__all__ = ["RoundSignal"]


class RoundSignal:
    """Wakes the long-polls of ``GET /v1/rounds/current`` when a round changes phase.

    The coordinator thread calls :meth:`notify`; waiters on the event loop hold the event that
    was current *before* they read the round, so a change between their read and their wait is
    never missed.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's event loop (at start-up)."""
        self._loop = loop
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event | None:
        """The event the next change will set (``None`` before :meth:`bind`)."""
        return self._event

    def notify(self) -> None:
        """Thread-safe: wake every waiter."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        fired, self._event = self._event, asyncio.Event()
        if fired is not None:
            fired.set()
