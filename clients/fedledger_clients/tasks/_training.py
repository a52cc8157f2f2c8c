"""Small helpers shared by the built-in tasks: seeding, state arithmetic, minibatches."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping

import torch

from fedledger_clients.tasks.base import State

__all__ = [
    "add_state",
    "clone_state",
    "derive_seed",
    "generator",
    "minibatches",
    "subtract_state",
]


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any printable parts, stable across processes and platforms.

    (Python's ``hash`` of a string is salted per process, so it cannot be used here.)
    """
    text = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") >> 1


def generator(*parts: object) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from :func:`derive_seed`; never touches global RNGs."""
    gen = torch.Generator()
    gen.manual_seed(derive_seed(*parts))
    return gen


def clone_state(state: Mapping[str, torch.Tensor]) -> State:
    return {key: value.detach().clone() for key, value in state.items()}


def subtract_state(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> State:
    """``a - b`` key by key (the keys of ``b`` must cover those of ``a``)."""
    return {key: (a[key].detach() - b[key].detach()).to(b[key].dtype) for key in a}


def add_state(a: Mapping[str, torch.Tensor], delta: Mapping[str, torch.Tensor]) -> State:
    """``a + delta`` key by key, keeping each tensor of ``a`` in its dtype."""
    if set(delta) != set(a):
        raise ValueError(f"update keys {sorted(delta)} differ from state keys {sorted(a)}")
    return {key: (a[key] + delta[key].to(a[key].dtype)).to(a[key].dtype) for key in a}


def minibatches(count: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Index tensors of one shuffled pass over ``count`` samples."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = torch.randperm(count, generator=gen)
    for start in range(0, count, batch_size):
        yield order[start : start + batch_size]
