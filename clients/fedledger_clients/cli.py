"""The ``fedledger`` command: one entry point with a subcommand per role.

It lives in ``fedledger_clients`` because it composes every layer (clients → platform →
crypto); the platform's own commands are defined in ``fedledger_platform.cli`` and mounted here.
"""

from __future__ import annotations

from typing import Annotated

import typer

import fedledger_crypto as fc
from fedledger_clients import bench as bench_module
from fedledger_clients.commands import client_app, federation_app
from fedledger_platform import cli as platform_cli
from fedledger_platform.errors import FedledgerError

app = typer.Typer(
    name="fedledger",
    help="Secure, blockchain-audited federated learning for social data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Secure, blockchain-audited federated learning for social data."""


@app.command(
    "bench",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    help="Run a benchmark from bench/ (crypto, gas, aggregator, quality, audit, round, all); "
    "options after the name go to the benchmark (e.g. `fedledger bench crypto --json`).",
)
def bench(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="benchmark name, or `all`")],
) -> None:
    """Run one benchmark, or every one of them with ``all``."""
    if name == "all":
        for each in bench_module.BENCHMARKS:
            bench_module.run_benchmark(each, list(ctx.args))
        return
    bench_module.run_benchmark(name, list(ctx.args))


platform_cli.register(app)
app.add_typer(client_app, name="client")
app.add_typer(federation_app, name="federation")


def main() -> None:
    """Console-script entry point: errors are printed as one line naming cause and fix."""
    try:
        app()
    except (FedledgerError, fc.FedledgerCryptoError) as exc:
        platform_cli.console.print(f"[bold red]error:[/] {exc}")
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
