"""Helpers that spawned child processes import by name (test modules are not importable there)."""

from __future__ import annotations

from typing import Any

from fedledger_clients.slots import TrainingSlots


def hold_slot(slots: TrainingSlots, held: Any, release: Any) -> None:
    """Take participant 1's slot, signal ``held``, keep it until ``release`` is set."""
    with slots.slot(1, 1.0):
        held.set()
        release.wait(30)
