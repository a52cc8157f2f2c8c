"""``fedledger dashboard``: the read-only web dashboard of any deployment, served by the user's own
process from the chain and the aggregator's public REST API, so nobody need trust the page the
aggregator serves about itself. Audit verdicts need an account holding ``AUDITOR_ROLE`` (the
same options as ``fedledger audit``); without one the pages say so."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fedledger_app.commands.common import (
    AggregatorUrlOption,
    ChainUrlOption,
    ReadDeploymentOption,
    console,
    fail,
    resolve_account,
)

__all__ = ["dashboard"]


def dashboard(
    deployment: ReadDeploymentOption = Path("deployment.json"),
    aggregator: AggregatorUrlOption = "http://127.0.0.1:8000",
    rpc_url: ChainUrlOption = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            "--keystore",
            help="keystore of an auditor account (holds AUDITOR_ROLE), for audit verdicts",
        ),
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(help="file holding the keystore passphrase (else $FEDLEDGER_PASSPHRASE)"),
    ] = None,
    dev_account: Annotated[
        int | None, typer.Option(help="audit as Hardhat development account N (devnets only)")
    ] = None,
    host: Annotated[
        str, typer.Option(help="address to listen on (0.0.0.0 inside a container)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port to listen on")] = 8080,
    reaudit_s: Annotated[
        float, typer.Option(min=1.0, help="audit every round again at least this often (s)")
    ] = 120.0,
    explorer: Annotated[
        str | None,
        typer.Option(help="transaction link template, e.g. https://sepolia.etherscan.io/tx/{tx}"),
    ] = None,
    page_size: Annotated[int, typer.Option(min=1, help="blocks per eth_getLogs request")] = 2_000,
) -> None:
    """Serve the dashboard (overview, rounds, audit verdicts, metrics, participants, models) of
    a deployment until interrupted."""
    import uvicorn

    from fedledger_app.evaluation import TaskEvaluator
    from fedledger_platform.api_client import AggregatorClient, AggregatorError
    from fedledger_platform.audit import validate_explorer
    from fedledger_platform.dashboard import Dashboard, DashboardConfig, create_dashboard_app
    from fedledger_platform.errors import FedledgerError
    from fedledger_platform.ledger import AUDITOR_ROLE, Deployment, Ledger, connect

    try:
        explorer = validate_explorer(explorer)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    try:
        info = Deployment.load(deployment)
        url = rpc_url or info.rpc_url or "http://127.0.0.1:8545"
        chain = connect(url)
        if chain.chain_id != info.chain_id:
            raise fail(
                f"the chain at {chain.target} has id {chain.chain_id}, but {deployment} was "
                f"deployed on chain {info.chain_id}; check --rpc-url"
            )
        account = None
        if key is not None or dev_account is not None:
            account = resolve_account(
                keystore=key,
                passphrase_file=passphrase_file,
                dev_account=dev_account,
                chain_id=chain.chain_id,
            )
        ledger = Ledger(chain, info.ledger)
        if account is not None and not ledger.has_role(AUDITOR_ROLE, account.address):
            raise fail(
                f"{account.address} does not hold AUDITOR_ROLE on ledger {ledger.address}, so it "
                "cannot audit; leave out --key/--dev-account to run without verdicts, or have "
                "the ledger's admin grant the role"
            )
    except FedledgerError as exc:
        raise fail(str(exc)) from exc
    with AggregatorClient(aggregator, timeout_s=10.0) as probe:
        try:
            served = probe.federation()
        except AggregatorError as exc:  # it may come up later: the pages say so meanwhile
            console.print(f"[yellow]warning:[/] the aggregator cannot be read yet: {exc}")
        else:
            if int(served.get("chain_id", -1)) != chain.chain_id or (
                str(served.get("ledger", "")).lower() != ledger.address.lower()
            ):
                raise fail(
                    f"the aggregator at {aggregator} serves ledger {served.get('ledger')} on "
                    f"chain {served.get('chain_id')}, not {ledger.address} on chain "
                    f"{chain.chain_id}; check --aggregator and --deployment"
                )
    config = DashboardConfig(
        from_block=info.block_number,
        auditor=account,
        evaluator=TaskEvaluator(),
        reaudit_s=reaudit_s,
        page_size=page_size,
        rpc_url=url,
        explorer=explorer,
    )
    app = create_dashboard_app(Dashboard(ledger, aggregator, config))
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    console.print(
        f"dashboard of ledger {ledger.address} at http://{shown}:{port}/dashboard/ "
        f"({'auditing as ' + account.address if account else 'no auditor account: no verdicts'}"
        "); Ctrl-C stops it"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
