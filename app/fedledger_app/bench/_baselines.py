"""Standard centralized baselines for ``fedledger bench quality``, on the tasks' own splits.

* :func:`sklearn_sentiment` — scikit-learn TF-IDF over word 1–2-grams with sublinear tf and a
  LogisticRegression (C = 10), fitted on the whole training pool (every participant's posts,
  held-out ones included) and scored on the fixed 20 % test split;
* :func:`biased_mf_als` — biased matrix factorization (the SVD-with-biases model) fitted by
  alternating least squares on all training ratings and scored on the fixed test ratings.

Both see all the data in one place: they are the references the federation is measured
against, not something a participant could run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fedledger_clients.data.movielens import NUM_ITEMS, NUM_USERS, Ratings

__all__ = ["biased_mf_als", "sklearn_sentiment", "tfidf_logistic_accuracy"]


def sklearn_sentiment(cache_dir: Path | None = None, *, c: float = 10.0) -> float:
    """Test accuracy of :func:`tfidf_logistic_accuracy` on the tweets' pool and test split."""
    from fedledger_clients.data.tweets import load_tweets, split_test

    pool, test = split_test(load_tweets(cache_dir))
    return tfidf_logistic_accuracy(
        ([t.text for t in pool], [t.label for t in pool]),
        ([t.text for t in test], [t.label for t in test]),
        c=c,
    )


def tfidf_logistic_accuracy(
    train: tuple[Sequence[str], Sequence[int]],
    test: tuple[Sequence[str], Sequence[int]],
    *,
    c: float = 10.0,
) -> float:
    """Accuracy on ``test`` (texts, labels) of TF-IDF over word 1–2-grams with sublinear tf and
    LogisticRegression(C=c), fitted on ``train``."""
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:  # the bench extra is not installed
        raise RuntimeError(
            "the sentiment quality benchmark compares against scikit-learn, which is not "
            "installed: pip install -e '.[bench]' (or `make bench`)"
        ) from exc
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(vectorizer.fit_transform(train[0]), train[1])
    predicted = model.predict(vectorizer.transform(test[0]))
    return float(np.mean(predicted == np.asarray(test[1])))


def _solve_side(
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    target: npt.NDArray[np.float64],
    other: npt.NDArray[np.float64],
    *,
    count: int,
    reg: float,
) -> npt.NDArray[np.float64]:
    """Ridge solutions ``[factors, bias]`` for every row entity given the other side's
    ``[factors, 1]``; the penalty grows with the entity's rating count (weighted-λ ALS), and
    the bias is penalized like a factor."""
    dim = other.shape[1]
    out = np.zeros((count, dim))
    order = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[order], np.arange(count + 1))
    for entity in range(count):
        mine = order[bounds[entity] : bounds[entity + 1]]
        if len(mine) == 0:
            continue
        x = other[cols[mine]]
        gram = x.T @ x + reg * len(mine) * np.eye(dim)
        out[entity] = np.linalg.solve(gram, x.T @ target[mine])
    return out


def biased_mf_als(
    train: Ratings,
    test: Ratings,
    *,
    factors: int = 32,
    reg: float = 0.12,
    iterations: int = 12,
    seed: int = 0,
) -> float:
    """Test RMSE of ``r ≈ μ + b_u + b_i + p_u·q_i`` fitted by alternating least squares."""
    mu = float(np.mean(train.rating))
    rating = train.rating.astype(np.float64)
    rng = np.random.default_rng(seed)
    items = np.hstack([rng.normal(0.0, 0.1, (NUM_ITEMS, factors)), np.zeros((NUM_ITEMS, 1))])
    users = np.zeros((NUM_USERS, factors + 1))
    ones_u = np.ones((NUM_USERS, 1))
    ones_i = np.ones((NUM_ITEMS, 1))
    for _ in range(iterations):
        # Users: features [q_i, 1], target r - μ - b_i; items likewise with the roles swapped.
        residual = rating - mu - items[train.item, -1]
        users = _solve_side(
            train.user,
            train.item,
            residual,
            np.hstack([items[:, :-1], ones_i]),
            count=NUM_USERS,
            reg=reg,
        )
        residual = rating - mu - users[train.user, -1]
        items = _solve_side(
            train.item,
            train.user,
            residual,
            np.hstack([users[:, :-1], ones_u]),
            count=NUM_ITEMS,
            reg=reg,
        )
    predicted = (
        mu
        + users[test.user, -1]
        + items[test.item, -1]
        + np.einsum("ij,ij->i", users[test.user, :-1], items[test.item, :-1])
    )
    predicted = np.clip(predicted, 1.0, 5.0)
    return math.sqrt(float(np.mean((predicted - test.rating) ** 2)))
