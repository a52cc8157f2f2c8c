"""``fedledger client …`` (participants) and ``fedledger federation …`` (the operator)."""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from web3 import Web3

import fedledger_crypto as fc
from fedledger_clients.config import (
    ClientConfig,
    TaskConfig,
    TrainingConfig,
    check_client_config,
    load_client_config,
)
from fedledger_clients.daemon import ClientDaemon
from fedledger_clients.tasks import get_task
from fedledger_platform.accounts import (
    check_key_allowed,
    create_keystore,
    load_keystore,
    read_passphrase,
)
from fedledger_platform.aggregator.client import AggregatorClient
from fedledger_platform.cli import console, emit_json, fail, resolve_account
from fedledger_platform.errors import ConfigurationError
from fedledger_platform.ledger import Deployment, Ledger, connect
from fedledger_platform.ledger.deployment import deploy_federation
from fedledger_platform.modelfile import encode_model
from fedledger_platform.protocol import RoundPhase

__all__ = ["client_app", "federation_app", "initial_model_bytes"]

client_app = typer.Typer(
    help="Run a participant: create its account, run its daemon.", no_args_is_help=True
)
federation_app = typer.Typer(
    help="Operate a federation: admit participants, appoint the key dealer, inspect it.",
    no_args_is_help=True,
)

ScryptN = Annotated[int, typer.Option(hidden=True, help="keystore scrypt work factor")]


def initial_model_bytes(task_name: str, seed: int) -> bytes:
    """The round-0 model of a task: its initial shared state as canonical model bytes."""
    task = get_task(task_name)
    return encode_model(
        task.initial_state(seed=seed),
        task=task.name,
        metric_names=task.metric_names,
        round_number=0,
    )


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(text + "\n")


# ---------------------------------------------------------------------- client


@client_app.command("init")
def client_init(
    directory: Annotated[
        Path, typer.Option("--dir", help="folder for the keystore, config, state")
    ],
    aggregator: Annotated[str, typer.Option(help="aggregator base URL")] = "http://127.0.0.1:8000",
    rpc_url: Annotated[str, typer.Option(help="chain JSON-RPC URL")] = "http://127.0.0.1:8545",
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
    scrypt_n: ScryptN = 2**18,
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
        _write_secret(passphrase_file, secrets.token_urlsafe(24))
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


# ---------------------------------------------------------------------- federation

Rpc = Annotated[str, typer.Option(help="chain JSON-RPC URL")]
DeploymentOpt = Annotated[Path, typer.Option(help="deployment file")]
KeystoreOpt = Annotated[Path | None, typer.Option(help="operator keystore")]
PassOpt = Annotated[Path | None, typer.Option(help="operator passphrase file")]
DevOpt = Annotated[int | None, typer.Option(help="Hardhat development account (devnets only)")]


def _operator_ledger(
    rpc_url: str,
    deployment: Path,
    keystore: Path | None,
    passphrase_file: Path | None,
    dev_account: int | None,
) -> tuple[Ledger, Any]:
    info = Deployment.load(deployment)
    chain = connect(rpc_url)
    account = resolve_account(
        keystore=keystore,
        passphrase_file=passphrase_file,
        dev_account=dev_account,
        chain_id=chain.chain_id,
    )
    return Ledger(chain, info.ledger), account


@federation_app.command("admit")
def federation_admit(
    public_key: Annotated[list[str], typer.Option(help="participant public key, 0x + 128 hex")],
    fund: Annotated[
        float, typer.Option(help="ETH the operator sends each admitted participant for gas")
    ] = 0.0,
    rpc_url: Rpc = "http://127.0.0.1:8545",
    deployment: DeploymentOpt = Path("deployment.json"),
    keystore: KeystoreOpt = None,
    passphrase_file: PassOpt = None,
    dev_account: DevOpt = None,
) -> None:
    """Admit participants by their public keys (printed by `fedledger client init`)."""
    ledger, operator = _operator_ledger(rpc_url, deployment, keystore, passphrase_file, dev_account)
    for text in public_key:
        try:
            key = bytes.fromhex(text.removeprefix("0x"))
            address = fc.address_of_public_key(key)
        except (ValueError, fc.SealingError) as exc:
            raise fail(f"{text[:20]}… is not a 64-byte public key: {exc}") from exc
        result = ledger.admit_participant(operator, address, key)
        console.print(f"admitted {address} (tx {result.tx_hash})")
        if fund > 0:
            ledger.chain.fund(address, round(fund * 10**18), sender=operator)
            console.print(f"sent {fund:g} ETH to {address}")


@federation_app.command("appoint-dealer")
def federation_appoint_dealer(
    address: Annotated[str, typer.Argument(help="an admitted participant")],
    rpc_url: Rpc = "http://127.0.0.1:8545",
    deployment: DeploymentOpt = Path("deployment.json"),
    keystore: KeystoreOpt = None,
    passphrase_file: PassOpt = None,
    dev_account: DevOpt = None,
) -> None:
    """Appoint the key dealer (before it commits the CKKS parameters)."""
    ledger, operator = _operator_ledger(rpc_url, deployment, keystore, passphrase_file, dev_account)
    result = ledger.appoint_key_dealer(operator, Web3.to_checksum_address(address))
    console.print(f"key dealer {address} appointed (tx {result.tx_hash})")


@federation_app.command("status")
def federation_status(
    rpc_url: Rpc = "http://127.0.0.1:8545",
    deployment: DeploymentOpt = Path("deployment.json"),
    as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
) -> None:
    """Participants, key dealer, parameters and rounds, read from the chain."""
    info = Deployment.load(deployment)
    ledger = Ledger(connect(rpc_url), info.ledger)
    current = ledger.current_round()
    rounds = []
    for number in range(1, current + 1):
        r = ledger.get_round(number)
        rounds.append(
            {
                "round": number,
                "status": r.status.name.lower(),
                "included": r.included_count,
                "aggregate_hash": fc.hash_hex(r.aggregate_hash) if any(r.aggregate_hash) else None,
                "published_model_hash": (
                    fc.hash_hex(r.published_model_hash)
                    if r.status is RoundPhase.PUBLISHED
                    else None
                ),
            }
        )
    participants = ledger.participants()
    status = {
        "ledger": info.ledger,
        "chain_id": info.chain_id,
        "key_dealer": ledger.key_dealer(),
        "parameters_hash": fc.hash_hex(ledger.encryption_params_hash()),
        "participants": [
            {"address": p, "tokens": ledger.token_balance(p) / 10**18} for p in participants
        ],
        "rounds": rounds,
    }
    if as_json:
        emit_json(status)
        return
    Console().print_json(json.dumps(status))


@federation_app.command("init-model")
def federation_init_model(
    task: Annotated[str, typer.Option(help="task name")] = "sentiment",
    seed: Annotated[int, typer.Option(help="model initialization seed")] = 0,
    out: Annotated[Path, typer.Option(help="model file to write")] = Path("initial.safetensors"),
) -> None:
    """Write a task's initial model (round 0) for the aggregator's `initial_model` setting."""
    data = initial_model_bytes(task, seed)
    out.write_bytes(data)
    emit_json({"model": str(out), "hash": fc.hash_hex(fc.keccak256(data)), "bytes": len(data)})


@federation_app.command("bootstrap")
def federation_bootstrap(
    out: Annotated[Path, typer.Option(help="folder for deployment, keys and configs")],
    rpc_url: Rpc = "http://127.0.0.1:8545",
    dev_account: Annotated[int, typer.Option(help="deployer (a devnet account)")] = 0,
    clients: Annotated[int, typer.Option(help="number of participants")] = 3,
    task: Annotated[str, typer.Option(help="task name")] = "sentiment",
    rounds: Annotated[int, typer.Option(help="rounds the aggregator runs")] = 3,
    min_updates: Annotated[int | None, typer.Option(help="default: every participant")] = None,
    round_timeout_s: Annotated[int, typer.Option(help="round deadline")] = 600,
    aggregator_url: Annotated[str, typer.Option(help="URL clients use")] = "http://127.0.0.1:8000",
    aggregator_port: Annotated[int, typer.Option(help="port in aggregator.toml")] = 8000,
    database_url: Annotated[str | None, typer.Option(help="default: SQLite in OUT")] = None,
    seed: Annotated[int, typer.Option(help="task seed")] = 0,
    auditor_dev_account: Annotated[
        int | None, typer.Option(help="grant AUDITOR_ROLE to this devnet account")
    ] = 1,
    scrypt_n: ScryptN = 2**18,
) -> None:
    """Devnet convenience: deploy, create the aggregator's and N clients' keystores and configs,
    admit the clients and appoint client 1 as key dealer. Idempotent once deployed."""
    from fedledger_platform.accounts import development_accounts

    chain = connect(rpc_url)
    if (out / "deployment.json").exists():
        existing = Deployment.load(out / "deployment.json")
        code = chain.w3.eth.get_code(Web3.to_checksum_address(existing.ledger))
        if existing.chain_id == chain.chain_id and len(code) > 0:
            console.print(f"{out / 'deployment.json'} exists: federation already bootstrapped")
            return
        raise fail(
            f"{out / 'deployment.json'} names ledger {existing.ledger}, which is not on the "
            f"chain at {rpc_url} (the devnet was reset?). Remove {out} (with docker compose: "
            "`docker compose down -v`) and bootstrap again."
        )
    if not chain.is_devnet:
        raise fail("bootstrap is for devnets only; on other chains use deploy/admit with keystores")
    deployer = resolve_account(
        keystore=None, passphrase_file=None, dev_account=dev_account, chain_id=chain.chain_id
    )
    agg_dir = out / "aggregator"
    _write_secret(agg_dir / "passphrase", secrets.token_urlsafe(24))
    aggregator = create_keystore(
        agg_dir / "keystore.json", read_passphrase(agg_dir / "passphrase"), scrypt_n=scrypt_n
    )
    chain.fund(aggregator.address, 100 * 10**18, sender=deployer)
    auditors: tuple[str, ...] = ()
    if auditor_dev_account is not None:
        auditors = (development_accounts()[auditor_dev_account].address,)
    ledger, deployment = deploy_federation(
        chain, deployer, aggregator=aggregator.address, auditors=auditors
    )
    deployment_path = out / "deployment.json"
    participants = []
    for index in range(clients):
        directory = out / "clients" / f"client-{index + 1}"
        _write_secret(directory / "passphrase", secrets.token_urlsafe(24))
        account = create_keystore(
            directory / "keystore.json",
            read_passphrase(directory / "passphrase"),
            scrypt_n=scrypt_n,
        )
        chain.fund(account.address, 10 * 10**18, sender=deployer)
        ledger.admit_participant(deployer, account.address, fc.public_key_of(account))
        config = ClientConfig(
            aggregator=aggregator_url,
            chain=rpc_url,
            deployment=deployment_path.resolve(),
            keystore=(directory / "keystore.json").resolve(),
            passphrase_file=(directory / "passphrase").resolve(),
            state_dir=(directory / "state").resolve(),
            task=TaskConfig(name=task, client_index=index, num_clients=clients, seed=seed),
        )
        (directory / "client.toml").write_text(config.to_toml(directory.resolve()))
        participants.append(account.address)
    ledger.appoint_key_dealer(deployer, participants[0])
    (agg_dir / "initial.safetensors").write_bytes(initial_model_bytes(task, seed))
    database = database_url or f"sqlite:///{(agg_dir / 'aggregator.db').resolve()}"
    (agg_dir / "aggregator.toml").write_text(
        "\n".join(
            [
                f'chain = "{rpc_url}"',
                'deployment = "../deployment.json"',
                'keystore = "keystore.json"',
                'passphrase_file = "passphrase"',
                f'database_url = "{database}"',
                'blob_dir = "blobs"',
                'initial_model = "initial.safetensors"',
                'host = "127.0.0.1"',
                f"port = {aggregator_port}",
                "",
                "[rounds]",
                f"count = {rounds}",
                f"min_updates = {min_updates or clients}",
                f"timeout_s = {round_timeout_s}",
                "",
            ]
        )
    )
    deployment.save(deployment_path)  # last: its presence marks a finished bootstrap
    emit_json(
        {
            "deployment": deployment.to_json(),
            "aggregator": {
                "address": aggregator.address,
                "config": str(agg_dir / "aggregator.toml"),
            },
            "clients": [
                {"address": a, "config": str(out / "clients" / f"client-{i + 1}" / "client.toml")}
                for i, a in enumerate(participants)
            ],
            "key_dealer": participants[0],
        }
    )
