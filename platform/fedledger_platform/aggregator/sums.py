"""The running sums: per open (unmasking or closing) round, the homomorphic sum of its accepted
updates.

The store — the accepted updates' rows and blobs — is the truth; a sum only saves re-reading
it. A sum is built from the store when a round first needs one, at start-up (after a crash) and
whenever an error may have left it half-updated, so it never holds more or less than what is
stored. CKKS sums serialize deterministically: a rebuilt sum writes the same aggregate bytes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import fedledger_crypto as fc
from fedledger_crypto.masking import Mask
from fedledger_platform.protocol import RoundPhase
from fedledger_platform.storage import BlobStore, Database, RoundRecord, queries
from fedledger_platform.storage.blobs import keccak_file

__all__ = ["RunningSums"]

log = logging.getLogger("fedledger.aggregator")
T = TypeVar("T")


class _RunningRound:
    """The in-memory sum of one round's accepted updates."""

    def __init__(self, context: Any, schema: fc.UpdateSchema) -> None:
        self.sum = fc.StreamingAggregator(context, schema=schema)
        self.participants: set[str] = set()


class RunningSums:
    """The sums of one aggregator's active rounds.

    ``schema_of`` gives a round's update schema (its base model's layout). :attr:`lock` guards
    the sums; hold it across checking an update and adding it, so that no other update or
    close comes between.
    """

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        context: Any,
        schema_of: Callable[[RoundRecord], fc.UpdateSchema],
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.context = context
        self.schema_of = schema_of
        self.lock = threading.RLock()
        self._running: dict[int, _RunningRound] = {}

    def recover(self) -> None:
        """Rebuild the sum of every open, unmasking or closing round that has stored updates and
        no sum in memory (at start-up: the process before may have died mid-round)."""
        active_phases = (RoundPhase.OPEN, RoundPhase.UNMASKING, RoundPhase.CLOSING)
        with self.db.session() as s:
            active = queries.rounds_in(s, active_phases)
            with_updates = [r for r in active if queries.accepted_count(s, r.number)]
        with self.lock:
            for record in with_updates:
                if record.number not in self._running:
                    self._rebuild(record)

    def add(self, record: RoundRecord, participant: str, blob: Path, persist: Callable[[], T]) -> T:
        """Add the update ``blob`` of ``participant`` into ``record``'s sum, then ``persist``
        it; returns what ``persist`` returns.

        A rejected blob (:class:`fedledger_crypto.BlobError`) leaves the sum as it was and is
        raised. Any other failure, while adding or persisting, may leave the sum ahead of the
        store: the sum is rebuilt from the store and the error raised.
        """
        with self.lock:
            running = self._sum_of(record)
            try:
                # Only single updates: an aggregate-kind blob could claim any contributor count.
                running.sum.add_file(blob, kind=fc.BlobKind.UPDATE)
            except fc.BlobError:
                raise  # add_file restored the sum byte for byte
            except BaseException:
                self._rebuild_after_failure(record)
                raise
            try:
                result = persist()
            except BaseException:
                self._rebuild_after_failure(record)
                raise
            running.participants.add(participant)
            return result

    def included(self, record: RoundRecord) -> list[str]:
        """The participants in ``record``'s sum, in address order."""
        with self.lock:
            return sorted(self._sum_of(record).participants)

    def write_aggregate(
        self, record: RoundRecord, correction: Mask | None = None
    ) -> tuple[bytes, list[str]]:
        """Store ``record``'s sum — plus ``correction`` in its first components, the masks of
        dropped members' neighbours removed — in the blob store; returns its keccak256 and the
        included participants in address order."""
        with self.lock:
            running = self._sum_of(record)
            tmp = self.blobs.tmp_dir / f"aggregate-{record.number}.part"
            running.sum.write_result(tmp)
            if correction is not None:
                tmp.write_bytes(fc.apply_correction(self.context, tmp.read_bytes(), correction))
            digest = keccak_file(tmp)
            self.blobs.adopt(tmp, digest)
            return digest, sorted(running.participants)

    def remove(self, number: int, participant: str) -> None:
        """Take ``participant``'s update out of round ``number`` (its commitment cannot reach
        the chain, so ``closeRound`` would refuse it): its row is deleted — its blob stays in
        the store — and the round's sum is rebuilt from what remains, when next needed."""
        with self.lock:
            with self.db.session() as s:
                row = queries.update(s, number, participant)
                if row is not None:
                    s.delete(row)
            self._running.pop(number, None)

    def drop(self, number: int) -> None:
        """Forget round ``number``'s sum (closed or failed: no update is added any more)."""
        with self.lock:
            self._running.pop(number, None)

    def _sum_of(self, record: RoundRecord) -> _RunningRound:
        running = self._running.get(record.number)
        return running if running is not None else self._rebuild(record)

    def _rebuild(self, record: RoundRecord) -> _RunningRound:
        with self.db.session() as s:
            updates = queries.round_updates(s, record.number)
        running = _RunningRound(self.context, self.schema_of(record))
        for update in updates:
            running.sum.add_file(self.blobs.path(fc.hash_from_hex(update.blob_hash)))
            running.participants.add(update.participant)
        self._running[record.number] = running
        if updates:
            log.info("round %d resumed with %d stored updates", record.number, len(updates))
        return running

    def _rebuild_after_failure(self, record: RoundRecord) -> None:
        self._running.pop(record.number, None)
        self._rebuild(record)
