"""Client configuration: `fedledger client init` and the TOML file a daemon runs from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fedledger_clients.config import load_client_config
from fedledger_clients.tasks.base import TrainConfig
from fedledger_platform.accounts import load_keystore, read_passphrase
from fedledger_platform.errors import ConfigurationError

FEDLEDGER = [sys.executable, "-m", "fedledger_app.cli"]
FAST_KDF = ["--scrypt-n", "1024"]  # test-only: fast keystores


def _init(directory: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FEDLEDGER, "client", "init", "--dir", str(directory), *FAST_KDF, *options],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--client-index", "5", "--num-clients", "3"], "task.client_index 5 must be in 0..2"),
        (["--aggregator", "localhost:8000"], "aggregator 'localhost:8000' is not an http(s) URL"),
        (["--rpc-url", "ws://127.0.0.1:8545"], "chain 'ws://127.0.0.1:8545' is not an http(s)"),
        (["--task", "nope"], "unknown task 'nope'"),
        (["--noise-multiplier", "1.0"], "noise_multiplier needs a clip_norm"),
    ],
)
def test_a_refused_init_writes_nothing(tmp_path: Path, options: list[str], message: str) -> None:
    result = _init(tmp_path / "client", *options)

    assert result.returncode == 2
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "client").exists()  # so the corrected command is not blocked


def test_init_writes_a_config_and_a_keystore_its_passphrase_unlocks(tmp_path: Path) -> None:
    directory = tmp_path / "client"
    result = _init(directory, "--client-index", "2", "--num-clients", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    info = json.loads(result.stdout)

    config = load_client_config(directory / "client.toml")
    assert config.task.client_index == 2 and config.task.num_clients == 3
    assert config.keystore is not None and config.passphrase_file is not None
    account = load_keystore(config.keystore, read_passphrase(config.passphrase_file))
    assert account.address == info["address"]
    assert (config.passphrase_file.stat().st_mode & 0o777) == 0o600

    # Again: the keystore is never overwritten, and the passphrase that unlocks it is kept.
    again = _init(directory, "--client-index", "2", "--num-clients", "3")
    assert again.returncode == 2
    assert "refusing to overwrite a keystore" in again.stdout + again.stderr
    assert load_keystore(config.keystore, read_passphrase(config.passphrase_file)) == account


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("aggregator = [", "is not valid TOML"),
        ('aggregator = "http://a"\ncolour = "blue"', "unknown keys ['colour']"),
        ('chain = "http://c"', "`aggregator` (URL) is required"),
        ('aggregator = "ftp://a"', "aggregator 'ftp://a' is not an http(s) URL"),
        ('aggregator = "http://a"\n[task]\nclient_index = 8', "client_index 8 must be in 0..7"),
        ('aggregator = "http://a"\n[task]\nshard = 1', "unexpected keyword argument 'shard'"),
        ('aggregator = "http://a"\npoll_interval_s = 0', "poll_interval_s must be > 0, got 0.0"),
        ('aggregator = "http://a"\n[training]\nclip_norm = -1', "must be ≥ 0"),
        (
            'aggregator = "http://a"\n[training]\nproximal_mu = -0.1',
            "[training] proximal_mu must be a finite number ≥ 0, got -0.1",
        ),
        (
            'aggregator = "http://a"\n[training]\nproximal_mu = "a lot"',
            "[training] proximal_mu must be a finite number ≥ 0, got 'a lot'",
        ),
        (
            'aggregator = "http://a"\n[training]\nproximal_mu = nan',
            "[training] proximal_mu must be a finite number ≥ 0, got nan",
        ),
        (
            'aggregator = "http://a"\n[task]\nname = "recommendation"\n[training]\n'
            "proximal_mu = 0.01",
            "the recommendation task's local training has no FedProx term: set it to 0",
        ),
    ],
)
def test_a_bad_config_file_is_refused_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "client.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigurationError) as caught:
        load_client_config(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_proximal_mu_reaches_local_training_and_survives_the_written_file(tmp_path: Path) -> None:
    # Prepare: a config with FedProx's mu, written and read back as `client.toml`
    path = tmp_path / "client.toml"
    path.write_text('aggregator = "http://a"\n[training]\nproximal_mu = 0.05\nlocal_epochs = 3\n')
    config = load_client_config(path)
    (tmp_path / "again.toml").write_text(config.to_toml(tmp_path))

    # Execute
    again = load_client_config(tmp_path / "again.toml")
    train = again.training.train_config(TrainConfig(learning_rate=0.5), seed=7)

    # Assert: the task's defaults with the file's overrides, mu included
    assert config.training.proximal_mu == again.training.proximal_mu == 0.05
    assert train == TrainConfig(local_epochs=3, learning_rate=0.5, seed=7, proximal_mu=0.05)
