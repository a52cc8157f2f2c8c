"""``aggregate``: the auditor's own sum of the included updates — plus, in a masked round with
dropouts, the correction from the verified reveals (:mod:`.masking`) — is the aggregate
recorded on chain; ``served_aggregate``: the aggregate participants download is that same
one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import fedledger_crypto as fc
from fedledger_platform.audit.evidence import Served
from fedledger_platform.audit.results import CheckResult, CheckStatus, short
from fedledger_platform.ledger import LedgerEvent

__all__ = ["check_aggregate", "check_served_aggregate"]


def check_aggregate(
    number: int,
    closed: LedgerEvent,
    stored: bytes,
    recomputed: bytes | None,
    *,
    parameters_usable: bool,
    dropped: Sequence[str] = (),
    reveals_usable: bool = True,
) -> CheckResult:
    """``recomputed`` (the hash of the sum of the included updates with the correction for the
    ``dropped`` members, ``None`` when it could not be computed) against
    ``RoundClosed.aggregateHash``; the round's ``stored`` aggregate hash joins the evidence
    when it differs. ``parameters_usable`` and ``reveals_usable`` say why a missing sum is
    missing."""
    on_chain = bytes(closed.args["aggregateHash"])
    evidence: dict[str, Any] = {
        "on_chain_hash": fc.hash_hex(on_chain),
        "close_tx": closed.tx_hash,
        "recomputed_hash": fc.hash_hex(recomputed) if recomputed is not None else None,
        "dropped": list(dropped),
    }
    what = "the included updates"
    if dropped:
        what += f" plus the correction for dropped {', '.join(dropped)}"
    if stored != on_chain:
        evidence["stored_hash"] = fc.hash_hex(stored)

    def result(status: CheckStatus, message: str) -> CheckResult:
        return CheckResult("aggregate", status, message, number, evidence=evidence)

    if recomputed is None:
        if not parameters_usable:
            why = "the CKKS parameters could not be verified"
        elif not reveals_usable:
            why = "the reveals for the dropped members could not all be verified (see reveals)"
        else:
            why = "not every included update could be verified (see the update checks)"
        return result(CheckStatus.FAIL, f"the aggregate cannot be recomputed: {why}")
    if recomputed != on_chain:
        return result(
            CheckStatus.FAIL,
            f"{what} sum to {short(fc.hash_hex(recomputed))}, the chain recorded "
            f"{short(fc.hash_hex(on_chain))}",
        )
    return result(
        CheckStatus.PASS,
        f"recomputed sum of {what} hashes to {short(fc.hash_hex(on_chain))}",
    )


def check_served_aggregate(number: int, closed: LedgerEvent, served: Served) -> CheckResult:
    """What is ``served`` as round ``number``'s aggregate against ``RoundClosed.aggregateHash``."""
    on_chain = bytes(closed.args["aggregateHash"])
    evidence: dict[str, Any] = {"on_chain_hash": fc.hash_hex(on_chain), "close_tx": closed.tx_hash}

    def result(status: CheckStatus, message: str) -> CheckResult:
        return CheckResult("served_aggregate", status, message, number, evidence=evidence)

    if served.actual is None:
        evidence["error"] = served.error
        return result(CheckStatus.FAIL, f"the aggregate is not served ({served.error})")
    evidence.update(served_hash=fc.hash_hex(served.actual), served_size=served.size)
    if served.actual != on_chain:
        return result(
            CheckStatus.FAIL,
            f"the served aggregate hashes to {short(fc.hash_hex(served.actual))}, the chain "
            f"recorded {short(fc.hash_hex(on_chain))}",
        )
    return result(CheckStatus.PASS, f"served aggregate hashes to {short(fc.hash_hex(on_chain))}")
