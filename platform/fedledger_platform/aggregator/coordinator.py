"""The round coordinator: a thread that carries out the round policy on chain and in the
database.

Each tick gathers the facts the policy (:func:`fedledger_platform.protocol.next_action`) reads —
each from the database, the chain or the clock only when a rule reads it — and carries out the
one action it returns, checking every phase change against the lifecycle. Every action is
idempotent and reconciled against the chain, so the process can be killed at any point and
resume: a closing round is closed again from its re-summed updates, a round the chain opened
without us is adopted.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from functools import cached_property

from eth_account.signers.local import LocalAccount

import fedledger_crypto as fc
from fedledger_platform.aggregator.chain_reads import ChainReads
from fedledger_platform.aggregator.model_store import ModelStore
from fedledger_platform.aggregator.relayer import Relayer
from fedledger_platform.aggregator.round_signal import RoundSignal
from fedledger_platform.aggregator.sums import RunningSums
from fedledger_platform.aggregator.unmasking import Unmasking
from fedledger_platform.errors import ChainUnavailableError, ContractRevertError, LedgerError
from fedledger_platform.heap import freeze_heap, unfreeze_heap
from fedledger_platform.ledger import Ledger, RoundInfo, RoundMembers
from fedledger_platform.protocol import (
    Action,
    AdoptRound,
    CloseRound,
    FailRound,
    LatestRound,
    MarkPublished,
    OpenRound,
    RoundPhase,
    RoundRules,
    StartUnmasking,
    Wait,
    check_transition,
    next_action,
)
from fedledger_platform.storage import Database, RoundRecord, queries

__all__ = ["Coordinator"]

log = logging.getLogger("fedledger.aggregator")
_NONCE_PURGE_INTERVAL_S = 60.0


def _optional_hash(digest: bytes) -> str | None:
    return fc.hash_hex(digest) if any(digest) else None


class _Facts:
    """What the policy reads in one tick (:class:`fedledger_platform.protocol.RoundFacts`),
    each fact read on first use and kept for the tick."""

    def __init__(self, coordinator: Coordinator, latest: RoundRecord | None) -> None:
        self._c = coordinator
        self._record = latest

    @cached_property
    def latest(self) -> LatestRound | None:
        r = self._record
        if r is None:
            return None
        return LatestRound(
            number=r.number,
            phase=RoundPhase(r.phase),
            base_model_hash=r.base_model_hash,
            published_model_hash=r.published_model_hash,
            deadline=r.deadline,
            min_updates=r.min_updates,
            closed_at=r.closed_at,
            unmasking_since=r.unmasking_since,
        )

    @cached_property
    def chain_round(self) -> int:
        return self._c.ledger.current_round()

    @cached_property
    def chain_info(self) -> RoundInfo:
        """The latest round as the chain records it."""
        assert self._record is not None
        return self._c.ledger.get_round(self._record.number)

    @cached_property
    def chain_phase(self) -> RoundPhase:
        return self.chain_info.status

    @cached_property
    def accepted(self) -> int:
        assert self._record is not None
        with self._c.db.session() as s:
            return queries.accepted_count(s, self._record.number)

    @cached_property
    def admitted(self) -> int:
        return self._c.chain.participant_count()

    @cached_property
    def round_members(self) -> RoundMembers:
        """The latest round's members and mask graph."""
        assert self._record is not None
        return self._c.unmasking.members(self._record.number)

    @cached_property
    def masking(self) -> bool:
        return self.round_members.masking

    @cached_property
    def members(self) -> int:
        return len(self.round_members.members)

    @cached_property
    def reveals_missing(self) -> int:
        assert self._record is not None
        return self._c.unmasking.missing(self._record.number)

    @cached_property
    def deadline_passed(self) -> bool:
        assert self._record is not None
        return self._c.chain.deadline_passed(self._record.deadline)

    @cached_property
    def now(self) -> int:
        return int(time.time())

    @cached_property
    def open_time(self) -> int:
        return self._c.chain.open_time()

    @cached_property
    def initial_model_hash(self) -> str | None:
        return self._c.models.initial_model_hash()

    @cached_property
    def params_problem(self) -> str | None:
        return self._c.chain.params_problem()


class Coordinator:
    """Drives one aggregator's rounds (:meth:`start` runs it in a thread).

    ``status_note`` and ``last_error`` say what it waits for and why its last step failed
    (``/v1/health``); ``signal`` wakes the long-polls at every phase change.
    """

    def __init__(
        self,
        *,
        rules: RoundRules,
        poll_interval_s: float,
        db: Database,
        ledger: Ledger,
        account: LocalAccount,
        chain: ChainReads,
        models: ModelStore,
        sums: RunningSums,
        unmasking: Unmasking,
        signal: RoundSignal,
        relayer: Relayer,
    ) -> None:
        self.rules = rules
        self.poll_interval_s = poll_interval_s
        self.db = db
        self.ledger = ledger
        self.account = account
        self.chain = chain
        self.models = models
        self.sums = sums
        self.unmasking = unmasking
        self.signal = signal
        self.relayer = relayer
        self.status_note = "starting"
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()  # step now: an update or a model arrived
        self._thread: threading.Thread | None = None
        self._freeze_heap_pending = 0  # full-heap freezes still to do (start, first round)
        self._froze_heap = False

    # ------------------------------------------------------------------ the thread

    def start(self, *, freeze_heap: bool = False) -> None:
        """Start the thread. ``freeze_heap``: this process serves nothing else; exempt its
        long-lived heap from the cyclic GC now and after the first published round."""
        if freeze_heap:
            self._freeze_heap_pending = 2
            self._freeze_heap()
        self._thread = threading.Thread(target=self._run, name="round-coordinator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (and unfreeze the heap if :meth:`start` froze it)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._froze_heap:
            unfreeze_heap()

    def wake(self) -> None:
        """Take the next step now rather than at the next poll (thread-safe)."""
        self._wake.set()

    def _freeze_heap(self) -> None:
        frozen = freeze_heap()
        self._froze_heap = True
        self._freeze_heap_pending -= 1
        log.info("%d long-lived objects exempted from the cyclic GC", frozen)

    def _run(self) -> None:
        purged_at = 0.0
        while not self._stop.is_set():
            progressed = False
            try:
                progressed = self.tick()
                if time.monotonic() - purged_at > _NONCE_PURGE_INTERVAL_S:
                    self.purge_nonces()
                    purged_at = time.monotonic()
                self.last_error = None
            except ChainUnavailableError as exc:
                self.last_error = f"chain unavailable: {exc}"
                log.warning("%s", self.last_error)
            except Exception as exc:  # keep coordinating; the error is visible in /v1/health
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("round coordinator step failed")
            if progressed:
                continue  # a round changed phase: take the next step at once
            self._wake.wait(self.poll_interval_s)
            self._wake.clear()

    def purge_nonces(self) -> int:
        """Forget nonces whose window has passed (a replay of them fails the timestamp check)."""
        with self.db.session() as s:
            return queries.purge_nonces(s, int(time.time()))

    # ------------------------------------------------------------------ one step

    def _latest(self) -> RoundRecord | None:
        with self.db.session() as s:
            return queries.latest_round(s)

    def tick(self) -> bool:
        """One step of the policy; returns whether the latest round changed (number or phase)."""
        before = self._latest()
        facts = _Facts(self, before)
        self.carry_out(next_action(facts, self.rules), facts)
        after = self._latest()
        key = (before.number, before.phase) if before else None
        return ((after.number, after.phase) if after else None) != key

    def carry_out(self, action: Action, facts: _Facts) -> None:
        """Do what ``action`` says, on chain and in the database."""
        match action:
            case Wait(reason):
                self.status_note = reason
            case AdoptRound(number):
                self._adopt(number)
            case OpenRound():
                self._open(action)
            case StartUnmasking(number) | CloseRound(number) if not self._settled(number):
                pass  # the round's facts changed or wait: the policy decides again next tick
            case StartUnmasking(number):
                self._start_unmasking(number)
            case CloseRound(number):
                self._close(number)
            case MarkPublished(number):
                self._mark_published(number, facts.chain_info)
            case FailRound(number, reason, abandon):
                if abandon:
                    with contextlib.suppress(ContractRevertError):  # failed on chain already
                        self.ledger.abandon_round(self.account, number, reason)
                self._mark_failed(number, reason)

    def _adopt(self, number: int) -> None:
        """Record a round the chain opened and the database lacks (a crash after openRound,
        or another replica), as the chain has it."""
        info = self.ledger.get_round(number)
        record = RoundRecord(
            number=number,
            phase=info.status,
            base_model_hash=fc.hash_hex(info.base_model_hash),
            deadline=info.deadline,
            min_updates=info.min_updates,
            aggregate_hash=_optional_hash(info.aggregate_hash),
            published_model_hash=_optional_hash(info.published_model_hash),
            opened_at=int(time.time()),
        )
        with self.db.session() as s:
            s.merge(record)
        self.signal.notify()
        log.info("round %d adopted from the chain (%s)", number, info.status)

    def _open(self, action: OpenRound) -> None:
        number = action.number
        check_transition(number, RoundPhase.NONE, RoundPhase.OPEN)
        try:
            result = self.ledger.open_round(
                self.account,
                number,
                base_model_hash=fc.hash_from_hex(action.base_model_hash),
                deadline=action.deadline,
                min_updates=action.min_updates,
            )
        except ContractRevertError as exc:
            if exc.error != "LedgerUnexpectedRound":
                raise
            self._adopt(self.ledger.current_round())  # another replica opened it
            return
        with self.db.session() as s:
            s.add(
                RoundRecord(
                    number=number,
                    phase=RoundPhase.OPEN,
                    base_model_hash=action.base_model_hash,
                    deadline=action.deadline,
                    min_updates=action.min_updates,
                    open_tx=result.tx_hash,
                    opened_at=int(time.time()),
                )
            )
        self.signal.notify()
        self.status_note = f"round {number} open"
        log.info(
            "round %d opened on %s (deadline %d)",
            number,
            action.base_model_hash[:10],
            action.deadline,
        )

    def _start_unmasking(self, number: int) -> None:
        """Stop accepting updates and record the members whose updates are missing as dropped:
        their surviving neighbours reveal the seeds they share with them."""
        with self.sums.lock, self.db.session() as s:  # no update is being accepted meanwhile
            record = queries.round_record(s, number)
            assert record is not None
            check_transition(number, RoundPhase(record.phase), RoundPhase.UNMASKING)
            record.phase = RoundPhase.UNMASKING
            record.unmasking_since = int(time.time())
            dropped = self.unmasking.record_dropped(s, number)
        self.signal.notify()
        log.info("round %d unmasking: %s dropped", number, ", ".join(dropped))

    def _close(self, number: int) -> None:
        """Stop accepting updates, store the aggregate (corrected for dropped members) and close
        the round on chain (idempotent: a crash in between resumes here with it ``closing``)."""
        with self.sums.lock, self.db.session() as s:  # no update is being accepted meanwhile
            record = queries.round_record(s, number)
            assert record is not None
            phase = RoundPhase(record.phase)
            if phase in (RoundPhase.OPEN, RoundPhase.UNMASKING):
                check_transition(number, phase, RoundPhase.CLOSING)
                record.phase = RoundPhase.CLOSING
        if phase in (RoundPhase.OPEN, RoundPhase.UNMASKING):
            self.signal.notify()
        elif phase is not RoundPhase.CLOSING:
            return  # closed meanwhile: nothing left to do
        info = self.ledger.get_round(number)
        if info.status is RoundPhase.OPEN and not self._commitments_settled(record):
            return  # resumed at the next tick, the round still closing
        closing = self.unmasking.closing(number, self.sums.included(record))
        digest, included = self.sums.write_aggregate(record, closing.correction)
        if info.status is RoundPhase.OPEN and len(included) < record.min_updates:
            self._fail_short(number, len(included), record.min_updates)
            return
        with self.db.session() as s:  # servable (and verifiable against the chain) from now on
            row = queries.round_record(s, number)
            assert row is not None
            row.aggregate_hash = fc.hash_hex(digest)
        close_tx: str | None = None
        gas: int | None = None
        if info.status is RoundPhase.OPEN:
            result = self.ledger.close_round(
                self.account,
                number,
                aggregate_hash=digest,
                included=included,
                dropped=closing.dropped,
                corrections_hash=closing.corrections_hash,
            )
            close_tx, gas = result.tx_hash, result.gas_used
        elif info.aggregate_hash != digest:
            raise LedgerError(
                f"round {number} is closed on chain with aggregate "
                f"{fc.hash_hex(info.aggregate_hash)} but the stored updates sum to "
                f"{fc.hash_hex(digest)}"
            )
        with self.db.session() as s:
            row = queries.round_record(s, number)
            assert row is not None
            check_transition(number, RoundPhase(row.phase), RoundPhase.CLOSED)
            row.phase = RoundPhase.CLOSED
            row.close_tx = close_tx or row.close_tx
            row.close_gas = gas if gas is not None else row.close_gas
            row.closed_at = int(time.time())
        self.signal.notify()
        self.sums.drop(number)
        log.info("round %d closed with %d updates", number, len(included))

    def _settled(self, number: int) -> bool:
        """Settle an open round's pending signed commitments before it stops taking updates.
        One the ledger skips leaves its update out; in a masked round that member must then be
        unmasked like any dropped one, which only the policy, asked again with the new facts,
        can arrange. ``False`` while commitments are on their way or after one was left out."""
        with self.db.session() as s:
            record = queries.round_record(s, number)
        if record is None or RoundPhase(record.phase) is not RoundPhase.OPEN:
            return True  # decided already: a resumed unmasking or close
        before = self.sums.included(record)
        return self._commitments_settled(record) and self.sums.included(record) == before

    def _commitments_settled(self, record: RoundRecord) -> bool:
        """Relay the round's signed commitments still pending: ``closeRound`` refuses an
        included participant without a commitment on chain. ``False`` while some are not on
        chain and the deadline has not passed: the round waits for them (their senders'
        fallback may commit them directly); after the deadline they are left out."""
        waiting = self.relayer.settle_commitments(
            record.number, deadline_passed=self.chain.deadline_passed(record.deadline)
        )
        if waiting:
            self.status_note = (
                f"round {record.number} closing: waiting for the commitments of "
                f"{', '.join(waiting)} to reach the chain (until the deadline)"
            )
        return not waiting

    def _fail_short(self, number: int, included: int, needed: int) -> None:
        """Fail a closing round left with too few updates whose commitments are on chain."""
        reason = f"only {included} of the {needed} required updates have a commitment on chain"
        self.ledger.abandon_round(self.account, number, reason)
        self._mark_failed(number, reason)

    def _mark_published(self, number: int, info: RoundInfo) -> None:
        with self.db.session() as s:
            row = queries.round_record(s, number)
            assert row is not None
            check_transition(number, RoundPhase(row.phase), RoundPhase.PUBLISHED)
            row.phase = RoundPhase.PUBLISHED
            row.published_model_hash = fc.hash_hex(info.published_model_hash)
            row.published_at = int(time.time())
        self.signal.notify()
        log.info("round %d published %s", number, fc.hash_hex(info.published_model_hash)[:10])
        if self._freeze_heap_pending:  # the first round built the libraries' lazy state
            self._freeze_heap()

    def _mark_failed(self, number: int, reason: str) -> None:
        with self.db.session() as s:
            row = queries.round_record(s, number)
            assert row is not None
            check_transition(number, RoundPhase(row.phase), RoundPhase.FAILED)
            row.phase = RoundPhase.FAILED
            row.failure_reason = reason
        self.signal.notify()
        self.sums.drop(number)
        log.warning("round %d failed: %s", number, reason)
