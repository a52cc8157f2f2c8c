"""Server optimizers (FedAvgM, FedAdam) that every participant applies to the decrypted mean.

In the encrypted federation nobody holds the "server's" optimizer: each participant derives the
next model from the base model and the decrypted mean update, hashes it and attests the hash on
chain, so all of them must compute the same bytes. The rule is therefore computed with numpy
float32 ufuncs, one operation each (multiply, add, subtract, divide, square root), which IEEE 754
rounds correctly, so the result does not depend on the CPU or its vector width; never with a
fused multiply-add or a reduction. Not with torch's kernels either: torch's vectorised ``sqrt``
is not correctly rounded (on this project's AVX-512 machine 19 % of float32 square roots came out
one unit in the last place away from the correctly rounded value numpy returns).

The optimizer's state rides in the model state under ``server/`` (see
:mod:`fedledger_platform.modelfile`): the hyperparameters as 0-d float32 tensors and a moment
buffer per model tensor. So the published model hash commits to it, a participant that joins late
or restarts reads it from the last published model, and an auditor recomputes every published
model from the round-0 model and the aggregates recorded on chain. ``next_state`` reads the rule
from the base state, not from its own settings: the round-0 model fixes it for the federation.

With ``Δ`` the decrypted weighted mean of the clients' changes (``local − global``):

* FedAvg: ``x ← x + Δ`` (no ``server/`` tensors at all, the classic rule);
* FedAvgM (Hsu et al., 2019): ``m ← β₁·m + Δ``, ``x ← x + η·m``;
* FedAdam (Reddi et al., 2021, without bias correction): ``m ← β₁·m + (1 − β₁)·Δ``,
  ``v ← β₂·v + (1 − β₂)·Δ·Δ``, ``x ← x + η·m / (√v + τ)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch

from fedledger_clients.tasks.base import State
from fedledger_platform.modelfile import SERVER_STATE_PREFIX, is_server_state

__all__ = ["KINDS", "Kind", "ServerOptimizer", "apply_server_rule", "model_tensors"]

Kind = Literal["fedavg", "fedavgm", "fedadam"]
#: every next-model rule, by name
KINDS: tuple[Kind, ...] = ("fedavg", "fedavgm", "fedadam")
_HYPER = ("learning_rate", "beta1", "beta2", "tau")
_M = f"{SERVER_STATE_PREFIX}m/"
_V = f"{SERVER_STATE_PREFIX}v/"


@dataclass(frozen=True)
class ServerOptimizer:
    """The next-model rule of a federation and its hyperparameters.

    ``learning_rate`` is the server step η, ``beta1`` the momentum (FedAvgM) or first-moment
    decay (FedAdam), ``beta2`` and ``tau`` FedAdam's second-moment decay and adaptivity floor.
    """

    kind: Kind = "fedavg"
    learning_rate: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.99
    tau: float = 1e-3

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"server optimizer must be 'fedavg', 'fedavgm' or 'fedadam', not {self.kind!r}"
            )
        values = {name: getattr(self, name) for name in _HYPER}
        if not all(math.isfinite(v) for v in values.values()):
            raise ValueError(f"server optimizer hyperparameters must be finite: {values}")
        if self.learning_rate <= 0 or self.tau <= 0:
            raise ValueError(
                f"learning_rate and tau must be positive, got {self.learning_rate}, {self.tau}"
            )
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"beta1 and beta2 must be in [0, 1), got {self.beta1}, {self.beta2}")

    @classmethod
    def of_state(cls, state: Mapping[str, torch.Tensor]) -> ServerOptimizer:
        """The rule a state's ``server/`` tensors record (FedAvg when it has none), with each
        hyperparameter as the shortest decimal of its float32 value."""
        server = [key for key in state if is_server_state(key)]
        if not server:
            return cls("fedavg")
        hyper = {name: float(str(_scalar(state, SERVER_STATE_PREFIX + name))) for name in _HYPER}
        adam = any(key.startswith(_V) for key in server)
        return cls("fedadam" if adam else "fedavgm", **hyper)

    def to_json(self) -> dict[str, Any]:
        """The rule and the hyperparameters it uses."""
        used = {"fedavg": (), "fedavgm": _HYPER[:2], "fedadam": _HYPER}[self.kind]
        return {"kind": self.kind, **{name: getattr(self, name) for name in used}}

    def initial_state(self, model: Mapping[str, torch.Tensor]) -> State:
        """``model`` plus this optimizer's ``server/`` tensors (zero moments), for round 0."""
        state = dict(model)
        if self.kind == "fedavg":
            return state
        for name in _HYPER:
            state[SERVER_STATE_PREFIX + name] = torch.tensor(
                getattr(self, name), dtype=torch.float32
            )
        for key, tensor in model.items():
            state[_M + key] = torch.zeros_like(tensor, dtype=torch.float32)
            if self.kind == "fedadam":
                state[_V + key] = torch.zeros_like(tensor, dtype=torch.float32)
        return state


def model_tensors(state: Mapping[str, torch.Tensor]) -> State:
    """The model part of a state: every tensor except the server optimizer's."""
    return {key: value for key, value in state.items() if not is_server_state(key)}


def apply_server_rule(
    state: Mapping[str, torch.Tensor], mean_update: Mapping[str, torch.Tensor]
) -> State:
    """The next state: the rule recorded in ``state``'s ``server/`` tensors applied to ``Δ``.

    ``mean_update`` holds exactly the model tensors of ``state`` (float32). Deterministic to the
    bit on any CPU (see the module docstring). Raises ``ValueError`` on mismatched keys or a
    state whose ``server/`` tensors are incomplete.
    """
    model = model_tensors(state)
    if set(mean_update) != set(model):
        raise ValueError(
            f"update keys {sorted(mean_update)} differ from the model keys {sorted(model)}"
        )
    for key in model:
        if model[key].dtype != torch.float32 or model[key].shape != mean_update[key].shape:
            raise ValueError(
                f"{key!r}: the server rule needs float32 tensors of equal shape, got "
                f"{model[key].dtype} {tuple(model[key].shape)} and "
                f"{mean_update[key].dtype} {tuple(mean_update[key].shape)}"
            )
    delta = {key: mean_update[key].to(torch.float32) for key in model}
    server = {key: value for key, value in state.items() if is_server_state(key)}
    if not server:  # FedAvg
        return {key: torch.from_numpy(_array(model[key]) + _array(delta[key])) for key in model}
    hyper = {name: _scalar(server, SERVER_STATE_PREFIX + name) for name in _HYPER}
    adam = any(key.startswith(_V) for key in server)
    expected = {SERVER_STATE_PREFIX + name for name in _HYPER}
    expected |= {_M + key for key in model} | ({_V + key for key in model} if adam else set())
    if set(server) != expected:
        raise ValueError(
            f"incomplete server-optimizer state: missing {sorted(expected - set(server))}, "
            f"unexpected {sorted(set(server) - expected)}"
        )
    one = np.float32(1.0)
    lr, beta1, beta2, tau = (hyper[name] for name in _HYPER)
    out: State = dict(server)
    for key, update in delta.items():
        d, x, m = _array(update), _array(model[key]), _array(server[_M + key])
        if adam:
            m = _f32(beta1 * m + (one - beta1) * d)
            v = _f32(beta2 * _array(server[_V + key]) + (one - beta2) * (d * d))
            out[_V + key] = torch.from_numpy(v)
            x = _f32(x + lr * m / (np.sqrt(v) + tau))
        else:
            m = _f32(beta1 * m + d)
            x = _f32(x + lr * m)
        out[key] = torch.from_numpy(x)
        out[_M + key] = torch.from_numpy(m)
    return out


def _array(tensor: torch.Tensor) -> npt.NDArray[np.float32]:
    array: npt.NDArray[np.float32] = tensor.detach().cpu().to(torch.float32).numpy()
    return array


def _f32(array: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    # Every operand is float32, so numpy computes in float32; a wider result would mean a
    # promotion rule changed under us and the bytes would no longer be the documented ones.
    if array.dtype != np.float32:
        raise TypeError(f"server rule computed in {array.dtype}, not float32")
    return array


def _scalar(server: Mapping[str, torch.Tensor], key: str) -> np.float32:
    value = server.get(key)
    if value is None or value.shape != () or value.dtype != torch.float32:
        raise ValueError(f"server-optimizer state needs {key!r} as a 0-d float32 tensor")
    return np.float32(value.item())
