"""The ``fedledger`` command: one entry point with a subcommand per role.

The subcommands are defined in :mod:`fedledger_app.commands` (one module per role) and mounted
here; ``demo`` and ``bench`` run the federation runner and the benchmarks of this package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import fedledger_crypto as fc
from fedledger_app import bench as bench_module
from fedledger_app.commands import platform as platform_commands
from fedledger_app.commands.audit import audit
from fedledger_app.commands.client import client_app
from fedledger_app.commands.common import console
from fedledger_app.commands.dashboard import dashboard
from fedledger_app.commands.federation import federation_app
from fedledger_app.commands.model import model_app
from fedledger_app.commands.protocol import protocol_app
from fedledger_app.commands.simulate import simulate_command
from fedledger_clients.tasks import UnknownTaskError
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
    # No help option of its own: `--help` after a benchmark's name is that benchmark's.
    context_settings={
        "allow_extra_args": True,
        "ignore_unknown_options": True,
        "help_option_names": [],
    },
    help="Run a benchmark (crypto, gas, aggregator, quality, audit, round, all); "
    "options after the name go to the benchmark (e.g. `fedledger bench crypto --json`, "
    "`fedledger bench round --help`).",
)
def bench(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="benchmark name, or `all`")],
) -> None:
    """Run one benchmark, or every one of them with ``all``."""
    if name in ("--help", "-h"):
        typer.echo(ctx.get_help())
        return
    if name == "all":
        for each, defaults in bench_module.ALL:
            bench_module.run_benchmark(each, [*defaults, *ctx.args])
        return
    bench_module.run_benchmark(name, list(ctx.args))


@app.command("demo")
def demo(
    task: Annotated[str, typer.Option(help="sentiment, recommendation or hashtags")] = "sentiment",
    clients: Annotated[int, typer.Option(min=2, help="number of participants")] = 8,
    rounds: Annotated[int, typer.Option(min=1, help="rounds to run")] = 5,
    chain: Annotated[
        str, typer.Option(help="embedded, hardhat (a node started for the demo) or a devnet URL")
    ] = "embedded",
    json_report: Annotated[Path | None, typer.Option(help="also write the summary here")] = None,
    out: Annotated[Path, typer.Option(help="folder for the report, plot and state")] = Path(
        "demo-out"
    ),
    seed: Annotated[int, typer.Option(help="partition and initialization seed")] = 0,
    serve: Annotated[
        bool,
        typer.Option(help="after the run, keep the aggregator and its dashboard up until Ctrl-C"),
    ] = False,
) -> None:
    """Run a complete encrypted, audited federation end to end and report on it; its dashboard
    is at the URL printed when the federation starts."""
    from fedledger_app.demo import run_demo
    from fedledger_app.federation import FederationSpec

    code = run_demo(
        FederationSpec(
            task=task,
            clients=clients,
            rounds=rounds,
            chain=chain,
            out=out,
            seed=seed,
            freeze_heap=True,  # this command owns its process
        ),
        json_report=json_report,
        serve=serve,
    )
    raise typer.Exit(code)


platform_commands.register(app)
app.command("audit")(audit)
app.command("dashboard")(dashboard)
app.command("simulate")(simulate_command)
app.add_typer(client_app, name="client")
app.add_typer(federation_app, name="federation")
app.add_typer(model_app, name="model")
app.add_typer(protocol_app, name="protocol")


def main() -> None:
    """Console-script entry point: errors are printed as one line naming cause and fix."""
    try:
        app()
    except (FedledgerError, fc.FedledgerCryptoError) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise SystemExit(2) from exc
    except UnknownTaskError as exc:  # a KeyError: its str() would quote the message
        console.print(f"[bold red]error:[/] {exc.args[0]}")
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
