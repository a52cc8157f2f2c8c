"""Server optimizers: the next model is the same bytes everywhere, and it is the documented rule."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import fedledger_crypto as fc
from fedledger_clients.tasks.server_optimizer import (
    ServerOptimizer,
    apply_server_rule,
    model_tensors,
)
from fedledger_platform.modelfile import decode_model, encode_model

MODEL = {
    "weight": torch.randn(64, 3, generator=torch.Generator().manual_seed(1)),
    "bias": torch.zeros(3),
}


def _deltas(rounds: int) -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(7)
    return [
        {k: torch.randn(v.shape, generator=gen) * 0.1 for k, v in MODEL.items()}
        for _ in range(rounds)
    ]


def _run(optimizer: ServerOptimizer, rounds: int = 4) -> bytes:
    state = optimizer.initial_state(MODEL)
    for delta in _deltas(rounds):
        state = apply_server_rule(state, delta)
    return encode_model(state, task="t", metric_names=("a",), round_number=rounds)


@pytest.mark.parametrize("kind", ["fedavg", "fedavgm", "fedadam"])
def test_two_independent_runs_give_byte_identical_models(kind: str) -> None:
    # Prepare
    optimizer = ServerOptimizer(kind, learning_rate=0.3)  # type: ignore[arg-type]
    here_dir = str(Path(__file__).parent)
    code = (
        f"import sys; sys.path.insert(0, {here_dir!r}); import test_server_optimizer as t; "
        f"sys.stdout.buffer.write(t._run(t.ServerOptimizer({kind!r}, learning_rate=0.3)))"
    )

    # Execute: here and in a fresh process
    here = _run(optimizer)
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout

    # Assert
    assert fc.keccak256(here) == fc.keccak256(other)


def _r(value: float) -> float:
    """Round a Python float (binary64) to the nearest float32."""
    return float(np.float32(value))


def _scalar_reference(optimizer: ServerOptimizer, rounds: int) -> dict[str, np.ndarray]:
    """The rule, element by element in Python floats, rounded to float32 after every operation.

    For +, -, ×, ÷ and √ of float32 operands, the binary64 result rounded to float32 is the
    correctly rounded float32 result, so this is IEEE 754 float32 arithmetic, independent of
    numpy's and torch's kernels.
    """
    lr, b1, b2, tau = (
        _r(v) for v in (optimizer.learning_rate, optimizer.beta1, optimizer.beta2, optimizer.tau)
    )
    out = {}
    deltas = _deltas(rounds)
    for key, tensor in MODEL.items():
        x = [float(v) for v in tensor.reshape(-1).tolist()]
        m = [0.0] * len(x)
        v2 = [0.0] * len(x)
        for delta in deltas:
            for i, d in enumerate(float(v) for v in delta[key].reshape(-1).tolist()):
                if optimizer.kind == "fedavgm":
                    m[i] = _r(_r(b1 * m[i]) + d)
                    x[i] = _r(x[i] + _r(lr * m[i]))
                elif optimizer.kind == "fedadam":
                    m[i] = _r(_r(b1 * m[i]) + _r(_r(1.0 - b1) * d))
                    v2[i] = _r(_r(b2 * v2[i]) + _r(_r(1.0 - b2) * _r(d * d)))
                    step = _r(_r(lr * m[i]) / _r(_r(math.sqrt(v2[i])) + tau))
                    x[i] = _r(x[i] + step)
                else:
                    x[i] = _r(x[i] + d)
        out[key] = np.asarray(x, dtype=np.float32).reshape(tuple(tensor.shape))
    return out


@pytest.mark.parametrize("kind", ["fedavg", "fedavgm", "fedadam"])
def test_the_rule_equals_a_float32_reference_bit_for_bit(kind: str) -> None:
    # Prepare
    optimizer = ServerOptimizer(kind, learning_rate=0.05, beta1=0.8, beta2=0.95, tau=1e-2)  # type: ignore[arg-type]

    # Execute
    state = decode_model(_run(optimizer, rounds=5)).state
    expected = _scalar_reference(optimizer, rounds=5)

    # Assert
    for key, value in expected.items():
        assert state[key].numpy().tobytes() == value.tobytes(), key


def test_the_state_carries_the_rule_and_the_update_schema_leaves_it_out() -> None:
    # Prepare
    state = ServerOptimizer("fedadam", learning_rate=0.01).initial_state(MODEL)

    # Execute
    model = decode_model(encode_model(state, task="t", metric_names=("a",), round_number=0))

    # Assert
    assert set(model.state) == {
        "weight",
        "bias",
        "server/learning_rate",
        "server/beta1",
        "server/beta2",
        "server/tau",
        "server/m/weight",
        "server/m/bias",
        "server/v/weight",
        "server/v/bias",
    }
    assert float(model.state["server/learning_rate"]) == pytest.approx(0.01)
    assert [s.name for s in model.schema().layout.tensors] == ["bias", "weight"]
    assert set(model_tensors(model.state)) == {"weight", "bias"}


def test_fedavg_adds_the_mean_update_and_carries_no_server_state() -> None:
    state = ServerOptimizer().initial_state(MODEL)
    delta = _deltas(1)[0]
    assert set(state) == set(MODEL)
    after = apply_server_rule(state, delta)
    assert torch.equal(after["weight"], MODEL["weight"] + delta["weight"])


def test_momentum_keeps_moving_without_new_updates() -> None:
    # Prepare: one step with an update, one with a zero update.
    state = ServerOptimizer("fedavgm", learning_rate=1.0, beta1=0.5).initial_state(MODEL)
    delta = _deltas(1)[0]
    zero = {k: torch.zeros_like(v) for k, v in delta.items()}

    # Execute
    once = apply_server_rule(state, delta)
    twice = apply_server_rule(once, zero)

    # Assert: the second step moves by beta1 times the first.
    torch.testing.assert_close(twice["weight"] - once["weight"], 0.5 * delta["weight"])


def test_bad_state_and_settings_are_refused_with_the_cause() -> None:
    state = ServerOptimizer("fedadam").initial_state(MODEL)
    delta = _deltas(1)[0]
    del state["server/v/bias"]
    with pytest.raises(ValueError, match=r"missing \['server/v/bias'\]"):
        apply_server_rule(state, delta)
    with pytest.raises(ValueError, match="update keys"):
        apply_server_rule(ServerOptimizer().initial_state(MODEL), {"weight": delta["weight"]})
    with pytest.raises(ValueError, match="'fedavg', 'fedavgm' or 'fedadam'"):
        ServerOptimizer("adam")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"beta1 and beta2 must be in \[0, 1\)"):
        ServerOptimizer("fedavgm", beta1=1.0)
