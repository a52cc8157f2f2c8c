"""The aggregator's core: accepts updates, keeps running sums, and drives rounds on chain.

Round life cycle, persisted in the database and mirrored on chain::

    open ──(min updates and: every participant submitted, or deadline passed)──► closing
    closing ──(aggregate stored, closeRound mined)──► closed
    closed ──(ModelPublished seen on chain)──► published ──► next round opens
    open/closed ──(deadline with too few updates / no quorum in time)──► failed

Every step is idempotent and reconciled against the chain, so the service can be killed at any
point and resume: on start-up it re-sums the stored accepted blobs of the open (or closing) round.
CKKS sums serialize deterministically, so a resumed round produces the same aggregate bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

import fedledger_crypto as fc
from fedledger_platform.aggregator.errors import ApiError
from fedledger_platform.aggregator.settings import AggregatorSettings
from fedledger_platform.errors import ChainUnavailableError, ContractRevertError, LedgerError
from fedledger_platform.heap import freeze_heap, unfreeze_heap
from fedledger_platform.ledger import Ledger
from fedledger_platform.modelfile import ModelFile, ModelFileError, decode_model
from fedledger_platform.protocol import RoundPhase
from fedledger_platform.storage import (
    BlobStore,
    Database,
    ModelRecord,
    NonceRecord,
    RoundRecord,
    UpdateRecord,
    latest_round,
)
from fedledger_platform.storage.blobs import PendingBlob, keccak_file

__all__ = ["AggregatorService", "RoundSignal", "UpdateReceipt"]

log = logging.getLogger("fedledger.aggregator")


def _hex(digest: bytes) -> str:
    return "0x" + digest.hex()


@dataclass(frozen=True)
class UpdateReceipt:
    """What the aggregator acknowledges for an accepted update (same for a re-upload)."""

    round_number: int
    participant: str
    update_hash: str
    size: int
    received_at: int


class RoundSignal:
    """Wakes the long-polls of ``GET /v1/rounds/current`` when a round changes phase.

    The coordinator thread calls :meth:`notify`; waiters on the event loop hold the event that
    was current *before* they read the round, so a change between their read and their wait is
    never missed.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's event loop (at start-up)."""
        self._loop = loop
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event | None:
        """The event the next change will set (``None`` before :meth:`bind`)."""
        return self._event

    def notify(self) -> None:
        """Thread-safe: wake every waiter."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        fired, self._event = self._event, asyncio.Event()
        if fired is not None:
            fired.set()


class _RunningRound:
    """The in-memory sum of one round's accepted updates."""

    def __init__(self, context: Any, schema: fc.UpdateSchema) -> None:
        self.schema = schema
        self.sum = fc.StreamingAggregator(context, schema=schema)
        self.participants: set[str] = set()


class AggregatorService:
    """Shared state of one aggregator process (used by the routes and the coordinator)."""

    def __init__(
        self,
        settings: AggregatorSettings,
        *,
        ledger: Ledger,
        account: LocalAccount,
        db: Database,
        blobs: BlobStore,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.chain = ledger.chain
        self.account = account
        self.db = db
        self.blobs = blobs
        self.params = settings.params
        self.scope = fc.RequestScope(self.chain.chain_id, ledger.address)
        self.parameters_bytes = self._load_parameters()
        self.context = fc.load_parameters_context(self.parameters_bytes, self.params)
        self.parameters_hash = fc.keccak256(self.parameters_bytes)
        self._lock = threading.RLock()  # guards acceptance, closing and the running sums
        self._running: dict[int, _RunningRound] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()  # run the coordinator now (an update or model arrived)
        self.round_signal = RoundSignal()
        #: ``GET /v1/rounds/current``'s last answer and the database generation it was read at.
        self.latest_round_view: tuple[int, Any] | None = None
        # The read of the latest round in flight, by database generation (event loop only).
        self.latest_round_read: tuple[int, asyncio.Future[Any]] | None = None
        self._thread: threading.Thread | None = None
        self._freeze_heap_pending = 0  # full-heap freezes still to do (start, first round)
        self._froze_heap = False
        self.last_error: str | None = None
        self.status_note = "starting"
        self._participants_cache: tuple[float, int] = (0.0, 0)
        self._chain_time_cache: tuple[float, int] = (0.0, 0)
        self._admitted: dict[str, float] = {}
        self._params_committed = False

    # ------------------------------------------------------------------ start-up

    def _load_parameters(self) -> bytes:
        """The parameters-only context: from ``parameters_file`` if set, else canonical bytes.

        A file holding a secret key is refused (``load_parameters_context`` raises).
        """
        if self.settings.parameters_file is not None:
            data = self.settings.parameters_file.read_bytes()
            fc.load_parameters_context(data, self.params)  # refuses a secret key
            return data
        return fc.parameters_bytes(fc.create_secret_context(self.params))

    def start(self, initial_model: bytes | None = None, *, freeze_heap: bool = False) -> None:
        """Migrate, recover the running sums, store the initial model, start the coordinator.

        ``freeze_heap``: this process serves nothing else; exempt its long-lived heap from the
        cyclic GC now and after the first published round (:mod:`fedledger_platform.heap`).
        """
        self.db.migrate()
        swept = self.blobs.sweep_temporary()
        if swept:
            log.info("removed %d partial uploads left by an earlier run", swept)
        if initial_model is not None:
            self.store_model(initial_model, round_number=0, uploaded_by=None)
        self._recover()
        if freeze_heap:
            self._freeze_heap_pending = 2
            self._freeze_heap()
        self._thread = threading.Thread(target=self._run, name="round-coordinator", daemon=True)
        self._thread.start()

    def _freeze_heap(self) -> None:
        frozen = freeze_heap()
        self._froze_heap = True
        self._freeze_heap_pending -= 1
        log.info("%d long-lived objects exempted from the cyclic GC", frozen)

    def stop(self) -> None:
        """Stop the coordinator thread (and unfreeze the heap if :meth:`start` froze it)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._froze_heap:
            unfreeze_heap()

    def _recover(self) -> None:
        """Rebuild, from the stored blobs, the running sum of every open or closing round that
        has none in memory (at start-up, or after a failure dropped it)."""
        with self.db.session() as s:
            active = s.scalars(
                select(RoundRecord).where(
                    RoundRecord.phase.in_([RoundPhase.OPEN, RoundPhase.CLOSING])
                )
            ).all()
            updates = {
                r.number: s.scalars(
                    select(UpdateRecord)
                    .where(UpdateRecord.round_number == r.number)
                    .order_by(UpdateRecord.participant)
                ).all()
                for r in active
            }
        for record in active:
            if record.number in self._running:
                continue  # its running sum is intact; only dropped sums are rebuilt
            running = self._running_round(record)
            for update in updates[record.number]:
                running.sum.add_file(self.blobs.path(fc.hash_from_hex(update.blob_hash)))
                running.participants.add(update.participant)
            log.info(
                "round %d resumed with %d stored updates", record.number, len(running.participants)
            )

    def _running_round(self, record: RoundRecord) -> _RunningRound:
        running = self._running.get(record.number)
        if running is None:
            model = self.base_model(record)
            running = _RunningRound(self.context, model.schema())
            self._running[record.number] = running
        return running

    # ------------------------------------------------------------------ models

    def base_model(self, record: RoundRecord) -> ModelFile:
        """The decoded base model of a round (its layout fixes the round's update schema)."""
        digest = fc.hash_from_hex(record.base_model_hash)
        if not self.blobs.exists(digest):
            raise ApiError(
                503,
                "base_model_missing",
                f"the bytes of round {record.number}'s base model {record.base_model_hash} are "
                "not stored yet; an attester of that model uploads them",
            )
        try:
            return decode_model(self.blobs.get(digest))
        except (OSError, ModelFileError) as exc:
            raise ApiError(
                503, "not_ready", f"base model {record.base_model_hash} is not available: {exc}"
            ) from exc

    def store_model(
        self,
        data: bytes,
        *,
        round_number: int,
        uploaded_by: str | None,
        nonce: NonceRecord | None = None,
        digest: bytes | None = None,
    ) -> tuple[str, bool]:
        """Store model bytes (validated as a model file); returns the 0x-hash and whether it
        was new. Idempotent, also under concurrent uploads of the same bytes (every attester
        may upload them at once): the first insert wins, the others find the row.

        ``nonce`` is recorded in the same transaction as the model row; ``digest`` is the
        keccak256 of ``data`` when the caller has already computed it.
        """
        name = _hex(fc.keccak256(data) if digest is None else digest)
        with self.db.session() as s:
            stored = s.get(ModelRecord, name) is not None
        if stored and self.blobs.exists(fc.hash_from_hex(name)):
            # Re-sent by the attester that completed the quorum: publish promptly.
            self._wake.set()
            return name, False
        try:
            decode_model(data)
        except ModelFileError as exc:
            raise ApiError(400, "malformed_model", str(exc)) from exc
        self.blobs.put(data)
        try:
            with self.db.session() as s:
                if s.get(ModelRecord, name) is not None:
                    return name, False
                s.add(
                    ModelRecord(
                        hash=name,
                        round_number=round_number,
                        size=len(data),
                        uploaded_by=uploaded_by,
                        stored_at=int(time.time()),
                    )
                )
                if nonce is not None:
                    s.add(nonce)
            self._wake.set()  # attested bytes arrived: the round may be published now
        except IntegrityError:
            with self.db.session() as s:
                if s.get(ModelRecord, name) is None:
                    raise  # not the concurrent-duplicate case: a replayed nonce
            return name, False
        return name, True

    def initial_model_hash(self) -> str | None:
        """Hash of the stored round-0 model, if any."""
        with self.db.session() as s:
            record = s.scalars(select(ModelRecord).where(ModelRecord.round_number == 0)).first()
            return record.hash if record else None

    # ------------------------------------------------------------------ nonces

    def check_nonce(self, address: str, nonce: str) -> None:
        """409 when the sender already used ``nonce`` in an accepted request."""
        with self.db.session() as s:
            if s.get(NonceRecord, (address, nonce)) is not None:
                raise ApiError(
                    409, "replayed_nonce", f"nonce {nonce} was already used by {address}"
                )

    @staticmethod
    def nonce_record(address: str, nonce: str, timestamp: int, window_s: int) -> NonceRecord:
        """The row that marks a nonce used, added in the accepting transaction."""
        return NonceRecord(address=address, nonce=nonce, expires_at=timestamp + window_s + 1)

    # ------------------------------------------------------------------ updates

    def accept_update(
        self,
        *,
        round_number: int,
        participant: str,
        pending: PendingBlob,
        digest: bytes,
        nonce: NonceRecord,
    ) -> tuple[UpdateReceipt, bool]:
        """Check and accept one uploaded update; returns the receipt and whether it is new.

        Order: admission on chain (403), round open (409), duplicate (idempotent or 409),
        commitment on chain equals keccak256 of the body (422), blob well-formed under the
        federation's parameters and the round's schema (400/422). Only then is the blob moved
        into the store, the row and nonce committed, and the blob added into the running sum.
        Any rejection leaves the database, the blob store and the sum unchanged.
        """
        if not self.is_admitted(participant):
            raise ApiError(403, "not_admitted", f"{participant} is not an admitted participant")
        name = _hex(digest)
        # Cheap checks first, without the lock; they are repeated under it below.
        receipt = self._open_round_check(round_number, participant, name)
        if receipt is not None:
            return receipt, False
        commitment = self.ledger.update_commitment(round_number, participant)
        if commitment != digest:
            detail = (
                "no commitment on chain yet (commitUpdate must be mined before the upload)"
                if commitment == bytes(32)
                else f"the on-chain commitment is {_hex(commitment)}"
            )
            raise ApiError(422, "commitment_mismatch", f"keccak256 of the body is {name}; {detail}")
        with self._lock:
            receipt = self._open_round_check(round_number, participant, name)
            if receipt is not None:
                return receipt, False
            with self.db.session() as s:
                record = s.get(RoundRecord, round_number)
            assert record is not None
            running = self._running_round(record)
            try:
                # Only single updates: an aggregate-kind blob could claim any contributor count.
                running.sum.add_file(pending.path, kind=fc.BlobKind.UPDATE)
            except fc.ParameterMismatchError as exc:
                raise ApiError(422, "wrong_parameters", str(exc)) from exc
            except fc.SchemaMismatchError as exc:
                raise ApiError(422, "wrong_schema", str(exc)) from exc
            except fc.BlobError as exc:
                raise ApiError(400, "malformed_blob", str(exc)) from exc
            except BaseException:
                # Not a rejected blob (reading the file, memory): the sum may be half-updated.
                # Rebuild it from the store, which holds exactly the accepted updates.
                self._running.pop(round_number, None)
                self._recover()
                raise
            # The blob is in the running sum: persist it now, and rebuild the sum from the
            # store if persisting fails (the sum must never run ahead of what is stored).
            try:
                self.blobs.commit(pending, digest)
                update = UpdateRecord(
                    round_number=round_number,
                    participant=participant,
                    blob_hash=name,
                    size=pending.size,
                    received_at=int(time.time()),
                )
                with self.db.session() as s:
                    s.add(update)
                    s.add(nonce)
            except BaseException:
                self._running.pop(round_number, None)
                self._recover()
                raise
            running.participants.add(participant)
        self._wake.set()  # the round may be complete: let the coordinator close it now
        log.info("round %d: accepted %s from %s", round_number, name[:10], participant)
        return self._receipt(update), True

    def _open_round_check(
        self, round_number: int, participant: str, name: str
    ) -> UpdateReceipt | None:
        """409 unless the round is open; the stored receipt for an identical re-upload."""
        with self.db.session() as s:
            record = s.get(RoundRecord, round_number)
            if record is None or record.phase != RoundPhase.OPEN:
                existing = s.get(UpdateRecord, (round_number, participant))
                if existing is not None and existing.blob_hash == name:
                    return self._receipt(existing)  # idempotent even after the round closed
                phase = record.phase if record else "not opened"
                raise ApiError(
                    409, "round_not_open", f"round {round_number} is not open (it is {phase})"
                )
            existing = s.get(UpdateRecord, (round_number, participant))
            if existing is None:
                return None
            if existing.blob_hash == name:
                return self._receipt(existing)
            raise ApiError(
                409,
                "duplicate",
                f"{participant} already submitted {existing.blob_hash} in round {round_number}; "
                "one update per participant per round",
            )

    @staticmethod
    def _receipt(update: UpdateRecord) -> UpdateReceipt:
        return UpdateReceipt(
            round_number=update.round_number,
            participant=update.participant,
            update_hash=update.blob_hash,
            size=update.size,
            received_at=update.received_at,
        )

    # ------------------------------------------------------------------ coordinator

    def _run(self) -> None:
        purged_at = 0.0
        while not self._stop.is_set():
            progressed = False
            try:
                progressed = self.tick()
                if time.monotonic() - purged_at > 60:
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
            self._wake.wait(self.settings.poll_interval_s)
            self._wake.clear()

    def now(self) -> int:
        """The later of wall-clock time and the chain's latest block time."""
        return max(int(time.time()), self.chain.latest_timestamp())

    def _expired(self, deadline: int) -> bool:
        """Whether the deadline passed by the wall clock or by the chain's clock.

        The chain's clock (which a devnet can move forward, and which runs ahead of the wall
        clock when blocks come faster than one a second) is read at most once a second.
        """
        if time.time() > deadline:
            return True
        read_at, chain_time = self._chain_time_cache
        if time.monotonic() - read_at > 1.0:
            chain_time = self.chain.latest_timestamp()
            self._chain_time_cache = (time.monotonic(), chain_time)
        return chain_time > deadline

    def is_admitted(self, address: str) -> bool:
        """Admission on chain; a positive answer is reused for two seconds.

        Reuse is safe for uploads: acceptance also needs the participant's on-chain commitment
        for the round, which only an admitted account could make.
        """
        now = time.monotonic()
        if self._admitted.get(address, 0.0) > now:
            return True
        admitted = self.ledger.is_participant(address)
        if admitted:
            self._admitted[address] = now + 2.0
        return admitted

    def participant_count(self) -> int:
        """Admitted participants, from the chain (cached for a second: read on every tick)."""
        read_at, count = self._participants_cache
        if time.monotonic() - read_at > 1.0:
            count = len(self.ledger.participants())
            self._participants_cache = (time.monotonic(), count)
        return count

    def _latest(self) -> RoundRecord | None:
        with self.db.session() as s:
            return latest_round(s)

    def tick(self) -> bool:
        """One coordination step; returns whether the latest round changed (number or phase)."""
        before = self._latest()
        key_before = (before.number, before.phase) if before else None
        self._step(before)
        after = self._latest()
        return ((after.number, after.phase) if after else None) != key_before

    def _step(self, latest: RoundRecord | None) -> None:
        """Reconcile with the chain and advance the latest round."""
        if latest is None or RoundPhase(latest.phase) in (RoundPhase.PUBLISHED, RoundPhase.FAILED):
            # About to open a round: first adopt any round the chain has and we do not (a
            # crash right after openRound, or another replica).
            chain_round = self.ledger.current_round()
            if chain_round > (latest.number if latest else 0):
                latest = self._import_round(chain_round)
            elif latest is None:
                self._maybe_open(1, previous=None)
                return
        assert latest is not None
        phase = RoundPhase(latest.phase)
        if phase is RoundPhase.OPEN:
            self._maybe_close(latest)
        elif phase is RoundPhase.CLOSING:
            self._close(latest)
        elif phase is RoundPhase.CLOSED:
            self._watch_publication(latest)
        else:  # published or failed
            self._maybe_open(latest.number + 1, previous=latest)

    def _import_round(self, number: int) -> RoundRecord:
        """A round opened on chain but missing from the database (crash after openRound)."""
        info = self.ledger.get_round(number)
        phase = info.status
        record = RoundRecord(
            number=number,
            phase=phase,
            base_model_hash=_hex(info.base_model_hash),
            deadline=info.deadline,
            min_updates=info.min_updates,
            aggregate_hash=_hex(info.aggregate_hash) if any(info.aggregate_hash) else None,
            published_model_hash=(
                _hex(info.published_model_hash) if any(info.published_model_hash) else None
            ),
            opened_at=int(time.time()),
        )
        with self.db.session() as s:
            s.merge(record)
        self.round_signal.notify()
        return record

    def _maybe_open(self, number: int, *, previous: RoundRecord | None) -> None:
        limit = self.settings.rounds.count
        if limit and number > limit:
            self.status_note = f"finished: {limit} rounds run"
            return
        if previous is None:
            base = self.initial_model_hash()
            if base is None:
                self.status_note = "waiting for the initial model"
                return
        elif previous.phase == RoundPhase.PUBLISHED and previous.published_model_hash:
            # Opened without waiting for the bytes: every attester built them and trains on
            # its own copy, and the publishing attester's upload is on its way. Until they are
            # stored, an update is answered 503 base_model_missing, and a participant holding
            # the bytes supplies them (Participant.submit).
            base = previous.published_model_hash
        else:
            base = previous.base_model_hash
        if not self._params_committed:
            committed = self.ledger.encryption_params_hash()
            if committed == bytes(32):
                self.status_note = "waiting for the key dealer to commit the CKKS parameters"
                return
            if committed != self.parameters_hash:
                self.status_note = (
                    f"on-chain parameters hash {_hex(committed)} does not match {self.params.id}"
                )
                return
            self._params_committed = True  # committed once, never changes
        deadline = self.now() + self.settings.rounds.timeout_s
        min_updates = self.settings.rounds.min_updates
        try:
            result = self.ledger.open_round(
                self.account,
                number,
                base_model_hash=fc.hash_from_hex(base),
                deadline=deadline,
                min_updates=min_updates,
            )
        except ContractRevertError as exc:
            if exc.error != "LedgerUnexpectedRound":
                raise
            self._import_round(self.ledger.current_round())  # another replica opened it
            return
        with self.db.session() as s:
            s.add(
                RoundRecord(
                    number=number,
                    phase=RoundPhase.OPEN,
                    base_model_hash=base,
                    deadline=deadline,
                    min_updates=min_updates,
                    open_tx=result.tx_hash,
                    opened_at=int(time.time()),
                )
            )
        self.round_signal.notify()
        self.status_note = f"round {number} open"
        log.info("round %d opened on %s (deadline %d)", number, base[:10], deadline)

    def accepted_count(self, number: int) -> int:
        """How many updates the round has accepted."""
        with self.db.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(UpdateRecord)
                    .where(UpdateRecord.round_number == number)
                )
                or 0
            )

    def _maybe_close(self, record: RoundRecord) -> None:
        accepted = self.accepted_count(record.number)
        everyone = accepted >= self.participant_count()
        expired = not everyone and self._expired(record.deadline)
        if accepted >= record.min_updates and (everyone or expired):
            with self._lock, self.db.session() as s:
                row = s.get(RoundRecord, record.number)
                assert row is not None
                if row.phase != RoundPhase.OPEN:
                    return
                row.phase = RoundPhase.CLOSING
                record = row
            self.round_signal.notify()
            self._close(record)
        elif expired:
            self._fail(
                record,
                f"deadline passed with {accepted} of the {record.min_updates} required updates",
            )

    def _close(self, record: RoundRecord) -> None:
        """Store the aggregate and close the round on chain (idempotent after a crash)."""
        with self._lock:
            running = self._running.get(record.number)
            if running is None:
                self._recover()
                running = self._running_round(record)
            tmp = self.blobs.tmp_dir / f"aggregate-{record.number}.part"
            running.sum.write_result(tmp)
            digest = keccak_file(tmp)
            self.blobs.adopt(tmp, digest)
            included = sorted(running.participants)
        with self.db.session() as s:  # servable (and verifiable against the chain) from now on
            row = s.get(RoundRecord, record.number)
            assert row is not None
            row.aggregate_hash = _hex(digest)
        info = self.ledger.get_round(record.number)
        close_tx: str | None = None
        gas: int | None = None
        if info.status is RoundPhase.OPEN:
            result = self.ledger.close_round(
                self.account, record.number, aggregate_hash=digest, included=included
            )
            close_tx, gas = result.tx_hash, result.gas_used
        elif info.aggregate_hash != digest:
            raise LedgerError(
                f"round {record.number} is closed on chain with aggregate "
                f"{_hex(info.aggregate_hash)} but the stored updates sum to {_hex(digest)}"
            )
        with self.db.session() as s:
            row = s.get(RoundRecord, record.number)
            assert row is not None
            row.phase = RoundPhase.CLOSED
            row.aggregate_hash = _hex(digest)
            row.close_tx = close_tx or row.close_tx
            row.close_gas = gas if gas is not None else row.close_gas
            row.closed_at = int(time.time())
        self.round_signal.notify()
        with self._lock:
            self._running.pop(record.number, None)
        log.info("round %d closed with %d updates", record.number, len(included))

    def _watch_publication(self, record: RoundRecord) -> None:
        info = self.ledger.get_round(record.number)
        if info.status is RoundPhase.PUBLISHED:
            with self.db.session() as s:
                row = s.get(RoundRecord, record.number)
                assert row is not None
                row.phase = RoundPhase.PUBLISHED
                row.published_model_hash = _hex(info.published_model_hash)
                row.published_at = int(time.time())
            self.round_signal.notify()
            log.info("round %d published %s", record.number, _hex(info.published_model_hash)[:10])
            if self._freeze_heap_pending:  # the first round built the libraries' lazy state
                self._freeze_heap()
        elif info.status is RoundPhase.FAILED:
            self._mark_failed(record.number, "failed on chain")
        elif (
            record.closed_at
            and time.time() > record.closed_at + self.settings.rounds.attestation_timeout_s
        ):
            self._fail(record, "no attestation quorum before the attestation timeout")

    def _fail(self, record: RoundRecord, reason: str) -> None:
        with contextlib.suppress(ContractRevertError):
            self.ledger.abandon_round(self.account, record.number, reason)
        self._mark_failed(record.number, reason)

    def _mark_failed(self, number: int, reason: str) -> None:
        with self.db.session() as s:
            row = s.get(RoundRecord, number)
            assert row is not None
            row.phase = RoundPhase.FAILED
            row.failure_reason = reason
        self.round_signal.notify()
        with self._lock:
            self._running.pop(number, None)
        log.warning("round %d failed: %s", number, reason)

    def use_nonce(self, nonce: NonceRecord) -> None:
        """Record the nonce of an authorized read (a signed GET) so it cannot be replayed."""
        try:
            with self.db.session() as s:
                s.add(nonce)
        except IntegrityError as exc:
            raise ApiError(
                409, "replayed_nonce", f"nonce {nonce.nonce} was already used by {nonce.address}"
            ) from exc

    def purge_nonces(self) -> None:
        """Forget nonces whose window has passed (a replay of them fails the timestamp check)."""
        with self.db.session() as s:
            s.execute(delete(NonceRecord).where(NonceRecord.expires_at < int(time.time())))
