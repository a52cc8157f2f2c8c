"""Fixtures of the aggregator tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Federation, make_federation


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[Federation]:
    """A deployed federation with three admitted participants; servers stop afterwards."""
    fed = make_federation(tmp_path)
    try:
        yield fed
    finally:
        fed.close()
