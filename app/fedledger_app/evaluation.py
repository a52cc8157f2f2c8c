"""A published model's test metrics, for the dashboard's curves: the task its file names,
evaluated on that task's fixed public test split (the split the demo and the benchmarks use).

The platform's dashboard knows no task; ``fedledger dashboard``, ``fedledger serve`` and the
federation runner hand it a :class:`TaskEvaluator`.
"""

from __future__ import annotations

import threading
from pathlib import Path

from fedledger_clients.tasks import get_task
from fedledger_platform.dashboard import Evaluation
from fedledger_platform.modelfile import decode_model

__all__ = ["TaskEvaluator"]


class TaskEvaluator:
    """Evaluates model files (a :data:`~fedledger_platform.dashboard.ModelEvaluator`); each
    task's test split is loaded once, from ``cache_dir`` (default: the data sets' cache)."""

    def __init__(self, *, seed: int = 0, cache_dir: Path | None = None) -> None:
        self.seed = seed
        self.cache_dir = cache_dir
        self._test_sets: dict[str, object] = {}
        self._lock = threading.Lock()

    def __call__(self, data: bytes) -> Evaluation:
        """The curve metrics of the model in ``data``: the task's headline metric first, then
        the other values its evaluation reports (the raw sums it aggregates are left out).

        Raises ``ModelFileError`` for bytes that are no model file, ``UnknownTaskError`` for
        a task this installation does not have, and the data set's error when its test split
        cannot be fetched.
        """
        model = decode_model(data)
        task = get_task(model.task)
        with self._lock:  # one load per task, even when asked from several threads
            test_set = self._test_sets.get(task.name)
            if test_set is None:
                test_set = task.load_test_set(seed=self.seed, cache_dir=self.cache_dir)
                self._test_sets[task.name] = test_set
        found = task.evaluate(model.state, test_set)
        values = {task.headline_metric: float(found[task.headline_metric])}
        values.update(
            (k, float(v))
            for k, v in found.items()
            if k not in task.metric_names and k not in values
        )
        return Evaluation(
            task=task.name,
            values=values,
            headline=task.headline_metric,
            higher_is_better=task.higher_is_better,
            test_set=f"the {task.name} task's public test split",
        )
