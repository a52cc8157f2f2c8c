"""Fairness figures from summed metric slots equal the figures computed in the clear."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fedledger_app.simulation import plaintext_aggregate
from fedledger_clients.data.tweets import TOPICS
from fedledger_clients.tasks.fairness import (
    accuracy_bin,
    fairness_figures,
    group_metric_names,
    histogram_metric_names,
    one_hot_histogram,
)
from fedledger_clients.tasks.sentiment import EncodedPosts, SentimentTask


def test_accuracy_bins_cover_zero_to_one() -> None:
    assert accuracy_bin(0, 10) == 0
    assert accuracy_bin(10, 10) == 19  # accuracy 1 falls in the top bin
    assert accuracy_bin(7, 10) == 14  # [0.70, 0.75)
    assert accuracy_bin(0, 0) is None
    with pytest.raises(ValueError, match="within"):
        accuracy_bin(11, 10)


def test_one_hot_histogram_marks_exactly_one_bin() -> None:
    slots = one_hot_histogram(3, 4)
    assert sum(slots.values()) == 1.0
    assert slots[histogram_metric_names()[15]] == 1.0  # 0.75 -> [0.75, 0.80)
    assert sum(one_hot_histogram(0, 0).values()) == 0.0


def test_worst_decile_is_the_bin_of_the_tenth_percentile_participant() -> None:
    # Prepare: 20 participants, two in [0.40, 0.45), the rest in [0.80, 0.85).
    metrics = {name: 0.0 for name in histogram_metric_names()}
    metrics[histogram_metric_names()[8]] = 2.0000004  # decrypted sums carry noise
    metrics[histogram_metric_names()[16]] = 17.999999

    # Execute
    figures = fairness_figures(metrics, groups=())

    # Assert: the 2nd lowest of 20 is in the low bin; with 21 the 3rd lowest is not.
    assert figures.participants == 20
    assert figures.worst_decile == (0.4, 0.45)
    metrics[histogram_metric_names()[16]] = 19.0
    assert fairness_figures(metrics, groups=()).worst_decile == (0.8, 0.85)


def test_group_names_are_checked() -> None:
    assert group_metric_names(["a", "b"]) == ("correct@a", "correct@b", "total@a", "total@b")
    with pytest.raises(ValueError, match="group names"):
        group_metric_names(["a,b"])


def test_summed_sentiment_metrics_give_the_centralized_fairness_figures() -> None:
    # Prepare: real clients, one model, every client's metric sums as the federation sums them.
    task = SentimentTask()
    clients = task.load_clients(num_clients=8, seed=0)
    state = task.initial_state(seed=0)
    config = task.default_config()
    results = [task.local_update(state, c, round_number=1, config=config) for c in clients]

    # Execute
    figures = task.fairness(plaintext_aggregate(task, results))

    # Assert: the same predictions computed in the clear, on the pooled held-out posts.
    pooled = [c.heldout for c in clients]
    assert all(isinstance(p, EncodedPosts) for p in pooled)
    hits, topics, per_client = [], [], []
    for posts in pooled:
        assert isinstance(posts, EncodedPosts)
        predicted = task._logits(state, posts).argmax(dim=1).numpy()
        hit = predicted == posts.labels
        hits.append(hit)
        topics.append(posts.topics)
        per_client.append(hit.mean())
    hit_all, topic_all = np.concatenate(hits), np.concatenate(topics)
    for index, topic in enumerate(TOPICS):
        mine = topic_all == index
        if mine.any():
            assert figures.group_accuracy[topic] == pytest.approx(hit_all[mine].mean(), abs=1e-12)
            assert figures.group_total[topic] == int(mine.sum())
        else:
            assert topic not in figures.group_accuracy
    assert figures.participants == 8
    expected = sorted(per_client)[math.ceil(8 / 10) - 1]
    low, high = figures.worst_decile or (math.nan, math.nan)
    assert low <= expected < high
    assert sum(figures.histogram) == 8
    assert (
        task.round_metrics(plaintext_aggregate(task, results))["worst_decile_accuracy_low"] == low
    )
