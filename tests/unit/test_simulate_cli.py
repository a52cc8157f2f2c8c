"""``fedledger simulate``'s options: what reaches the simulation, and what is refused before
anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import fedledger_app.scale
from fedledger_app.cli import app
from fedledger_app.scale import SimulationSpec
from fedledger_clients.tasks.server_optimizer import ServerOptimizer
from fedledger_platform.errors import ConfigurationError


class _StartedError(Exception):
    """Raised in place of running the simulation: the spec it was given is kept."""


def test_the_partition_and_server_rule_options_reach_the_simulation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given: list[SimulationSpec] = []

    def start(spec: SimulationSpec, **_: object) -> None:
        given.append(spec)
        raise _StartedError

    monkeypatch.setattr(fedledger_app.scale, "simulate", start)
    args = ["simulate", "--participants", "20", "--out", str(tmp_path), "--partition", "dirichlet"]
    args += ["--dirichlet-alpha", "3", "--server-optimizer", "fedavgm", "--server-lr", "60"]
    args += ["--server-beta1", "0.5"]

    result = CliRunner().invoke(app, args)

    assert isinstance(result.exception, _StartedError)
    (spec,) = given
    assert (spec.participants, spec.partition, spec.dirichlet_alpha) == (20, "dirichlet", 3.0)
    assert spec.server_optimizer == ServerOptimizer("fedavgm", learning_rate=60.0, beta1=0.5)


def test_a_partition_that_cannot_be_drawn_is_refused_before_starting(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--participants", "1000", "--out", str(tmp_path)])

    assert isinstance(result.exception, ConfigurationError)
    assert "--partition iid" in str(result.exception)
    assert not (tmp_path / "deployment.json").exists()


def test_a_server_step_without_a_rule_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--server-lr", "60", "--out", str(tmp_path)])

    assert isinstance(result.exception, ConfigurationError)
    assert "needs --server-optimizer" in str(result.exception)
