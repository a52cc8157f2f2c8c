"""Exempting a long-running process's long-lived heap from Python's cyclic garbage collector.

A participant daemon (its shard, the model, torch, TenSEAL, web3) and the aggregator (web3,
SQLAlchemy, FastAPI, TenSEAL) each hold a few hundred thousand objects that live as long as the
process. Every full collection rescans all of them with the interpreter lock held: 0.17 CPU-s
for the aggregator's ~340,000 objects and 0.2 CPU-s for a daemon's ~500,000, measured — a stall
of every request the aggregator is serving, or of a participant in the middle of a round.
Collecting once and freezing the survivors moves them out of the collector's sight; objects
created afterwards are collected as usual.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_heap", "unfreeze_heap"]


def freeze_heap() -> int:
    """Collect, then freeze every surviving object; returns how many are frozen in all.

    Process-wide: call it only from code that owns its process (a daemon or server started by
    its own command), after start-up and once more after the first round, which builds the
    libraries' lazily created state.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def unfreeze_heap() -> None:
    """Return the frozen objects to the collector (a process that goes on after a service
    stopped, such as a benchmark, gets its cyclic garbage collected again)."""
    gc.unfreeze()
