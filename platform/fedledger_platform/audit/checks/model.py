"""``model``: the bytes served for a round's published model are that model."""

from __future__ import annotations

from typing import Any

import fedledger_crypto as fc
from fedledger_platform.audit.evidence import Served
from fedledger_platform.audit.results import CheckResult, CheckStatus, short

__all__ = ["check_model", "model_not_published"]


def check_model(
    number: int, published: bytes, served: Served, publish_tx: str | None
) -> CheckResult:
    """Round ``number``'s ``published`` model hash against what is ``served`` for it."""
    evidence: dict[str, Any] = {
        "published_model_hash": fc.hash_hex(published),
        "publish_tx": publish_tx,
        **served.evidence(),
    }

    def result(status: CheckStatus, message: str) -> CheckResult:
        return CheckResult("model", status, message, number, evidence=evidence)

    if served.actual is None:
        return result(CheckStatus.FAIL, f"the published model is not served ({served.error})")
    if served.actual != published:
        return result(
            CheckStatus.FAIL,
            f"bytes served for the published model hash to {short(fc.hash_hex(served.actual))}, "
            f"not {short(fc.hash_hex(published))}",
        )
    return result(
        CheckStatus.PASS,
        f"served model bytes hash to the published {short(fc.hash_hex(published))}",
    )


def model_not_published(number: int) -> CheckResult:
    """The ``model`` check of a closed round without a published model: skipped."""
    return CheckResult("model", CheckStatus.SKIP, "no model published", number)
