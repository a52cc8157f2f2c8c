"""The built-in tasks on real data: registry, partitions, shapes, private user side, exactness."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from fedledger_app.simulation import plaintext_aggregate, run_plaintext_fedavg
from fedledger_clients.data.tweets import extract_hashtags, load_tweets
from fedledger_clients.tasks import TASKS, UnknownTaskError, get_task
from fedledger_clients.tasks.base import AggregateResult, Aggregation, ClientData, TrainConfig
from fedledger_clients.tasks.hashtags import (
    HashtagTask,
    derive_vocabulary,
    hashtag_vocabulary,
    top_hashtags,
    trending,
)
from fedledger_clients.tasks.recommendation import (
    ITEM_SIDE_KEYS,
    USER_SIDE_KEYS,
    ClientRatings,
    RecommendationTask,
    is_item_side_key,
)
from fedledger_clients.tasks.sentiment import (
    EncodedPosts,
    SentimentTask,
    feature_values,
    featurize,
)
from fedledger_clients.tasks.server_optimizer import ServerOptimizer, model_tensors
from fedledger_crypto.params import DEFAULT_PARAMS, HeadroomPolicy
from fedledger_platform.modelfile import encode_model


def _equal_states(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- registry -------------------------------------------------------------------------------------


def test_registry_builds_every_task_by_name() -> None:
    for name in ("sentiment", "recommendation", "hashtags"):
        assert get_task(name).name == name
    assert sorted(TASKS) == ["hashtags", "recommendation", "sentiment"]


def test_unknown_task_error_lists_the_valid_names() -> None:
    with pytest.raises(UnknownTaskError, match="valid tasks: hashtags, recommendation, sentiment"):
        get_task("sentiments")


# -- sentiment ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sentiment() -> SentimentTask:
    return SentimentTask()


@pytest.fixture(scope="module")
def sentiment_clients(sentiment: SentimentTask) -> list[ClientData]:
    return sentiment.load_clients(num_clients=8, seed=0)


def test_featurize_hashes_unigrams_and_bigrams_into_buckets() -> None:
    # Execute
    features = featurize("Thanks @united! Great flight http://t.co/x", 2**15)

    # Assert: 6 tokens (thanks, @united, !, great, flight, <url>) and 5 bigrams.
    assert len(features) == 6 + 5
    assert all(0 <= f < 2**15 for f in features)
    assert featurize("Thanks @united! Great flight http://t.co/x", 2**15) == features


def test_sentiment_state_is_small_enough_to_encrypt(sentiment: SentimentTask) -> None:
    # Execute
    state = sentiment.initial_state(seed=0)

    # Assert: the model, and the default FedAvgM's momentum, which is never encrypted.
    model = model_tensors(state)
    assert {k: tuple(v.shape) for k, v in model.items()} == {"weight": (2**15, 3), "bias": (3,)}
    assert sum(v.numel() for v in model.values()) <= 200_000
    assert {k for k in state if k not in model} == {
        "server/learning_rate",
        "server/beta1",
        "server/beta2",
        "server/tau",
        "server/m/weight",
        "server/m/bias",
    }
    assert _equal_states(state, sentiment.initial_state(seed=0))


def test_sentiment_clients_are_deterministic_and_disjoint_from_the_test_split(
    sentiment: SentimentTask, sentiment_clients: list[ClientData]
) -> None:
    # Prepare
    test = sentiment.load_test_set(seed=0)

    # Execute
    again = sentiment.load_clients(num_clients=8, seed=0)

    # Assert
    for a, b in zip(sentiment_clients, again, strict=True):
        assert isinstance(a.train, EncodedPosts) and isinstance(b.train, EncodedPosts)
        np.testing.assert_array_equal(a.train.features, b.train.features)
        assert a.num_train == len(a.train) == b.num_train
    heldout = [h for c in sentiment_clients if isinstance(h := c.heldout, EncodedPosts)]
    assert len(heldout) == len(sentiment_clients)
    sizes = sum(c.num_train for c in sentiment_clients) + sum(len(h) for h in heldout)
    assert sizes + len(test) == 38_158


def test_sentiment_local_update_has_the_state_shapes_and_is_deterministic(
    sentiment: SentimentTask, sentiment_clients: list[ClientData]
) -> None:
    # Prepare
    state = sentiment.initial_state(seed=0)
    config = sentiment.default_config()
    client = sentiment_clients[3]

    # Execute
    first = sentiment.local_update(state, client, round_number=1, config=config)
    second = sentiment.local_update(state, client, round_number=1, config=config)

    # Assert
    model = model_tensors(state)
    assert {k: v.shape for k, v in first.update.items()} == {k: v.shape for k, v in model.items()}
    assert _equal_states(first.update, second.update)
    assert first.weight == client.num_train
    assert set(first.metrics) == set(sentiment.metric_names)
    assert isinstance(client.heldout, EncodedPosts)
    assert first.metrics["total"] == len(client.heldout)
    assert float(first.update["weight"].abs().sum()) > 0


def test_sentiment_fedavg_rounds_beat_the_majority_class(
    sentiment: SentimentTask, sentiment_clients: list[ClientData]
) -> None:
    # Prepare: two rounds over four real clients.
    clients = sentiment_clients[:4]
    config = sentiment.default_config()
    test = sentiment.load_test_set(seed=0)
    state = sentiment.initial_state(seed=0)

    # Execute
    for round_number in (1, 2):
        results = [
            sentiment.local_update(state, c, round_number=round_number, config=config)
            for c in clients
        ]
        state = sentiment.next_state(state, plaintext_aggregate(sentiment, results))
    accuracy = sentiment.evaluate(state, test)["accuracy"]

    # Assert: the majority class (negative) is 42 % of the corpus.
    assert accuracy > 0.6


@pytest.mark.slow
def test_default_recipe_climbs_steadily_past_the_former_recipe(
    sentiment: SentimentTask, sentiment_clients: list[ClientData]
) -> None:
    # Prepare: the default recipe (1 + ln tf at norm 8, weight step 0.25, bias 0.5, FedAvgM).
    test = sentiment.load_test_set(seed=0)

    # Execute: four rounds over the eight Dirichlet clients.
    history = run_plaintext_fedavg(sentiment, sentiment_clients, rounds=4, seed=0, test_set=test)
    accuracy = [r.test_metrics["accuracy"] for r in history.rounds]

    # Assert: no round loses more than half a point, and round 4 beats both the bias stepping
    # like the weights (0.7339 after 4 rounds, then swings of several points) and the former
    # recipe (raw counts, step 0.5, 2**15 buckets: 0.7375).
    assert all(b > a - 0.005 for a, b in itertools.pairwise(accuracy)), accuracy
    assert accuracy[-1] >= 0.74, accuracy


def test_few_participants_weighted_updates_fit_the_encoding_headroom(
    sentiment: SentimentTask,
) -> None:
    # Prepare: two participants, each holding half of the pool (the demo's smallest federation)
    clients = sentiment.load_clients(num_clients=2, seed=0)
    state = sentiment.initial_state(seed=0)
    bound = HeadroomPolicy(DEFAULT_PARAMS, max_clients=256).per_client_bound

    # Execute
    results = [
        sentiment.local_update(state, c, round_number=1, config=sentiment.default_config())
        for c in clients
    ]

    # Assert: a slot holds two weighted values, so its modulus is at most √2 times the largest;
    # at unit feature norm the first round's largest weighted change was above the bound.
    for result in results:
        largest = max(float(v.abs().max()) for v in result.update.values()) * result.weight
        assert largest * math.sqrt(2) <= bound, (largest, bound)


def test_the_bias_steps_by_its_own_learning_rate(sentiment_clients: list[ClientData]) -> None:
    # Prepare
    frozen = SentimentTask(bias_learning_rate=0.0)
    shared = SentimentTask(bias_learning_rate=None)
    state = frozen.initial_state(seed=0)
    config = frozen.default_config()
    client = sentiment_clients[0]

    # Execute
    still = frozen.local_update(state, client, round_number=1, config=config).update
    moved = shared.local_update(state, client, round_number=1, config=config).update

    # Assert: a zero bias step leaves the bias alone but not the weights; None gives the bias
    # the weights' step.
    assert float(still["bias"].abs().max()) == 0.0 < float(still["weight"].abs().max())
    assert float(moved["bias"].abs().max()) > 0.0
    with pytest.raises(ValueError, match="bias_learning_rate must be >= 0"):
        SentimentTask(bias_learning_rate=-0.5)


def test_sentiment_round_metrics_are_ratios_of_the_summed_metrics(sentiment: SentimentTask) -> None:
    # Prepare
    aggregate = AggregateResult(
        update={},
        total_weight=10,
        metrics={"correct": 30, "total": 40, "loss_sum": 20},
        contributors=2,
    )

    # Execute
    metrics = sentiment.round_metrics(aggregate)

    # Assert: no topic or histogram slot was filled, so the fairness figures are empty.
    assert {k: metrics[k] for k in ("accuracy", "loss", "total")} == {
        "accuracy": 0.75,
        "loss": 0.5,
        "total": 40,
    }
    assert metrics["participants_reporting"] == 0
    assert math.isnan(metrics["worst_decile_accuracy_low"])


def test_feature_values_count_or_dampen_repeats_and_normalize() -> None:
    indices, counts = feature_values([5, 2, 5, 5], sublinear_tf=False, normalize=False)
    assert indices.tolist() == [2, 5] and counts.tolist() == [1.0, 3.0]
    _, damped = feature_values([5, 2, 5, 5], sublinear_tf=True, normalize=False)
    assert damped.tolist() == pytest.approx([1.0, 1.0 + np.log(3.0)])
    _, unit = feature_values([5, 2, 5, 5], sublinear_tf=True, normalize=True)
    assert float(np.dot(unit, unit)) == pytest.approx(1.0)
    assert len(feature_values([], sublinear_tf=True, normalize=True)[0]) == 0


def test_normalized_features_reach_the_posts_and_l2_shrinks_the_weights() -> None:
    # Prepare
    plain = SentimentTask(sublinear_tf=True, normalize=True)
    shrunk = SentimentTask(sublinear_tf=True, normalize=True, l2=1e-3)
    test = plain.load_test_set(seed=0)
    client = plain.load_clients(num_clients=8, seed=0)[1]
    state = plain.initial_state(seed=0)
    config = TrainConfig(local_epochs=1, batch_size=32, learning_rate=5.0)

    # Execute
    free = plain.local_update(state, client, round_number=1, config=config).update["weight"]
    held = shrunk.local_update(state, client, round_number=1, config=config).update["weight"]

    # Assert: every post has the feature norm; the L2 term keeps the weights smaller.
    norms = np.sqrt(np.add.reduceat(test.values.astype(np.float64) ** 2, test.starts[:-1]))
    assert np.allclose(norms[np.diff(test.starts) > 0], plain.feature_norm, rtol=1e-5)
    weight = state["weight"]
    assert float((weight + held).norm()) < float((weight + free).norm())
    with pytest.raises(ValueError, match="l2 must be >= 0"):
        SentimentTask(l2=-1.0)


def test_fedprox_keeps_the_local_model_nearer_the_global_one(
    sentiment: SentimentTask, sentiment_clients: list[ClientData]
) -> None:
    # Prepare
    state = sentiment.initial_state(seed=0)
    plain = sentiment.default_config()
    prox = TrainConfig(**{**plain.__dict__, "proximal_mu": 0.05})
    client = sentiment_clients[2]

    # Execute
    free = sentiment.local_update(state, client, round_number=1, config=plain).update
    held = sentiment.local_update(state, client, round_number=1, config=prox).update

    # Assert: same data and batches, but the proximal term shrinks the change.
    norm = lambda u: float(sum(t.square().sum() for t in u.values()))  # noqa: E731
    assert 0 < norm(held) < 0.8 * norm(free)
    with pytest.raises(ValueError, match="proximal_mu"):
        TrainConfig(proximal_mu=-1.0)
    # Prepare / Execute / Assert: a term whose step lr·mu reaches 1 would overshoot the anchor.
    unstable = TrainConfig(**{**plain.__dict__, "proximal_mu": 1 / plain.learning_rate})
    with pytest.raises(ValueError, match=r"lower proximal_mu below 4 "):
        sentiment.local_update(state, client, round_number=1, config=unstable)


def test_sentiment_server_optimizer_state_stays_out_of_updates_and_replays_exactly(
    sentiment_clients: list[ClientData],
) -> None:
    # Prepare: FedAdam over three real clients, computed twice from scratch.
    def run() -> bytes:
        task = SentimentTask(server_optimizer=ServerOptimizer("fedadam", learning_rate=0.01))
        state = task.initial_state(seed=0)
        for round_number in (1, 2):
            results = [
                task.local_update(state, c, round_number=round_number, config=task.default_config())
                for c in sentiment_clients[:3]
            ]
            assert set(results[0].update) == {"weight", "bias"}
            state = task.next_state(state, plaintext_aggregate(task, results))
        return encode_model(state, task="sentiment", metric_names=task.metric_names, round_number=2)

    # Execute
    first, second = run(), run()

    # Assert
    assert first == second
    assert b"server/v/weight" in first[:4096]


# -- recommendation -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recommendation() -> RecommendationTask:
    return RecommendationTask()


@pytest.fixture(scope="module")
def rec_clients(recommendation: RecommendationTask) -> list[ClientData]:
    return recommendation.load_clients(num_clients=8, seed=0)


def test_recommendation_clients_are_contiguous_user_groups(rec_clients: list[ClientData]) -> None:
    # Execute
    groups = [c.train.users for c in rec_clients]  # type: ignore[attr-defined]

    # Assert
    np.testing.assert_array_equal(np.concatenate(groups), np.arange(943))
    for client in rec_clients:
        assert isinstance(client.train, ClientRatings) and isinstance(client.heldout, ClientRatings)
        assert set(np.unique(client.train.ratings.user)) <= set(client.train.users.tolist())
        assert set(np.unique(client.heldout.ratings.user)) <= set(client.train.users.tolist())
    assert sum(c.num_train for c in rec_clients) == 80_000


def test_recommendation_shares_only_item_side_parameters(
    recommendation: RecommendationTask,
) -> None:
    # Execute
    state = recommendation.initial_state(seed=0)

    # Assert: the item side, and the default FedAvgM's state, which is never encrypted.
    model = model_tensors(state)
    assert tuple(model) == ITEM_SIDE_KEYS
    assert all(is_item_side_key(k) for k in model)
    assert not any(is_item_side_key(k) for k in USER_SIDE_KEYS)
    assert sum(v.numel() for v in model.values()) <= 100_000


def test_recommendation_update_holds_no_user_parameters_and_users_stay_private(
    recommendation: RecommendationTask, rec_clients: list[ClientData], tmp_path: Path
) -> None:
    # Prepare
    state = recommendation.initial_state(seed=0)
    config = recommendation.default_config()
    client = rec_clients[2]
    assert isinstance(client.train, ClientRatings)
    num_users = len(client.train.users)

    # Execute
    result = recommendation.local_update(
        state, client, round_number=1, config=config, private_dir=tmp_path
    )

    # Assert: the upload is exactly the item side; the user factors are in the private folder.
    assert tuple(result.update) == ITEM_SIDE_KEYS
    assert all(is_item_side_key(k) for k in result.update)
    model = model_tensors(state)
    assert {k: v.shape for k, v in result.update.items()} == {k: v.shape for k, v in model.items()}
    assert all(v.shape[0] != num_users for v in result.update.values())
    stored = load_file(tmp_path / "recommendation-users.safetensors")
    np.testing.assert_array_equal(stored["user_ids"].numpy(), client.train.users)
    assert stored["user_embedding"].shape == (num_users, recommendation.factors)
    assert result.weight == client.num_train


def test_recommendation_user_factors_persist_between_rounds(
    recommendation: RecommendationTask, rec_clients: list[ClientData], tmp_path: Path
) -> None:
    # Prepare
    state = recommendation.initial_state(seed=0)
    config = recommendation.default_config()
    client = rec_clients[5]
    first = recommendation.local_update(
        state, client, round_number=1, config=config, private_dir=tmp_path
    )
    state = recommendation.next_state(state, plaintext_aggregate(recommendation, [first]))

    # Execute: round 2 on disk vs round 2 from freshly initialised users.
    persisted = recommendation.local_update(
        state, client, round_number=2, config=config, private_dir=tmp_path
    )
    fresh = recommendation.local_update(
        state, client, round_number=2, config=config, private_dir=tmp_path / "empty"
    )

    # Assert: the trained users give a lower held-out error than fresh ones.
    assert persisted.metrics["squared_error_sum"] < fresh.metrics["squared_error_sum"]
    assert persisted.metrics["count"] == len(client.heldout.ratings)  # type: ignore[attr-defined]


def test_recommendation_keeps_users_in_memory_without_a_private_dir(
    rec_clients: list[ClientData],
) -> None:
    # Prepare
    task = RecommendationTask()
    config = task.default_config()
    state = task.initial_state(seed=0)
    task.local_update(state, rec_clients[0], round_number=1, config=config)

    # Execute
    again = task.local_update(state, rec_clients[0], round_number=2, config=config)
    fresh = RecommendationTask().local_update(state, rec_clients[0], round_number=2, config=config)

    # Assert
    assert again.metrics["squared_error_sum"] < fresh.metrics["squared_error_sum"]


def test_recommendation_evaluate_folds_in_users_from_the_item_side(
    recommendation: RecommendationTask, rec_clients: list[ClientData]
) -> None:
    # Prepare: a short centralized run gives a meaningful item side.
    config = recommendation.default_config()
    test = recommendation.load_test_set(seed=0)
    trained = recommendation.train_centralized(rec_clients, config=config, epochs=3)

    # Execute
    metrics = recommendation.evaluate(trained, test)
    untrained = recommendation.evaluate(recommendation.initial_state(seed=0), test)

    # Assert
    assert metrics["rmse"] < 1.0 < untrained["rmse"]
    assert metrics["rmse_trained_users"] < 1.05
    assert "rmse_trained_users" not in untrained


def test_recommendation_round_metrics_are_the_federation_test_errors(
    recommendation: RecommendationTask,
) -> None:
    # Prepare: 4 held-out ratings in all, squared errors summing to 9, absolute errors to 5.
    aggregate = AggregateResult(
        update={},
        total_weight=10,
        metrics={"squared_error_sum": 9.0, "absolute_error_sum": 5.0, "count": 4.0},
        contributors=2,
    )

    # Execute
    metrics = recommendation.round_metrics(aggregate)
    empty = recommendation.round_metrics(
        AggregateResult(update={}, total_weight=0, metrics={"count": 0.0}, contributors=0)
    )

    # Assert: the loss is the mean squared error, the RMSE its root.
    assert metrics == {"rmse": 1.5, "mae": 1.25, "loss": 2.25, "count": 4.0}
    assert empty["count"] == 0.0 and all(np.isnan(empty[k]) for k in ("rmse", "mae", "loss"))


# -- hashtags -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hashtags() -> HashtagTask:
    return HashtagTask()


def test_shipped_vocabulary_is_the_one_derived_from_the_public_corpus() -> None:
    # Execute
    vocabulary = hashtag_vocabulary()

    # Assert
    assert vocabulary == derive_vocabulary()
    assert len(vocabulary) == 1_775
    assert vocabulary[:3] == ("deflategate", "coachella2015", "aapl")


@pytest.mark.parametrize("round_number", [1, 3, 8])
def test_hashtag_sums_are_exact_top_50_of_a_plain_count(
    hashtags: HashtagTask, round_number: int
) -> None:
    # Prepare: a plain count over the real posts of the round's window.
    tweets = load_tweets()
    window = hashtags.window_of_round(round_number)
    plain = Counter(
        tag
        for t in tweets
        if t.position * hashtags.num_windows // len(tweets) == window
        for tag in extract_hashtags(t.text)
    )
    expected = sorted(plain.items(), key=lambda item: (-item[1], item[0]))[:50]
    clients = hashtags.load_clients(num_clients=8, seed=0)
    state = hashtags.initial_state(seed=0)

    # Execute
    results = [
        hashtags.local_update(state, c, round_number=round_number, config=hashtags.default_config())
        for c in clients
    ]
    state = hashtags.next_state(state, plaintext_aggregate(hashtags, results))

    # Assert
    assert hashtags.aggregation is Aggregation.SUM
    assert top_hashtags(state["counts"], hashtags.vocabulary()) == expected
    assert int(state["window"].item()) == window


def test_hashtag_rounding_removes_encryption_noise(hashtags: HashtagTask) -> None:
    # Prepare: the exact sum of round 3, then far more noise than CKKS adds (±0.3).
    clients = hashtags.load_clients(num_clients=4, seed=1)
    state = hashtags.initial_state(seed=0)
    config = hashtags.default_config()
    results = [hashtags.local_update(state, c, round_number=3, config=config) for c in clients]
    exact = plaintext_aggregate(hashtags, results)
    noise = torch.empty(exact.update["counts"].shape).uniform_(
        -0.3, 0.3, generator=torch.Generator().manual_seed(0)
    )
    noisy = AggregateResult(
        update={
            **exact.update,
            "counts": exact.update["counts"] + noise,
            "window": exact.update["window"] + 0.002,
        },
        total_weight=exact.total_weight,
        metrics=exact.metrics,
        contributors=exact.contributors,
    )

    # Execute
    from_exact = hashtags.next_state(state, exact)
    from_noisy = hashtags.next_state(state, noisy)

    # Assert
    assert _equal_states(from_exact, from_noisy)
    assert hashtags.evaluate(from_noisy, hashtags.load_test_set(seed=0))["exact"] == 1.0


def test_trending_reports_counts_and_change_since_the_previous_round(hashtags: HashtagTask) -> None:
    # Prepare
    vocabulary = hashtags.vocabulary()
    counts = torch.zeros(len(vocabulary))
    previous = torch.zeros(len(vocabulary))
    counts[vocabulary.index("jetblue")], previous[vocabulary.index("jetblue")] = 31, 2
    counts[vocabulary.index("fail")], previous[vocabulary.index("fail")] = 29, 32
    state = {"counts": counts, "previous": previous, "window": torch.ones(1)}

    # Execute
    top = trending(state, vocabulary, k=5)

    # Assert
    assert [(h.tag, h.count, h.change) for h in top] == [("jetblue", 31, 29), ("fail", 29, -3)]


def test_hashtag_update_matches_state_keys_and_weight_counts_posts(hashtags: HashtagTask) -> None:
    # Prepare
    client = hashtags.load_clients(num_clients=8, seed=0)[0]
    state = hashtags.initial_state(seed=0)

    # Execute
    result = hashtags.local_update(state, client, round_number=1, config=TrainConfig())

    # Assert
    assert {k: v.shape for k, v in result.update.items()} == {k: v.shape for k, v in state.items()}
    assert not result.update["previous"].any()
    assert result.weight == result.metrics["posts"] > 0
