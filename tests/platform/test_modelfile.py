"""Canonical model bytes: equal states hash equally, in any process, and load anywhere."""

from __future__ import annotations

import subprocess
import sys

import pytest
import safetensors.torch
import torch

import fedledger_crypto as fc
from fedledger_platform.modelfile import ModelFileError, decode_model, encode_model

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
