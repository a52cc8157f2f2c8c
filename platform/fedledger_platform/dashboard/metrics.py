"""The published models' test metrics: each model downloaded from the aggregator once, checked
against its on-chain hash, and evaluated by an injected :data:`ModelEvaluator` (the platform
knows no task: the application layer passes one that runs the task the model file names on
that task's public test split).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import fedledger_crypto as fc
from fedledger_platform.api_client import AggregatorClient, AggregatorError
from fedledger_platform.dashboard.model import Evaluation, ModelMetrics

__all__ = ["NO_EVALUATOR", "MetricCache", "ModelEvaluator"]

#: Evaluates a model file's bytes; raises with a message naming the cause when it cannot.
ModelEvaluator = Callable[[bytes], Evaluation]

NO_EVALUATOR = (
    "No evaluator was given to this dashboard, so the published models are not evaluated: "
    "`fedledger dashboard`, `fedledger serve` and `fedledger demo` evaluate each one on its "
    "task's public test split."
)


class MetricCache:
    """Evaluations by model hash; :meth:`refresh` evaluates one new model per call, so a pass
    of the refresher stays short."""

    def __init__(self, client: AggregatorClient, evaluator: ModelEvaluator | None) -> None:
        self.client = client
        self.evaluator = evaluator
        self._found: dict[str, ModelMetrics] = {}

    @property
    def notice(self) -> str | None:
        """Why there are no metrics at all (``None`` when models are evaluated)."""
        return NO_EVALUATOR if self.evaluator is None else None

    def refresh(self, models: Sequence[str]) -> bool:
        """Evaluate the first of ``models`` (0x-hex hashes) not evaluated yet and served;
        ``True`` when one was (or its failure recorded). A model not served yet (its bytes are
        uploaded just after publication) is tried again at the next call."""
        if self.evaluator is None:
            return False
        for model_hash in models:
            if model_hash in self._found:
                continue
            try:
                blob = self.client.model(fc.hash_from_hex(model_hash))
            except AggregatorError:
                continue
            try:
                blob.verify(fc.hash_from_hex(model_hash))
                evaluation = self.evaluator(blob.data)
            except Exception as exc:  # any evaluator failure is shown, never fatal
                self._found[model_hash] = ModelMetrics(model_hash, None, str(exc) or repr(exc))
                return True
            self._found[model_hash] = ModelMetrics(model_hash, evaluation)
            return True
        return False

    def state(self) -> dict[str, ModelMetrics]:
        """The evaluations so far, by model hash."""
        return dict(self._found)
