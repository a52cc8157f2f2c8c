"""The dashboard's engine: one background thread that follows the chain and the aggregator and
publishes a new :class:`~fedledger_platform.dashboard.model.Snapshot` whenever something the
pages show changed.

Each pass reads the blocks mined since the last one (nothing when the head did not move), the
sizes of the uploads the aggregator accepted in unfinished rounds, then audits the rounds that
are due (:mod:`.verdicts`) and evaluates one new published model (:mod:`.metrics`). A snapshot
is published after the chain and REST reads and again after each audit or evaluation, so the
rounds table never waits for an audit. Pages and the server-sent event stream only read
:attr:`Dashboard.snapshot`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

import fedledger_crypto as fc
from fedledger_platform.api_client import AggregatorClient, AggregatorError
from fedledger_platform.dashboard.chain import ChainFollower
from fedledger_platform.dashboard.metrics import MetricCache, ModelEvaluator
from fedledger_platform.dashboard.model import FederationFacts, Snapshot
from fedledger_platform.dashboard.rows import model_points, round_rows
from fedledger_platform.dashboard.verdicts import VerdictCache
from fedledger_platform.errors import FedledgerError
from fedledger_platform.ledger import Ledger

__all__ = ["Dashboard", "DashboardConfig"]

log = logging.getLogger("fedledger.dashboard")


@dataclass(frozen=True)
class DashboardConfig:
    """How a dashboard reads and audits a federation.

    ``from_block``: the deployment block (where the event history starts). ``auditor``: an
    account holding ``AUDITOR_ROLE``, to audit with (``None``: no verdicts). ``evaluator``:
    computes a published model's test metrics (``None``: no curves). ``reaudit_s``: how old a
    verdict may get before the round is audited again. ``poll_s``: how often the chain is
    asked for new blocks. ``rpc_url``: the chain's JSON-RPC URL shown in the command-line
    instructions (``None`` for the embedded chain, which nothing outside the process reaches).
    ``explorer``: a transaction link template such as ``https://sepolia.etherscan.io/tx/{tx}``.
    """

    from_block: int = 0
    auditor: LocalAccount | None = None
    evaluator: ModelEvaluator | None = None
    reaudit_s: float = 120.0
    poll_s: float = 0.5
    page_size: int = 2_000
    rpc_url: str | None = None
    explorer: str | None = None


class Dashboard:
    """A federation's dashboard state, kept current by :meth:`start`'s thread (or by calling
    :meth:`refresh`). Thread-safe: :attr:`snapshot` is replaced, never changed."""

    def __init__(
        self,
        ledger: Ledger,
        aggregator_url: str,
        config: DashboardConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if config.poll_s <= 0:
            raise ValueError(f"poll_s must be positive, got {config.poll_s}")
        self.ledger = ledger
        self.config = config
        self._clock = clock
        scope = fc.RequestScope(ledger.chain.chain_id, ledger.address)
        self.reader = AggregatorClient(aggregator_url, scope=scope, timeout_s=30.0)
        self._auditing = (
            AggregatorClient(aggregator_url, account=config.auditor, scope=scope)
            if config.auditor is not None
            else None
        )
        self.follower = ChainFollower(
            ledger, from_block=config.from_block, page_size=config.page_size
        )
        self.verdicts = VerdictCache(
            ledger,
            self._auditing,
            from_block=config.from_block,
            reaudit_s=config.reaudit_s,
            page_size=config.page_size,
            clock=clock,
        )
        self.metrics = MetricCache(self.reader, config.evaluator)
        self._sizes: dict[int, dict[str, int]] = {}
        self._final_sizes: set[int] = set()
        self._model_sizes: dict[str, int] = {}
        self._rest: dict[str, Any] = {}
        self._problems: dict[str, str] = {}
        self._snapshot = Snapshot(version=0, taken_at=clock(), federation=None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def aggregator_url(self) -> str:
        """The aggregator this dashboard reads."""
        return self.reader.base_url

    @property
    def snapshot(self) -> Snapshot:
        """The latest snapshot (version 0 before the first pass)."""
        return self._snapshot

    # ------------------------------------------------------------------ one pass

    def refresh(self) -> bool:
        """One pass (see the module docstring); ``True`` when it did slow work (an audit or an
        evaluation), so the caller may go on at once."""
        changed = self._read_chain() | self._read_aggregator()
        if changed or self._snapshot.version == 0:
            self._publish()
        states = {n: info.status for n, info in self.follower.infos.items()}
        busy = False
        if self.verdicts.refresh(states):
            busy = True
            self._publish()
        if self.metrics.refresh(self._models()):
            busy = True
            self._publish()
        return busy

    def _problem(self, source: str, problem: str | None) -> bool:
        before = self._problems.get(source)
        if problem is None:
            self._problems.pop(source, None)
        else:
            self._problems[source] = problem
        return before != problem

    def _read_chain(self) -> bool:
        try:
            changed = self.follower.advance()
        except FedledgerError as exc:
            return self._problem("chain", f"the chain cannot be read: {exc}")
        except Exception as exc:  # web3 raises many kinds; the page says which
            return self._problem("chain", f"the chain cannot be read: {exc!r}")
        return self._problem("chain", None) | changed

    def _read_aggregator(self) -> bool:
        changed = False
        try:
            rest = self.reader.federation()
            if rest != self._rest:
                self._rest, changed = rest, True
            for number, info in self.follower.infos.items():
                if number in self._final_sizes:
                    continue
                sizes = {
                    str(Web3.to_checksum_address(u["participant"])): int(u["size"])
                    for u in self.reader.updates(number)
                }
                if sizes != self._sizes.get(number):
                    self._sizes[number], changed = sizes, True
                if info.status.final:
                    self._final_sizes.add(number)
            for model_hash in self._models():
                if model_hash not in self._model_sizes:
                    try:
                        stored = self.reader.model_info(fc.hash_from_hex(model_hash))
                    except AggregatorError as exc:
                        if exc.status != 404:  # 404: not uploaded yet
                            raise
                        continue
                    self._model_sizes[model_hash], changed = int(stored["size"]), True
        except AggregatorError as exc:
            return self._problem("aggregator", f"the aggregator cannot be read: {exc}") | changed
        return self._problem("aggregator", None) | changed

    def _models(self) -> list[str]:
        """The initial model and every published model of the last snapshot, oldest first."""
        return list(dict.fromkeys(h for _, h in model_points(self._snapshot.rounds)))

    def _publish(self) -> None:
        follower, facts = self.follower, self.follower.facts
        federation = None
        if facts is not None:
            federation = FederationFacts(
                chain_id=self.ledger.chain.chain_id,
                ledger=self.ledger.address,
                token=self.ledger.token.address,
                aggregator=self.aggregator_url,
                rpc_url=self.config.rpc_url,
                from_block=self.config.from_block,
                block=follower.block,
                key_dealer=facts.key_dealer,
                parameters_hash=facts.parameters_hash,
                reward_per_update=facts.reward_per_update,
                quorum_bps=facts.quorum_bps,
                params_id=self._rest.get("params_id"),
                rounds_planned=self._rest.get("rounds_planned"),
                min_updates=self._rest.get("min_updates"),
            )
        balances = follower.balances()
        self._snapshot = replace(
            self._snapshot,
            version=self._snapshot.version + 1,
            taken_at=self._clock(),
            federation=federation,
            rounds=round_rows(
                follower.history, follower.infos, follower.gas, self._sizes, self._model_sizes
            ),
            participants=facts.participants if facts is not None else (),
            balances=balances,
            supply=sum(balances.values()),
            audits=self.verdicts.state(),
            metrics=self.metrics.state(),
            metrics_notice=self.metrics.notice,
            problems=tuple(self._problems.values()),
        )

    # ------------------------------------------------------------------ the thread

    def start(self) -> Dashboard:
        """Follow the federation in a daemon thread until :meth:`stop`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="dashboard", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        busy = False
        while not self._stop.wait(0 if busy else self.config.poll_s):
            try:
                busy = self.refresh()
            except Exception:  # keep following: the next pass may succeed
                log.exception("dashboard refresh failed")
                busy = False

    def stop(self) -> None:
        """Stop the thread and close the aggregator clients."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        self.reader.close()
        if self._auditing is not None:
            self._auditing.close()
