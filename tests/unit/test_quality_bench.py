"""``fedledger bench quality``: its reference baselines, seed summary, gaps and option checks.

The benchmark's federated runs are too long for the suite; what is checked here is what turns
them into figures, and the two baselines on small data with a known answer.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from fedledger_app.bench import quality
from fedledger_app.bench._baselines import biased_mf_als, tfidf_logistic_accuracy
from fedledger_clients.data.movielens import Ratings


def test_tfidf_baseline_reads_word_pairs() -> None:
    # Prepare: the label depends on "not" before the word, so unigrams alone cannot separate it
    words = ["good", "bad", "fine", "awful"]
    positive = {"good", "fine"}
    texts, labels = [], []
    for k in range(40):
        word = words[k % 4]
        negated = (k // 4) % 2 == 1
        texts.append(f"the {'not ' if negated else ''}{word} day {k}")
        labels.append(int((word in positive) != negated))

    # Execute
    accuracy = tfidf_logistic_accuracy((texts, labels), (["not good", "not awful"], [0, 1]))

    # Assert
    assert accuracy == 1.0


def test_biased_mf_fits_a_low_rank_matrix_with_biases() -> None:
    # Prepare: ratings from a rank-2 model with user and item biases, a quarter held out
    rng = np.random.default_rng(0)
    users, items = 60, 50
    p, q = rng.normal(0, 0.6, (users, 2)), rng.normal(0, 0.6, (items, 2))
    bu, bi = rng.normal(0, 0.4, users), rng.normal(0, 0.4, items)
    u, i = np.divmod(rng.permutation(users * items)[:2000], items)
    r = (3.5 + bu[u] + bi[i] + np.einsum("ij,ij->i", p[u], q[i])).astype(np.float32)
    train, test = slice(0, 1500), slice(1500, None)

    # Execute
    rmse = biased_mf_als(
        Ratings(u[train], i[train], r[train]),
        Ratings(u[test], i[test], r[test]),
        factors=4,
        reg=0.01,
        iterations=8,
    )

    # Assert: far below predicting the mean rating
    assert rmse < 0.25 * float(np.std(r[test]))


def test_seeds_are_averaged_and_gaps_follow_the_metric_direction() -> None:
    # Prepare
    seeds = [
        {"seed": 0, "federated": 0.70, "plaintext_fedavg": 0.71, "centralized": 0.74},
        {"seed": 1, "federated": 0.72, "plaintext_fedavg": 0.71, "centralized": 0.76},
    ]
    rmse_seeds = [{"seed": 0, "federated": 0.93, "plaintext_fedavg": 0.93, "centralized": 0.95}]

    # Execute
    accuracy = quality.summarize("sentiment", "accuracy", True, seeds)
    accuracy["sklearn_baseline"] = 0.763
    rmse = quality.summarize("recommendation", "rmse", False, rmse_seeds)
    rmse["svd_baseline"] = 0.92

    # Assert: means over seeds, per-seed figures kept; positive gap = federated is behind
    assert accuracy["federated"] == pytest.approx(0.71)
    assert accuracy["seeds"] == seeds
    gaps = quality.gaps(accuracy, ("plaintext_fedavg", "centralized", "sklearn_baseline"))
    assert gaps == pytest.approx(
        {"plaintext_fedavg": 0.0, "centralized": 4.0, "sklearn_baseline": 5.3}
    )
    assert quality.gaps(rmse, ("centralized", "svd_baseline")) == pytest.approx(
        {"centralized": -0.02, "svd_baseline": 0.01}
    )
    with pytest.raises(ValueError, match="at least one seed"):
        quality.summarize("sentiment", "accuracy", True, [])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "0,x"], "--seeds takes comma-separated integers"),
        (["--seeds", "1,1"], "--seeds needs distinct integers"),
        (["--task", "recommendation", "--partition", "topic"], "sentiment task only"),
    ],
)
def test_bad_options_are_refused_before_training(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Execute
    with pytest.raises(SystemExit) as exited:
        quality.main(argv)

    # Assert
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_every_way_of_a_seed_trains_with_that_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: record the seeds the three ways are given (the trainings themselves are stubbed)
    seen: dict[str, int] = {}
    metrics = {"top50_overlap": 1.0}

    def federation(spec: Any, **_: Any) -> Any:
        seen["federated"] = spec.seed
        return SimpleNamespace(rounds=[SimpleNamespace(test_metrics=metrics)])

    def plaintext(*_: Any, config: Any, seed: int, **__: Any) -> Any:
        seen["plaintext_fedavg"], seen["plaintext_init"] = config.seed, seed
        return SimpleNamespace(final_test_metrics=metrics)

    def centralized(*_: Any, config: Any, **__: Any) -> Any:
        seen["centralized"] = config.seed
        return SimpleNamespace(test_metrics=metrics)

    monkeypatch.setattr(quality, "run_federation", federation)
    monkeypatch.setattr(quality, "run_plaintext_fedavg", plaintext)
    monkeypatch.setattr(quality, "run_centralized", centralized)

    # Execute
    figures = quality.run_seed("hashtags", clients=2, rounds=1, seed=2)

    # Assert
    assert figures["seed"] == 2
    assert set(seen.values()) == {2}
    assert len(seen) == 4


def test_the_documented_section_shows_each_seed_baseline_and_gap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Prepare: two seeds of a recommendation run (lower is better), sections captured
    sections: dict[str, str] = {}
    monkeypatch.setattr(quality, "update_section", sections.__setitem__)
    per_seed = [
        {"seed": s, "federated": f, "plaintext_fedavg": f, "centralized": 0.93, "per_round": [f]}
        for s, f in ((0, 0.92), (1, 0.94))
    ]
    for s in per_seed:
        s["wall_s"] = dict.fromkeys(quality.WAYS, 1.5)
    result = quality.summarize("recommendation", "rmse", False, per_seed)
    result.update(svd_baseline=0.9219, baseline_wall_s=5.0, rounds=1, clients=2)
    result.update(partition="dirichlet", target="t", target_met=False)
    result["gap"] = quality.gaps(result, ("centralized", "svd_baseline"))

    # Execute
    quality.document(result, "fedledger bench quality --task recommendation")

    # Assert
    text = sections["quality-recommendation"]
    assert "(rmse, 2 clients, 1 rounds)" in text
    assert "| federated | 0.9300 | 0.9200 | 0.9400 |  | 3.0 |" in text
    assert "| svd_baseline | 0.9219 |  |  | +0.0081 | 5.0 |" in text
    assert "**NOT met**" in text
