"""``fedledger model fetch``: a consumer downloads a published model, verified against the
chain's ``ModelPublished`` (never against a response header)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fedledger_app.commands.common import (
    AggregatorUrlOption,
    ChainUrlOption,
    ReadDeploymentOption,
    console,
    emit_json,
    fail,
)

__all__ = ["model_app"]

model_app = typer.Typer(help="Published global models.", no_args_is_help=True)


@model_app.command("fetch")
def fetch(
    out: Annotated[Path, typer.Option(help="where to write the model (safetensors)")],
    deployment: ReadDeploymentOption = Path("deployment.json"),
    aggregator: AggregatorUrlOption = "http://127.0.0.1:8000",
    rpc_url: ChainUrlOption = None,
    round_number: Annotated[
        int | None,
        typer.Option("--round", min=1, help="the round whose model to fetch (default: latest)"),
    ] = None,
) -> None:
    """Download a published model, check its keccak256 against the chain's ModelPublished and
    that it is a model of that round, then write it; prints what was fetched as JSON."""
    import fedledger_crypto as fc
    from fedledger_platform.api_client import AggregatorClient
    from fedledger_platform.errors import FedledgerError
    from fedledger_platform.ledger import Deployment, Ledger, connect
    from fedledger_platform.published import fetch_published_model

    try:
        info = Deployment.load(deployment)
        chain = connect(rpc_url or info.rpc_url or "http://127.0.0.1:8545")
        if chain.chain_id != info.chain_id:
            raise fail(
                f"the chain at {chain.target} has id {chain.chain_id}, but {deployment} was "
                f"deployed on chain {info.chain_id}; check --rpc-url"
            )
        with AggregatorClient(aggregator) as client:
            fetched = fetch_published_model(
                Ledger(chain, info.ledger),
                client,
                round_number=round_number,
                from_block=info.block_number,
            )
    except FedledgerError as exc:
        raise fail(str(exc), 1) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_bytes(fetched.data)
    tmp.replace(out)
    console.print(f"wrote round {fetched.round_number}'s published model to {out}")
    emit_json(
        {
            "round": fetched.round_number,
            "model_hash": fc.hash_hex(fetched.model_hash),
            "publish_tx": fetched.publish_tx,
            "task": fetched.model.task,
            "metrics": list(fetched.model.metric_names),
            "bytes": len(fetched.data),
            "path": str(out),
        }
    )
