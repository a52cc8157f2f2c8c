"""``fedledger demo``: a complete encrypted, audited federation in one command.

Everything runs in this process on the embedded default — the in-process chain, SQLite, a blob
folder, the aggregator on a loopback port and N client daemons talking to it over real HTTP —
or against a Hardhat node (``--chain hardhat``) or any devnet URL. When the federation starts it
prints the URL of the aggregator's dashboard (``/dashboard/``), which follows the rounds live.
While it runs, Rich progress bars follow the rounds, uploads and chain transactions; at the end
it prints a per-round table, the token balances and the audit verdict, and writes into
``--out``:

* ``audit.html`` — the self-contained audit report;
* ``metric.png`` — the test metric per round;
* ``fairness.png`` — accuracy per topic and the participants' accuracy histogram per round
  (tasks with fairness figures: sentiment);
* ``summary.json`` — everything above as JSON (also written to ``--json-report``).

The fairness figures (:mod:`fedledger_app.fairness_report`) are sums the participants decrypted;
the audit report shows them in a section of their own, since the auditor cannot verify them.

With ``serve`` the aggregator and its dashboard stay up after the report until Ctrl-C.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fedledger_app.fairness_report import (
    NOTE,
    fairness_tables,
    plot_fairness,
    rich_table,
    round_fairness,
)
from fedledger_app.federation import FederationRun, FederationSpec, check_spec, run_federation
from fedledger_clients.tasks import get_task
from fedledger_platform.audit import AuditReport, render_table, run_audit, write_html
from fedledger_platform.errors import ConfigurationError

__all__ = ["dashboard_url", "plot_metric", "run_demo", "summary"]


def dashboard_url(aggregator_url: str) -> str:
    """Where the aggregator at ``aggregator_url`` serves its dashboard."""
    return aggregator_url.rstrip("/") + "/dashboard/"


def plot_metric(run: FederationRun, path: Path) -> None:
    """A PNG of the task's headline test metric (and the round loss, if any) per round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    task = get_task(run.spec.task)
    metric = task.headline_metric
    rounds = [r.number for r in run.rounds]
    values = [r.test_metrics.get(metric, math.nan) for r in run.rounds]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    ax.plot(rounds, values, marker="o", label=f"test {metric} of the published model")
    losses = [r.round_metrics["loss"] for r in run.rounds if "loss" in r.round_metrics]
    if len(losses) == len(rounds):
        twin = ax.twinx()
        twin.plot(
            rounds, losses, marker="s", color="tab:orange", label="loss of the round's base model"
        )
        twin.set_ylabel("held-out loss, federation-wide")
        twin.legend(loc="lower right")
    ax.set_xlabel("round")
    ax.set_ylabel(f"test {metric}")
    ax.set_xticks(rounds)
    ax.set_title(f"fedledger: {run.spec.task}, {run.spec.clients} clients, CKKS + ledger")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def summary(run: FederationRun, audit: AuditReport, files: dict[str, str]) -> dict[str, Any]:
    """The JSON summary of a demo run; a round's ``fairness`` holds the figures the participants
    decrypted (see :mod:`fedledger_app.fairness_report`), for tasks that have them."""
    fairness = dict(round_fairness(run))
    return {
        "task": run.spec.task,
        "clients": run.spec.clients,
        "rounds": len(run.rounds),
        "chain": run.chain_target,
        "chain_id": run.deployment.chain_id,
        "ledger": run.deployment.ledger,
        "token": run.deployment.token,
        "wall_s": run.wall_s,
        "setup_s": run.setup_s,
        "per_round": [
            {
                "round": r.number,
                "participants": r.participants,
                "test": r.test_metrics,
                "federation": r.round_metrics,
                "aggregate_hash": r.aggregate_hash,
                "model_hash": r.model_hash,
                "gas": r.gas,
                "seconds": r.seconds,
                **({"fairness": fairness[r.number].to_json()} if r.number in fairness else {}),
            }
            for r in run.rounds
        ],
        **({"fairness_note": NOTE} if fairness else {}),
        "balances": run.balances,
        "audit": {"ok": audit.ok, "failures": [f.line() for f in audit.failures]},
        "files": files,
    }


def _round_table(run: FederationRun) -> Table:
    task = get_task(run.spec.task)
    metric = task.headline_metric
    table = Table(title=f"{run.spec.task}: {run.spec.clients} clients, {len(run.rounds)} rounds")
    for column, justify in [
        ("round", "right"),
        ("participants", "right"),
        (f"test {metric}", "right"),
        ("loss", "right"),
        ("aggregate hash", "left"),
        ("gas used", "right"),
        ("seconds", "right"),
    ]:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in run.rounds:
        loss = r.round_metrics.get("loss", r.test_metrics.get("loss"))
        table.add_row(
            str(r.number),
            str(r.participants),
            f"{r.test_metrics.get(metric, math.nan):.4f}",
            "n/a" if loss is None else f"{loss:.4f}",  # hashtag counting has no loss
            r.aggregate_hash[:18] + "…",
            f"{r.gas.get('total', 0):,}",
            f"{r.seconds:.2f}",
        )
    return table


def _audit_table(audit: AuditReport) -> Table:
    table = Table(title=f"audit ({len(audit.rounds)} rounds, {audit.duration_s:.1f} s)")
    table.add_column("round", justify="right")
    table.add_column("verdict")
    table.add_column("checks passed", justify="right")
    table.add_column("included / committed", justify="right")
    for r in audit.rounds:
        passed = sum(1 for c in r.checks if c.status.value == "pass")
        table.add_row(
            str(r.number),
            str(r.verdict.value),
            f"{passed} / {len(r.checks)}",
            f"{len(r.included)} / {len(r.committed)}",
        )
    return table


def run_demo(spec: FederationSpec, *, json_report: Path | None = None, serve: bool = False) -> int:
    """Run the demo; returns the exit status (0 when the audit passed). With ``serve``, keep
    the aggregator and its dashboard up after the report until Ctrl-C."""
    check_spec(spec)  # a bad option fails here, before the progress display starts
    if json_report is not None and json_report.is_dir():
        raise ConfigurationError(f"--json-report {json_report} is a folder, not a file")
    console = Console()
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(message)s")
    spec.out.mkdir(parents=True, exist_ok=True)
    columns = [
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as progress:
        stage = progress.add_task("starting", total=None)
        rounds = progress.add_task("rounds published", total=spec.rounds)
        uploads = progress.add_task("encrypted uploads", total=spec.rounds * spec.clients)
        txs = progress.add_task("chain transactions", total=None)

        def on_event(kind: str, data: dict[str, Any]) -> None:
            if kind == "stage":
                progress.update(stage, description=str(data["stage"]))
                if "aggregator" in data:
                    console.print(f"dashboard: {dashboard_url(str(data['aggregator']))}")
            elif kind == "tx":
                progress.advance(txs)
            elif kind == "round":
                progress.advance(txs)  # openRound / closeRound by the aggregator
                if data["phase"] == "published":
                    progress.advance(rounds)
            elif kind == "uploaded":
                progress.advance(uploads)
            elif kind == "error":
                console.print(f"[yellow]participant error:[/] {data.get('error')}")

        def finish(run: FederationRun) -> int:
            """Audit and report while the aggregator still serves; then serve if asked."""
            progress.update(stage, description="auditing")
            audit = run_audit(
                run.ledger,
                run.aggregator_url,
                run.auditor,
                from_block=run.deployment.block_number,
            )
            progress.update(stage, description="done", total=1, completed=1)
            progress.stop()
            code = _report(console, run, audit, json_report, serve=serve)
            if serve:
                _serve_until_interrupted(console)
            return code

        run = run_federation(spec, progress=on_event, on_complete=finish)
    code: int = run.extra["on_complete"]
    return code


def _report(
    console: Console,
    run: FederationRun,
    audit: AuditReport,
    json_report: Path | None,
    *,
    serve: bool,
) -> int:
    """Write the files, print the tables and the verdict; returns the exit status."""
    out = run.spec.out
    files = {
        "audit_html": str(out / "audit.html"),
        "metric_png": str(out / "metric.png"),
        "summary_json": str(out / "summary.json"),
    }
    fairness = round_fairness(run)
    tables = fairness_tables(fairness)
    write_html(audit, out / "audit.html", decrypted=tables)
    plot_metric(run, out / "metric.png")
    if fairness:
        files["fairness_png"] = str(out / "fairness.png")
        title = f"{run.spec.task}, {run.spec.clients} clients"
        plot_fairness(fairness, out / "fairness.png", title)
    result = summary(run, audit, files)
    (out / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    if json_report is not None:
        json_report.parent.mkdir(parents=True, exist_ok=True)
        json_report.write_text(json.dumps(result, indent=2) + "\n")

    console.print(_round_table(run))
    for table in tables:
        console.print(rich_table(table))
    balances = Table(title="contribution tokens (FLC)")
    balances.add_column("participant")
    balances.add_column("balance", justify="right")
    for address, amount in run.balances.items():
        balances.add_row(address, f"{amount:g}")
    console.print(balances)
    if audit.ok:
        console.print(_audit_table(audit))
    else:  # show every check, failures first-class
        render_table(audit, console)
    verdict = "[bold green]PASSED[/]" if audit.ok else "[bold red]FAILED[/]"
    console.print(
        f"audit {verdict} · ledger {run.deployment.ledger} on chain {run.deployment.chain_id} · "
        f"{run.wall_s:.1f} s (set-up {run.setup_s:.1f} s)"
    )
    for name, path in files.items():
        console.print(f"  {name.replace('_', ' ')}: {path}")
    kept = "kept up until Ctrl-C" if serve else "up while the demo ran; --serve keeps it up"
    console.print(f"  dashboard: {dashboard_url(run.aggregator_url)} ({kept})")
    return audit.exit_code


def _serve_until_interrupted(console: Console) -> None:
    """Block until Ctrl-C (the aggregator keeps serving in its thread meanwhile)."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopping the aggregator and its dashboard")
