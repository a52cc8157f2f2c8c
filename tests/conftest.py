"""Fixtures shared by the whole suite."""

from __future__ import annotations

from typing import Any

import pytest

import fedledger_crypto as fc


@pytest.fixture(scope="session")
def secret_context() -> Any:
    """One secret CKKS context of the default parameter set (key generation takes ~15 ms)."""
    return fc.create_secret_context(fc.DEFAULT_PARAMS)


@pytest.fixture(scope="session")
def parameters_context(secret_context: Any) -> Any:
    """The parameters-only context derived from ``secret_context``."""
    return fc.load_parameters_context(fc.parameters_bytes(secret_context), fc.DEFAULT_PARAMS)


@pytest.fixture(scope="session")
def encryptor(secret_context: Any) -> fc.UpdateEncryptor:
    """A participant-side encryptor over ``secret_context``."""
    return fc.UpdateEncryptor(secret_context)
