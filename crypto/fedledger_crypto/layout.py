"""Canonical flattening of model state into one vector of float64 values, and back.

Canonical order: tensors sorted by name (Python's ``sorted`` on the ``state_dict`` keys, i.e.
Unicode code-point order), each flattened in row-major (C) order. A layout records each tensor's
name, shape and dtype; its digest (keccak256 of a canonical JSON description) travels in every
blob header so that updates of different models can never be summed together.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from fedledger_crypto.commitments import keccak256
from fedledger_crypto.errors import SchemaMismatchError

__all__ = ["TensorLayout", "TensorSpec", "UpdateSchema"]

FloatArray = npt.NDArray[np.float64]

_TORCH_DTYPES: dict[str, torch.dtype] = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "int32": torch.int32,
    "int16": torch.int16,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
_DTYPE_NAMES = {v: k for k, v in _TORCH_DTYPES.items()}


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape and dtype (torch's name, e.g. ``float32``) of one tensor."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def numel(self) -> int:
        """Number of values in the tensor."""
        return math.prod(self.shape)


def _as_tensor(value: torch.Tensor | npt.NDArray[Any]) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    raise TypeError(f"expected a torch.Tensor or numpy array, got {type(value).__name__}")


@dataclass(frozen=True)
class TensorLayout:
    """The ordered tensors of a model state (see the module docstring for the order)."""

    tensors: tuple[TensorSpec, ...]

    @classmethod
    def from_state(cls, state: Mapping[str, torch.Tensor | npt.NDArray[Any]]) -> TensorLayout:
        """The layout of a ``state_dict``-like mapping of tensors or numpy arrays."""
        specs = []
        for name in sorted(state):
            tensor = _as_tensor(state[name])
            dtype = _DTYPE_NAMES.get(tensor.dtype)
            if dtype is None:
                raise TypeError(f"tensor {name!r} has unsupported dtype {tensor.dtype}")
            specs.append(TensorSpec(name, tuple(int(d) for d in tensor.shape), dtype))
        return cls(tuple(specs))

    @classmethod
    def vector(cls, length: int, name: str = "values") -> TensorLayout:
        """A layout holding one plain float64 vector of ``length`` values."""
        if length < 1:
            raise ValueError(f"a vector layout needs at least one value, got {length}")
        return cls((TensorSpec(name, (length,), "float64"),))

    @property
    def size(self) -> int:
        """Total number of values."""
        return sum(spec.numel for spec in self.tensors)

    def describe(self) -> list[dict[str, Any]]:
        """JSON-serializable description, in canonical order."""
        return [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in self.tensors]

    def flatten(self, state: Mapping[str, torch.Tensor | npt.NDArray[Any]]) -> FloatArray:
        """Concatenate ``state`` in canonical order into one float64 vector.

        Raises :class:`SchemaMismatchError` when names or shapes differ from the layout.
        """
        expected = {s.name for s in self.tensors}
        if set(state) != expected:
            missing = sorted(expected - set(state))
            extra = sorted(set(state) - expected)
            raise SchemaMismatchError(
                f"state does not match the layout: missing {missing}, unexpected {extra}"
            )
        out = np.empty(self.size, dtype=np.float64)
        offset = 0
        for spec in self.tensors:
            tensor = _as_tensor(state[spec.name])
            if tuple(tensor.shape) != spec.shape:
                raise SchemaMismatchError(
                    f"tensor {spec.name!r} has shape {tuple(tensor.shape)}, "
                    f"layout says {spec.shape}"
                )
            out[offset : offset + spec.numel] = tensor.to(torch.float64).reshape(-1).numpy()
            offset += spec.numel
        return out

    def unflatten(self, vector: FloatArray) -> dict[str, torch.Tensor]:
        """Split a vector back into tensors of the original shapes and dtypes.

        Integer and boolean tensors are rounded to the nearest integer first.
        """
        if vector.shape != (self.size,):
            raise SchemaMismatchError(
                f"vector of shape {vector.shape} does not match layout size {self.size}"
            )
        state: dict[str, torch.Tensor] = {}
        offset = 0
        for spec in self.tensors:
            part = vector[offset : offset + spec.numel].reshape(spec.shape)
            dtype = _TORCH_DTYPES[spec.dtype]
            if not dtype.is_floating_point:
                part = np.rint(part)
            state[spec.name] = torch.from_numpy(np.array(part, dtype=np.float64)).to(dtype)
            offset += spec.numel
        return state


@dataclass(frozen=True)
class UpdateSchema:
    """What one encrypted update encodes: the tensor layout plus the named metric sums.

    Slot order: the layout's values, then the weight, then the metrics in ``metric_names`` order.
    """

    layout: TensorLayout
    metric_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(set(self.metric_names)) != len(self.metric_names):
            raise ValueError(f"duplicate metric names: {self.metric_names}")

    @property
    def extra_slots(self) -> int:
        """Slots after the values: one for the weight plus one per metric."""
        return 1 + len(self.metric_names)

    @property
    def total_values(self) -> int:
        """Model values plus extra values (weight and metrics): what one update encodes."""
        return self.layout.size + self.extra_slots

    def describe(self) -> dict[str, Any]:
        """Canonical JSON-serializable description."""
        return {"layout": self.layout.describe(), "metrics": list(self.metric_names)}

    def digest(self) -> bytes:
        """keccak256 of the canonical JSON description; carried in every blob header."""
        text = json.dumps(self.describe(), sort_keys=True, separators=(",", ":"))
        return keccak256(text.encode())
