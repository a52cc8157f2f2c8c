"""The platform's commands: ``contracts compile``, ``keys new|fund``, ``devnet``, ``deploy``,
``serve`` and ``openapi`` (mounted on the ``fedledger`` command by :func:`register`)."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fedledger_app.commands.common import (
    RpcUrlOption,
    ScryptNOption,
    console,
    emit_json,
    fail,
    resolve_account,
)
from fedledger_platform.accounts import create_keystore, development_accounts, read_passphrase

__all__ = ["register"]

contracts_app = typer.Typer(help="Build the Solidity contracts.", no_args_is_help=True)
keys_app = typer.Typer(help="Create account keystores.", no_args_is_help=True)


# ---------------------------------------------------------------------- contracts


@contracts_app.command("compile")
def contracts_compile(
    check: Annotated[
        bool, typer.Option("--check", help="fail if the committed artifacts are stale")
    ] = False,
) -> None:
    """Compile contracts/ with py-solc-x into fedledger_platform/contracts/artifacts/."""
    from fedledger_platform.ledger.artifacts import ARTIFACT_DIR
    from fedledger_platform.ledger.compile import compile_contracts, write_artifacts

    artifacts = compile_contracts()
    if check:
        stale = [
            name
            for name, artifact in artifacts.items()
            if json.loads((ARTIFACT_DIR / f"{name}.json").read_text())["bytecode"]
            != artifact["bytecode"]
        ]
        if stale:
            raise fail(f"stale artifacts: {', '.join(stale)}; run `fedledger contracts compile`", 1)
        console.print("artifacts are current")
        return
    for path in write_artifacts(artifacts):
        console.print(f"wrote {path}")


# ---------------------------------------------------------------------- keys


@keys_app.command("new")
def keys_new(
    out: Annotated[Path, typer.Argument(help="keystore file to create")],
    passphrase_file: Annotated[
        Path | None, typer.Option(help="file holding the passphrase")
    ] = None,
    scrypt_n: ScryptNOption = 2**18,
) -> None:
    """Create a new account in an encrypted keystore v3 file; prints its address."""
    account = create_keystore(out, read_passphrase(passphrase_file), scrypt_n=scrypt_n)
    emit_json({"address": account.address, "keystore": str(out)})


@keys_app.command("fund")
def keys_fund(
    address: Annotated[list[str], typer.Argument(help="accounts to fund")],
    amount: Annotated[float, typer.Option(help="ETH to send to each")] = 1.0,
    rpc_url: RpcUrlOption = "http://127.0.0.1:8545",
    keystore: Annotated[Path | None, typer.Option(help="sender keystore")] = None,
    passphrase_file: Annotated[Path | None, typer.Option(help="sender passphrase file")] = None,
    dev_account: Annotated[
        int | None, typer.Option(help="send from Hardhat development account N (devnets only)")
    ] = None,
) -> None:
    """Send ETH for gas to accounts (the aggregator, participants) from a funded account."""
    from web3 import Web3

    from fedledger_platform.ledger import connect

    chain = connect(rpc_url)
    sender = resolve_account(
        keystore=keystore,
        passphrase_file=passphrase_file,
        dev_account=dev_account,
        chain_id=chain.chain_id,
    )
    for target in address:
        if not Web3.is_address(target):
            raise fail(f"{target!r} is not an Ethereum address")
        chain.fund(Web3.to_checksum_address(target), round(amount * 10**18), sender=sender)
        console.print(f"sent {amount:g} ETH to {target}")


# ---------------------------------------------------------------------- devnet


def devnet(
    port: Annotated[int, typer.Option(help="port to listen on")] = 8545,
    host: Annotated[
        str, typer.Option(help="address to listen on (0.0.0.0 inside a container)")
    ] = "127.0.0.1",
    as_json: Annotated[
        bool, typer.Option("--json", help="print the URL and accounts as JSON")
    ] = False,
) -> None:
    """Start a Hardhat node on 127.0.0.1 (chain id 31337); Ctrl-C stops it."""
    from fedledger_platform.ledger.devnet import HardhatNode

    node = HardhatNode(port=port, host=host)
    node.start()
    accounts: list[dict[str, int | str]] = [
        {"index": i, "address": a.address, "private_key": "0x" + bytes(a.key).hex()}
        for i, a in enumerate(development_accounts()[:20])
    ]
    if as_json:
        emit_json({"rpc_url": node.url, "chain_id": 31337, "accounts": accounts})
    else:
        table = Table(title=f"devnet at {node.url} (chain id 31337)")
        table.add_column("#")
        table.add_column("address")
        table.add_column("private key (public knowledge: devnets only)")
        for a in accounts:
            table.add_row(str(a["index"]), str(a["address"]), str(a["private_key"]))
        Console().print(table)
        console.print("each account holds 10,000 ETH; press Ctrl-C to stop")
    sys.stdout.flush()

    def _stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        node.wait()
    except KeyboardInterrupt:
        pass
    finally:
        node.stop()
        console.print("devnet stopped")


# ---------------------------------------------------------------------- deploy


def deploy(
    rpc_url: Annotated[
        str, typer.Option(help="JSON-RPC URL of the chain")
    ] = "http://127.0.0.1:8545",
    out: Annotated[Path, typer.Option(help="deployment file to write")] = Path("deployment.json"),
    keystore: Annotated[Path | None, typer.Option(help="deployer keystore")] = None,
    passphrase_file: Annotated[Path | None, typer.Option(help="deployer passphrase file")] = None,
    dev_account: Annotated[
        int | None, typer.Option(help="use Hardhat development account N (devnets only)")
    ] = None,
    aggregator: Annotated[
        str | None, typer.Option(help="aggregator account (default: the deployer)")
    ] = None,
    operator: Annotated[
        str | None, typer.Option(help="operator account (default: deployer)")
    ] = None,
    auditor: Annotated[list[str] | None, typer.Option(help="auditor account (repeatable)")] = None,
    reward: Annotated[float, typer.Option(help="tokens minted per included update")] = 1.0,
    quorum_bps: Annotated[int, typer.Option(help="attestation quorum, basis points")] = 5_001,
    as_json: Annotated[bool, typer.Option("--json", help="print the deployment as JSON")] = False,
) -> None:
    """Deploy FederationLedger (and its token), grant roles, write the deployment file."""
    from fedledger_platform.ledger import connect
    from fedledger_platform.ledger.deployment import deploy_federation

    chain = connect(rpc_url)
    account = resolve_account(
        keystore=keystore,
        passphrase_file=passphrase_file,
        dev_account=dev_account,
        chain_id=chain.chain_id,
    )
    _, deployment = deploy_federation(
        chain,
        account,
        aggregator=aggregator or account.address,
        operator=operator,
        auditors=tuple(auditor or ()),
        reward_per_update=round(reward * 10**18),
        quorum_bps=quorum_bps,
    )
    deployment.save(out)
    if as_json:
        emit_json(deployment.to_json())
    else:
        console.print(
            f"FederationLedger {deployment.ledger} and token {deployment.token} deployed on chain "
            f"{deployment.chain_id} at block {deployment.block_number}; wrote {out}"
        )


# ---------------------------------------------------------------------- serve


def serve(
    config: Annotated[
        Path | None,
        typer.Option(help="aggregator TOML file (see `fedledger_platform.aggregator.settings`)"),
    ] = None,
    host: Annotated[str | None, typer.Option(help="override `host`")] = None,
    port: Annotated[int | None, typer.Option(help="override `port`")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    auditor_key: Annotated[
        Path | None,
        typer.Option(help="keystore of an AUDITOR_ROLE account the dashboard audits with"),
    ] = None,
    auditor_passphrase_file: Annotated[
        Path | None, typer.Option(help="passphrase file of --auditor-key")
    ] = None,
    auditor_dev_account: Annotated[
        int | None,
        typer.Option(help="the dashboard audits as Hardhat development account N (devnets only)"),
    ] = None,
) -> None:
    """Run the aggregator service (FastAPI under uvicorn) until interrupted; its read-only
    dashboard is at /dashboard/ (with audit verdicts when given an auditor account)."""
    import logging

    import uvicorn

    from fedledger_app.evaluation import TaskEvaluator
    from fedledger_platform.aggregator import create_app, load_settings
    from fedledger_platform.dashboard import DashboardConfig
    from fedledger_platform.heap import limit_malloc_arenas
    from fedledger_platform.ledger import Deployment, is_rpc_url

    limit_malloc_arenas()  # before uvicorn's threads exist: see fedledger_platform.heap
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = load_settings(config, **overrides)
    deployment = Deployment.load(settings.deployment) if settings.deployment else None
    auditor = None
    if auditor_key is not None or auditor_dev_account is not None:
        if deployment is None:
            raise fail("an auditor account needs the `deployment` setting (its chain id)")
        auditor = resolve_account(
            keystore=auditor_key,
            passphrase_file=auditor_passphrase_file,
            dev_account=auditor_dev_account,
            chain_id=deployment.chain_id,
        )
    dashboard = DashboardConfig(
        from_block=deployment.block_number if deployment else 0,
        auditor=auditor,
        evaluator=TaskEvaluator(),
        rpc_url=settings.chain if is_rpc_url(settings.chain) else None,
    )
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    uvicorn.run(
        create_app(settings, freeze_heap=True, dashboard=dashboard),  # serves nothing else
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        access_log=log_level == "debug",
    )


def export_openapi(
    out: Annotated[Path, typer.Argument(help="where to write the schema")] = Path(
        "docs/openapi.json"
    ),
) -> None:
    """Write the aggregator's OpenAPI schema (docs/openapi.json is kept current by a test)."""
    from fedledger_platform.aggregator import AggregatorSettings, create_app

    out.write_text(
        json.dumps(create_app(AggregatorSettings()).openapi(), indent=2, sort_keys=True) + "\n"
    )
    console.print(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Mount the platform's commands on the top-level ``fedledger`` app."""
    app.add_typer(contracts_app, name="contracts")
    app.add_typer(keys_app, name="keys")
    app.command("devnet")(devnet)
    app.command("deploy")(deploy)
    app.command("serve")(serve)
    app.command("openapi")(export_openapi)
