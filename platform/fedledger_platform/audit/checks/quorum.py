"""``quorum``: a published model reached the round's quorum of attestations from included
participants, under the contract's quorum rule; an attestation of another hash is a warning."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from web3 import Web3

import fedledger_crypto as fc
from fedledger_platform.audit.history import RoundEvents
from fedledger_platform.audit.results import (
    CheckResult,
    CheckStatus,
    by_address,
    quorum_for,
    short,
)
from fedledger_platform.ledger import RoundInfo
from fedledger_platform.protocol import RoundPhase

__all__ = ["check_quorum", "quorum_pending"]


def check_quorum(
    number: int,
    info: RoundInfo,
    included: Sequence[str],
    quorum_bps: int,
    events: RoundEvents,
) -> list[CheckResult]:
    """Round ``number``'s published model (``info``, the round at the audited block) against its
    ``ModelAttested`` and ``ModelPublished`` events and the quorum rule for ``included``: one
    pass or failure, then a warning per attestation of another model hash."""
    published = info.published_model_hash
    rule = quorum_for(len(included), quorum_bps)
    members = set(included)
    endorsing = [a for a in events.attestations if bytes(a.args["modelHash"]) == published]
    attesters = by_address({Web3.to_checksum_address(a.args["participant"]) for a in endorsing})
    evidence: dict[str, Any] = {
        "published_model_hash": fc.hash_hex(published),
        "attestations": len(attesters),
        "quorum": info.quorum,
        "quorum_rule": rule,
        "attesters": attesters,
        "publish_tx": events.published.tx_hash if events.published is not None else None,
        "attest_txs": [a.tx_hash for a in endorsing],
    }
    problems = []
    if events.published is None:
        problems.append("no ModelPublished event")
    elif (named := bytes(events.published.args["modelHash"])) != published:
        problems.append(
            f"ModelPublished names {short(fc.hash_hex(named))}, the round records "
            f"{short(fc.hash_hex(published))}"
        )
    if info.quorum != rule:
        problems.append(f"the round's quorum {info.quorum} is not the rule's {rule}")
    outsiders = [a for a in attesters if a not in members]
    if outsiders:
        problems.append(f"attestations from participants not included: {', '.join(outsiders)}")
    counted = len([a for a in attesters if a in members])
    needed = max(info.quorum, rule)
    if counted < needed:
        problems.append(f"only {counted} attestation(s), the quorum is {needed}")
    if problems:
        verdict = CheckResult(
            "quorum", CheckStatus.FAIL, "; ".join(problems), number, None, evidence
        )
    else:
        verdict = CheckResult(
            "quorum",
            CheckStatus.PASS,
            f"{counted} of {len(included)} included participants attested "
            f"{short(fc.hash_hex(published))} (quorum {info.quorum})",
            number,
            evidence=evidence,
        )
    dissents = [
        CheckResult(
            "quorum",
            CheckStatus.WARN,
            f"attested a different model hash {short(fc.hash_hex(model_hash))}",
            number,
            Web3.to_checksum_address(attestation.args["participant"]),
            {"model_hash": fc.hash_hex(model_hash), "attest_tx": attestation.tx_hash},
        )
        for attestation in events.attestations
        if (model_hash := bytes(attestation.args["modelHash"])) != published
    ]
    return [verdict, *dissents]


def quorum_pending(number: int, state: RoundPhase, quorum: int, events: RoundEvents) -> CheckResult:
    """The ``quorum`` check of a round closed but not published: skipped, saying how far the
    attestations got (still ``CLOSED``) or why the round failed."""
    if state is RoundPhase.CLOSED:
        why = (
            f"awaiting attestations: the leading model hash has {events.leading_attestations()} "
            f"of the {quorum} needed"
        )
    else:
        why = f"round failed after closing: {events.failure_reason or 'no reason recorded'}"
    return CheckResult("quorum", CheckStatus.SKIP, why, number)
