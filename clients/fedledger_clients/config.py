"""Client configuration: one TOML file per participant, written by ``fedledger client init``.

Example ``client.toml`` (paths are relative to the file)::

    keystore = "keystore.json"
    passphrase_file = "passphrase"
    aggregator = "http://127.0.0.1:8000"
    chain = "http://127.0.0.1:8545"
    deployment = "../deployment.json"
    state_dir = "state"
    relay_timeout_s = 30    # a signed message not on chain this long after the hand-over is
                            # sent from this account, if it holds ether (else it waits)

    [task]
    name = "sentiment"
    client_index = 0        # which shard of the public data set plays this client's private data
    num_clients = 8
    seed = 0

    [training]              # omitted keys take the task's defaults
    local_epochs = 2
    proximal_mu = 0.0       # FedProx: mu/2·|w − w_global|² in the local loss (sentiment only)
    clip_norm = 10.0        # L2 clip of each update (0 disables); MEAN tasks only
    noise_multiplier = 0.0  # local DP: Gaussian noise with std = noise_multiplier × clip_norm

Environment variables ``FEDLEDGER_CLIENT_<KEY>`` override top-level keys.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fedledger_clients.tasks import get_task
from fedledger_clients.tasks.base import TrainConfig
from fedledger_platform.errors import ConfigurationError
from fedledger_platform.ledger import EMBEDDED, is_rpc_url

__all__ = [
    "ClientConfig",
    "TaskConfig",
    "TrainingConfig",
    "check_client_config",
    "check_proximal_mu",
    "load_client_config",
]

_ENV_PREFIX = "FEDLEDGER_CLIENT_"


@dataclass(frozen=True)
class TaskConfig:
    """Which task, and which shard of its public data set this participant holds."""

    name: str = "sentiment"
    client_index: int = 0
    num_clients: int = 8
    seed: int = 0


@dataclass(frozen=True)
class TrainingConfig:
    """Local training and update-protection settings."""

    local_epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    proximal_mu: float = 0.0
    clip_norm: float = 0.0
    noise_multiplier: float = 0.0
    max_clients: int = 256
    torch_threads: int = 1

    def train_config(self, defaults: TrainConfig, seed: int) -> TrainConfig:
        """The task's defaults with this file's overrides."""
        config = replace(defaults, seed=seed)
        if self.local_epochs is not None:
            config = replace(config, local_epochs=self.local_epochs)
        if self.batch_size is not None:
            config = replace(config, batch_size=self.batch_size)
        if self.learning_rate is not None:
            config = replace(config, learning_rate=self.learning_rate)
        return replace(config, proximal_mu=self.proximal_mu)


@dataclass(frozen=True)
class ClientConfig:
    """Everything ``fedledger client run`` needs."""

    aggregator: str
    chain: str
    deployment: Path | None
    keystore: Path | None
    passphrase_file: Path | None
    state_dir: Path
    task: TaskConfig = field(default_factory=TaskConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    poll_interval_s: float = 1.0
    max_backoff_s: float = 30.0
    long_poll_s: float = 5.0
    #: A signed commitment or attestation not on chain this long after the aggregator took it
    #: is sent from this account, when it holds ether (the censorship fallback).
    relay_timeout_s: float = 30.0

    def to_toml(self, base: Path) -> str:
        """The config as TOML text with paths relative to ``base``."""

        def rel(path: Path | None) -> str:
            if path is None:
                return ""
            try:
                return os.path.relpath(path, base)
            except ValueError:
                return str(path)

        lines = [
            f'aggregator = "{self.aggregator}"',
            f'chain = "{self.chain}"',
        ]
        if self.deployment is not None:
            lines.append(f'deployment = "{rel(self.deployment)}"')
        if self.keystore is not None:
            lines.append(f'keystore = "{rel(self.keystore)}"')
        if self.passphrase_file is not None:
            lines.append(f'passphrase_file = "{rel(self.passphrase_file)}"')
        lines += [
            f'state_dir = "{rel(self.state_dir)}"',
            f"poll_interval_s = {self.poll_interval_s}",
            f"relay_timeout_s = {self.relay_timeout_s}",
            "",
            "[task]",
            f'name = "{self.task.name}"',
            f"client_index = {self.task.client_index}",
            f"num_clients = {self.task.num_clients}",
            f"seed = {self.task.seed}",
            "",
            "[training]",
            f"proximal_mu = {self.training.proximal_mu}",
            f"clip_norm = {self.training.clip_norm}",
            f"noise_multiplier = {self.training.noise_multiplier}",
            f"max_clients = {self.training.max_clients}",
            f"torch_threads = {self.training.torch_threads}",
        ]
        for key in ("local_epochs", "batch_size", "learning_rate"):
            value = getattr(self.training, key)
            if value is not None:
                lines.append(f"{key} = {value}")
        return "\n".join(lines) + "\n"


def _path(base: Path, value: Any, key: str) -> Path | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"client config: `{key}` must be a path string")
    path = Path(value)
    return path if path.is_absolute() else (base / path).resolve()


def load_client_config(path: Path) -> ClientConfig:
    """Read and validate a client TOML file; errors name the key and the problem."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(
            f"client config {path} does not exist; create it with `fedledger client init`"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"client config {path} is not valid TOML: {exc}") from exc
    for key, value in os.environ.items():
        if key.startswith(_ENV_PREFIX):
            data[key.removeprefix(_ENV_PREFIX).lower()] = value
    base = path.resolve().parent
    known = {
        "aggregator",
        "chain",
        "deployment",
        "keystore",
        "passphrase_file",
        "state_dir",
        "task",
        "training",
        "poll_interval_s",
        "max_backoff_s",
        "long_poll_s",
        "relay_timeout_s",
    }
    unknown = set(data) - known
    if unknown:
        raise ConfigurationError(f"client config {path}: unknown keys {sorted(unknown)}")
    if "aggregator" not in data:
        raise ConfigurationError(f"client config {path}: `aggregator` (URL) is required")
    try:
        task = TaskConfig(**data.get("task", {}))
        training = TrainingConfig(**data.get("training", {}))
    except TypeError as exc:
        raise ConfigurationError(f"client config {path}: {exc}") from exc
    config = ClientConfig(
        aggregator=str(data["aggregator"]),
        chain=str(data.get("chain", "http://127.0.0.1:8545")),
        deployment=_path(base, data.get("deployment"), "deployment"),
        keystore=_path(base, data.get("keystore"), "keystore"),
        passphrase_file=_path(base, data.get("passphrase_file"), "passphrase_file"),
        state_dir=_path(base, data.get("state_dir", "state"), "state_dir") or base / "state",
        task=task,
        training=training,
        poll_interval_s=float(data.get("poll_interval_s", 1.0)),
        max_backoff_s=float(data.get("max_backoff_s", 30.0)),
        long_poll_s=float(data.get("long_poll_s", 5.0)),
        relay_timeout_s=float(data.get("relay_timeout_s", 30.0)),
    )
    check_client_config(config, f"client config {path}")
    return config


def check_client_config(config: ClientConfig, source: str) -> None:
    """Refuse settings a daemon cannot run with; the error names ``source`` and the key."""
    if not config.aggregator.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"{source}: aggregator {config.aggregator!r} is not an http(s) URL"
        )
    if config.chain != EMBEDDED and not is_rpc_url(config.chain):
        raise ConfigurationError(f"{source}: chain {config.chain!r} is not an http(s) JSON-RPC URL")
    task, training = config.task, config.training
    get_task(task.name)  # raises with the valid names
    if not 0 <= task.client_index < task.num_clients:
        raise ConfigurationError(
            f"{source}: task.client_index {task.client_index} must be in 0..{task.num_clients - 1}"
        )
    check_proximal_mu(task.name, training.proximal_mu, where=f"{source}: [training] proximal_mu")
    if training.clip_norm < 0 or training.noise_multiplier < 0:
        raise ConfigurationError(f"{source}: clip_norm and noise_multiplier must be ≥ 0")
    if training.noise_multiplier > 0 and training.clip_norm == 0:
        raise ConfigurationError(
            f"{source}: noise_multiplier needs a clip_norm (noise std = multiplier × clip norm)"
        )
    for key in ("poll_interval_s", "max_backoff_s", "long_poll_s", "relay_timeout_s"):
        if not getattr(config, key) > 0:
            raise ConfigurationError(f"{source}: {key} must be > 0, got {getattr(config, key)}")


def check_proximal_mu(task_name: str, mu: object, *, where: str) -> float:
    """FedProx's ``mu`` for ``task_name``: a finite number ≥ 0, and 0 for a task whose local
    training has no proximal term. ``where`` names the setting in the error."""
    if isinstance(mu, bool) or not isinstance(mu, int | float) or not 0 <= mu < math.inf:
        raise ConfigurationError(f"{where} must be a finite number ≥ 0, got {mu!r}")
    task = get_task(task_name)
    if mu > 0 and not task.supports_proximal_term:
        raise ConfigurationError(
            f"{where} is {mu}, but the {task_name} task's local training has no FedProx term: "
            "set it to 0 (FedProx applies to the sentiment task)"
        )
    return float(mu)
