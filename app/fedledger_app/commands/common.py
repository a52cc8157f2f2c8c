"""What every command module shares: the stderr console, JSON output, the error exit, account
resolution and the options several commands take under the same name."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from eth_account.signers.local import LocalAccount
from rich.console import Console

from fedledger_platform.accounts import (
    check_key_allowed,
    development_accounts,
    load_keystore,
    read_passphrase,
)

__all__ = [
    "DeploymentOption",
    "DevAccountOption",
    "KeystoreOption",
    "PassphraseFileOption",
    "RpcUrlOption",
    "ScryptNOption",
    "console",
    "emit_json",
    "fail",
    "resolve_account",
    "write_secret",
]

#: Human-readable progress and errors: stderr, so stdout carries only machine output.
console = Console(stderr=True)

#: ``--rpc-url``: the chain a command talks to.
RpcUrlOption = Annotated[str, typer.Option(help="chain JSON-RPC URL")]
#: ``--deployment``: the file ``fedledger deploy`` wrote.
DeploymentOption = Annotated[Path, typer.Option(help="deployment file")]
#: ``--keystore``, ``--passphrase-file``, ``--dev-account``: the account an operator command
#: signs with (see :func:`resolve_account`).
KeystoreOption = Annotated[Path | None, typer.Option(help="operator keystore")]
PassphraseFileOption = Annotated[Path | None, typer.Option(help="operator passphrase file")]
DevAccountOption = Annotated[
    int | None, typer.Option(help="Hardhat development account (devnets only)")
]
#: The options of the commands that read a federation from outside (audit, dashboard, model
#: fetch): its deployment file, its aggregator, and its chain (default: the deployment's).
ReadDeploymentOption = Annotated[
    Path, typer.Option(help="deployment file written by `fedledger deploy`")
]
AggregatorUrlOption = Annotated[str, typer.Option(help="base URL of the aggregator's REST API")]
ChainUrlOption = Annotated[
    str | None, typer.Option(help="JSON-RPC URL of the chain (default: the deployment file's)")
]
#: ``--scrypt-n`` (hidden): a cheaper keystore work factor for tests and throwaway devnets.
ScryptNOption = Annotated[int, typer.Option(hidden=True, help="keystore scrypt work factor")]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error (cause and fix) and return the exit to raise."""
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def emit_json(data: Any) -> None:
    """Machine-readable output on stdout."""
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def resolve_account(
    *,
    keystore: Path | None,
    passphrase_file: Path | None,
    dev_account: int | None,
    chain_id: int,
) -> LocalAccount:
    """An account from a keystore, or a development account on a devnet only."""
    if keystore is not None and dev_account is not None:
        raise fail("give either --keystore or --dev-account, not both")
    if keystore is not None:
        account = load_keystore(keystore, read_passphrase(passphrase_file))
    elif dev_account is not None:
        accounts = development_accounts()
        if not 0 <= dev_account < 20:
            raise fail("--dev-account must be 0..19 (Hardhat's default accounts)")
        account = accounts[dev_account]
    else:
        raise fail(
            "an account is needed: --keystore FILE (with --passphrase-file or "
            "FEDLEDGER_PASSPHRASE), or --dev-account N on a devnet"
        )
    check_key_allowed(account, chain_id)
    return account


def write_secret(path: Path, text: str) -> None:
    """Write a passphrase (or other secret) to ``path``, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(text + "\n")
