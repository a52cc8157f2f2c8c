"""Fairness figures that survive encryption: group accuracy and the spread over participants.

Both ride in a round's metric slots, which the platform only ever reveals summed:

* **per-group accuracy**: each participant reports, for every group (a topic), the number of
  its held-out posts of that group it classified correctly and the number it holds; the sums
  give the federation's accuracy per group;
* **participants' accuracy histogram**: each participant adds a one-hot vector over fixed
  accuracy bins (1 in the bin of its own held-out accuracy). The sum counts participants per bin
  and reveals no participant's accuracy beyond its bin, and not which participant is in a bin.

:func:`fairness_figures` turns the summed slots back into figures, including the *worst decile*:
the accuracy bin holding the participant at the 10th percentile (the ``⌈N/10⌉``-th lowest of the
``N`` participants that reported), i.e. at least 90 % of the participants score at or above its
lower edge. Sums carry CKKS noise, so counts are rounded to integers first.

A round's metrics (``FairnessFigures.as_metrics``) carry the rounded sums beside the figures, so
:func:`figures_from_metrics` rebuilds the same figures from them without knowing the task.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ACCURACY_BINS",
    "FairnessFigures",
    "accuracy_bin",
    "fairness_figures",
    "figures_from_metrics",
    "group_metric_names",
    "histogram_metric_names",
    "one_hot_histogram",
]

#: number of equal-width accuracy bins over [0, 1] in the participants' histogram
ACCURACY_BINS = 20


def group_metric_names(groups: Sequence[str]) -> tuple[str, ...]:
    """The metric slots of per-group counts: ``correct@<group>`` then ``total@<group>``."""
    for group in groups:
        if "," in group or "@" in group or not group:
            raise ValueError(f"group names must be non-empty without ',' or '@': {group!r}")
    return tuple(f"correct@{g}" for g in groups) + tuple(f"total@{g}" for g in groups)


def histogram_metric_names(bins: int = ACCURACY_BINS) -> tuple[str, ...]:
    """The metric slots of the participants' accuracy histogram, lowest bin first."""
    if bins < 1:
        raise ValueError(f"a histogram needs at least one bin, got {bins}")
    width = len(str(bins - 1))
    return tuple(f"participants@accuracy_bin_{k:0{width}d}" for k in range(bins))


def accuracy_bin(correct: float, total: float, bins: int = ACCURACY_BINS) -> int | None:
    """The histogram bin of an accuracy ``correct / total`` (None for an empty held-out split).

    Bin ``k`` covers ``[k/bins, (k+1)/bins)``; accuracy 1 falls in the top bin.
    """
    if total <= 0:
        return None
    if not 0 <= correct <= total:
        raise ValueError(f"correct must be within [0, total], got {correct} of {total}")
    return min(int(correct * bins // total), bins - 1)


def one_hot_histogram(correct: float, total: float, bins: int = ACCURACY_BINS) -> dict[str, float]:
    """A participant's histogram slots: 1 in the bin of its accuracy, 0 elsewhere."""
    names = histogram_metric_names(bins)
    slots = dict.fromkeys(names, 0.0)
    k = accuracy_bin(correct, total, bins)
    if k is not None:
        slots[names[k]] = 1.0
    return slots


@dataclass(frozen=True)
class FairnessFigures:
    """The federation's fairness figures of one round.

    ``group_accuracy`` maps each group with held-out posts to its accuracy (``group_correct``
    and ``group_total`` to its counts); ``histogram`` counts participants per accuracy bin
    (lowest first); ``worst_decile`` is ``(low, high)``, the bounds of the bin holding the
    participant at the 10th percentile (None when no participant reported).
    """

    group_accuracy: dict[str, float]
    group_total: dict[str, int]
    histogram: tuple[int, ...]
    participants: int
    worst_decile: tuple[float, float] | None
    group_correct: dict[str, int]

    @property
    def worst_group(self) -> tuple[str, float] | None:
        """The group with the lowest accuracy, if any group has held-out posts."""
        if not self.group_accuracy:
            return None
        name = min(self.group_accuracy, key=lambda g: (self.group_accuracy[g], g))
        return name, self.group_accuracy[name]

    @property
    def bins(self) -> int:
        """The number of accuracy bins of the histogram."""
        return len(self.histogram)

    def as_metrics(self) -> dict[str, float]:
        """Flat figures for a round's metrics: ``accuracy@<group>``, ``worst_group_accuracy``,
        ``worst_decile_accuracy_low``/``_high``, ``participants_reporting``, and the rounded sums
        they come from (``correct@<group>``, ``total@<group>``, the histogram's slots)."""
        out = {f"accuracy@{g}": a for g, a in self.group_accuracy.items()}
        worst = self.worst_group
        out["worst_group_accuracy"] = worst[1] if worst else math.nan
        low, high = self.worst_decile or (math.nan, math.nan)
        out["worst_decile_accuracy_low"] = low
        out["worst_decile_accuracy_high"] = high
        out["participants_reporting"] = float(self.participants)
        for group, total in self.group_total.items():
            out[f"correct@{group}"] = float(self.group_correct[group])
            out[f"total@{group}"] = float(total)
        names = histogram_metric_names(self.bins)
        out.update((name, float(n)) for name, n in zip(names, self.histogram, strict=True))
        return out

    def to_json(self) -> dict[str, Any]:
        """The figures as a JSON object (the demo's ``summary.json``)."""
        worst = self.worst_group
        return {
            "groups": {
                g: {
                    "accuracy": self.group_accuracy[g],
                    "correct": self.group_correct[g],
                    "total": self.group_total[g],
                }
                for g in self.group_accuracy
            },
            "worst_group": {"group": worst[0], "accuracy": worst[1]} if worst else None,
            "participants": self.participants,
            "histogram": {"bin_width": 1 / self.bins, "counts": list(self.histogram)},
            "worst_decile": (
                {"low": self.worst_decile[0], "high": self.worst_decile[1]}
                if self.worst_decile
                else None
            ),
        }


def fairness_figures(
    metrics: Mapping[str, float], groups: Sequence[str], bins: int = ACCURACY_BINS
) -> FairnessFigures:
    """Fairness figures from summed metric slots (as decrypted: noisy, so counts are rounded)."""
    accuracy: dict[str, float] = {}
    totals: dict[str, int] = {}
    corrects: dict[str, int] = {}
    for group in groups:
        total = round(metrics.get(f"total@{group}", 0.0))
        if total > 0:
            totals[group] = total
            corrects[group] = min(total, max(0, round(metrics.get(f"correct@{group}", 0.0))))
            accuracy[group] = corrects[group] / total
    histogram = tuple(
        max(0, round(metrics.get(name, 0.0))) for name in histogram_metric_names(bins)
    )
    participants = sum(histogram)
    worst: tuple[float, float] | None = None
    if participants:
        rank = math.ceil(participants / 10)  # the ⌈N/10⌉-th lowest participant
        seen = 0
        for k, count in enumerate(histogram):
            seen += count
            if seen >= rank:
                worst = (k / bins, (k + 1) / bins)
                break
    return FairnessFigures(accuracy, totals, histogram, participants, worst, corrects)


def figures_from_metrics(metrics: Mapping[str, float]) -> FairnessFigures | None:
    """The fairness figures in a round's metrics (see ``FairnessFigures.as_metrics``), or None
    when they carry none (a task without fairness slots). Groups and bins are read from the
    metric names, so the caller needs no knowledge of the task."""
    prefix = "participants@accuracy_bin_"
    bins = sum(1 for name in metrics if name.startswith(prefix))
    if bins == 0 or set(histogram_metric_names(bins)) - set(metrics):
        return None
    groups = [name.removeprefix("total@") for name in metrics if name.startswith("total@")]
    return fairness_figures(metrics, groups, bins)
