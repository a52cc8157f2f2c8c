"""A participant host: one Ray actor running the daemons of many simulated participants.

Each hosted participant is a complete :class:`~fedledger_clients.daemon.ClientDaemon` — its own
account key, its own data shard, its own state folder, its own aggregator client — exactly the
object ``fedledger client run`` drives. The host only replaces the daemon's loop: instead of
each daemon long-polling in its own thread, the host steps its daemons one after the other
whenever the driver asks (:meth:`ParticipantHost.step`), so a thousand participants cost a
few processes instead of a thousand threads. What a participant does in a step — receive the
key, train, encrypt, commit, upload, decrypt the aggregate, attest — is the daemon's
:meth:`~fedledger_clients.daemon.ClientDaemon.step`, behind :func:`work`: when relayed
commitments or pairwise masking reach the daemon, the host runs them unchanged.

What the hosted participants share is what co-located real ones could share: the process, the
task's code and the public data set loaded once (each daemon is handed only its own shard), and
their reads of public chain state: one :class:`~fedledger_platform.ledger.Membership` (a round's
members, neighbour graph and registered keys, read from the chain) serves all of them. Without
it every participant read the whole membership itself: a thousand participants made a million
admission-block calls to the node in round 1.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from eth_account import Account

import fedledger_crypto as fc
from fedledger_app.scale.spec import build_task
from fedledger_clients.config import ClientConfig, TaskConfig, TrainingConfig
from fedledger_clients.daemon import ClientDaemon
from fedledger_platform.api_client import AggregatorClient
from fedledger_platform.ledger import Ledger, Membership, connect

__all__ = ["HostSpec", "ParticipantHost", "StepReport", "work"]

log = logging.getLogger("fedledger.scale")


@dataclass(frozen=True)
class HostSpec:
    """What one host runs: the federation it joins and the participants it hosts."""

    aggregator: str
    chain: str  # a JSON-RPC URL: a host is a separate process
    ledger: str
    task: str
    num_clients: int
    seed: int
    state_root: Path
    #: ``(client index, account key)`` of every hosted participant, the key dealer first.
    participants: tuple[tuple[int, bytes], ...]
    local_epochs: int | None = None
    clip_norm: float = 0.0
    partition: str | None = None  # the sentiment task's partition (None: the task's)
    dirichlet_alpha: float | None = None
    #: Participants a host steps at once: one's chain and HTTP waits overlap another's work.
    concurrency: int = 4


@dataclass
class StepReport:
    """What a host's participants did in one step, for the driver's per-round accounting.

    ``phases`` maps ``(round, phase)`` to wall seconds summed over the participants, with phases
    ``train``, ``encrypt_commit_upload`` and ``decrypt_attest``; ``uploaded_bytes`` and
    ``attested`` count per round.
    """

    done: bool = True
    keys: int = 0
    phases: dict[tuple[int, str], float] = field(default_factory=dict)
    uploaded_bytes: dict[int, int] = field(default_factory=dict)
    uploads: dict[int, int] = field(default_factory=dict)
    attested: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(self, round_number: int, phase: str, seconds: float) -> None:
        """Add ``seconds`` to ``phase`` of round ``round_number``."""
        key = (round_number, phase)
        self.phases[key] = self.phases.get(key, 0.0) + seconds


class _Timer:
    """Receives one daemon's events during a step and splits the step's time into phases
    (wall time of that participant's step; ``lock`` guards the shared report)."""

    def __init__(self, report: StepReport, lock: threading.Lock) -> None:
        self.report = report
        self.lock = lock
        self.mark = time.perf_counter()
        self.trained_s = 0.0

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        with self.lock:
            self._record(kind, data)

    def _record(self, kind: str, data: dict[str, Any]) -> None:
        now = time.perf_counter()
        report = self.report
        if kind == "key":
            report.keys += 1
        elif kind == "trained":
            self.trained_s = float(data["seconds"])
            report.add(int(data["round"]), "train", self.trained_s)
        elif kind == "uploaded":
            number = int(data["round"])
            report.add(number, "encrypt_commit_upload", now - self.mark - self.trained_s)
            report.uploaded_bytes[number] = report.uploaded_bytes.get(number, 0) + int(
                data["bytes"]
            )
            report.uploads[number] = report.uploads.get(number, 0) + 1
        elif kind == "attested":
            number = int(data["round"])
            report.add(number, "decrypt_attest", now - self.mark)
            report.attested[number] = report.attested.get(number, 0) + 1
        elif kind == "error":
            report.errors.append(str(data.get("error")))
        if kind in ("uploaded", "attested", "key"):
            self.mark, self.trained_s = now, 0.0


def work(daemon: ClientDaemon) -> bool:
    """One participant's work for the federation's current state: whatever the latest round
    asks of it (the daemon's step). Returns whether it has nothing left to do."""
    return daemon.step(until_done=True)


class ParticipantHost:
    """The daemons of many participants in one process (wrapped as a Ray actor by the driver)."""

    def __init__(self, spec: HostSpec) -> None:
        logging.basicConfig(level=logging.WARNING)
        torch.set_num_threads(1)
        self.spec = spec
        chain = connect(spec.chain)
        ledger = Ledger(chain, spec.ledger)
        scope = fc.RequestScope(chain.chain_id, spec.ledger)
        task = build_task(spec.task, spec.partition, spec.dirichlet_alpha)
        shards = task.load_clients(num_clients=spec.num_clients, seed=spec.seed)
        membership = Membership(ledger)  # public chain state, read once for the host
        self._timers: list[_Timer | None] = [None] * len(spec.participants)
        self._pool = ThreadPoolExecutor(max(1, spec.concurrency), thread_name_prefix="participant")
        self.daemons: list[ClientDaemon] = []
        for position, (index, key) in enumerate(spec.participants):
            account = Account.from_key(key)
            config = ClientConfig(
                aggregator=spec.aggregator,
                chain=spec.chain,
                deployment=None,
                keystore=None,
                passphrase_file=None,
                state_dir=spec.state_root / f"client-{index + 1}",
                task=TaskConfig(
                    name=spec.task, client_index=index, num_clients=spec.num_clients, seed=spec.seed
                ),
                training=TrainingConfig(
                    clip_norm=spec.clip_norm,
                    local_epochs=spec.local_epochs,
                    # CKKS headroom for a sum of every participant's update (default 256)
                    max_clients=max(256, spec.num_clients),
                ),
                poll_interval_s=0.05,
                long_poll_s=0,
            )
            self.daemons.append(
                ClientDaemon(
                    config,
                    account=account,
                    ledger=ledger,
                    client=AggregatorClient(spec.aggregator, account=account, scope=scope),
                    task=task,
                    data=shards[index],
                    on_event=functools.partial(self._on_event, position),
                )
            )
            self.daemons[-1].participant.masking.membership = membership
        del shards  # each daemon keeps its own shard only
        self._done = [False] * len(self.daemons)

    def _on_event(self, position: int, kind: str, data: dict[str, Any]) -> None:
        timer = self._timers[position]
        if timer is not None:
            timer(kind, data)

    def size(self) -> int:
        """How many participants this host runs."""
        return len(self.daemons)

    def membership_readers(self) -> int:
        """How many chain readers of round membership serve the hosted participants (one)."""
        return len({id(d.participant.masking.membership) for d in self.daemons})

    def train_sizes(self) -> list[int]:
        """Each hosted participant's number of training examples (its shard), in order."""
        return [daemon.data.num_train for daemon in self.daemons]

    def step(self, first: int | None = None) -> StepReport:
        """Step every hosted participant not yet done once, ``concurrency`` at a time (only
        the first ``first`` of them when given: the key dealer goes before everyone else). A
        participant whose step fails is reported and stepped again next time, as its daemon's
        loop would retry."""
        report = StepReport()
        lock = threading.Lock()
        chosen = range(len(self.daemons)) if first is None else range(first)

        def one(i: int) -> None:
            self._timers[i] = _Timer(report, lock)
            try:
                self._done[i] = work(self.daemons[i])
            except Exception as exc:  # one participant's failure is not its host's
                log.warning("%s: %s", self.daemons[i].account.address[:10], exc)
                with lock:
                    report.errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                self._timers[i] = None

        list(self._pool.map(one, [i for i in chosen if not self._done[i]]))
        report.done = all(self._done)
        return report

    def close(self) -> None:
        """Close every participant's connections."""
        self._pool.shutdown()
        for daemon in self.daemons:
            daemon.client.close()
