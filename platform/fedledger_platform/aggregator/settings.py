"""Aggregator settings: a TOML file, overridden by ``FEDLEDGER_*`` environment variables.

Example ``aggregator.toml``::

    chain = "http://127.0.0.1:8545"     # or "embedded" (in-process, only with `fedledger demo`)
    deployment = "deployment.json"
    keystore = "keys/aggregator.json"
    passphrase_file = "keys/aggregator.pass"
    database_url = "sqlite:///aggregator.db"
    blob_dir = "blobs"
    initial_model = "initial.safetensors"
    host = "127.0.0.1"
    port = 8000

    [rounds]
    count = 5
    min_updates = 3
    timeout_s = 600

    [relay]
    batch_size = 50
    flush_interval_s = 1.0

Every key can also be set as ``FEDLEDGER_<KEY>`` (``FEDLEDGER_ROUNDS__COUNT`` for nested ones).
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

import fedledger_crypto as fc
from fedledger_platform.errors import ConfigurationError

__all__ = [
    "AggregatorSettings",
    "RelaySettings",
    "RoundSettings",
    "get_settings",
    "load_settings",
]


class RoundSettings(BaseModel):
    """How the aggregator runs rounds."""

    count: int = Field(5, ge=0, description="rounds to open (0 = keep going)")
    min_updates: int = Field(2, ge=1, description="updates needed to close a round")
    timeout_s: int = Field(600, ge=5, description="deadline = opening time + timeout")
    attestation_timeout_s: int = Field(
        600, ge=5, description="a closed round that reaches no quorum in time is failed"
    )
    reveal_timeout_s: int = Field(
        120, ge=5, description="an unmasking round whose reveals are not all in by then fails"
    )


class RelaySettings(BaseModel):
    """How the aggregator submits participants' signed commitments and attestations."""

    batch_size: int = Field(50, ge=1, le=1_000, description="most items per relay transaction")
    flush_interval_s: float = Field(
        1.0,
        gt=0,
        description="a signed item waits at most this long for a batch to fill (commitments "
        "are all submitted before a round closes; attestations as soon as a quorum is held)",
    )


class AggregatorSettings(BaseSettings):
    """Everything ``fedledger serve`` needs."""

    model_config = SettingsConfigDict(
        env_prefix="FEDLEDGER_", env_nested_delimiter="__", extra="forbid"
    )

    chain: str = "embedded"
    deployment: Path | None = None
    keystore: Path | None = None
    passphrase_file: Path | None = None
    database_url: str = "sqlite:///aggregator.db"
    blob_dir: Path = Path("blobs")
    params_id: str = fc.DEFAULT_PARAMS.id
    parameters_file: Path | None = None
    initial_model: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_upload_bytes: int = Field(256 * 1024 * 1024, ge=1024)
    signature_window_s: int = Field(fc.DEFAULT_WINDOW_S, ge=1)
    poll_interval_s: float = Field(0.5, gt=0)
    rounds: RoundSettings = Field(default_factory=lambda: RoundSettings.model_validate({}))
    relay: RelaySettings = Field(default_factory=lambda: RelaySettings.model_validate({}))

    @field_validator("params_id")
    @classmethod
    def _known_params(cls, value: str) -> str:
        fc.get_params(value)  # raises ParameterError listing the known sets
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment variables override the TOML file (passed as init arguments)."""
        return (env_settings, init_settings)

    @property
    def params(self) -> fc.CKKSParams:
        """The federation's CKKS parameter set."""
        return fc.get_params(self.params_id)


def _resolve(base: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Paths in a TOML file are relative to the file's directory."""
    for key in (
        "deployment",
        "keystore",
        "passphrase_file",
        "blob_dir",
        "parameters_file",
        "initial_model",
    ):
        if key in data and isinstance(data[key], str):
            path = Path(data[key])
            data[key] = path if path.is_absolute() else base / path
    url = data.get("database_url")
    if isinstance(url, str) and url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        relative = url.removeprefix("sqlite:///")
        if relative and relative != ":memory:":
            data["database_url"] = f"sqlite:///{(base / relative).resolve()}"
    return data


def load_settings(config: Path | None = None, **overrides: Any) -> AggregatorSettings:
    """Settings from a TOML file (optional) plus ``FEDLEDGER_*`` variables plus overrides."""
    data: dict[str, Any] = {}
    if config is not None:
        try:
            data = _resolve(config.resolve().parent, tomllib.loads(config.read_text()))
        except FileNotFoundError:
            raise ConfigurationError(f"config file {config} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"config file {config} is not valid TOML: {exc}") from exc
    data.update(overrides)
    try:
        return AggregatorSettings(**data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"invalid aggregator settings: {problems}") from exc
    except fc.ParameterError as exc:
        raise ConfigurationError(str(exc)) from exc


@lru_cache(maxsize=1)
def get_settings() -> AggregatorSettings:
    """Settings from the environment only (tests override via ``create_app(settings)``)."""
    return load_settings()
