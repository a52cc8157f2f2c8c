"""Plaintext aggregation (hand-computed expectations) and the plaintext federation runner."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fedledger_app.simulation import plaintext_aggregate, run_centralized, run_plaintext_fedavg
from fedledger_clients.tasks.base import LocalResult
from fedledger_clients.tasks.hashtags import HashtagTask
from fedledger_clients.tasks.recommendation import RecommendationTask
from fedledger_clients.tasks.sentiment import EncodedPosts, SentimentTask


@pytest.fixture(scope="module")
def sentiment() -> SentimentTask:
    return SentimentTask()


@pytest.fixture(scope="module")
def hashtags() -> HashtagTask:
    return HashtagTask()


# -- plaintext_aggregate --------------------------------------------------------------------------


def test_mean_aggregation_is_the_weighted_mean(sentiment: SentimentTask) -> None:
    # Prepare
    results = [
        LocalResult(
            update={"w": torch.tensor([1.0, 2.0]), "b": torch.tensor([0.5], dtype=torch.float64)},
            weight=1,
            metrics={"correct": 3, "total": 4, "loss_sum": 1.5},
        ),
        LocalResult(
            update={"w": torch.tensor([5.0, 6.0]), "b": torch.tensor([-0.5], dtype=torch.float64)},
            weight=3,
            metrics={"correct": 2, "total": 6, "loss_sum": 2.5},
        ),
    ]

    # Execute
    aggregate = plaintext_aggregate(sentiment, results)

    # Assert: w = (1*[1,2] + 3*[5,6]) / 4 = [4, 5]; b = (0.5 - 1.5) / 4 = -0.25.
    assert torch.equal(aggregate.update["w"], torch.tensor([4.0, 5.0]))
    assert aggregate.update["w"].dtype == torch.float32
    assert torch.equal(aggregate.update["b"], torch.tensor([-0.25], dtype=torch.float64))
    assert aggregate.total_weight == 4
    sums = {k: aggregate.metrics[k] for k in ("correct", "total", "loss_sum")}
    assert sums == {"correct": 5, "total": 10, "loss_sum": 4.0}
    assert set(aggregate.metrics) == set(sentiment.metric_names)  # unreported slots sum to 0
    assert aggregate.contributors == 2


def test_mean_aggregation_accumulates_in_float64(sentiment: SentimentTask) -> None:
    # Prepare: float32 would lose the small update next to the large one.
    results = [
        LocalResult(update={"w": torch.tensor([1e8])}, weight=1),
        LocalResult(update={"w": torch.tensor([-1e8])}, weight=1),
        LocalResult(update={"w": torch.tensor([3.0])}, weight=1),
    ]

    # Execute
    aggregate = plaintext_aggregate(sentiment, results)

    # Assert: (1e8 - 1e8 + 3) / 3 = 1.
    assert aggregate.update["w"].item() == 1.0
    assert aggregate.metrics == dict.fromkeys(sentiment.metric_names, 0.0)


def test_sum_aggregation_ignores_weights(hashtags: HashtagTask) -> None:
    # Prepare
    results = [
        LocalResult(
            update={"counts": torch.tensor([1.0, 0.0, 2.0])}, weight=7, metrics={"posts": 7}
        ),
        LocalResult(
            update={"counts": torch.tensor([4.0, 1.0, 0.0])}, weight=2, metrics={"posts": 2}
        ),
    ]

    # Execute
    aggregate = plaintext_aggregate(hashtags, results)

    # Assert
    assert torch.equal(aggregate.update["counts"], torch.tensor([5.0, 1.0, 2.0]))
    assert aggregate.total_weight == 9
    assert aggregate.metrics["posts"] == 9


def test_aggregation_rejects_inconsistent_results(sentiment: SentimentTask) -> None:
    one = LocalResult(update={"w": torch.zeros(2)}, weight=1)
    with pytest.raises(ValueError, match="zero client results"):
        plaintext_aggregate(sentiment, [])
    with pytest.raises(ValueError, match="update keys"):
        plaintext_aggregate(sentiment, [one, LocalResult(update={"v": torch.zeros(2)}, weight=1)])
    with pytest.raises(ValueError, match="expected"):
        plaintext_aggregate(sentiment, [one, LocalResult(update={"w": torch.zeros(3)}, weight=1)])
    with pytest.raises(ValueError, match="positive total weight"):
        plaintext_aggregate(sentiment, [LocalResult(update={"w": torch.zeros(2)}, weight=0)])


# -- run_plaintext_fedavg -------------------------------------------------------------------------


def test_fedavg_run_is_deterministic_and_records_every_round(sentiment: SentimentTask) -> None:
    # Prepare
    clients = sentiment.load_clients(num_clients=8, seed=0)[:3]
    test = sentiment.load_test_set(seed=0)

    # Execute
    first = run_plaintext_fedavg(sentiment, clients, rounds=2, seed=0, test_set=test)
    second = run_plaintext_fedavg(sentiment, clients, rounds=2, seed=0)

    # Assert
    assert [r.round_number for r in first.rounds] == [1, 2]
    assert all(len(r.client_seconds) == 3 for r in first.rounds)
    assert 0 < first.final_test_metrics["accuracy"] <= 1
    assert second.rounds[-1].test_metrics == {}
    assert all(torch.equal(first.final_state[k], second.final_state[k]) for k in first.final_state)
    # round 1 evaluates the initial state on the clients' held-out splits
    heldout = [h for c in clients if isinstance(h := c.heldout, EncodedPosts)]
    assert len(heldout) == len(clients)
    assert first.rounds[0].round_metrics["total"] == sum(len(h) for h in heldout)


def test_federated_hashtags_equal_the_centralized_count(hashtags: HashtagTask) -> None:
    # Prepare
    clients = hashtags.load_clients(num_clients=5, seed=3)

    # Execute
    federated = run_plaintext_fedavg(
        hashtags, clients, rounds=4, test_set=hashtags.load_test_set(seed=0)
    )
    central = run_centralized(hashtags, clients, epochs=4)

    # Assert
    for key, value in central.state.items():
        assert torch.equal(federated.final_state[key], value), key
    assert all(r.test_metrics["exact"] == 1.0 for r in federated.rounds)


def test_fedavg_gives_each_client_its_own_private_folder(tmp_path: Path) -> None:
    # Prepare
    task = RecommendationTask()
    clients = task.load_clients(num_clients=20, seed=0)[:2]

    # Execute
    run_plaintext_fedavg(task, clients, rounds=1, private_root=tmp_path)

    # Assert
    assert sorted(p.name for p in tmp_path.iterdir()) == ["client-000", "client-001"]
    assert all(
        (tmp_path / c.client_id / "recommendation-users.safetensors").is_file() for c in clients
    )


def test_transform_result_is_applied_before_aggregation(hashtags: HashtagTask) -> None:
    # Prepare: a transform that drops every count (e.g. what a clipping wrapper could do).
    clients = hashtags.load_clients(num_clients=2, seed=0)

    def zero_counts(result: LocalResult) -> LocalResult:
        update = {**result.update, "counts": torch.zeros_like(result.update["counts"])}
        return LocalResult(update=update, weight=result.weight, metrics=result.metrics)

    # Execute
    history = run_plaintext_fedavg(hashtags, clients, rounds=1, transform_result=zero_counts)

    # Assert
    assert not history.final_state["counts"].any()
