"""The demo's fairness report: per-topic accuracy and the participants' accuracy histogram of
every round, as the participants decrypted them.

Each round's figures come from its decrypted metric sums (``RoundSummary.round_metrics``,
:func:`fedledger_clients.tasks.fairness.figures_from_metrics`): every participant measured the
model the round *started from* on its held-out posts (round 1: the round-0 model) and added its
per-topic counts and a one-hot accuracy bin to the encrypted sum. Nobody else can compute them:
the aggregator and the auditor hold no secret key. A task without fairness slots (recommendation,
hashtags) has no report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from fedledger_app.federation import FederationRun
from fedledger_clients.tasks.fairness import FairnessFigures, figures_from_metrics
from fedledger_platform.audit.report import DecryptedFigures

__all__ = [
    "NOTE",
    "RoundFairness",
    "fairness_tables",
    "plot_fairness",
    "rich_table",
    "round_fairness",
]

#: (round number, that round's figures)
RoundFairness = tuple[int, FairnessFigures]

NOTE = (
    "Measured at the start of each round on the participants' held-out posts, i.e. for the "
    "model the round started from (round 1: the round-0 model), and revealed only as sums the "
    "participants decrypted: per-topic counts, and how many participants fall in each 0.05-wide "
    "accuracy bin."
)


def round_fairness(run: FederationRun) -> list[RoundFairness]:
    """The fairness figures of every round that has them (none for a task without them)."""
    found = [(r.number, figures_from_metrics(r.round_metrics)) for r in run.rounds]
    return [(number, figures) for number, figures in found if figures is not None]


def _bin(low: float, high: float) -> str:
    return f"{low:.2f}–{high:.2f}"


def _histogram(figures: FairnessFigures) -> str:
    width = 1 / figures.bins
    return ", ".join(
        f"{_bin(k * width, (k + 1) * width)}: {count}"
        for k, count in enumerate(figures.histogram)
        if count
    )


def fairness_tables(rounds: Sequence[RoundFairness]) -> tuple[DecryptedFigures, ...]:
    """Two tables: accuracy per topic by round, and the participants' accuracy distribution."""
    if not rounds:
        return ()
    last = rounds[-1][1]
    topics = list(dict.fromkeys(t for _, figures in rounds for t in figures.group_accuracy))
    per_topic = tuple(
        (
            topic,
            str(last.group_total.get(topic, 0)),
            *(
                f"{figures.group_accuracy[topic]:.4f}" if topic in figures.group_accuracy else "—"
                for _, figures in rounds
            ),
        )
        for topic in topics
    )
    participants = []
    for number, figures in rounds:
        worst = figures.worst_group
        participants.append(
            (
                str(number),
                str(figures.participants),
                _bin(*figures.worst_decile) if figures.worst_decile else "—",
                f"{worst[0]} ({worst[1]:.4f} of {figures.group_total[worst[0]]} posts)"
                if worst
                else "—",
                _histogram(figures) or "—",
            )
        )
    return (
        DecryptedFigures(
            title="Accuracy per topic (participants' held-out posts)",
            header=("topic", "held-out posts", *(f"round {n}" for n, _ in rounds)),
            rows=per_topic,
            note=NOTE,
        ),
        DecryptedFigures(
            title="Participants' held-out accuracy",
            header=(
                "round",
                "participants",
                "worst decile (bin of the 10th percentile)",
                "worst topic",
                "participants per accuracy bin",
            ),
            rows=tuple(participants),
            note="At least 90 % of the participants score at or above the worst decile's lower "
            "edge; no participant's own accuracy is revealed beyond its bin, nor who is in it.",
        ),
    )


def rich_table(figures: DecryptedFigures) -> Table:
    """A decrypted-figures table for the terminal."""
    table = Table(title=f"{figures.title} — decrypted by the participants")
    for index, column in enumerate(figures.header):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in figures.rows:
        table.add_row(*row)
    return table


def plot_fairness(rounds: Sequence[RoundFairness], path: Path, title: str) -> None:
    """A PNG: accuracy per topic by round with the worst-decile bin as a band (left), and the
    last round's participants per accuracy bin (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numbers = [number for number, _ in rounds]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.2), dpi=110)
    topics = list(dict.fromkeys(t for _, figures in rounds for t in figures.group_accuracy))
    left.set_prop_cycle(color=plt.get_cmap("tab20").colors)  # type: ignore[attr-defined]
    for topic in topics:
        values = [figures.group_accuracy.get(topic, float("nan")) for _, figures in rounds]
        left.plot(numbers, values, marker=".", linewidth=1, label=topic)
    deciles = [figures.worst_decile or (float("nan"),) * 2 for _, figures in rounds]
    left.fill_between(
        numbers,
        [low for low, _ in deciles],
        [high for _, high in deciles],
        color="tab:red",
        alpha=0.2,
        label="worst-decile participants' bin",
    )
    left.set_xlabel("round (figures of the model it started from)")
    left.set_ylabel("held-out accuracy")
    left.set_xticks(numbers)
    left.set_title("accuracy per topic")
    left.grid(alpha=0.3)
    left.legend(fontsize=6, ncol=2, loc="lower right")
    number, last = rounds[-1]
    width = 1 / last.bins
    right.bar(
        [k * width for k in range(last.bins)],
        last.histogram,
        width=width,
        align="edge",
        edgecolor="black",
    )
    right.set_xlim(0, 1)
    right.set_xlabel("participant's held-out accuracy")
    right.set_ylabel("participants")
    right.set_title(f"participants per accuracy bin, round {number}")
    right.yaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(f"{title} — sums decrypted by the participants")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
