"""Canonical model bytes: equal states hash equally, in any process, and load anywhere."""

from __future__ import annotations

import subprocess
import sys

import pytest
import safetensors.torch
import torch

import fedledger_crypto as fc
from fedledger_platform.modelfile import (
    ModelFileError,
    decode_model,
    encode_model,
    is_server_state,
)

STATE = {
    "z.weight": torch.arange(12, dtype=torch.float32).reshape(3, 4),
    "a.bias": torch.ones(3, dtype=torch.float16),
    "steps": torch.tensor(7),
    "flags": torch.tensor([True, False]),
    "half": torch.full((2,), 0.5, dtype=torch.bfloat16),
}


def _encode(state: dict[str, torch.Tensor]) -> bytes:
    return encode_model(state, task="sentiment", metric_names=("correct", "total"), round_number=4)


def test_equal_states_give_equal_bytes() -> None:
    reordered = dict(reversed(list(STATE.items())))
    assert len({_encode(STATE) for _ in range(50)} | {_encode(reordered)}) == 1


def test_bytes_are_identical_in_another_process() -> None:
    code = (
        "import sys, torch; sys.stdout.buffer.write(__import__('fedledger_platform.modelfile', "
        "fromlist=['x']).encode_model({'w': torch.arange(5.)}, task='t', metric_names=('a','b'), "
        "round_number=1))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    here = encode_model({"w": torch.arange(5.0)}, task="t", metric_names=("a", "b"), round_number=1)
    assert fc.keccak256(other) == fc.keccak256(here)


def test_round_trip_and_standard_reader() -> None:
    data = _encode(STATE)
    model = decode_model(data)
    assert (model.task, model.metric_names, model.round_number) == (
        "sentiment",
        ("correct", "total"),
        4,
    )
    standard = safetensors.torch.load(data)
    for name, tensor in STATE.items():
        assert torch.equal(model.state[name], tensor) and torch.equal(standard[name], tensor)
        assert model.state[name].dtype == tensor.dtype
    assert model.schema().metric_names == ("correct", "total")
    assert model.schema().layout.size == 12 + 3 + 1 + 2 + 2


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00" * 7, b"\xff" * 16, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      "],
)
def test_garbage_is_a_model_file_error(data: bytes) -> None:
    with pytest.raises(ModelFileError):
        decode_model(data)


def test_a_plain_safetensors_file_without_metadata_is_refused() -> None:
    with pytest.raises(ModelFileError, match="metadata"):
        decode_model(safetensors.torch.save({"w": torch.zeros(2)}))


def test_server_optimizer_state_is_committed_but_not_in_the_update_schema() -> None:
    # Prepare: a model with FedAdam moments and a hyperparameter beside it.
    state = {
        "w": torch.arange(4.0),
        "server/learning_rate": torch.tensor(0.01),
        "server/m/w": torch.zeros(4),
        "server/v/w": torch.zeros(4),
    }

    # Execute
    data = _encode(state)
    moved = _encode({**state, "server/m/w": torch.full((4,), 0.5)})
    model = decode_model(data)

    # Assert: the bytes (and so the attested hash) depend on the optimizer state ...
    assert fc.keccak256(data) != fc.keccak256(moved)
    assert set(model.state) == set(state) and is_server_state("server/v/w")
    # ... while updates carry the model tensors only.
    assert [s.name for s in model.schema().layout.tensors] == ["w"]
    assert model.schema().layout.size == 4


def test_a_file_of_server_state_alone_has_no_update_schema() -> None:
    model = decode_model(_encode({"server/m/w": torch.zeros(2)}))
    with pytest.raises(ModelFileError, match="no model tensor"):
        model.schema()
