"""``fedledger simulate``: many participants on Ray actors against the real aggregator and
chain (:mod:`fedledger_app.scale`). Progress bars on stderr, ``--json`` summary on stdout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fedledger_app.commands.common import console, emit_json
from fedledger_app.commands.federation import (
    ServerBeta1Option,
    ServerBeta2Option,
    ServerLrOption,
    ServerOptimizerOption,
    ServerTauOption,
)

__all__ = ["simulate_command"]


def simulate_command(
    participants: Annotated[int, typer.Option(min=2, help="simulated participants")] = 10,
    rounds: Annotated[int, typer.Option(min=1, help="rounds to run")] = 3,
    task: Annotated[str, typer.Option(help="sentiment, recommendation or hashtags")] = "sentiment",
    hosts: Annotated[
        int | None, typer.Option(min=1, help="Ray actors hosting the participants (default: CPUs)")
    ] = None,
    num_cpus: Annotated[
        int | None, typer.Option(min=1, help="CPUs of the Ray instance started here")
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="join this Ray cluster instead of starting Ray here")
    ] = None,
    chain: Annotated[
        str, typer.Option(help="embedded, hardhat (a node started here) or a devnet URL")
    ] = "embedded",
    database_url: Annotated[
        str | None,
        typer.Option(help="the aggregator's database (default: SQLite in --out)"),
    ] = None,
    out: Annotated[Path, typer.Option(help="folder for the state of the run")] = Path(
        "simulate-out"
    ),
    seed: Annotated[int, typer.Option(help="partition and initialization seed")] = 0,
    min_updates: Annotated[
        int | None, typer.Option(min=1, help="updates needed to close a round (default: all)")
    ] = None,
    round_timeout_s: Annotated[int, typer.Option(min=1, help="deadline of a round")] = 600,
    local_epochs: Annotated[int | None, typer.Option(min=1, help="local epochs")] = None,
    partition: Annotated[
        str | None,
        typer.Option(
            help="sentiment's partition of the posts: iid, dirichlet or topic (default: "
            "dirichlet, alpha 0.5, which cannot give 1,000 participants 10 posts each)"
        ),
    ] = None,
    dirichlet_alpha: Annotated[
        float | None, typer.Option(help="concentration of --partition dirichlet (default 0.5)")
    ] = None,
    server_optimizer: ServerOptimizerOption = None,
    server_lr: ServerLrOption = None,
    server_beta1: ServerBeta1Option = None,
    server_beta2: ServerBeta2Option = None,
    server_tau: ServerTauOption = None,
    audit: Annotated[bool, typer.Option(help="audit every round at the end")] = True,
    json_output: Annotated[bool, typer.Option("--json", help="summary on stdout")] = False,
) -> None:
    """Run a federation of many participants hosted by Ray actors, against the real
    aggregator, chain and database; per round: time, time per phase, bytes moved and gas."""
    from fedledger_app.initial_model import server_optimizer_choice
    from fedledger_app.scale import SimulationSpec, check_partition, check_simulation, simulate

    rule = server_optimizer_choice(
        task,
        server_optimizer,
        learning_rate=server_lr,
        beta1=server_beta1,
        beta2=server_beta2,
        tau=server_tau,
    )
    spec = SimulationSpec(
        participants=participants,
        rounds=rounds,
        task=task,
        hosts=hosts,
        num_cpus=num_cpus,
        ray_address=ray_address,
        chain=chain,
        database_url=database_url,
        out=out,
        seed=seed,
        min_updates=min_updates,
        round_timeout_s=round_timeout_s,
        local_epochs=local_epochs,
        partition=partition,
        dirichlet_alpha=dirichlet_alpha,
        server_optimizer=rule,
        audit=audit,
    )
    check_simulation(spec)  # a bad option fails before the progress display starts
    check_partition(spec)
    columns = [
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as bars:
        stage = bars.add_task("starting", total=None)
        published = bars.add_task("rounds published", total=rounds)
        uploads = bars.add_task("encrypted uploads", total=rounds * participants)

        def on_event(kind: str, data: dict[str, Any]) -> None:
            if kind == "stage":
                bars.update(stage, description=str(data["stage"]))
            elif kind == "round" and data["phase"] == "published":
                bars.advance(published)
            elif kind == "uploaded":
                bars.advance(uploads, int(data["count"]))
            elif kind == "dropped":
                console.print(
                    f"[yellow]host {data['host']} lost:[/] {data['participants']} participants "
                    "dropped"
                )
            elif kind == "error":
                console.print(f"[yellow]participant error:[/] {data['error']}")

        result = simulate(spec, progress=on_event)
        bars.update(stage, description="done", total=1, completed=1)
    summary = result.to_json()
    if json_output:
        emit_json(summary)
    else:
        for row in summary["rounds"]:
            console.print(
                f"round {row['round']}: {row['participants']} participants, "
                f"{row['round_s']:.2f} s, {row['bytes_moved'] / 2**20:.1f} MiB moved, "
                f"gas {row['gas'].get('total', 0):,}"
            )
        console.print(f"set-up {summary['setup_s']['total_s']:.1f} s, total {result.total_s:.1f} s")
    if result.audit_passed is False:
        raise typer.Exit(1)
