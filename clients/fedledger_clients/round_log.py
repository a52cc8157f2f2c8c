"""What a participant did in each round, persisted in its state folder (``state.json``), so a
restarted daemon resumes without committing or uploading twice."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RoundLog", "load_round_logs", "save_round_logs"]


@dataclass
class RoundLog:
    """What this participant did in one round (persisted in ``state.json``)."""

    round: int
    update_hash: str | None = None
    committed: bool = False  # bound to update_hash: signed for the relayer, or on chain
    uploaded: bool = False
    revealed: bool = False  # its reveals for the round's dropped neighbours are sent
    dropped: bool = False  # committed, but the round had to close without its update
    finished: bool = False
    model_hash: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    train_s: float | None = None
    # When the signed commitment / attestation was handed over for relaying (Unix seconds),
    # while the fallback watches it (see fallback.py).
    commit_pending_since: float | None = None
    attest_pending_since: float | None = None


def load_round_logs(path: Path) -> dict[int, RoundLog]:
    """The round logs stored at ``path`` (none when the file does not exist yet)."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    return {int(k): RoundLog(**v) for k, v in raw.get("rounds", {}).items()}


def save_round_logs(path: Path, address: str, rounds: dict[int, RoundLog]) -> None:
    """Write ``rounds`` to ``path`` atomically (a crash leaves the old file or the new one)."""
    data = {"address": address, "rounds": {str(k): vars(v) for k, v in sorted(rounds.items())}}
    tmp = path.with_suffix(".tmp")
    # One line: ``indent`` would send json through its pure-Python encoder, which cost a
    # daemon more CPU per round than decrypting the aggregate.
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
