"""Rendering an :class:`~fedledger_platform.audit.results.AuditReport`: a Rich table for the
terminal, JSON, and a self-contained HTML file (inline CSS, no scripts, no external assets).

Transaction hashes become links when an explorer URL template is given, e.g.
``https://sepolia.etherscan.io/tx/{tx}``; without one they are plain text.

The HTML can carry figures the *participants* decrypted (:class:`DecryptedFigures`, e.g. the
demo's fairness report) in a section of their own, labelled as such: the auditor holds no secret
key, so it can neither compute nor verify them, and they play no part in the verdict.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from fedledger_platform.audit.results import (
    CHECKS,
    AuditReport,
    CheckResult,
    CheckStatus,
    RoundAudit,
    Verdict,
)

__all__ = [
    "DecryptedFigures",
    "render_html",
    "render_table",
    "to_json_text",
    "validate_explorer",
    "write_html",
]

_STYLE = {
    CheckStatus.PASS: "green",
    CheckStatus.FAIL: "bold red",
    CheckStatus.WARN: "yellow",
    CheckStatus.SKIP: "dim",
}
_VERDICT_STYLE = {
    Verdict.PASS: "green",
    Verdict.FAIL: "bold red",
    Verdict.PENDING: "cyan",
    Verdict.ROUND_FAILED: "magenta",
}
_SEVERITY = [CheckStatus.FAIL, CheckStatus.WARN, CheckStatus.PASS, CheckStatus.SKIP]


@dataclass(frozen=True)
class DecryptedFigures:
    """A table of figures the participants decrypted, for the HTML report.

    ``note`` says what the figures are and who computed them; every row has one cell per
    ``header`` entry (plain text, escaped when rendered).
    """

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(
                    f"{self.title!r}: a row has {len(row)} cells for {len(self.header)} columns"
                )


def validate_explorer(template: str | None) -> str | None:
    """An explorer URL template must contain ``{tx}`` and be http(s); ``ValueError`` if not."""
    if template is None:
        return None
    if "{tx}" not in template or not template.startswith(("http://", "https://")):
        raise ValueError(
            f"explorer template {template!r} must be an http(s) URL containing {{tx}}, e.g. "
            "https://sepolia.etherscan.io/tx/{tx}"
        )
    return template


def to_json_text(report: AuditReport) -> str:
    """The report as indented JSON text."""
    return json.dumps(report.to_json(), indent=2) + "\n"


# ---------------------------------------------------------------------- terminal


def _worst(checks: Iterable[CheckResult]) -> CheckStatus:
    statuses = {c.status for c in checks}
    return next(s for s in _SEVERITY if s in statuses)


def _grouped(checks: Iterable[CheckResult]) -> list[tuple[str, list[CheckResult]]]:
    groups: dict[str, list[CheckResult]] = {}
    for check in checks:
        groups.setdefault(check.check, []).append(check)
    return list(groups.items())


def _short_address(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}" if len(address) == 42 else address


def _table_rows(checks: Iterable[CheckResult]) -> list[tuple[str, CheckStatus, str]]:
    """(check, status, detail) rows: passing repeats collapse into one row; a participant is
    named (shortened) at the start of the detail."""
    rows = []
    for name, group in _grouped(checks):
        quiet = [c for c in group if c.status in (CheckStatus.PASS, CheckStatus.SKIP)]
        loud = [c for c in group if c not in quiet]
        if len(quiet) == 1 and not quiet[0].participant:
            rows.append((name, quiet[0].status, quiet[0].message))
        elif quiet:
            status = _worst(quiet)
            who = " participants" if quiet[0].participant else ""
            rows.append((name, status, f"{len(quiet)}{who} × {status}: {quiet[0].description}"))
        rows.extend(
            (
                name,
                c.status,
                f"{_short_address(c.participant)}: {c.message}" if c.participant else c.message,
            )
            for c in loud
        )
    return rows


def render_table(report: AuditReport, console: Console) -> None:
    """Print the report as a Rich table — federation checks, then a row group per round whose
    first row gives its state and verdict — followed by one line per failure."""
    table = Table(
        title=f"audit of ledger {report.ledger} (chain {report.chain_id}) at block "
        f"{report.block_number}"
    )
    table.add_column("round", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold", ratio=1)
    for name, status, detail in _table_rows(report.federation_checks):
        table.add_row("—", name, Text(str(status), _STYLE[status]), detail)
    for r in report.rounds:
        table.add_section()
        summary = f"{len(r.included)} included of {len(r.committed)} committed"
        if r.failure_reason:
            summary += f"; failed: {r.failure_reason}"
        table.add_row(
            Text(str(r.number), "bold"),
            Text(str(r.state), "bold"),
            Text(str(r.verdict), _VERDICT_STYLE[r.verdict]),
            summary,
        )
        for name, status, detail in _table_rows(r.checks):
            table.add_row("", name, Text(str(status), _STYLE[status]), detail)
    console.print(table)
    counts = report.counts()
    rounds = "rounds: " + (
        ", ".join(f"{n} {v}" for v, n in counts["rounds"].items() if n) or "none opened yet"
    )
    failures = report.failures
    if failures:
        console.print(f"[bold red]{len(failures)} check(s) failed[/] ({rounds}):")
        for failure in failures:
            console.print(Text(f"  {failure.line()}", style="red"))
    else:
        console.print(f"[green]all checks passed[/] ({rounds}) in {report.duration_s:.2f} s")


# ---------------------------------------------------------------------- HTML

_CSS = """
:root { --ok:#137333; --bad:#b3261e; --warn:#8a5a00; --skip:#5f6368; --line:#dadce0; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #202124; background: #f8f9fa; }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
              font-size: 12.5px; word-break: break-all; }
.banner { padding: 14px 18px; border-radius: 8px; color: #fff; font-weight: 600;
          margin: 16px 0; }
.banner.ok { background: var(--ok); } .banner.bad { background: var(--bad); }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px;
        padding: 10px 14px; min-width: 130px; }
.card b { display: block; font-size: 20px; }
table { border-collapse: collapse; width: 100%; background: #fff; margin: 8px 0 16px; }
th, td { border: 1px solid var(--line); padding: 6px 8px; text-align: left;
         vertical-align: top; }
th { background: #f1f3f4; font-weight: 600; }
.facts th { width: 210px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
         font-weight: 600; color: #fff; }
.pass { background: var(--ok); } .fail { background: var(--bad); }
.warn { background: var(--warn); } .skip { background: var(--skip); }
.pending { background: #1a73e8; } .round-failed { background: #8e24aa; }
.open, .closed, .published, .failed { background: #3c4043; }
section.round { background: #fff; border: 1px solid var(--line); border-radius: 8px;
                padding: 4px 16px 8px; margin: 16px 0; }
section.round.has-fail { border-left: 6px solid var(--bad); }
details summary { cursor: pointer; color: #1a73e8; }
ul.failures li { margin: 4px 0; }
dl.evidence { margin: 6px 0 0; display: grid; grid-template-columns: max-content 1fr;
              gap: 2px 12px; }
dl.evidence dt { color: #5f6368; } dl.evidence dd { margin: 0; }
footer { color: #5f6368; margin-top: 32px; font-size: 12px; }
p.decrypted { border-left: 4px solid var(--warn); padding: 6px 12px; background: #fff; }
"""


class _Html:
    def __init__(self, explorer: str | None) -> None:
        self.explorer = explorer

    @staticmethod
    def esc(value: object) -> str:
        return html.escape(str(value))

    def tx(self, tx_hash: str | None) -> str:
        if not tx_hash:
            return "—"
        text = f'<code title="{self.esc(tx_hash)}">{self.esc(tx_hash)}</code>'
        if self.explorer is None:
            return text
        url = self.explorer.replace("{tx}", tx_hash)
        return f'<a href="{self.esc(url)}" rel="noopener noreferrer">{text}</a>'

    def value(self, key: str, value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, list):
            if key.endswith("_txs"):
                return "<br>".join(self.tx(str(v)) for v in value) or "—"
            return "<br>".join(f"<code>{self.esc(v)}</code>" for v in value) or "—"
        if key.endswith("_tx") and isinstance(value, str):
            return self.tx(value)
        if isinstance(value, bool):
            return "yes" if value else "no"
        return f"<code>{self.esc(value)}</code>"

    def badge(self, label: str) -> str:
        return f'<span class="badge {self.esc(label)}">{self.esc(label)}</span>'

    def evidence(self, evidence: Mapping[str, Any]) -> str:
        if not evidence:
            return ""
        items = "".join(
            f"<dt>{self.esc(k.replace('_', ' '))}</dt><dd>{self.value(k, v)}</dd>"
            for k, v in evidence.items()
        )
        return f'<details><summary>evidence</summary><dl class="evidence">{items}</dl></details>'

    def checks_table(self, checks: Iterable[CheckResult]) -> str:
        rows = "".join(
            "<tr>"
            f"<td>{self.badge(str(c.status))}</td>"
            f'<td title="{self.esc(c.description)}">{self.esc(c.check)}</td>'
            f"<td>{self.value('participant', c.participant)}</td>"
            f"<td>{self.esc(c.message)}{self.evidence(c.evidence)}</td>"
            "</tr>"
            for c in checks
        )
        return (
            "<table><thead><tr><th>status</th><th>check</th><th>participant</th>"
            f"<th>detail</th></tr></thead><tbody>{rows}</tbody></table>"
        )

    def decrypted_section(self, tables: Sequence[DecryptedFigures]) -> str:
        if not tables:
            return ""
        parts = [
            '<h2 id="decrypted">Figures the participants decrypted (not verified by this '
            "audit)</h2>",
            '<p class="decrypted">The participants decrypted these federation-wide sums and '
            "reported them. The auditor holds no secret key: it cannot compute or check them, "
            "and they are no part of the verdict above.</p>",
        ]
        for table in tables:
            head = "".join(f"<th>{self.esc(c)}</th>" for c in table.header)
            body = "".join(
                "<tr>" + "".join(f"<td>{self.esc(c)}</td>" for c in row) + "</tr>"
                for row in table.rows
            )
            parts.append(f"<h3>{self.esc(table.title)}</h3>")
            if table.note:
                parts.append(f"<p>{self.esc(table.note)}</p>")
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        return "\n".join(parts)

    def round_section(self, r: RoundAudit) -> str:
        facts = [
            ("state", self.badge(str(r.state)) + " " + self.badge(str(r.verdict))),
            ("base model hash", self.value("", r.base_model_hash)),
            ("aggregate hash", self.value("", r.aggregate_hash)),
            ("published model hash", self.value("", r.published_model_hash)),
            ("deadline (Unix time)", self.value("", r.deadline)),
            ("minimum updates", self.value("", r.min_updates)),
            ("committed", self.value("", list(r.committed))),
            ("included", self.value("", list(r.included))),
            ("quorum", self.value("", r.quorum if r.included else None)),
            ("reward per update", self.value("", r.reward_per_update)),
        ]
        if r.failure_reason:
            facts.append(("failure reason", self.esc(r.failure_reason)))
        facts.extend((f"{name} transaction", self.tx(tx)) for name, tx in r.transactions.items())
        rows = "".join(f"<tr><th>{self.esc(k)}</th><td>{v}</td></tr>" for k, v in facts)
        css = "round has-fail" if r.failures else "round"
        return (
            f'<section class="{css}" id="round-{r.number}"><h2>Round {r.number}</h2>'
            f'<table class="facts">{rows}</table>{self.checks_table(r.checks)}</section>'
        )


def render_html(
    report: AuditReport,
    *,
    explorer: str | None = None,
    decrypted: Sequence[DecryptedFigures] = (),
) -> str:
    """A self-contained HTML report: summary, failures, federation checks, every round, and the
    ``decrypted`` figures in a section labelled as the participants' (not verified)."""
    explorer = validate_explorer(explorer)
    h = _Html(explorer)
    counts = report.counts()
    failures = report.failures
    when = dt.datetime.fromtimestamp(report.started_at, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    banner = (
        f'<div class="banner bad">{len(failures)} check(s) failed</div>'
        if failures
        else '<div class="banner ok">Every check passed</div>'
    )
    cards = "".join(
        f'<div class="card"><b>{n}</b>rounds {h.esc(verdict)}</div>'
        for verdict, n in counts["rounds"].items()
    ) + "".join(
        f'<div class="card"><b>{n}</b>checks {h.esc(status)}</div>'
        for status, n in counts["checks"].items()
    )
    facts = [
        ("ledger", h.value("", report.ledger)),
        ("token", h.value("", report.token)),
        ("chain id", h.value("", report.chain_id)),
        ("aggregator", h.value("", report.aggregator)),
        ("auditor account", h.value("", report.auditor)),
        ("audited at block", h.value("", report.block_number)),
        ("events read from block", h.value("", report.from_block)),
        (
            "rounds audited",
            h.esc(f"{report.first_round}..{report.last_round}" if report.rounds else "none")
            + h.esc(f" (latest round: {report.current_round})"),
        ),
        ("CKKS parameter set", h.value("", report.params_id)),
        ("parameters hash", h.value("", report.parameters_hash)),
        ("quorum", h.esc(f"{report.quorum_bps} bps of the included participants")),
        ("audit started (UTC)", h.esc(when)),
        ("duration", h.esc(f"{report.duration_s:.2f} s")),
    ]
    summary = "".join(f"<tr><th>{h.esc(k)}</th><td>{v}</td></tr>" for k, v in facts)
    failure_list = (
        '<h2>Failures</h2><ul class="failures">'
        + "".join(
            f"<li>{h.badge('fail')} "
            + (
                f'<a href="#round-{f.round_number}">round {f.round_number}</a>'
                if f.round_number is not None
                else "federation"
            )
            + f" · <b>{h.esc(f.check)}</b>"
            + (f" · <code>{h.esc(f.participant)}</code>" if f.participant else "")
            + f" — {h.esc(f.message)}</li>"
            for f in failures
        )
        + "</ul>"
        if failures
        else ""
    )
    overview = "".join(
        f'<tr><td><a href="#round-{r.number}">{r.number}</a></td>'
        f"<td>{h.badge(str(r.state))}</td><td>{h.badge(str(r.verdict))}</td>"
        f"<td>{len(r.included)}</td><td>{len(r.committed)}</td>"
        f"<td>{len(r.failures)}</td><td>{h.tx(r.transactions.get('close'))}</td></tr>"
        for r in report.rounds
    )
    legend = "".join(
        f"<tr><td><code>{h.esc(k)}</code></td><td>{h.esc(v)}</td></tr>" for k, v in CHECKS.items()
    )
    body = f"""<main>
<h1>fedledger audit report</h1>
<div>Ledger <code>{h.esc(report.ledger)}</code> on chain {h.esc(report.chain_id)}</div>
{banner}
<div class="cards">{cards}</div>
<table class="facts">{summary}</table>
{failure_list}
<h2>Rounds</h2>
<table><thead><tr><th>round</th><th>state</th><th>verdict</th><th>included</th>
<th>committed</th><th>failures</th><th>close transaction</th></tr></thead>
<tbody>{overview}</tbody></table>
<h2>Federation</h2>
{h.checks_table(report.federation_checks)}
{"".join(h.round_section(r) for r in report.rounds)}
{h.decrypted_section(decrypted)}
<h2>What each check verifies</h2>
<table><tbody>{legend}</tbody></table>
<footer>Generated by <code>fedledger audit</code>. The auditor recomputed every aggregate from
the stored ciphertexts with the parameters-only CKKS context and compared every hash with the
chain at block {h.esc(report.block_number)}; it holds no secret key.</footer>
</main>"""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>fedledger audit · {h.esc(report.ledger)}</title>"
        f"<style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


def write_html(
    report: AuditReport,
    path: Path,
    *,
    explorer: str | None = None,
    decrypted: Sequence[DecryptedFigures] = (),
) -> Path:
    """Write :func:`render_html` to ``path`` (atomically); returns the path."""
    text = render_html(report, explorer=explorer, decrypted=decrypted)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
