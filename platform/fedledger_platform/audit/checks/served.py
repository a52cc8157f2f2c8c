"""``served_round`` and ``latest_model``: what the REST API says about rounds and models is what
the chain says.

Participants and consumers read ``GET /v1/rounds/{n}`` and ``GET /v1/models/latest``; a
client that checks everything against the chain is not misled by them, but one that believes
them is, so the audit holds them to the chain too. Served answers are read after the audit's
pinned block: a round (or publication) that moved on since then is compared with the chain's
state now (``later``), never waved through.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import fedledger_crypto as fc
from fedledger_platform.audit.evidence import ServedLatest, ServedRound
from fedledger_platform.audit.history import RoundEvents
from fedledger_platform.audit.results import CheckResult, CheckStatus, short
from fedledger_platform.ledger import RoundInfo

__all__ = ["check_latest_model", "check_served_round"]


def _hex(value: bytes) -> str | None:
    return fc.hash_hex(value) if any(value) else None


def _lower(value: Any) -> str | None:
    return str(value).lower() if value else None


def _mismatches(
    data: Mapping[str, Any], reference: RoundInfo, events: RoundEvents
) -> list[tuple[str, Any, Any]]:
    """(field, served, chain) for every served field that contradicts the chain."""
    expected: dict[str, Any] = {
        "base_model_hash": fc.hash_hex(reference.base_model_hash),
        "deadline": reference.deadline,
        "min_updates": reference.min_updates,
    }
    if any(reference.aggregate_hash):
        expected["aggregate_hash"] = fc.hash_hex(reference.aggregate_hash)
    expected["published_model_hash"] = _hex(reference.published_model_hash)
    if events.opened is not None:
        expected["open_tx"] = events.opened.tx_hash
    if events.closed is not None:
        expected["close_tx"] = events.closed.tx_hash
        expected["participants"] = sorted(str(a).lower() for a in events.closed.args["included"])
    found = []
    for name, want in expected.items():
        got = data.get(name)
        if name in ("open_tx", "close_tx") and got is None:
            continue  # not recorded (a round adopted from the chain, a resumed close): no claim
        if name == "participants":
            same = sorted(str(a).lower() for a in got or []) == want
        elif isinstance(want, str) or want is None:
            same = _lower(got) == _lower(want)
        else:
            same = got == want
        if not same:
            found.append((name, got, want))
    if data.get("accepted") != len(data.get("participants") or []):
        found.append(("accepted", data.get("accepted"), len(data.get("participants") or [])))
    return found


def check_served_round(
    number: int,
    served: ServedRound,
    info: RoundInfo,
    events: RoundEvents,
    later: RoundInfo | None = None,
) -> CheckResult:
    """Round ``number`` as served against the chain: its phase, base model, deadline,
    minimum, aggregate and published hashes, participants and transactions.

    ``info`` is the round at the audit's block; ``later`` the round read again afterwards,
    used only when the served phase is ahead of ``info`` (the federation moved on)."""
    evidence: dict[str, Any] = {"chain_phase": str(info.status)}

    def result(status: CheckStatus, message: str) -> CheckResult:
        return CheckResult("served_round", status, message, number, evidence=evidence)

    if served.data is None:
        return result(
            CheckStatus.FAIL, f"the aggregator does not serve round {number}: {served.error}"
        )
    phase = served.phase
    evidence["served_phase"] = served.data.get("phase")
    reference = info
    if phase is None or phase.chain_status != info.status.chain_status:
        if (
            phase is not None
            and later is not None
            and phase.chain_status == later.status.chain_status
        ):
            reference = later  # moved on after the audit's block: judged by the chain now
            evidence["chain_phase_now"] = str(later.status)
        else:
            return result(
                CheckStatus.FAIL,
                f"served as {served.data.get('phase')!r}, the chain says {info.status}",
            )
    found = _mismatches(served.data, reference, events)
    if found:
        evidence["mismatches"] = {name: {"served": got, "chain": want} for name, got, want in found}
        detail = "; ".join(f"{name} served {got!r}, chain {want!r}" for name, got, want in found)
        return result(CheckStatus.FAIL, f"served round contradicts the chain: {detail}")
    return result(CheckStatus.PASS, f"served {phase} round matches the chain")


def check_latest_model(
    published: Mapping[int, bytes],
    served: ServedLatest,
    later: Mapping[int, bytes] | None = None,
) -> CheckResult:
    """``GET /v1/models/latest`` against the chain's latest publication.

    ``published`` maps each round published by the audit's block to its model hash; ``later``
    gives the published hash of a round the aggregator labels its latest model with when that
    round was published after the audit's block."""
    evidence = served.evidence()
    latest = max(published, default=None)
    if latest is not None:
        evidence |= {"chain_round": latest, "chain_hash": fc.hash_hex(published[latest])}

    def result(status: CheckStatus, message: str) -> CheckResult:
        return CheckResult("latest_model", status, message, evidence=evidence)

    if served.actual is None:
        if latest is None and served.status == 404:
            return result(CheckStatus.PASS, "nothing published on chain, nothing served as latest")
        return result(CheckStatus.FAIL, f"the latest model is not served ({served.error})")
    actual = fc.hash_hex(served.actual)
    if served.hash_header is not None and served.hash_header.lower() != actual:
        return result(
            CheckStatus.FAIL,
            f"the hash header says {short(served.hash_header)}, the bytes hash to {short(actual)}",
        )
    label = served.round_number
    chain_hash = published.get(label) if label is not None else None
    if chain_hash is None and label is not None and later is not None:
        chain_hash = later.get(label)
    if label is None or chain_hash is None:
        return result(
            CheckStatus.FAIL,
            f"the latest model is labelled round {label}, which published no model on chain",
        )
    if served.actual != chain_hash:
        return result(
            CheckStatus.FAIL,
            f"serves bytes hashing to {short(actual)} as round {label}'s model; the chain "
            f"published {short(fc.hash_hex(chain_hash))} in round {label}",
        )
    if latest is not None and label < latest:
        return result(
            CheckStatus.WARN,
            f"serves round {label}'s model as the latest; the chain's latest publication is "
            f"round {latest}'s (its bytes may still be on their way)",
        )
    return result(CheckStatus.PASS, f"serves round {label}'s published model {short(actual)}")
