"""The operator's choice of the next-model rule (server optimizer) and of FedProx: the options
that set them, the errors that refuse bad values, and their effect on a real federation."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fedledger_app.federation import FederationSpec, check_spec, run_federation
from fedledger_app.initial_model import initial_model_bytes, server_optimizer_choice
from fedledger_app.simulation import run_plaintext_fedavg
from fedledger_clients.config import load_client_config
from fedledger_clients.tasks import SentimentTask
from fedledger_clients.tasks.server_optimizer import ServerOptimizer, model_tensors
from fedledger_platform.errors import ConfigurationError
from fedledger_platform.modelfile import decode_model

FEDLEDGER = [sys.executable, "-m", "fedledger_app.cli"]


@pytest.mark.parametrize(
    ("task", "kind", "hyper", "message"),
    [
        ("sentiment", "sgd", {}, "--server-optimizer must be one of fedavg, fedavgm, fedadam"),
        ("sentiment", None, {"beta1": 0.5}, "--server-beta1 needs --server-optimizer fedavgm"),
        ("sentiment", "fedavg", {"learning_rate": 0.5}, "fedavg has no hyper-parameters: drop"),
        ("sentiment", "fedavgm", {"tau": 0.01}, "--server-tau belong to FedAdam: drop them"),
        ("sentiment", "fedadam", {}, "--server-optimizer fedadam needs --server-lr"),
        ("sentiment", "fedavgm", {"learning_rate": 0.0}, "--server-lr must be > 0, got 0.0"),
        ("sentiment", "fedavgm", {"beta1": 1.0}, "--server-beta1 must be in [0, 1), got 1.0"),
        (
            "recommendation",
            "fedadam",
            {"learning_rate": 0.1, "beta2": -0.5},
            "--server-beta2 must be in [0, 1), got -0.5",
        ),
        (
            "sentiment",
            "fedadam",
            {"learning_rate": float("nan")},
            "--server-lr must be a finite number, got nan",
        ),
        ("hashtags", "fedavgm", {}, "the hashtags task sums statistics and has no model"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_option(
    task: str, kind: str | None, hyper: dict[str, float], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        server_optimizer_choice(task, kind, **hyper)


def test_a_chosen_rule_fills_in_the_documented_defaults() -> None:
    assert server_optimizer_choice("sentiment", None) is None  # the task's own default
    assert server_optimizer_choice("sentiment", "fedavg") == ServerOptimizer("fedavg")
    assert server_optimizer_choice("recommendation", "fedavgm", beta1=0.7) == ServerOptimizer(
        "fedavgm", learning_rate=1.0, beta1=0.7
    )
    adam = server_optimizer_choice("sentiment", "fedadam", learning_rate=0.02, tau=0.01)
    assert adam == ServerOptimizer("fedadam", learning_rate=0.02, beta1=0.9, beta2=0.99, tau=0.01)


def test_the_round_zero_model_records_the_chosen_rule() -> None:
    # Prepare
    adam = ServerOptimizer("fedadam", learning_rate=0.05, beta1=0.8, beta2=0.95, tau=0.002)

    # Execute
    default = decode_model(initial_model_bytes("sentiment", 3)).state
    chosen = decode_model(initial_model_bytes("sentiment", 3, adam)).state
    plain = decode_model(initial_model_bytes("recommendation", 3, ServerOptimizer())).state

    # Assert: the same model, each with its rule's server/ tensors
    assert ServerOptimizer.of_state(default) == SentimentTask().server_optimizer
    assert ServerOptimizer.of_state(chosen).to_json() == {
        "kind": "fedadam",
        "learning_rate": 0.05,
        "beta1": 0.8,
        "beta2": 0.95,
        "tau": 0.002,
    }
    assert {"server/m/weight", "server/v/weight", "server/v/bias"} <= set(chosen)
    assert all(torch.equal(model_tensors(default)[k], v) for k, v in model_tensors(chosen).items())
    assert ServerOptimizer.of_state(plain) == ServerOptimizer("fedavg")
    assert not [key for key in plain if key.startswith("server/")]
    with pytest.raises(ConfigurationError, match="hashtags task sums statistics"):
        initial_model_bytes("hashtags", 0, ServerOptimizer("fedavgm"))


def _fedledger(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FEDLEDGER, *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_init_model_writes_the_chosen_rule_and_refuses_a_bad_one(tmp_path: Path) -> None:
    # Execute: a good choice, then a bad one
    good = _fedledger(
        "federation",
        "init-model",
        "--task",
        "sentiment",
        "--out",
        str(tmp_path / "adam.safetensors"),
        "--server-optimizer",
        "fedadam",
        "--server-lr",
        "0.01",
    )
    bad = _fedledger(
        "federation",
        "init-model",
        "--out",
        str(tmp_path / "bad.safetensors"),
        "--server-optimizer",
        "fedavgm",
        "--server-beta1",
        "1.5",
    )

    # Assert
    assert good.returncode == 0, good.stdout + good.stderr
    info = json.loads(good.stdout)
    assert info["server_optimizer"] == {
        "kind": "fedadam",
        "learning_rate": 0.01,
        "beta1": 0.9,
        "beta2": 0.99,
        "tau": 0.001,
    }
    model = decode_model((tmp_path / "adam.safetensors").read_bytes())
    assert model.round_number == 0 and "server/v/weight" in model.state
    assert bad.returncode == 2
    assert "--server-beta1 must be in [0, 1), got 1.5" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr
    assert not (tmp_path / "bad.safetensors").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--task", "recommendation", "--proximal-mu", "0.1"],
            "--proximal-mu is 0.1, but the recommendation task's local training has no FedProx",
        ),
        (["--proximal-mu", "-1"], "--proximal-mu must be a finite number ≥ 0, got -1.0"),
        (["--server-optimizer", "fedadam"], "--server-optimizer fedadam needs --server-lr"),
    ],
)
def test_bootstrap_refuses_bad_options_before_touching_chain_or_folder(
    tmp_path: Path, options: list[str], message: str
) -> None:
    # No chain answers at this URL: a refusal must come from the options, before connecting.
    result = _fedledger(
        "federation",
        "bootstrap",
        "--out",
        str(tmp_path / "fed"),
        "--rpc-url",
        "http://127.0.0.1:9",
        *options,
    )

    assert result.returncode == 2
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "fed").exists()


@pytest.mark.hardhat
def test_bootstrap_writes_the_rule_and_mu_it_was_given(tmp_path: Path, hardhat_url: str) -> None:
    # Execute
    result = _fedledger(
        "federation",
        "bootstrap",
        "--out",
        str(tmp_path / "fed"),
        "--rpc-url",
        hardhat_url,
        "--clients",
        "2",
        "--scrypt-n",
        "1024",
        "--proximal-mu",
        "0.05",
        "--server-optimizer",
        "fedavgm",
        "--server-beta1",
        "0.7",
    )

    # Assert: the aggregator's round-0 model records the rule, every client config the mu
    assert result.returncode == 0, result.stdout + result.stderr
    rule = {"kind": "fedavgm", "learning_rate": 1.0, "beta1": 0.7}
    assert json.loads(result.stdout)["server_optimizer"] == rule
    initial = decode_model((tmp_path / "fed" / "aggregator" / "initial.safetensors").read_bytes())
    assert ServerOptimizer.of_state(initial.state).to_json() == rule
    for index in (1, 2):
        config = load_client_config(
            tmp_path / "fed" / "clients" / f"client-{index}" / "client.toml"
        )
        assert config.training.proximal_mu == 0.05


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"task": "hashtags", "server_optimizer": ServerOptimizer("fedavgm")},
            "the hashtags task sums statistics and has no model to optimize",
        ),
        ({"proximal_mu": -1.0}, "proximal_mu must be a finite number ≥ 0, got -1.0"),
        (
            {"task": "recommendation", "proximal_mu": 0.1},
            "the recommendation task's local training has no FedProx term: set it to 0",
        ),
    ],
)
def test_check_spec_refuses_a_rule_or_mu_the_task_cannot_use(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    spec = FederationSpec(out=tmp_path / "out", **changes)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        check_spec(spec)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_encrypted_federation_applies_the_chosen_rule_and_fedprox(tmp_path: Path) -> None:
    # Prepare: two participants, FedAdam and FedProx chosen by the operator
    adam = ServerOptimizer("fedadam", learning_rate=0.01)
    task = SentimentTask()
    clients = task.load_clients(num_clients=2, seed=0)
    config = task.default_config()
    base = decode_model(initial_model_bytes("sentiment", 0, adam)).state

    # Execute: the real federation, and the same round in plaintext with and without FedProx
    run = run_federation(
        FederationSpec(
            task="sentiment",
            clients=2,
            rounds=1,
            out=tmp_path,
            server_optimizer=adam,
            proximal_mu=0.05,
            evaluate=False,
        ),
        clients_data=clients,
    )
    prox, plain = (
        run_plaintext_fedavg(
            task,
            clients,
            rounds=1,
            config=dataclasses.replace(config, proximal_mu=mu),
            initial_state=base,
        ).final_state
        for mu in (0.05, 0.0)
    )

    # Assert: the published model is the FedAdam step of the FedProx updates (CKKS noise aside)
    published = run.final_state
    assert ServerOptimizer.of_state(published) == adam
    assert set(published) == set(prox)
    for key in ("weight", "bias", "server/m/weight", "server/v/weight"):
        assert torch.allclose(published[key], prox[key], rtol=0, atol=1e-5), key
    assert (published["server/m/weight"] - plain["server/m/weight"]).abs().max() > 1e-4
