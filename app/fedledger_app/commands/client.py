"""``fedledger client …``: a participant's account, configuration and daemon."""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

import fedledger_crypto as fc
from fedledger_app.commands.common import (
    RpcUrlOption,
    ScryptNOption,
    console,
    emit_json,
    write_secret,
)
from fedledger_clients.config import (
    ClientConfig,
    TaskConfig,
    TrainingConfig,
    check_client_config,
    load_client_config,
)
from fedledger_clients.daemon import ClientDaemon
from fedledger_platform.accounts import (
    check_key_allowed,
    create_keystore,
    load_keystore,
    read_passphrase,
)
from fedledger_platform.api_client import AggregatorClient
from fedledger_platform.errors import ConfigurationError
from fedledger_platform.ledger import Deployment, Ledger, connect

__all__ = ["client_app"]

client_app = typer.Typer(
    help="Run a participant: create its account, run its daemon.", no_args_is_help=True
)


@client_app.command("init")
def client_init(
    directory: Annotated[
        Path, typer.Option("--dir", help="folder for the keystore, config, state")
    ],
    aggregator: Annotated[str, typer.Option(help="aggregator base URL")] = "http://127.0.0.1:8000",
    rpc_url: RpcUrlOption = "http://127.0.0.1:8545",
    deployment: Annotated[Path, typer.Option(help="deployment file")] = Path("deployment.json"),
    task: Annotated[str, typer.Option(help="sentiment, recommendation or hashtags")] = "sentiment",
    client_index: Annotated[int, typer.Option(help="this participant's data shard")] = 0,
    num_clients: Annotated[int, typer.Option(help="number of shards")] = 8,
    seed: Annotated[int, typer.Option(help="partition and training seed")] = 0,
    clip_norm: Annotated[float, typer.Option(help="L2 clip of each update (0: off)")] = 0.0,
    noise_multiplier: Annotated[float, typer.Option(help="local DP noise multiplier")] = 0.0,
    passphrase_file: Annotated[
        Path | None, typer.Option(help="keystore passphrase (default: generate one into DIR)")
    ] = None,
    scrypt_n: ScryptNOption = 2**18,
) -> None:
    """Create this participant's encrypted account keystore and its config file.

    Prints the address and public key: give them to the operator, who admits them on chain
    (`fedledger federation admit --public-key …`).
    """
    keystore = directory / "keystore.json"
    generate_passphrase = passphrase_file is None
    if passphrase_file is None:
        passphrase_file = directory / "passphrase"
    config = ClientConfig(
        aggregator=aggregator,
        chain=rpc_url,
        deployment=deployment.resolve(),
        keystore=keystore.resolve(),
        passphrase_file=passphrase_file.resolve(),
        state_dir=(directory / "state").resolve(),
        task=TaskConfig(name=task, client_index=client_index, num_clients=num_clients, seed=seed),
        training=TrainingConfig(clip_norm=clip_norm, noise_multiplier=noise_multiplier),
    )
    # Everything is checked before the first file is written: a refused init leaves nothing
    # behind that would block the corrected command.
    check_client_config(config, "fedledger client init")
    if generate_passphrase and not passphrase_file.exists():
        # Written first: a keystore is never left without the passphrase that unlocks it.
        write_secret(passphrase_file, secrets.token_urlsafe(24))
    account = create_keystore(keystore, read_passphrase(passphrase_file), scrypt_n=scrypt_n)
    (directory / "client.toml").write_text(config.to_toml(directory.resolve()))
    load_client_config(directory / "client.toml")  # validate what was written
    emit_json(
        {
            "address": account.address,
            "public_key": "0x" + fc.public_key_of(account).hex(),
            "config": str(directory / "client.toml"),
        }
    )


def _daemon_from_config(config_path: Path, *, owns_process: bool = False) -> ClientDaemon:
    config = load_client_config(config_path)
    if config.chain == "embedded":
        raise ConfigurationError(
            "a separate client process cannot join the embedded chain; use `fedledger demo` or a "
            "JSON-RPC URL"
        )
    if config.deployment is None or config.keystore is None:
        raise ConfigurationError(f"{config_path}: `deployment` and `keystore` are required")
    deployment = Deployment.load(config.deployment)
    chain = connect(config.chain)
    if chain.chain_id != deployment.chain_id:
        raise ConfigurationError(
            f"{config.chain} is chain {chain.chain_id}, the deployment is on {deployment.chain_id}"
        )
    account = load_keystore(config.keystore, read_passphrase(config.passphrase_file))
    check_key_allowed(account, chain.chain_id)
    ledger = Ledger(chain, deployment.ledger)
    client = AggregatorClient(
        config.aggregator,
        account=account,
        scope=fc.RequestScope(chain.chain_id, deployment.ledger),
    )
    return ClientDaemon(
        config, account=account, ledger=ledger, client=client, owns_process=owns_process
    )


@client_app.command("run")
def client_run(
    config: Annotated[Path, typer.Option(help="client.toml written by `fedledger client init`")],
    max_rounds: Annotated[
        int | None, typer.Option(help="stop after finishing this many rounds")
    ] = None,
    forever: Annotated[
        bool, typer.Option(help="keep polling after the federation's planned rounds")
    ] = False,
    log_level: Annotated[str, typer.Option(help="logging level")] = "info",
) -> None:
    """Run the participant daemon: train, encrypt, commit, upload, attest — every round."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    daemon = _daemon_from_config(config, owns_process=True)

    def report(kind: str, data: dict[str, Any]) -> None:
        if kind in {"uploaded", "attested", "excluded", "failed", "key"}:
            console.print(
                f"[bold]{kind}[/] "
                + json.dumps({k: v for k, v in data.items() if k != "participant"})
            )

    daemon.on_event = report
    console.print(f"participant {daemon.account.address} running (task {daemon.task.name})")
    try:
        daemon.run(max_rounds=max_rounds, until_done=not forever)
    except KeyboardInterrupt:
        daemon.stop()
    console.print("participant stopped")


@client_app.command("status")
def client_status(
    config: Annotated[Path, typer.Option(help="client.toml")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
) -> None:
    """This participant's rounds, commitments, attestations and token balance."""
    daemon = _daemon_from_config(config)
    ledger = daemon.ledger
    rounds = []
    for number, entry in sorted(daemon.rounds().items()):
        rounds.append(
            {
                **vars(entry),
                "status_on_chain": ledger.get_round(number).status.name.lower(),
                "included": ledger.is_included(number, daemon.account.address),
            }
        )
    status = {
        "address": daemon.account.address,
        "admitted": ledger.is_participant(daemon.account.address),
        "current_round": ledger.current_round(),
        "token_balance": ledger.token_balance(daemon.account.address) / 10**18,
        "rounds": rounds,
    }
    if as_json:
        emit_json(status)
        return
    table = Table(title=f"participant {status['address']}")
    for column in ("round", "on chain", "included", "update", "model", "metrics"):
        table.add_column(column)
    for r in rounds:
        table.add_row(
            str(r["round"]),
            r["status_on_chain"],
            "yes" if r["included"] else "no",
            (r["update_hash"] or "")[:12],
            (r["model_hash"] or "")[:12],
            ", ".join(f"{k}={v:.4g}" for k, v in r["metrics"].items()),
        )
    Console().print(table)
    Console().print(
        f"tokens: {status['token_balance']:g} FLC, current round {status['current_round']}"
    )
