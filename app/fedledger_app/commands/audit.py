"""``fedledger audit``: verify every round from the chain and the aggregator's read API.

Exit status: 0 when every check passed, 1 when any check failed, 2 for usage or configuration
errors (and when the chain or the aggregator cannot be reached, so no verdict was reached).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from fedledger_app.commands.common import (
    AggregatorUrlOption,
    ChainUrlOption,
    ReadDeploymentOption,
    console,
    emit_json,
    fail,
    resolve_account,
)

if TYPE_CHECKING:
    from fedledger_platform.audit import AuditReport, ProgressCallback

__all__ = ["audit"]


def audit(
    deployment: ReadDeploymentOption = Path("deployment.json"),
    aggregator: AggregatorUrlOption = "http://127.0.0.1:8000",
    rpc_url: ChainUrlOption = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key", "--keystore", help="keystore of the auditor account (holds AUDITOR_ROLE)"
        ),
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(help="file holding the keystore passphrase (else $FEDLEDGER_PASSPHRASE)"),
    ] = None,
    dev_account: Annotated[
        int | None, typer.Option(help="use Hardhat development account N (devnets only)")
    ] = None,
    rounds: Annotated[
        str | None,
        typer.Option(help="rounds to audit: N, A..B, A.. or ..B (default: every round)"),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON object (one entry per round)")
    ] = False,
    html: Annotated[
        Path | None, typer.Option(help="also write a self-contained HTML report here")
    ] = None,
    explorer: Annotated[
        str | None,
        typer.Option(
            help="transaction link template for the HTML report, e.g. "
            "https://sepolia.etherscan.io/tx/{tx}"
        ),
    ] = None,
    page_size: Annotated[int, typer.Option(min=1, help="blocks per eth_getLogs request")] = 2_000,
) -> None:
    """Audit rounds: stored updates vs. commitments, recomputed aggregates, rewards, quorum and
    published models. Exit 0 when all checks pass, 1 when any fails, 2 on usage errors."""
    import fedledger_crypto as fc
    from fedledger_platform.api_client import AggregatorClient
    from fedledger_platform.audit import (
        AuditConfigError,
        Auditor,
        parse_rounds,
        validate_explorer,
        write_html,
    )
    from fedledger_platform.errors import FedledgerError
    from fedledger_platform.ledger import Deployment, Ledger, connect

    try:
        first, last = parse_rounds(rounds) if rounds is not None else (1, None)
        explorer = validate_explorer(explorer)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    try:
        info = Deployment.load(deployment)
        chain = connect(rpc_url or info.rpc_url or "http://127.0.0.1:8545")
        if chain.chain_id != info.chain_id:
            raise fail(
                f"the chain at {chain.target} has id {chain.chain_id}, but {deployment} was "
                f"deployed on chain {info.chain_id}; check --rpc-url"
            )
        account = resolve_account(
            keystore=key,
            passphrase_file=passphrase_file,
            dev_account=dev_account,
            chain_id=chain.chain_id,
        )
        ledger = Ledger(chain, info.ledger)
    except FedledgerError as exc:
        raise fail(str(exc)) from exc
    client = AggregatorClient(
        aggregator, account=account, scope=fc.RequestScope(chain.chain_id, ledger.address)
    )
    try:
        with _progress(enabled=console.is_terminal) as progress:
            auditor = Auditor(
                ledger, client, from_block=info.block_number, page_size=page_size, progress=progress
            )
            report = auditor.run(first, last)
    except AuditConfigError as exc:
        raise fail(str(exc)) from exc
    except FedledgerError as exc:
        raise fail(f"the audit could not complete: {exc}") from exc
    finally:
        client.close()
    _output(report, as_json=as_json)
    if html is not None:
        try:
            write_html(report, html, explorer=explorer)
        except OSError as exc:
            raise fail(f"cannot write the HTML report {html}: {exc}") from exc
        console.print(f"wrote {html}")
    raise typer.Exit(report.exit_code)


def _output(report: AuditReport, *, as_json: bool) -> None:
    from fedledger_platform.audit import render_table

    if as_json:
        emit_json(report.to_json())
        verdict = "all checks passed" if report.ok else f"{len(report.failures)} check(s) failed"
        console.print(f"audit: {len(report.rounds)} round(s), {verdict}")
        for failure in report.failures:
            console.print(failure.line(), markup=False, highlight=False)
    else:
        render_table(report, Console())


@contextlib.contextmanager
def _progress(*, enabled: bool) -> Iterator[ProgressCallback | None]:
    """A transient Rich progress bar on stderr, fed by the auditor's per-round callback."""
    if not enabled:
        yield None
        return
    from rich.progress import Progress

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("auditing rounds", total=None)

        def update(number: int, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"round {number}")

        yield update
