"""``fedledger simulate``: a federation of many participants hosted by Ray actors, against the
real aggregator (HTTP on a loopback port), the real chain and the aggregator's database.

The driver (this process) sets the federation up — deploys the contracts, funds and admits the
participants in batches (:data:`~fedledger_platform.ledger.deployment.ADMISSION_BATCH` per
transaction), starts the aggregator in its own process
(:class:`~fedledger_app.scale.aggregator.AggregatorProcess`, so that its memory is measured
apart from the driver's: its peak from round 1's opening to the last publication is in the
result) — then starts Ray (or joins ``--ray-address``) and spreads the participants over
:class:`~fedledger_app.scale.hosts.ParticipantHost` actors. Each pass asks every host to step
its participants; between passes the driver long-polls the aggregator for the next change. A
:class:`RoundClock` thread follows the rounds through the same long-poll to time them.

The embedded chain lives in this process; the aggregator and the hosts reach it through
:class:`~fedledger_app.scale.rpc.EmbeddedRpcServer` (JSON-RPC on a loopback port). A host
that dies (its Ray actor killed, its node lost) is dropped with its participants; the rounds
go on with the others as far as ``min_updates`` allows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import fedledger_crypto as fc
from fedledger_app.bench.round.flower_side import OFFLINE_ENV
from fedledger_app.federation.runner import clear_previous_run, gas_by_round, open_chain
from fedledger_app.federation.spec import Progress
from fedledger_app.initial_model import initial_model_bytes
from fedledger_app.scale.aggregator import AggregatorProcess, RoundPeaks
from fedledger_app.scale.hosts import HostSpec, ParticipantHost, StepReport
from fedledger_app.scale.rpc import EmbeddedRpcServer
from fedledger_app.scale.spec import (
    RoundHook,
    SimulationSpec,
    check_partition,
    check_simulation,
)
from fedledger_platform.aggregator import AggregatorSettings, RoundSettings
from fedledger_platform.api_client import AggregatorClient
from fedledger_platform.audit import run_audit
from fedledger_platform.errors import ConfigurationError
from fedledger_platform.ledger import Chain
from fedledger_platform.ledger.deployment import ADMISSION_BATCH, create_devnet_federation
from fedledger_platform.protocol import RoundPhase

__all__ = ["RoundClock", "SimulationResult", "simulate"]

log = logging.getLogger("fedledger.scale")


class RoundClock(threading.Thread):
    """Follows the rounds through the aggregator's long-poll; records when each round was
    first seen in each phase (``perf_counter`` seconds) and calls ``on_round(number)`` when it
    first sees a round."""

    def __init__(
        self, reader: AggregatorClient, emit: Progress, on_round: Callable[[int], None]
    ) -> None:
        super().__init__(name="round-clock", daemon=True)
        self.reader = reader
        self.emit = emit
        self.on_round = on_round
        self.seen: dict[tuple[int, str], float] = {}
        self.latest: tuple[int, RoundPhase] = (0, RoundPhase.NONE)
        self._stop_event = threading.Event()

    def run(self) -> None:
        """Long-poll until stopped."""
        while not self._stop_event.is_set():
            try:
                latest = self.reader.current_round(after=self.latest, wait_s=0.5)
            except Exception as exc:  # the aggregator shutting down at the end
                log.debug("round clock: %s", exc)
                self._stop_event.wait(0.2)
                continue
            if latest is None:
                continue
            now = time.perf_counter()
            if int(latest["number"]) > self.latest[0]:
                self.on_round(int(latest["number"]))
            self.latest = (int(latest["number"]), RoundPhase(latest["phase"]))
            key = (self.latest[0], self.latest[1].value)
            if key not in self.seen:
                self.seen[key] = now
                self.emit("round", {"round": key[0], "phase": key[1]})

    def stop(self) -> None:
        """End the thread after its current long-poll."""
        self._stop_event.set()
        self.join(5)
        self.reader.close()

    def at(self, number: int, phase: str) -> float | None:
        """When round ``number`` was first seen in ``phase`` (or a later phase of the round)."""
        order = ["open", "closing", "closed", "published"]
        for later in order[order.index(phase) :]:
            if (number, later) in self.seen:
                return self.seen[(number, later)]
        return None


@dataclass
class SimulationResult:
    """What :func:`simulate` measured (see :meth:`to_json`)."""

    spec: SimulationSpec
    setup: dict[str, float]
    rounds: list[dict[str, Any]]
    dropped: list[str]
    total_s: float
    audit_passed: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The summary ``fedledger simulate --json`` prints."""
        return {
            "participants": self.spec.participants,
            "rounds_planned": self.spec.rounds,
            "task": self.spec.task,
            "chain": self.spec.chain,
            "setup_s": self.setup,
            "rounds": self.rounds,
            "dropped_participants": self.dropped,
            "audit_passed": self.audit_passed,
            "total_s": self.total_s,
            **self.extra,
        }


@contextlib.contextmanager
def _ray(spec: SimulationSpec) -> Iterator[int]:
    """Start Ray here (``num_cpus``) or join ``ray_address``; yields the CPUs it offers."""
    os.environ.update(OFFLINE_ENV)
    import ray  # installed: check_simulation made sure

    if spec.ray_address is not None:
        ray.init(address=spec.ray_address, logging_level=logging.ERROR)
    else:
        ray.init(
            num_cpus=spec.num_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            logging_level=logging.ERROR,
            _node_ip_address="127.0.0.1",
        )
    try:
        yield max(1, int(ray.cluster_resources().get("CPU", 1)))
    finally:
        ray.shutdown()


def _chunks(count: int, parts: int) -> list[range]:
    """``range(count)`` cut into ``parts`` contiguous runs whose sizes differ by at most one."""
    size, extra = divmod(count, parts)
    bounds = [i * size + min(i, extra) for i in range(parts + 1)]
    return [range(bounds[i], bounds[i + 1]) for i in range(parts)]


def _take(totals: dict[int, Any], report: StepReport, emit: Progress, host: int) -> None:
    """Add one host's step report into the run's per-round totals and report its progress."""
    for (number, phase), seconds in report.phases.items():
        per = totals.setdefault(number, {}).setdefault("phase_s", {})
        per[phase] = per.get(phase, 0.0) + seconds
    for name in ("uploaded_bytes", "uploads", "attested"):
        for number, value in getattr(report, name).items():
            per_round = totals.setdefault(number, {})
            per_round[name] = per_round.get(name, 0) + value
    for error in report.errors:
        emit("error", {"host": host, "error": error})
    for number, uploads in report.uploads.items():
        emit("uploaded", {"round": number, "count": uploads})


def simulate(
    spec: SimulationSpec,
    *,
    progress: Progress | None = None,
    on_round: RoundHook | None = None,
    on_rounds_done: Callable[[], Any] | None = None,
    on_complete: Callable[[SimulationResult], Any] | None = None,
) -> SimulationResult:
    """Run the simulation (see the module docstring). ``on_rounds_done`` runs as soon as every
    participant is done, before the accounting and the audit; ``on_complete`` at the end while
    the aggregator still serves, its answer kept in ``result.extra["on_complete"]``."""
    emit = progress or (lambda _kind, _data: None)
    check_simulation(spec)
    check_partition(spec)
    spec.out.mkdir(parents=True, exist_ok=True)
    clear_previous_run(spec.out)
    started = time.perf_counter()
    setup: dict[str, float] = {}
    with open_chain(spec.chain, spec.out) as chain, _served_chain(chain) as chain_url:
        mark = time.perf_counter()
        emit("stage", {"stage": f"admitting {spec.participants} participants"})
        # 1 ether each: a devnet faucet (Hardhat's: 10,000 ether) funds a thousand accounts.
        fed = create_devnet_federation(chain, participants=spec.participants, fund_wei=10**18)
        setup["deploy_fund_admit_s"] = time.perf_counter() - mark
        setup["admission_transactions"] = -(-spec.participants // ADMISSION_BATCH)
        fed.deployment.save(spec.out / "deployment.json")
        initial_model = spec.out / "initial-model.safetensors"
        initial_model.write_bytes(initial_model_bytes(spec.task, spec.seed, spec.server_optimizer))
        settings = AggregatorSettings(
            chain=chain_url,
            database_url=spec.database_url or f"sqlite:///{(spec.out / 'aggregator.db').resolve()}",
            blob_dir=(spec.out / "blobs").resolve(),
            initial_model=initial_model.resolve(),
            poll_interval_s=0.25,
            rounds=RoundSettings(
                count=spec.rounds,
                min_updates=spec.min_updates or spec.participants,
                timeout_s=spec.round_timeout_s,
                attestation_timeout_s=spec.round_timeout_s,
            ),
        )
        scope = fc.RequestScope(chain.chain_id, fed.ledger.address)
        # The aggregator serves from its own process: its memory is measured apart from the
        # driver's (the embedded chain, Ray's driver, the round clock).
        aggregator = AggregatorProcess(
            settings,
            chain_url=chain_url,
            ledger=fed.ledger.address,
            key=bytes(fed.aggregator.key),
        )
        with aggregator as server, _ray(spec) as cpus:
            reader = AggregatorClient(server.url, scope=scope)
            # The aggregator's memory per round: its size at the opening, its peak until the next.
            peaks = RoundPeaks(server.pid)
            clock = RoundClock(AggregatorClient(server.url, scope=scope), emit, peaks.opened)
            clock.start()
            mark = time.perf_counter()
            count = spec.hosts or min(cpus, spec.participants)
            keys = [bytes(a.key) for a in fed.participants]
            emit("stage", {"stage": f"starting {count} Ray hosts"})
            hosts, members = _start_hosts(
                spec,
                count=count,
                cpus=cpus,
                aggregator_url=server.url,
                chain_url=chain_url,
                fed=fed,
                keys=keys,
            )
            setup["hosts_start_s"] = time.perf_counter() - mark
            mark = time.perf_counter()
            emit("stage", {"stage": "dealing the CKKS key"})
            # The key dealer seals to everyone first (and may submit: round 1 opens meanwhile).
            dealt: StepReport = _one(hosts[0].step.remote(first=1))
            setup["key_dealing_s"] = time.perf_counter() - mark
            setup["total_s"] = time.perf_counter() - started
            emit("stage", {"stage": "federation running", "aggregator": server.url})
            _await_round_one(reader, spec.round_timeout_s)
            totals: dict[int, dict[str, Any]] = {}
            _take(totals, dealt, emit, 0)
            dropped = _drive(
                hosts,
                members=members,
                reader=reader,
                clock=clock,
                emit=emit,
                on_round=on_round,
                totals=totals,
            )
            peaks.end()  # the last round is published: before the accounting and the audit
            if on_rounds_done is not None:
                on_rounds_done()
            clock.stop()
            rounds = _round_table(spec, fed, reader, clock, totals)
            result = SimulationResult(
                spec=spec,
                setup=setup,
                rounds=rounds,
                dropped=dropped,
                total_s=time.perf_counter() - started,
                extra={"aggregator_pid": server.pid, "aggregator_memory": peaks.rounds},
            )
            if spec.audit:
                emit("stage", {"stage": "auditing"})
                mark = time.perf_counter()
                report = run_audit(
                    fed.ledger,
                    server.url,
                    fed.auditor,
                    from_block=fed.deployment.block_number,
                )
                result.audit_passed = report.ok
                result.extra["audit_s"] = time.perf_counter() - mark
                result.extra["audit_counts"] = report.counts()
            if on_complete is not None:
                result.extra["on_complete"] = on_complete(result)
            reader.close()
            return result


def _await_round_one(reader: AggregatorClient, timeout_s: float) -> None:
    """Wait until round 1 is open (the aggregator opens it once the dealer has published the
    parameters), so the first pass of every host, and ``on_round(1)``, see it open."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        latest = reader.current_round(after=(0, RoundPhase.NONE), wait_s=1.0)
        if latest is not None and int(latest["number"]) >= 1:
            return
    raise ConfigurationError(f"round 1 did not open within {timeout_s} s of the key dealing")


def _one(ref: Any) -> Any:
    import ray

    return ray.get(ref)


@contextlib.contextmanager
def _served_chain(chain: Chain) -> Iterator[str]:
    """The chain's JSON-RPC URL for the hosts: the embedded chain served on a loopback port."""
    if not chain.is_embedded:
        yield chain.target
        return
    with EmbeddedRpcServer(chain) as server:
        yield server.url


def _start_hosts(
    spec: SimulationSpec,
    *,
    count: int,
    cpus: int,
    aggregator_url: str,
    chain_url: str,
    fed: Any,
    keys: list[bytes],
) -> tuple[list[Any], dict[int, list[str]]]:
    """Create the Ray actors, each with its share of the participants (the dealer in the
    first); returns their handles and, by position, the addresses each hosts."""
    import ray

    actor = ray.remote(num_cpus=min(1.0, cpus / count), max_restarts=0)(ParticipantHost)
    hosts, members = [], {}
    for position, share in enumerate(_chunks(spec.participants, count)):
        host_spec = HostSpec(
            aggregator=aggregator_url,
            chain=chain_url,
            ledger=fed.ledger.address,
            task=spec.task,
            num_clients=spec.participants,
            seed=spec.seed,
            state_root=(spec.out / "clients").resolve(),
            participants=tuple((i, keys[i]) for i in share),
            local_epochs=spec.local_epochs,
            clip_norm=spec.clip_norm,
            partition=spec.partition,
            dirichlet_alpha=spec.dirichlet_alpha,
        )
        hosts.append(actor.remote(host_spec))
        members[position] = [fed.participants[i].address for i in share]
    ray.get([h.size.remote() for h in hosts])  # type: ignore[attr-defined]  # every host has loaded its shards
    return hosts, members


def _drive(
    hosts: list[Any],
    *,
    members: dict[int, list[str]],
    reader: AggregatorClient,
    clock: RoundClock,
    emit: Progress,
    on_round: RoundHook | None,
    totals: dict[int, dict[str, Any]],
) -> list[str]:
    """Step the hosts until every participant is done, adding into ``totals`` per round;
    returns the addresses of the participants whose host was lost."""
    import ray
    from ray.exceptions import RayActorError

    live = dict(enumerate(hosts))
    dropped: list[str] = []
    announced = 0
    while live:
        latest = reader.current_round()
        seen = (int(latest["number"]), RoundPhase(latest["phase"])) if latest else clock.latest
        if on_round is not None and seen[0] > announced:
            announced = seen[0]
            on_round(announced, list(live.values()))
        refs = {position: host.step.remote() for position, host in live.items()}
        done = True
        for position, ref in refs.items():
            try:
                report: StepReport = ray.get(ref)
            except RayActorError as exc:
                log.warning("host %d lost: %s", position, exc)
                dropped.extend(members[position])
                emit("dropped", {"host": position, "participants": len(members[position])})
                del live[position]
                continue
            _take(totals, report, emit, position)
            done = done and report.done
        if done:
            break
        reader.current_round(after=seen, wait_s=1.0)
    return dropped


def _round_table(
    spec: SimulationSpec,
    fed: Any,
    reader: AggregatorClient,
    clock: RoundClock,
    totals: dict[int, dict[str, Any]],
) -> list[dict[str, Any]]:
    """One row per round: times (open → closed → published), participants, bytes, gas."""
    gas = gas_by_round(fed.ledger, fed.deployment.block_number)
    rows = []
    for number in range(1, spec.rounds + 1):
        info = fed.ledger.get_round(number)
        opened = clock.at(number, "open")
        closed = clock.at(number, "closed")
        published = clock.at(number, "published") or clock.at(number + 1, "open")
        if info.status is not RoundPhase.PUBLISHED:
            raise ConfigurationError(f"round {number} ended {info.status.name}")
        per = totals.get(number, {})
        aggregate_bytes = len(reader.aggregate(number).data)
        attested = int(per.get("attested", 0))
        rows.append(
            {
                "round": number,
                "participants": info.included_count,
                "round_s": _span(opened, published),
                "collect_s": _span(opened, closed),
                "attest_s": _span(closed, published),
                "phase_s": per.get("phase_s", {}),
                "uploaded_bytes": int(per.get("uploaded_bytes", 0)),
                "aggregate_bytes": aggregate_bytes,
                "bytes_moved": int(per.get("uploaded_bytes", 0)) + attested * aggregate_bytes,
                "attestations": attested,
                "gas": gas.get(number, {}),
            }
        )
    return rows


def _span(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else end - start
