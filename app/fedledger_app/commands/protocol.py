"""``fedledger protocol vectors``: write the test vectors of docs/protocol.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fedledger_app.commands.common import console

__all__ = ["protocol_app"]

protocol_app = typer.Typer(help="The protocol specification's test vectors.", no_args_is_help=True)


@protocol_app.command("vectors")
def vectors(
    out: Annotated[Path, typer.Option(help="where to write them")] = Path(
        "docs/protocol-vectors.json"
    ),
) -> None:
    """Write the test vectors (deterministic but for the CKKS blob, which is re-encrypted)."""
    from fedledger_app.protocol_vectors import write_vectors

    write_vectors(out)
    console.print(f"wrote {out}")
