"""``dropped`` and ``reveals``: a masked round's dropouts and the correction it closed with.

The round's members are re-derived from the chain — the participants admitted at the block the
round opened in, the neighbour graph drawn from that block's hash under the ``masking()`` rule
(:class:`~fedledger_platform.ledger.RoundMembers`) — and then:

``dropped``  ``RoundClosed.dropped`` is exactly the members less the included participants
             (and every included participant is a member);
``reveals``  every reveal the aggregator serves verifies: its Chaum–Pedersen proof shows that
             the scalar linking the generator to the revealer's on-chain key also links the
             dropped member's on-chain key to the revealed point
             (``log_G PK_revealer = log_{PK_dropped} P``, bound to chain, ledger, round and
             both addresses), so ``P`` is the pair's true ECDH point; exactly the required
             pairs (each surviving neighbour of each dropped member) are revealed; and the
             keccak256 of their canonical encoding is ``RoundClosed.correctionsHash``.

The correction those reveals give is what :mod:`.aggregate` adds to the recomputed sum, and a
dropped member whose reveals are complete is not a ``left_out`` failure (:mod:`.updates`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

import fedledger_crypto as fc
from fedledger_crypto import masking as mk
from fedledger_platform.api_client import ServedReveals
from fedledger_platform.audit.results import CheckResult, CheckStatus, by_address, short
from fedledger_platform.ledger import LedgerEvent, RoundMembers

__all__ = ["Unmasked", "check_masking", "corrected"]


@dataclass(frozen=True)
class Unmasked:
    """The masking checks of one round, and what the other checks take from them."""

    results: list[CheckResult]
    dropped: tuple[str, ...] = ()  # RoundClosed.dropped, checksummed
    correction: mk.Mask | None = None  # to add to the recomputed sum (None: nothing to add)
    usable: bool = True  # False: the correction could not be established
    revealed: frozenset[str] = field(default_factory=frozenset)  # dropped, reveals complete


def corrected(context: Any, summed: bytes | None, unmasked: Unmasked) -> bytes | None:
    """keccak256 of the recomputed sum with the round's correction (``None``: unknown)."""
    if summed is None or not unmasked.usable:
        return None
    if unmasked.correction is not None:
        summed = fc.apply_correction(context, summed, unmasked.correction)
    return fc.keccak256(summed)


def check_masking(
    number: int,
    members: RoundMembers,
    closed: LedgerEvent,
    included: Sequence[str],
    *,
    served: ServedReveals | None,
    error: str | None,
) -> Unmasked:
    """The ``dropped`` and ``reveals`` results of a closed round (``served``: the aggregator's
    reveal list, ``error`` why it is missing)."""
    dropped = tuple(Web3.to_checksum_address(a) for a in closed.args["dropped"])
    on_chain = bytes(closed.args["correctionsHash"])
    evidence: dict[str, Any] = {
        "opened_block": members.opened_block,
        "members": len(members.members),
        "dropped": list(dropped),
        "corrections_hash": fc.hash_hex(on_chain),
        "close_tx": closed.tx_hash,
    }
    if not members.masking:
        ok = not dropped and not any(on_chain)
        message = "the federation does not mask: nothing dropped, no corrections"
        return Unmasked(
            [
                _result("dropped", ok, message, number, evidence),
                _result("reveals", ok, message, number, evidence),
            ],
            usable=ok,
        )
    results = _dropped(number, members, dropped, included, evidence)
    if not dropped:
        ok = not any(on_chain)
        message = "no dropouts: nothing revealed" + ("" if ok else ", yet a correctionsHash")
        results.append(_result("reveals", ok, message, number, evidence))
        return Unmasked(results, usable=ok)
    if served is None:
        results.append(
            _result("reveals", False, f"the reveals are not served ({error})", number, evidence)
        )
        return Unmasked(results, dropped, usable=False)
    reveals, found = _verified(number, members, dropped, served, evidence)
    results.extend(found)
    served_hash = None
    try:
        served_hash = mk.reveals_hash(served.reveals, members.context)
    except fc.RevealError as exc:
        results.append(_result("reveals", False, str(exc), number, evidence))
    if served_hash is not None and served_hash != on_chain:
        message = (
            f"the served reveals hash to {short(fc.hash_hex(served_hash))}, the chain recorded "
            f"correctionsHash {short(fc.hash_hex(on_chain))}"
        )
        results.append(_result("reveals", False, message, number, evidence))
    needed = members.required_reveals(dropped)
    got = {(r.revealer, r.dropped) for r in reveals}
    revealed = frozenset(
        d for d in dropped if all(pair in got for pair in needed if pair[1] == d.lower())
    )
    if any(r.check == "reveals" and r.status is CheckStatus.FAIL for r in results):
        return Unmasked(results, dropped, usable=False, revealed=revealed)
    correction = members.correction(reveals, dropped)
    message = (
        f"{len(reveals)} reveals for {len(dropped)} dropped verified against both on-chain "
        f"keys, exactly the required pairs; they hash to correctionsHash "
        f"{short(fc.hash_hex(on_chain))}"
    )
    results.append(_result("reveals", True, message, number, evidence))
    return Unmasked(results, dropped, correction if correction.terms else None, True, revealed)


def _result(
    check: str,
    ok: bool,
    message: str,
    number: int,
    evidence: dict[str, Any],
    *,
    who: str | None = None,
) -> CheckResult:
    status = CheckStatus.PASS if ok else CheckStatus.FAIL
    return CheckResult(check, status, message, number, who, dict(evidence))


def _dropped(
    number: int,
    members: RoundMembers,
    dropped: Sequence[str],
    included: Sequence[str],
    evidence: dict[str, Any],
) -> list[CheckResult]:
    """``dropped`` must be the members less the included; one failure per participant."""
    expected, listed = set(members.dropped(included)), set(dropped)
    problems = [
        (a, "included but not a member of the round (admitted after it opened)")
        for a in included
        if not members.is_member(a)
    ]
    problems += [
        (a, "a member left out of the aggregate but not listed as dropped")
        for a in by_address(expected - listed)
    ]
    problems += [
        (a, "listed as dropped but not a member left out of the aggregate")
        for a in by_address(listed - expected)
    ]
    failures = [_result("dropped", False, why, number, evidence, who=a) for a, why in problems]
    if failures:
        return failures
    message = (
        f"dropped = the {len(members.members)} members admitted at block "
        f"{members.opened_block} less the {len(included)} included ({len(dropped)} dropped)"
    )
    return [_result("dropped", True, message, number, evidence)]


def _verified(
    number: int,
    members: RoundMembers,
    dropped: Sequence[str],
    served: ServedReveals,
    evidence: dict[str, Any],
) -> tuple[list[mk.Reveal], list[CheckResult]]:
    """The served reveals that verify and are required, and a failure for every other one and
    for every required pair not revealed."""
    needed = members.required_reveals(dropped)
    valid: list[mk.Reveal] = []
    failures = [
        _result("reveals", False, f"a served reveal does not parse: {m}", number, evidence)
        for m in served.malformed
    ]
    for reveal in served.reveals:
        revealer = Web3.to_checksum_address(reveal.revealer)
        where = f"reveal for dropped {Web3.to_checksum_address(reveal.dropped)}"
        if (reveal.revealer, reveal.dropped) not in needed:
            why = f"{where} is not one of a surviving neighbour for a dropped member"
            failures.append(_result("reveals", False, why, number, evidence, who=revealer))
            continue
        try:
            mk.verify_reveal(
                reveal,
                revealer_public_key=members.public_keys[reveal.revealer],
                dropped_public_key=members.public_keys[reveal.dropped],
                context=members.context,
            )
        except fc.RevealError as exc:
            failures.append(_result("reveals", False, str(exc), number, evidence, who=revealer))
            continue
        valid.append(reveal)
    for neighbour, gone in sorted(needed - {(r.revealer, r.dropped) for r in served.reveals}):
        why = f"no reveal for dropped {Web3.to_checksum_address(gone)}, its mask neighbour"
        who = Web3.to_checksum_address(neighbour)
        failures.append(_result("reveals", False, why, number, evidence, who=who))
    return valid, failures
