"""The rounds timeline and one round's page: state, committed / included / dropped
participants, hashes with their transactions, gas, bytes, and the audit's verdict with every
check."""

from __future__ import annotations

from fedledger_platform.dashboard.html import Html, esc
from fedledger_platform.dashboard.model import RoundRow, Snapshot
from fedledger_platform.dashboard.views.checks import (
    audit_notice,
    checks_table,
    failures_list,
    verdict_cell,
)

__all__ = ["round_page", "rounds_timeline"]


def _people(h: Html, addresses: tuple[str, ...]) -> str:
    if not addresses:
        return "0"
    return (
        f'{len(addresses)} <span class="people">{" ".join(h.address(a) for a in addresses)}</span>'
    )


def rounds_timeline(h: Html, s: Snapshot) -> str:
    """Every round, newest first."""
    rows = []
    for r in reversed(s.rounds):
        included = str(len(r.included)) if "close" in r.transactions else "—"
        rows.append(
            [
                f'<a href="{h.url(f"/rounds/{r.number}")}">{r.number}</a>',
                f'<span class="state">{h.badge(str(r.state))}</span>',
                f'<span class="verdict">{verdict_cell(h, s, r.number)}</span>',
                f'<span class="committed">{len(r.committed)}</span>',
                f'<span class="included">{included}</span>',
                _people(h, r.dropped),
                f"{h.hash(r.aggregate_hash)}<br>{h.tx(r.transactions.get('close'))}",
                f"{h.hash(r.published_model_hash)}<br>{h.tx(r.transactions.get('publish'))}",
                h.number(r.gas.get("total")),
                h.size(r.update_bytes),
            ]
        )
    table = h.table(
        [
            "round",
            "state",
            "verdict",
            "committed",
            "included",
            "dropped",
            "aggregate · close tx",
            "model · publish tx",
            "gas",
            "update bytes",
        ],
        rows,
        css="rounds",
        row_ids=[f"round-{r.number}" for r in reversed(s.rounds)],
        empty="no round has been opened yet",
    )
    return (
        '<p class="lead">Each round as the chain records it. <em>Dropped</em>: members of a '
        "masked round whose update was missing when it closed (<code>RoundClosed</code>); "
        "their mask neighbours revealed the seeds they shared with them. Gas: every "
        "transaction of the round (open, commitments, close with its rewards, "
        "attestations).</p>" + table + audit_notice(h, s)
    )


def _facts(h: Html, r: RoundRow) -> str:
    tx = r.transactions
    return h.facts(
        [
            ("state on chain", h.badge(str(r.state))),
            ("deadline", h.time(r.deadline)),
            ("updates needed", str(r.min_updates)),
            ("base model", h.hash(r.base_model_hash)),
            ("opened in", h.tx(tx.get("open"))),
            ("aggregate hash", h.hash(r.aggregate_hash)),
            ("closed in", h.tx(tx.get("close"))),
            ("reward per included update", h.amount(r.reward_per_update)),
            ("attestation quorum", str(r.quorum) if r.quorum else "—"),
            ("published model", h.hash(r.published_model_hash)),
            ("published in", h.tx(tx.get("publish"))),
            ("published model bytes", h.size(r.model_size)),
            *([("failed in", h.tx(tx["fail"]))] if "fail" in tx else []),
            *([("failure reason", esc(r.failure_reason))] if r.failure_reason else []),
        ]
    )


def _gas(h: Html, r: RoundRow) -> str:
    labels = {
        "open": "openRound",
        "commits": "commitments (relayed batches and direct commitUpdate)",
        "close": "closeRound (mints the rewards)",
        "attestations": "attestations (relayed batches and direct attestModel; one publishes)",
        "fail": "abandonRound",
        "total": "total",
    }
    rows = [[esc(labels.get(k, k)), h.number(v)] for k, v in r.gas.items()]
    return h.table(["transactions", "gas used"], rows, css="gas")


def _contributions(h: Html, r: RoundRow) -> str:
    rows = []
    for c in r.contributions:
        included = {True: h.badge("included"), False: h.badge("dropped"), None: "—"}[c.included]
        rows.append(
            [
                h.address(c.participant),
                f"{h.hash(c.commitment)}<br>{h.tx(c.commit_tx)}",
                h.number(c.commit_gas),
                included,
                h.size(c.size),
                f"{h.hash(c.attested)}<br>{h.tx(c.attest_tx)}",
            ]
        )
    return h.table(
        ["participant", "commitment · tx", "gas", "aggregate", "upload", "attested model · tx"],
        rows,
        css="contributions",
        row_ids=[f"contribution-{c.participant}" for c in r.contributions],
        empty="no participant has committed an update yet",
    )


def round_page(h: Html, s: Snapshot, r: RoundRow) -> str:
    """One round: the audit's verdict and failures, facts, contributions, gas, every check."""
    kept = s.audits.verdict(r.number)
    if kept is None:
        verdict = f"<p>Verdict: {verdict_cell(h, s, r.number)}</p>{audit_notice(h, s)}"
        checks = ""
    else:
        a = kept.audit
        verdict = (
            f'<p class="verdict-line">Verdict: <span id="verdict">{h.badge(str(a.verdict))}'
            f"</span> — audited at block {kept.block:,}, {h.time(kept.checked_at)}; "
            f"{len(a.included)} included of {len(a.committed)} committed.</p>"
            + failures_list(a.failures)
            + audit_notice(h, s)
        )
        checks = f'<section id="checks"><h2>Every check</h2>{checks_table(h, a.checks)}</section>'
    return (
        f'<section id="audit"><h2>Audit</h2>{verdict}</section>'
        f"<section><h2>On chain</h2>{_facts(h, r)}</section>"
        f"<section><h2>Participants</h2>{_contributions(h, r)}</section>"
        f"<section><h2>Gas</h2>{_gas(h, r)}</section>"
        f"{checks}"
    )
