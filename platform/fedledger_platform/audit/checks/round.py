"""``round``: the state of a round that has not closed (open, or failed before closing) —
reported, not judged — and a round whose state says closed without a ``RoundClosed`` event."""

from __future__ import annotations

from fedledger_platform.audit.history import RoundEvents
from fedledger_platform.audit.results import CheckResult, CheckStatus
from fedledger_platform.ledger import RoundInfo
from fedledger_platform.protocol import RoundPhase

__all__ = ["check_unclosed_round"]


def check_unclosed_round(
    number: int, info: RoundInfo, events: RoundEvents, from_block: int
) -> CheckResult:
    """Round ``number`` with no ``RoundClosed`` event since ``from_block``: skipped while open or
    once failed, a failure when the chain says it closed."""
    status = CheckStatus.SKIP
    if info.status is RoundPhase.OPEN:
        message = (
            f"open until {info.deadline} (Unix time): {len(events.commits)} "
            f"commitment(s) so far, {info.min_updates} needed; audited once closed"
        )
    elif info.status is RoundPhase.FAILED:
        message = f"failed before closing: {events.failure_reason or 'no reason recorded'}"
    else:  # closed or published in storage, yet no RoundClosed in the log
        status = CheckStatus.FAIL
        message = f"{info.status} on chain but no RoundClosed event since block {from_block}"
    return CheckResult("round", status, message, number, evidence=events.transactions)
