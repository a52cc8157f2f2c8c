"""``update``: each included participant's stored update is the one it committed in the round,
and a valid update (summed as it arrives, to recompute the aggregate); ``left_out``: every
participant that committed was included — or, in a masked round, was dropped with every reveal
of its mask seeds in (:mod:`.masking`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import fedledger_crypto as fc
from fedledger_platform.audit.evidence import Download
from fedledger_platform.audit.history import RoundEvents
from fedledger_platform.audit.results import CheckResult, CheckStatus, short
from fedledger_platform.ledger import LedgerEvent

__all__ = ["check_left_out", "check_updates"]


def _verify(
    download: Download, commit: LedgerEvent | None, summer: fc.StreamingAggregator | None
) -> tuple[CheckStatus, str, dict[str, Any]]:
    """One stored update against its commitment; adds it to ``summer`` when it matches."""
    evidence: dict[str, Any] = {
        "commitment": fc.hash_hex(bytes(commit.args["updateHash"])) if commit else None,
        "commit_tx": commit.tx_hash if commit else None,
    }
    if commit is None:
        return CheckStatus.FAIL, "included without an UpdateCommitted event in this round", evidence
    committed = bytes(commit.args["updateHash"])
    if download.data is None:
        message = f"stored update is missing: the aggregator answered {download.error}"
        return CheckStatus.FAIL, message, {**evidence, "error": download.error}
    actual = fc.keccak256(download.data)
    evidence.update(served_hash=fc.hash_hex(actual), served_size=len(download.data))
    if actual != committed:
        message = (
            f"stored update hashes to {short(fc.hash_hex(actual))}, the on-chain "
            f"commitment is {short(fc.hash_hex(committed))}"
        )
        return CheckStatus.FAIL, message, evidence
    if summer is not None:
        try:
            # A participant's update is a single contribution: an aggregate-kind blob could
            # claim any contributor count.
            if fc.parse_header(download.data, summer.params).kind != fc.BlobKind.UPDATE:
                raise fc.MalformedBlobError("an aggregate blob committed as an update")
            summer.add(download.data)
        except fc.BlobError as exc:
            message = (
                "matches its commitment but is not a valid update under the federation's "
                f"parameters: {exc}"
            )
            return CheckStatus.FAIL, message, evidence
    message = f"stored update hashes to its commitment {short(fc.hash_hex(committed))}"
    return CheckStatus.PASS, message, evidence


def check_updates(
    number: int, downloads: Iterable[Download], events: RoundEvents, context: Any
) -> tuple[list[CheckResult], bytes | None]:
    """One ``update`` result per download (the included participants' stored updates, consumed
    as they arrive), and their homomorphic sum under the parameters-only ``context`` — ``None``
    when there is no context or not every update was verified."""
    summer = fc.StreamingAggregator(context) if context is not None else None
    results: list[CheckResult] = []
    for download in downloads:
        commit = events.commits.get(download.participant)
        status, message, evidence = _verify(download, commit, summer)
        results.append(
            CheckResult("update", status, message, number, download.participant, evidence)
        )
    all_verified = all(r.status is CheckStatus.PASS for r in results)
    summed = (
        summer.result() if summer is not None and all_verified and summer.contributors else None
    )
    return results, summed


def check_left_out(
    number: int,
    included: Sequence[str],
    events: RoundEvents,
    closed: LedgerEvent,
    accepted: set[str] | None,
    *,
    revealed: frozenset[str] = frozenset(),
) -> list[CheckResult]:
    """A ``left_out`` failure per participant that committed in the round but is not in
    ``included`` (a possibly dropped update), noting whether it is in ``accepted`` (the uploads
    the aggregator lists; ``None``: the list is unavailable) — unless it is in ``revealed``
    (dropped from a masked round, every required reveal of its seeds verified): a pass naming
    it; one pass otherwise."""
    left_out = events.left_out(included)
    if not left_out:
        return [
            CheckResult(
                "left_out",
                CheckStatus.PASS,
                f"all {len(events.commits)} committed participants were included",
                number,
                evidence={"close_tx": closed.tx_hash, "committed": len(events.commits)},
            )
        ]
    results = []
    for participant in left_out:
        commit = events.commits[participant]
        commitment = fc.hash_hex(bytes(commit.args["updateHash"]))
        listed = None if accepted is None else participant in accepted
        evidence = {
            "commitment": commitment,
            "commit_tx": commit.tx_hash,
            "close_tx": closed.tx_hash,
            "aggregator_lists_upload": listed,
        }
        if participant in revealed and not listed:
            message = (
                "committed but dropped from the masked round; every surviving mask neighbour "
                "revealed the seed it shares with it"
            )
            results.append(
                CheckResult("left_out", CheckStatus.PASS, message, number, participant, evidence)
            )
            continue
        note = {
            True: "the aggregator lists an accepted upload from it",
            False: "the aggregator lists no upload from it",
            None: "the aggregator's update list is unavailable",
        }[listed]
        if participant in revealed:
            note += ", yet declared it dropped: its neighbours' reveals expose that upload"
        results.append(
            CheckResult(
                "left_out",
                CheckStatus.FAIL,
                f"committed {short(commitment)} but was left out of the aggregate (possibly "
                f"dropped; {note})",
                number,
                participant,
                evidence,
            )
        )
    return results
