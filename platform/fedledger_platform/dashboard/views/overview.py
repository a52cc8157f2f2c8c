"""The federation overview: where it lives, its parameters, participants, rounds, tokens and
the audit's federation-wide checks."""

from __future__ import annotations

from collections import Counter

from fedledger_platform.dashboard.html import Html, esc
from fedledger_platform.dashboard.model import Snapshot
from fedledger_platform.dashboard.views.checks import audit_notice, checks_table, verdict_of
from fedledger_platform.protocol import RoundPhase

__all__ = ["overview"]


def overview(h: Html, s: Snapshot) -> str:
    """The overview's body."""
    fed = s.federation
    if fed is None:
        return '<p class="empty">The chain has not been read yet.</p>'
    states = Counter(r.state for r in s.rounds)
    verdicts = Counter(verdict_of(s, r.number) for r in s.rounds)
    verdicts.pop(None, None)
    planned = fed.rounds_planned
    stats = [
        ("participants", str(len(s.participants))),
        ("rounds opened", f"{len(s.rounds)}" + (f" of {planned}" if planned else "")),
        ("published", str(states[RoundPhase.PUBLISHED])),
        ("failed", str(states[RoundPhase.FAILED])),
        ("tokens minted", h.amount(s.supply)),
        ("audited rounds passing", f"{verdicts['pass']} of {sum(verdicts.values())}"),
    ]
    cards = "".join(
        f'<div class="stat" id="stat-{esc(label.replace(" ", "-"))}"><span class="value">{value}'
        f'</span><span class="label">{esc(label)}</span></div>'
        for label, value in stats
    )
    params = h.facts(
        [
            ("chain id", str(fed.chain_id)),
            ("ledger (FederationLedger)", h.hash(fed.ledger, full=True)),
            ("token (ContributionToken)", h.hash(fed.token, full=True)),
            ("deployed at block", f"{fed.from_block:,}"),
            ("aggregator", f"<code>{esc(fed.aggregator)}</code>"),
            ("CKKS parameter set", esc(fed.params_id or "—")),
            ("parameters hash (on chain)", h.hash(fed.parameters_hash)),
            ("key dealer", h.address(fed.key_dealer)),
            ("reward per included update", h.amount(fed.reward_per_update)),
            ("attestation quorum", f"{fed.quorum_bps / 100:g} % of the included participants"),
            ("updates needed to close a round", h.number(fed.min_updates)),
        ]
    )
    latest = s.rounds[-1] if s.rounds else None
    latest_html = (
        f'<p>Round <a href="{h.url(f"/rounds/{latest.number}")}">{latest.number}</a> is '
        f"{h.badge(str(latest.state))}: {len(latest.committed)} committed, "
        f"{len(latest.included)} included.</p>"
        if latest is not None
        else '<p class="empty">No round has been opened yet.</p>'
    )
    federation_checks = (
        checks_table(h, s.audits.federation_checks)
        if s.audits.federation_checks
        else '<p class="empty">No federation-wide audit yet.</p>'
    )
    return (
        f'<section class="stats">{cards}</section>'
        f"<section><h2>Latest round</h2>{latest_html}</section>"
        f"<section><h2>Federation</h2>{params}</section>"
        f"<section><h2>Audit</h2>{audit_notice(h, s)}"
        f"<h3>Federation-wide checks</h3>{federation_checks}</section>"
    )
