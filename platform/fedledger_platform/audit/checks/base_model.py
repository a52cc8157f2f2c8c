"""``base_model``: the bytes served for a round's base model are that model, and the round
continues from the latest published model."""

from __future__ import annotations

from typing import Any

import fedledger_crypto as fc
from fedledger_platform.audit.evidence import Served
from fedledger_platform.audit.results import CheckResult, CheckStatus, short

__all__ = ["check_base_model"]


def check_base_model(
    number: int, base: bytes, served: Served, lineage: bytes | None
) -> CheckResult:
    """Round ``number``'s on-chain ``base`` hash against what is ``served`` for it; a warning
    when it is not the ``lineage`` model it should continue from (``None``: unknown)."""
    evidence: dict[str, Any] = {"base_model_hash": fc.hash_hex(base), **served.evidence()}
    if lineage is not None:
        evidence["expected_lineage"] = fc.hash_hex(lineage)

    def result(status: CheckStatus, message: str) -> CheckResult:
        return CheckResult("base_model", status, message, number, evidence=evidence)

    if served.actual is None:
        return result(
            CheckStatus.FAIL,
            f"the base model {short(fc.hash_hex(base))} is not served ({served.error})",
        )
    if served.actual != base:
        return result(
            CheckStatus.FAIL,
            f"bytes served for the base model hash to {short(fc.hash_hex(served.actual))}, not "
            f"{short(fc.hash_hex(base))}",
        )
    if lineage is not None and lineage != base:
        return result(
            CheckStatus.WARN,
            f"base model {short(fc.hash_hex(base))} does not continue from the latest "
            f"published model {short(fc.hash_hex(lineage))}",
        )
    return result(CheckStatus.PASS, f"served base model hashes to {short(fc.hash_hex(base))}")
