"""Update intake: verify one uploaded update, store it, and add it into its round's sum.

An upload carries the participant's signed commitment to the body, which the aggregator
relays (:mod:`~fedledger_platform.aggregator.relayer`): the participant needs no ether. An
upload without one is accepted when the participant committed the body's hash on chain itself.
Also hands a stored update to an auditor. Knows nothing of HTTP: a refusal is a typed
:class:`~fedledger_platform.protocol.rejections.Rejection`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import fedledger_crypto as fc
from fedledger_platform.aggregator.chain_reads import ChainReads
from fedledger_platform.aggregator.nonces import Sender, spending, use_up
from fedledger_platform.aggregator.sums import RunningSums
from fedledger_platform.aggregator.unmasking import Unmasking
from fedledger_platform.ledger import AUDITOR_ROLE, SignatureFormatError, recover_signer
from fedledger_platform.protocol import COMMITMENT_SIGNATURE_HEADER, RoundPhase
from fedledger_platform.protocol.rejections import (
    BadTypedSignature,
    CommitmentMismatch,
    DuplicateUpdate,
    MalformedBlob,
    NotAdmitted,
    NotAllowed,
    NotFound,
    RoundNotOpen,
    WrongParameters,
    WrongSchema,
)
from fedledger_platform.storage import BlobStore, Database, UpdateRecord, queries
from fedledger_platform.storage.blobs import PendingBlob

__all__ = ["Intake", "UpdateReceipt"]

log = logging.getLogger("fedledger.aggregator")


@dataclass(frozen=True)
class UpdateReceipt:
    """What the aggregator acknowledges for an accepted update (same for a re-upload)."""

    round_number: int
    participant: str
    update_hash: str
    size: int
    received_at: int

    @classmethod
    def of(cls, update: UpdateRecord) -> UpdateReceipt:
        """The receipt of a stored update."""
        return cls(
            round_number=update.round_number,
            participant=update.participant,
            update_hash=update.blob_hash,
            size=update.size,
            received_at=update.received_at,
        )


class Intake:
    """Accepts the updates of one aggregator; ``wake`` runs the coordinator and the relayer
    now (a round may be complete, a signed commitment waits)."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        chain: ChainReads,
        sums: RunningSums,
        unmasking: Unmasking,
        *,
        wake: Callable[[], None],
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.chain = chain
        self.sums = sums
        self.unmasking = unmasking
        self._wake = wake

    def accept(
        self,
        sender: Sender,
        *,
        round_number: int,
        pending: PendingBlob,
        digest: bytes,
        commitment_signature: bytes | None = None,
    ) -> tuple[UpdateReceipt, bool]:
        """Check and accept one uploaded update; returns the receipt and whether it is new.

        Order: admission on chain, an identical re-upload (answered with its stored receipt),
        none of the sender's mask seeds revealed (a dropped member), round open, membership of
        a masked round, duplicate, then the commitment — ``commitment_signature`` (the
        uploader's signed ``UpdateCommitment(round, keccak256(body))``, before the round's
        deadline), or else the uploader's commitment on chain equal to keccak256 of the body —
        then the blob well-formed under the federation's parameters and the round's schema.
        Only then is the blob moved into the store and the row (with the signature, for the
        relayer) and nonce committed, after the blob was added into the running sum. Any
        rejection leaves the database, the blob store and the sum unchanged.
        """
        participant = sender.address
        if not self.chain.is_admitted(participant):
            raise NotAdmitted(f"{participant} is not an admitted participant")
        name = fc.hash_hex(digest)
        # Cheap checks first, without the lock; they are repeated under it below.
        stored = self._stored_receipt(round_number, participant, name)
        if stored is not None:
            return self._again(sender, stored)
        self.unmasking.check_member(round_number, participant)
        if commitment_signature is not None:
            self._check_signed_commitment(round_number, participant, digest, commitment_signature)
        else:
            self._check_commitment_on_chain(round_number, participant, digest)
        with self.sums.lock:
            stored = self._stored_receipt(round_number, participant, name)
            if stored is not None:
                return self._again(sender, stored)
            with self.db.session() as s:
                record = queries.round_record(s, round_number)
            assert record is not None  # open, checked under the lock

            def persist() -> UpdateRecord:
                # The nonce first: a replay is refused before the blob moves into the store.
                with spending(self.db, sender) as s:
                    self.blobs.commit(pending, digest)
                    update = UpdateRecord(
                        round_number=round_number,
                        participant=participant,
                        blob_hash=name,
                        size=pending.size,
                        received_at=int(time.time()),
                        commitment_signature=commitment_signature,
                        commitment_on_chain=commitment_signature is None,
                    )
                    s.add(update)
                return update

            try:
                update = self.sums.add(record, participant, pending.path, persist)
            except fc.ParameterMismatchError as exc:
                raise WrongParameters(str(exc)) from exc
            except fc.SchemaMismatchError as exc:
                raise WrongSchema(str(exc)) from exc
            except fc.BlobError as exc:
                raise MalformedBlob(str(exc)) from exc
        self._wake()
        log.info("round %d: accepted %s from %s", round_number, name[:10], participant)
        return UpdateReceipt.of(update), True

    def _check_signed_commitment(
        self, round_number: int, participant: str, digest: bytes, signature: bytes
    ) -> None:
        """Refuses a signed commitment the ledger would not take: not the uploader's signature
        of ``UpdateCommitment(round, keccak256(body))`` on this ledger, or after the deadline
        (the chain's clock or the wall clock)."""
        try:
            signer = recover_signer(
                self.chain.ledger.domain, "UpdateCommitment", round_number, signature, digest
            )
        except SignatureFormatError as exc:
            raise BadTypedSignature(f"the commitment signature is malformed: {exc}") from exc
        if signer != participant:
            raise BadTypedSignature(
                f"the commitment signature is not {participant}'s signature of "
                f"UpdateCommitment({round_number}, {fc.hash_hex(digest)}) (the body's keccak256) "
                "on this ledger and chain"
            )
        with self.db.session() as s:
            record = queries.round_record(s, round_number)
        if record is not None and self.chain.deadline_passed(record.deadline):
            raise RoundNotOpen(
                f"round {round_number}'s commit deadline {record.deadline} has passed: a signed "
                "commitment can no longer reach the chain"
            )

    def _check_commitment_on_chain(
        self, round_number: int, participant: str, digest: bytes
    ) -> None:
        """Refuses an upload without a signed commitment unless the uploader committed the
        body's keccak256 on chain itself."""
        commitment = self.chain.ledger.update_commitment(round_number, participant)
        if commitment != digest:
            detail = (
                "no commitment on chain, and no signed commitment in the "
                f"{COMMITMENT_SIGNATURE_HEADER} header"
                if commitment == bytes(32)
                else f"the on-chain commitment is {fc.hash_hex(commitment)}"
            )
            raise CommitmentMismatch(f"keccak256 of the body is {fc.hash_hex(digest)}; {detail}")

    def _again(self, sender: Sender, receipt: UpdateReceipt) -> tuple[UpdateReceipt, bool]:
        """An identical re-upload: accepted again, so it uses up its nonce."""
        use_up(self.db, sender)
        return receipt, False

    def _stored_receipt(
        self, round_number: int, participant: str, name: str
    ) -> UpdateReceipt | None:
        """Refuses unless the round is open; the stored receipt of an identical re-upload."""
        with self.db.session() as s:
            record = queries.round_record(s, round_number)
            existing = queries.update(s, round_number, participant)
        if existing is not None and existing.blob_hash == name:
            return UpdateReceipt.of(existing)  # idempotent, even after the round closed
        self.unmasking.check_not_revealed(round_number, participant)
        if record is None or record.phase != RoundPhase.OPEN:
            phase = record.phase if record else "not opened"
            raise RoundNotOpen(f"round {round_number} is not open (it is {phase})")
        if existing is not None:
            raise DuplicateUpdate(
                f"{participant} already submitted {existing.blob_hash} in round {round_number}; "
                "one update per participant per round"
            )
        return None

    def stored_update(self, sender: Sender, round_number: int, participant: str) -> bytes:
        """The hash of ``participant``'s stored update in ``round_number``, for an auditor
        (``sender`` must hold AUDITOR_ROLE); uses up the request's nonce."""
        if not self.chain.ledger.has_role(AUDITOR_ROLE, sender.address):
            raise NotAllowed(
                "individual updates are served to auditors only (AUDITOR_ROLE on the ledger); "
                "participants share the CKKS key and must never see each other's updates"
            )
        with self.db.session() as s:
            record = queries.update(s, round_number, participant)
        if record is None:
            raise NotFound(f"no update from {participant} in round {round_number}")
        use_up(self.db, sender)  # a captured auditor request cannot be replayed
        return fc.hash_from_hex(record.blob_hash)
