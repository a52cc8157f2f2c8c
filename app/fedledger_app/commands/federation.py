"""``fedledger federation …``: the operator admits participants, appoints the key dealer,
inspects the federation, writes the initial model, or bootstraps a whole devnet federation."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Annotated

import typer
from eth_account.signers.local import LocalAccount
from rich.console import Console
from web3 import Web3

import fedledger_crypto as fc
from fedledger_app.commands.common import (
    DeploymentOption,
    DevAccountOption,
    KeystoreOption,
    PassphraseFileOption,
    RpcUrlOption,
    ScryptNOption,
    console,
    emit_json,
    fail,
    resolve_account,
    write_secret,
)
from fedledger_app.initial_model import initial_model_bytes, server_optimizer_choice
from fedledger_clients.config import ClientConfig, TaskConfig, TrainingConfig, check_proximal_mu
from fedledger_clients.tasks.server_optimizer import ServerOptimizer
from fedledger_platform.accounts import create_keystore, read_passphrase
from fedledger_platform.ledger import Deployment, Ledger, connect
from fedledger_platform.ledger.deployment import ADMISSION_BATCH, deploy_federation
from fedledger_platform.protocol import RoundPhase

__all__ = ["federation_app"]

federation_app = typer.Typer(
    help="Operate a federation: admit participants, appoint the key dealer, inspect it.",
    no_args_is_help=True,
)

_RULE = "Server optimizer"  # the help panel of the next-model rule's options
ServerOptimizerOption = Annotated[
    str | None,
    typer.Option(
        help="next-model rule every participant applies: fedavg, fedavgm or fedadam "
        "(default: the task's, FedAvgM η 1 β₁ 0.5 for sentiment and recommendation)",
        rich_help_panel=_RULE,
    ),
]
ServerLrOption = Annotated[
    float | None,
    typer.Option(
        help="server step η (FedAvgM default 1; FedAdam: required)", rich_help_panel=_RULE
    ),
]
ServerBeta1Option = Annotated[
    float | None,
    typer.Option(
        help="momentum / first-moment decay β₁ in [0, 1) (default 0.9)", rich_help_panel=_RULE
    ),
]
ServerBeta2Option = Annotated[
    float | None,
    typer.Option(
        help="FedAdam's second-moment decay β₂ in [0, 1) (default 0.99)", rich_help_panel=_RULE
    ),
]
ServerTauOption = Annotated[
    float | None,
    typer.Option(help="FedAdam's adaptivity floor τ > 0 (default 0.001)", rich_help_panel=_RULE),
]


def _rule_of(model: bytes) -> dict[str, object]:
    from fedledger_platform.modelfile import decode_model

    return ServerOptimizer.of_state(decode_model(model).state).to_json()


def _operator_ledger(
    rpc_url: str,
    deployment: Path,
    keystore: Path | None,
    passphrase_file: Path | None,
    dev_account: int | None,
) -> tuple[Ledger, LocalAccount]:
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
        float,
        typer.Option(
            help="ETH the operator sends each admitted participant (none needed: the "
            "aggregator relays their signed messages; ether only lets a participant's "
            "fallback send them itself)"
        ),
    ] = 0.0,
    rpc_url: RpcUrlOption = "http://127.0.0.1:8545",
    deployment: DeploymentOption = Path("deployment.json"),
    keystore: KeystoreOption = None,
    passphrase_file: PassphraseFileOption = None,
    dev_account: DevAccountOption = None,
) -> None:
    """Admit participants by their public keys (printed by `fedledger client init`), up to
    ADMISSION_BATCH per transaction. Participants need no ether."""
    ledger, operator = _operator_ledger(rpc_url, deployment, keystore, passphrase_file, dev_account)
    keys: dict[str, bytes] = {}
    for text in public_key:
        try:
            key = bytes.fromhex(text.removeprefix("0x"))
            keys[fc.address_of_public_key(key)] = key
        except (ValueError, fc.SealingError) as exc:
            raise fail(f"{text[:20]}… is not a 64-byte public key: {exc}") from exc
    addresses = list(keys)
    for start in range(0, len(addresses), ADMISSION_BATCH):
        batch = addresses[start : start + ADMISSION_BATCH]
        result = ledger.admit_participants(operator, batch, [keys[a] for a in batch])
        console.print(f"admitted {', '.join(batch)} (tx {result.tx_hash})")
    if fund > 0:
        for address in addresses:
            ledger.chain.fund(address, round(fund * 10**18), sender=operator)
            console.print(f"sent {fund:g} ETH to {address}")


@federation_app.command("appoint-dealer")
def federation_appoint_dealer(
    address: Annotated[str, typer.Argument(help="an admitted participant")],
    rpc_url: RpcUrlOption = "http://127.0.0.1:8545",
    deployment: DeploymentOption = Path("deployment.json"),
    keystore: KeystoreOption = None,
    passphrase_file: PassphraseFileOption = None,
    dev_account: DevAccountOption = None,
) -> None:
    """Appoint the key dealer (before it commits the CKKS parameters)."""
    ledger, operator = _operator_ledger(rpc_url, deployment, keystore, passphrase_file, dev_account)
    result = ledger.appoint_key_dealer(operator, Web3.to_checksum_address(address))
    console.print(f"key dealer {address} appointed (tx {result.tx_hash})")


@federation_app.command("status")
def federation_status(
    rpc_url: RpcUrlOption = "http://127.0.0.1:8545",
    deployment: DeploymentOption = Path("deployment.json"),
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
    server_optimizer: ServerOptimizerOption = None,
    server_lr: ServerLrOption = None,
    server_beta1: ServerBeta1Option = None,
    server_beta2: ServerBeta2Option = None,
    server_tau: ServerTauOption = None,
) -> None:
    """Write a task's initial model (round 0) for the aggregator's `initial_model` setting.

    The round-0 model fixes the federation's next-model rule: every participant applies the
    server optimizer it records (docs/tasks.md, Server optimizers)."""
    rule = server_optimizer_choice(
        task,
        server_optimizer,
        learning_rate=server_lr,
        beta1=server_beta1,
        beta2=server_beta2,
        tau=server_tau,
    )
    data = initial_model_bytes(task, seed, rule)
    out.write_bytes(data)
    emit_json(
        {
            "model": str(out),
            "hash": fc.hash_hex(fc.keccak256(data)),
            "bytes": len(data),
            "server_optimizer": _rule_of(data),
        }
    )


@federation_app.command("bootstrap")
def federation_bootstrap(
    out: Annotated[Path, typer.Option(help="folder for deployment, keys and configs")],
    rpc_url: RpcUrlOption = "http://127.0.0.1:8545",
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
    scrypt_n: ScryptNOption = 2**18,
    proximal_mu: Annotated[
        float, typer.Option(help="FedProx's mu in every client.toml ([training] proximal_mu)")
    ] = 0.0,
    server_optimizer: ServerOptimizerOption = None,
    server_lr: ServerLrOption = None,
    server_beta1: ServerBeta1Option = None,
    server_beta2: ServerBeta2Option = None,
    server_tau: ServerTauOption = None,
) -> None:
    """Devnet convenience: deploy, create the aggregator's and N clients' keystores and configs,
    admit the clients and appoint client 1 as key dealer. Only the aggregator (which relays
    the clients' signed messages) is funded: the clients hold no ether. Idempotent once
    deployed."""
    from fedledger_platform.accounts import development_accounts

    # Options first: a bad one must not leave a half-bootstrapped folder behind.
    rule = server_optimizer_choice(
        task,
        server_optimizer,
        learning_rate=server_lr,
        beta1=server_beta1,
        beta2=server_beta2,
        tau=server_tau,
    )
    check_proximal_mu(task, proximal_mu, where="--proximal-mu")
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
    write_secret(agg_dir / "passphrase", secrets.token_urlsafe(24))
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
    participants: list[LocalAccount] = []
    for index in range(clients):
        directory = out / "clients" / f"client-{index + 1}"
        write_secret(directory / "passphrase", secrets.token_urlsafe(24))
        account = create_keystore(
            directory / "keystore.json",
            read_passphrase(directory / "passphrase"),
            scrypt_n=scrypt_n,
        )
        config = ClientConfig(
            aggregator=aggregator_url,
            chain=rpc_url,
            deployment=deployment_path.resolve(),
            keystore=(directory / "keystore.json").resolve(),
            passphrase_file=(directory / "passphrase").resolve(),
            state_dir=(directory / "state").resolve(),
            task=TaskConfig(name=task, client_index=index, num_clients=clients, seed=seed),
            training=TrainingConfig(proximal_mu=proximal_mu),
        )
        (directory / "client.toml").write_text(config.to_toml(directory.resolve()))
        participants.append(account)
    # Participants hold no ether: the aggregator (RELAYER_ROLE) relays their signed messages.
    for start in range(0, len(participants), ADMISSION_BATCH):
        batch = participants[start : start + ADMISSION_BATCH]
        ledger.admit_participants(
            deployer, [a.address for a in batch], [fc.public_key_of(a) for a in batch]
        )
    ledger.appoint_key_dealer(deployer, participants[0].address)
    initial = initial_model_bytes(task, seed, rule)
    (agg_dir / "initial.safetensors").write_bytes(initial)
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
                {
                    "address": a.address,
                    "config": str(out / "clients" / f"client-{i + 1}" / "client.toml"),
                }
                for i, a in enumerate(participants)
            ],
            "key_dealer": participants[0].address,
            "server_optimizer": _rule_of(initial),
        }
    )
