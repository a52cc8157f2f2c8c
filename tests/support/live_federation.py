"""A federation that runs in a background thread while a test watches it (the dashboard's
browser tests); imported through the `pythonpath` pytest setting."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Live"]


@dataclass
class Live:
    """A federation running in a thread: ``url`` once its aggregator serves, ``run`` once its
    rounds are done; it keeps serving until :meth:`release`."""

    url: str = ""
    serving: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    run: Any = None
    error: BaseException | None = None

    def wait_done(self, timeout_s: float = 300.0) -> Any:
        """The finished run (its aggregator still serving)."""
        assert self.done.wait(timeout_s), "the federation did not finish in time"
        if self.error is not None:
            raise AssertionError(f"the federation failed: {self.error!r}") from self.error
        return self.run

    def release(self) -> None:
        """Let the federation's aggregator stop."""
        self.released.set()
