"""Local differential privacy for a MEAN task's update: clip it to an L2 norm, add Gaussian
noise (the daemon applies it before encrypting)."""

from __future__ import annotations

import math

import torch

from fedledger_clients.tasks.base import LocalResult

__all__ = ["protect_update"]


def protect_update(
    result: LocalResult, *, clip_norm: float, noise_multiplier: float, rng: torch.Generator
) -> LocalResult:
    """Clip the update to L2 norm ``clip_norm`` and add Gaussian noise (local DP).

    The noise standard deviation is ``noise_multiplier × clip_norm`` per coordinate. Clipping
    bounds how far one (possibly malicious) participant can move the average; it does not
    prevent poisoning — the aggregator cannot inspect encrypted updates.
    """
    if clip_norm <= 0:
        return result
    norm = math.sqrt(sum(float(t.double().pow(2).sum()) for t in result.update.values()))
    scale = min(1.0, clip_norm / norm) if norm > 0 else 1.0
    update = {}
    for name, tensor in result.update.items():
        clipped = tensor.double() * scale
        if noise_multiplier > 0:
            noise = torch.randn(clipped.shape, generator=rng, dtype=torch.float64)
            clipped = clipped + noise * (noise_multiplier * clip_norm)
        update[name] = clipped.to(tensor.dtype)
    return LocalResult(update=update, weight=result.weight, metrics=result.metrics)
