"""Metric curves: each published model's test metrics per round (round 0 is the initial model),
and what each round cost in gas and bytes."""

from __future__ import annotations

import math

from fedledger_platform.dashboard.html import Html, esc
from fedledger_platform.dashboard.model import Evaluation, Snapshot
from fedledger_platform.dashboard.rows import model_points
from fedledger_platform.dashboard.svg import Series, line_chart

__all__ = ["metrics_page"]


def _evaluations(s: Snapshot) -> list[tuple[int, str, Evaluation | None, str | None]]:
    found = []
    for number, model_hash in model_points(s.rounds):
        kept = s.metrics.get(model_hash)
        found.append(
            (
                number,
                model_hash,
                kept.evaluation if kept is not None else None,
                kept.error if kept is not None else None,
            )
        )
    return found


def metrics_page(h: Html, s: Snapshot) -> str:
    """The metrics page's body."""
    evaluated = _evaluations(s)
    names: list[str] = []
    first: Evaluation | None = None
    for _, _, evaluation, _ in evaluated:
        if evaluation is not None:
            first = first or evaluation
            names += [k for k in evaluation.values if k not in names]
    charts = []
    for name in names:
        points = [
            (float(n), float(e.values.get(name, math.nan)))
            for n, _, e, _ in evaluated
            if e is not None
        ]
        better = ""
        if first is not None and name == first.headline:
            better = " (higher is better)" if first.higher_is_better else " (lower is better)"
        charts.append(
            f'<figure id="chart-{esc(name)}">'
            + line_chart(
                [Series(f"test {name}", points)],
                title=f"test {name} of the published model, per round",
                x_label="round (0 = the initial model)",
                y_label=f"{name}{better}",
            )
            + f"<figcaption>Test {esc(name)}{esc(better)} of each published model.</figcaption>"
            "</figure>"
        )
    if first is not None:
        intro = (
            f"<p>Each published model is downloaded from the aggregator, checked against the "
            f"hash the chain published, and evaluated on {esc(first.test_set)} "
            f"(task <code>{esc(first.task)}</code>). Participants' own held-out figures are "
            "decrypted only by them and never leave them.</p>"
        )
    else:
        intro = f'<p class="notice">{esc(s.metrics_notice)}</p>' if s.metrics_notice else ""
    rows = [
        [
            str(n),
            h.hash(model_hash),
            *(f"{e.values[k]:.4f}" if e is not None and k in e.values else "—" for k in names),
            esc(error) if error else "",
        ]
        for n, model_hash, e, error in evaluated
    ]
    table = h.table(["round", "model", *names, "note"], rows, css="metrics", empty="no model yet")
    gas = [(float(r.number), float(r.gas.get("total", math.nan))) for r in s.rounds]
    size = [
        (float(r.number), float(r.update_bytes) / 1e6 if r.update_bytes else math.nan)
        for r in s.rounds
    ]
    cost = (
        '<figure id="chart-gas">'
        + line_chart(
            [Series("gas", gas)],
            title="gas used by each round's transactions",
            x_label="round",
            y_label="gas used",
        )
        + "<figcaption>Gas of each round: open, commitments, close, attestations.</figcaption>"
        '</figure><figure id="chart-bytes">'
        + line_chart(
            [Series("update bytes", size)],
            title="encrypted update bytes accepted per round",
            x_label="round",
            y_label="MB of encrypted updates",
        )
        + "<figcaption>Encrypted update bytes the aggregator accepted per round.</figcaption>"
        "</figure>"
    )
    return (
        f'<section><h2>Model quality</h2>{intro}<div class="charts">{"".join(charts)}</div>'
        f"{table}</section>"
        f'<section><h2>Cost</h2><div class="charts">{cost}</div></section>'
    )
