"""The audit's checks and verdicts as the views show them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fedledger_platform.audit import CheckResult
from fedledger_platform.dashboard.html import Html, esc
from fedledger_platform.dashboard.model import Snapshot

__all__ = ["audit_notice", "checks_table", "failures_list", "verdict_cell", "verdict_of"]


def verdict_of(s: Snapshot, number: int) -> str | None:
    """Round ``number``'s cached verdict (pass, fail, pending, round-failed), if audited."""
    kept = s.audits.verdict(number)
    return str(kept.audit.verdict) if kept is not None else None


def verdict_cell(h: Html, s: Snapshot, number: int) -> str:
    """The verdict badge of a round, or why there is none."""
    verdict = verdict_of(s, number)
    if verdict is not None:
        return h.badge(verdict)
    return (
        '<span class="none">not audited</span>'
        if s.audits.auditor
        else '<span class="none">—</span>'
    )


def audit_notice(h: Html, s: Snapshot) -> str:
    """Who audits, how often, and why there are no verdicts when there are none."""
    audits = s.audits
    parts = []
    if audits.auditor is not None:
        parts.append(
            f"<p>Verdicts are reached by this dashboard's own auditor (account "
            f"{h.hash(audits.auditor)}, holding AUDITOR_ROLE) from the chain and the bytes the "
            "aggregator serves: each round is audited when its state on chain changes and again "
            f"at least every {audits.reaudit_s:g} s, so bytes altered on the aggregator after a "
            "round was judged show up as a failure.</p>"
        )
    if audits.notice:
        parts.append(f'<p class="notice">{esc(audits.notice)}</p>')
    return "".join(parts)


def _evidence(evidence: Mapping[str, Any]) -> str:
    if not evidence:
        return ""
    rows = "".join(
        f"<dt>{esc(key)}</dt><dd><code>{esc(_text(value))}</code></dd>"
        for key, value in evidence.items()
    )
    return f'<details><summary>evidence</summary><dl class="evidence">{rows}</dl></details>'


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    return "—" if value is None else str(value)


def checks_table(h: Html, checks: Iterable[CheckResult]) -> str:
    """Every check: its name and what it verifies, the participant, status, finding, evidence."""
    rows, ids = [], []
    for c in checks:
        rows.append(
            [
                f'<span title="{esc(c.description)}">{esc(c.check)}</span>',
                h.address(c.participant) if c.participant else "",
                h.badge(str(c.status)),
                esc(c.message) + _evidence(c.evidence),
            ]
        )
        who = c.participant or ("round" if c.round_number is not None else "federation")
        ids.append(f"check-{c.check}-{who}")
    return h.table(["check", "participant", "status", "finding"], rows, css="checks", row_ids=ids)


def failures_list(checks: Iterable[CheckResult]) -> str:
    """The failed checks, one line each, naming the round and the participant."""
    lines = [f'<li class="failure">{esc(c.line())}</li>' for c in checks]
    return f'<ul class="failures">{"".join(lines)}</ul>' if lines else ""
