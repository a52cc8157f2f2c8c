"""The relayer: submits participants' signed commitments and attestations to the ledger in
batches, from the aggregator's account (which holds ``RELAYER_ROLE``), so that participants
need no ether.

The database is the queue: the intake stores each verified signed commitment with its update,
:class:`~fedledger_platform.aggregator.attestations.Attestations` each signed attestation, and
both wake the relayer; a restarted aggregator relays what it held. A thread submits a round's
pending items as one transaction once ``batch_size`` of them wait, once the oldest waited
``flush_interval_s``, and at once when the round's commit deadline is near (commitments) or
when the attestations held for one hash reach the round's quorum (attestations). Before a
round closes the coordinator settles its commitments (:meth:`Relayer.settle_commitments`).

What the ledger did with each item is read from the transaction's events, not assumed: the
items listed in its batch event are on chain; an item the ledger skipped is handled by its
reason (:meth:`Relayer._skipped_commitment`, :meth:`Relayer._skipped_attestation`); an item
neither listed nor skipped stays pending, rests ``flush_interval_s`` and is sent again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from eth_account.signers.local import LocalAccount

import fedledger_crypto as fc
from fedledger_platform.aggregator.settings import RelaySettings
from fedledger_platform.aggregator.sums import RunningSums
from fedledger_platform.errors import ContractRevertError
from fedledger_platform.ledger import Ledger, RelayResult, SignedItem
from fedledger_platform.protocol import RoundPhase
from fedledger_platform.storage import AttestationRecord, Database, UpdateRecord, queries

__all__ = ["Relayer"]

log = logging.getLogger("fedledger.relayer")

COMMITMENTS = "relayCommitments"
ATTESTATIONS = "relayAttestations"
#: What the ledger emits for an item it accepted (as the binding reads a batch event).
_ACCEPTED_EVENT = {COMMITMENTS: "UpdateCommitted", ATTESTATIONS: "ModelAttested"}
#: How close to its deadline (in flush intervals) a round's commitments are sent at once.
_DEADLINE_MARGIN = 2.0
#: Batch-level refusals: the round takes no batch of this kind any more.
_ROUND_REFUSALS = ("LedgerRoundNotOpen", "LedgerDeadlinePassed", "LedgerRoundNotClosed")

Held = UpdateRecord | AttestationRecord


class Relayer:
    """Relays one aggregator's signed messages (:meth:`start` runs the thread)."""

    def __init__(
        self,
        *,
        db: Database,
        ledger: Ledger,
        account: LocalAccount,
        settings: RelaySettings,
        sums: RunningSums,
        on_change: Callable[[], None],
    ) -> None:
        self.db = db
        self.ledger = ledger
        self.account = account
        self.settings = settings
        self.sums = sums
        self._on_change = on_change  # wake the coordinator: a round may be publishable
        self._lock = threading.Lock()  # one submission at a time, from either thread
        self._waiting_since: dict[tuple[str, int], float] = {}  # a batch began to wait
        self._sent: dict[tuple[str, int, str], float] = {}  # an item was last sent (monotonic)
        self._closed: set[tuple[str, int]] = set()  # rounds whose batches the ledger refuses
        self._quorums: dict[int, int] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ the thread

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._run, name="relayer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (what is pending stays in the database)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wake(self) -> None:
        """Look at what is pending now (thread-safe): a signed message arrived."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait_s = self.flush_due()
            except Exception:  # keep relaying; the chain may be back at the next pass
                log.exception("relaying failed")
                wait_s = self.settings.flush_interval_s
            self._wake.wait(wait_s)
            self._wake.clear()

    def flush_due(self) -> float:
        """Submit every batch that is due; returns how long until the next may be."""
        interval = self.settings.flush_interval_s
        with self.db.session() as s:
            open_rounds = queries.rounds_in(s, (RoundPhase.OPEN,))
            attesting = queries.attestation_rounds(s)
        waits = [interval]
        for record in open_rounds:
            near = record.deadline - time.time() <= _DEADLINE_MARGIN * interval
            waits.append(self._flush(COMMITMENTS, record.number, urgent=near))
        for number in attesting:
            waits.append(self._flush(ATTESTATIONS, number, urgent=self._quorum_held(number)))
        return max(0.01, min(waits))

    def _flush(self, kind: str, number: int, *, urgent: bool) -> float:
        """Submit round ``number``'s sendable ``kind`` when due; returns the time until due."""
        key, interval = (kind, number), self.settings.flush_interval_s
        with self._lock:
            rows = self._sendable(kind, number)
            if not rows:
                self._waiting_since.pop(key, None)
                return interval
            now = time.monotonic()
            left = self._waiting_since.setdefault(key, now) + interval - now
            if len(rows) < self.settings.batch_size and left > 0 and not urgent:
                return left
            self._submit_all(kind, number, rows)
            self._waiting_since.pop(key, None)
        return 0.0

    # ------------------------------------------------------------------ commitments

    def settle_commitments(self, number: int, *, deadline_passed: bool) -> list[str]:
        """Before round ``number`` closes: submit its pending commitments and account for each
        one. Returns the participants whose signed commitments are still not on chain — the
        round waits for them (their own fallback may put them there) until its deadline;
        once it has passed (``deadline_passed``) they are left out of the round."""
        with self._lock:
            self._submit_all(COMMITMENTS, number, self._sendable(COMMITMENTS, number))
            with self.db.session() as s:
                remaining = queries.pending_commitments(s, number)
            still = [u.participant for u in remaining if not self._found_on_chain(number, u)]
            if still and (deadline_passed or (COMMITMENTS, number) in self._closed):
                for participant in still:
                    self._leave_out(number, participant, "its signed commitment is not on chain")
                return []
            return still

    def _found_on_chain(self, number: int, update: UpdateRecord) -> bool:
        """Whether the chain holds ``update``'s commitment (committed directly, or by an
        earlier batch), then marked so; a different hash on chain leaves the update out."""
        on_chain = self.ledger.update_commitment(number, update.participant)
        if on_chain == fc.hash_from_hex(update.blob_hash):
            with self.db.session() as s:
                queries.mark_on_chain(s, UpdateRecord, number, [update.participant], None)
            return True
        if any(on_chain):
            self._leave_out(
                number,
                update.participant,
                f"it committed {fc.hash_hex(on_chain)[:10]} on chain, not the accepted "
                f"{update.blob_hash[:10]}",
            )
            return True
        return False

    def _skipped_commitment(self, number: int, update: UpdateRecord, reason: str) -> None:
        if reason == "LedgerAlreadyCommitted":  # the participant's own fallback, most likely
            self._found_on_chain(number, update)
            return
        self._leave_out(number, update.participant, f"the ledger skipped its commitment ({reason})")

    def _leave_out(self, number: int, participant: str, why: str) -> None:
        self.sums.remove(number, participant)
        log.warning("round %d: %s left out: %s", number, participant, why)

    # ------------------------------------------------------------------ attestations

    def _quorum_held(self, number: int) -> bool:
        """Whether round ``number`` is closed and unpublished and holds, for one model hash,
        as many attestations as its quorum: relaying them publishes the model."""
        with self.db.session() as s:
            record = queries.round_record(s, number)
            counts = queries.attestations_by_hash(s, number)
        if record is None or record.phase != RoundPhase.CLOSED or not counts:
            return False
        if number not in self._quorums:
            self._quorums[number] = self.ledger.get_round(number).quorum
        return max(counts.values()) >= self._quorums[number]

    def _skipped_attestation(self, number: int, held: AttestationRecord, reason: str) -> None:
        with self.db.session() as s:
            if reason == "LedgerAlreadyAttested":  # attested directly: it counts either way
                queries.mark_on_chain(s, AttestationRecord, number, [held.participant], None)
                return
            row = queries.attestation(s, number, held.participant)
            if row is not None:
                s.delete(row)
        log.warning(
            "round %d: the ledger skipped %s's attestation (%s); dropped",
            number,
            held.participant,
            reason,
        )

    # ------------------------------------------------------------------ submitting

    def relay_parameters(self, params_hash: bytes, signature: bytes) -> None:
        """Commit the key dealer's signed parameters hash (one message, sent at once)."""
        with self._lock:
            self.ledger.relay_encryption_params(self.account, params_hash, signature)

    def _sendable(self, kind: str, number: int) -> list[Held]:
        """Round ``number``'s pending ``kind`` that may be sent now (the lock held): all but
        those sent less than a flush interval ago, whose batch left them pending."""
        if (kind, number) in self._closed:
            return []
        with self.db.session() as s:
            rows: list[Held] = list(
                queries.pending_commitments(s, number)
                if kind == COMMITMENTS
                else queries.pending_attestations(s, number)
            )
        now, interval = time.monotonic(), self.settings.flush_interval_s
        return [
            r
            for r in rows
            if now - self._sent.get((kind, number, r.participant), -interval) >= interval
        ]

    def _submit_all(self, kind: str, number: int, rows: Sequence[Held]) -> None:
        size = self.settings.batch_size
        for start in range(0, len(rows), size):
            if (kind, number) not in self._closed:
                self._submit_batch(kind, number, rows[start : start + size])

    def _submit_batch(self, kind: str, number: int, batch: Sequence[Held]) -> None:
        """Submit ``batch`` (the lock held) and record what the ledger did with each item."""
        now = time.monotonic()
        for row in batch:
            self._sent[(kind, number, row.participant)] = now
        try:
            result = self._submit(kind, number, [_item(row) for row in batch])
        except ContractRevertError as exc:
            if exc.error not in _ROUND_REFUSALS:
                raise
            self._closed.add((kind, number))  # no batch of this round can land any more
            log.warning("round %d: %s refused as a whole (%s)", number, kind, exc.error)
            if kind == ATTESTATIONS:
                self._drop_attestations(number)
            return
        if result is None:
            return
        accepted = {str(e.args["participant"]) for e in result.tx.all(_ACCEPTED_EVENT[kind])}
        skipped = {r.signer: r.reason for r in result.rejected}
        with self.db.session() as s:
            table = UpdateRecord if kind == COMMITMENTS else AttestationRecord
            queries.mark_on_chain(s, table, number, accepted, result.tx.tx_hash)
        for row in batch:
            reason = skipped.get(row.participant)
            if reason is not None and isinstance(row, UpdateRecord):
                self._skipped_commitment(number, row, reason)
            elif reason is not None and isinstance(row, AttestationRecord):
                self._skipped_attestation(number, row, reason)
        log.info(
            "round %d: %s put %d of %d items on chain in %s (%d gas)",
            number,
            kind,
            len(accepted),
            len(batch),
            result.tx.tx_hash[:10],
            result.tx.gas_used,
        )
        if kind == ATTESTATIONS and accepted:
            self._on_change()

    def _submit(self, kind: str, number: int, items: Sequence[SignedItem]) -> RelayResult | None:
        """Send one batch to the ledger; ``None`` when nothing was sent. The one place items
        leave for the chain (a test substitutes a relayer that omits some)."""
        if kind == COMMITMENTS:
            return self.ledger.relay_commitments(self.account, number, items)
        return self.ledger.relay_attestations(self.account, number, items)

    def _drop_attestations(self, number: int) -> None:
        with self.db.session() as s:
            for row in queries.pending_attestations(s, number):
                s.delete(row)


def _item(row: Held) -> SignedItem:
    """The ledger's item of a held signed message."""
    if isinstance(row, UpdateRecord):
        assert row.commitment_signature is not None  # pending: it has one
        signature, digest = row.commitment_signature, row.blob_hash
    else:
        signature, digest = row.signature, row.model_hash
    return SignedItem.from_signature(row.participant, fc.hash_from_hex(digest), signature)
