"""Participants: who is admitted, what each contributed, its tokens and attestations, and what
the audit found about its updates."""

from __future__ import annotations

from dataclasses import dataclass

from fedledger_platform.dashboard.html import Html, esc
from fedledger_platform.dashboard.model import Contribution, RoundRow, Snapshot

__all__ = ["participant_page", "participants_page", "record_of"]


@dataclass(frozen=True)
class Record:
    """One participant's history across rounds."""

    address: str
    admitted: bool
    balance: int
    rounds: tuple[tuple[RoundRow, Contribution], ...]

    @property
    def included(self) -> int:
        """Rounds whose aggregate included its update."""
        return sum(1 for _, c in self.rounds if c.included)

    @property
    def dropped(self) -> int:
        """Closed rounds that left out its committed update."""
        return sum(1 for _, c in self.rounds if c.included is False)

    @property
    def attested(self) -> int:
        """Rounds in which it attested a model hash."""
        return sum(1 for _, c in self.rounds if c.attested)


def record_of(s: Snapshot, address: str) -> Record | None:
    """``address``'s record (case-insensitive), ``None`` when it never appears."""
    wanted = address.lower()
    known = {a.lower(): a for a in (*s.participants, *s.balances)}
    rounds = tuple(
        (r, c) for r in s.rounds for c in r.contributions if c.participant.lower() == wanted
    )
    if rounds:
        known.setdefault(wanted, rounds[0][1].participant)
    if wanted not in known:
        return None
    canonical = known[wanted]
    return Record(canonical, canonical in s.participants, s.balances.get(canonical, 0), rounds)


def participants_page(h: Html, s: Snapshot) -> str:
    """Every admitted participant (and any former one that still appears in the history)."""
    seen = list(s.participants)
    for r in s.rounds:
        seen += [c.participant for c in r.contributions if c.participant not in seen]
    records = [rec for a in seen if (rec := record_of(s, a)) is not None]
    rows = [
        [
            h.address(rec.address),
            h.badge("admitted" if rec.admitted else "removed"),
            str(len(rec.rounds)),
            str(rec.included),
            str(rec.dropped),
            str(rec.attested),
            h.amount(rec.balance),
        ]
        for rec in records
    ]
    return h.table(
        ["participant", "status", "committed", "included", "dropped", "attested", "tokens"],
        rows,
        css="participants",
        row_ids=[f"participant-{rec.address}" for rec in records],
        empty="no participant has been admitted yet",
    )


def _audit_of(s: Snapshot, number: int, address: str) -> str:
    kept = s.audits.verdict(number)
    if kept is None:
        return '<span class="none">—</span>'
    mine = [c for c in kept.audit.checks if c.participant == address]
    if not mine:
        return '<span class="none">—</span>'
    worst = next(
        (st for st in ("fail", "warn", "pass", "skip") if any(c.status == st for c in mine)),
        "skip",
    )
    title = "; ".join(f"{c.check}: {c.message}" for c in mine)
    return f'<span title="{esc(title)}">{Html.badge(worst)}</span>'


def participant_page(h: Html, s: Snapshot, rec: Record) -> str:
    """One participant: status, tokens and its rounds."""
    facts = h.facts(
        [
            ("address", h.hash(rec.address, full=True)),
            ("status", h.badge("admitted" if rec.admitted else "removed")),
            ("tokens (from the token's Transfer log)", h.amount(rec.balance)),
            ("rounds committed", str(len(rec.rounds))),
            ("rounds included", str(rec.included)),
            ("rounds dropped", str(rec.dropped)),
            ("attestations", str(rec.attested)),
        ]
    )
    rows = []
    for r, c in rec.rounds:
        included = {True: h.badge("included"), False: h.badge("dropped"), None: "—"}[c.included]
        agrees = (
            ""
            if not c.attested or not r.published_model_hash
            else " (the published model)"
            if c.attested == r.published_model_hash
            else " (not the published model)"
        )
        rows.append(
            [
                f'<a href="{h.url(f"/rounds/{r.number}")}">{r.number}</a>',
                f"{h.hash(c.commitment)}<br>{h.tx(c.commit_tx)}",
                included,
                h.size(c.size),
                h.amount(r.reward_per_update) if c.included else "—",
                f"{h.hash(c.attested)}{esc(agrees)}<br>{h.tx(c.attest_tx)}",
                _audit_of(s, r.number, rec.address),
            ]
        )
    table = h.table(
        ["round", "commitment · tx", "aggregate", "upload", "reward", "attested · tx", "audit"],
        rows,
        css="participant-rounds",
        row_ids=[f"participant-round-{r.number}" for r, _ in rec.rounds],
        empty="no update committed yet",
    )
    return f"<section>{facts}</section><section><h2>Rounds</h2>{table}</section>"
