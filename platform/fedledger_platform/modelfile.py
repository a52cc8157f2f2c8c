"""Canonical model bytes: safetensors with the federation's metadata, never pickle.

A published global model is the task's *shared* state (for recommendation: item-side tensors
only). Its metadata names the task and the metric sums every update carries, so the aggregator
can derive the exact update schema of a round from the round's base model and reject an update
of any other layout.

Participants attest keccak256 of these bytes, so equal states must give equal bytes. The
``safetensors`` writer does not guarantee that (it serializes the metadata from a hash map
whose order varies between calls), so :func:`encode_model` writes the safetensors container
itself, canonically: tensors sorted by name and stored contiguously in that order, the JSON
header with sorted keys and no spaces, padded with spaces to a multiple of 8 bytes.
Any safetensors reader loads the result.

**Server-optimizer state.** A federation whose next-model rule is a server optimizer (FedAvgM,
FedAdam) keeps that optimizer's state in the model file, as tensors whose names start with
:data:`SERVER_STATE_PREFIX` (``server/``): its hyperparameters as 0-d float32 tensors and one
moment buffer per model tensor (``server/m/<name>``, ``server/v/<name>``; see
``fedledger_clients.tasks.server_optimizer``). The published model hash therefore commits to the
optimizer state too, and a participant that joins late or restarts reads it from the last
published model. These tensors are not part of the model: :meth:`ModelFile.schema` leaves them
out, so updates never carry them and the update size does not change.
"""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import safetensors.torch
import torch
from safetensors import SafetensorError

import fedledger_crypto as fc

__all__ = [
    "SERVER_STATE_PREFIX",
    "ModelFile",
    "ModelFileError",
    "decode_model",
    "encode_model",
    "is_server_state",
]

#: name prefix of the server-optimizer tensors a model file may carry beside the model
SERVER_STATE_PREFIX = "server/"

if sys.byteorder != "little":  # safetensors stores little-endian; so does every tensor here
    raise ImportError("fedledger model files need a little-endian machine")

_DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
_TASK_KEY = "fedledger.task"
_METRICS_KEY = "fedledger.metrics"
_ROUND_KEY = "fedledger.round"


def is_server_state(name: str) -> bool:
    """Whether a tensor name is server-optimizer state (not model, never in an update)."""
    return name.startswith(SERVER_STATE_PREFIX)


class ModelFileError(ValueError):
    """Bytes that are not a fedledger model file."""


@dataclass(frozen=True)
class ModelFile:
    """A decoded model: its tensors, task name, metric names and the round that produced it."""

    state: dict[str, torch.Tensor]
    task: str
    metric_names: tuple[str, ...]
    round_number: int

    def schema(self) -> fc.UpdateSchema:
        """The update schema of a round whose base model is this one (model tensors only)."""
        model = {name: t for name, t in self.state.items() if not is_server_state(name)}
        if not model:
            raise ModelFileError("model file holds server-optimizer state but no model tensor")
        return fc.UpdateSchema(fc.TensorLayout.from_state(model), self.metric_names)


def encode_model(
    state: Mapping[str, torch.Tensor],
    *,
    task: str,
    metric_names: tuple[str, ...],
    round_number: int,
) -> bytes:
    """Canonical safetensors bytes of ``state`` with the federation metadata."""
    if any("," in m for m in metric_names):
        raise ModelFileError(f"metric names must not contain commas: {metric_names}")
    header: dict[str, Any] = {
        "__metadata__": {
            _TASK_KEY: task,
            _METRICS_KEY: ",".join(metric_names),
            _ROUND_KEY: str(round_number),
        }
    }
    pieces = []
    offset = 0
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        dtype = _DTYPES.get(tensor.dtype)
        if dtype is None:
            raise ModelFileError(f"tensor {name!r} has unsupported dtype {tensor.dtype}")
        data = tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
        header[name] = {
            "dtype": dtype,
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        pieces.append(data)
        offset += len(data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(pieces)


def decode_model(data: bytes) -> ModelFile:
    """Parse model bytes; :class:`ModelFileError` when they are not a fedledger model."""
    try:
        state = safetensors.torch.load(data)
        metadata = _metadata(data)
    except (SafetensorError, ValueError, OSError) as exc:
        raise ModelFileError(f"not a safetensors model file: {exc}") from exc
    if _TASK_KEY not in metadata or _METRICS_KEY not in metadata:
        raise ModelFileError("model file lacks the fedledger.task / fedledger.metrics metadata")
    metrics = tuple(m for m in metadata[_METRICS_KEY].split(",") if m)
    try:
        round_number = int(metadata.get(_ROUND_KEY, "0"))
    except ValueError:
        raise ModelFileError(f"invalid {_ROUND_KEY} metadata: {metadata[_ROUND_KEY]!r}") from None
    return ModelFile(state, metadata[_TASK_KEY], metrics, round_number)


def _metadata(data: bytes) -> dict[str, str]:
    if len(data) < 8:
        raise ModelFileError("model file shorter than the safetensors header length")
    (length,) = struct.unpack("<Q", data[:8])
    if length > len(data) - 8:
        raise ModelFileError("safetensors header length exceeds the file")
    header = json.loads(data[8 : 8 + length])
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict):
        raise ModelFileError("safetensors __metadata__ is not an object")
    return {str(k): str(v) for k, v in metadata.items()}
