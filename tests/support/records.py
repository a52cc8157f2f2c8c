"""Database rows for storage tests, with every required column filled."""

from __future__ import annotations

from fedledger_platform.protocol import RoundPhase
from fedledger_platform.storage import RoundRecord


def round_record(number: int, phase: RoundPhase = RoundPhase.OPEN) -> RoundRecord:
    """A round row as the aggregator writes it when it opens a round."""
    return RoundRecord(
        number=number,
        phase=phase,
        base_model_hash="0x" + "11" * 32,
        deadline=0,
        min_updates=1,
        opened_at=0,
    )
