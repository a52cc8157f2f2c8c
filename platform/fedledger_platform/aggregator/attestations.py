"""Signed model attestations: an included participant hands its EIP-712
``ModelAttestation(round, modelHash)`` to the aggregator, which holds it for the relayer
(:mod:`~fedledger_platform.aggregator.relayer`) — the participant needs no ether.

The first attester of a hash whose bytes the aggregator lacks is asked to upload them, so that
the model reaches the aggregator before or at its publication; ``PUT /v1/models/{hash}``
accepts the bytes of a hash an included participant attested, held here or on chain. Knows
nothing of HTTP: a refusal is a typed :class:`~fedledger_platform.protocol.rejections.Rejection`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

import fedledger_crypto as fc
from fedledger_platform.aggregator.chain_reads import ChainReads
from fedledger_platform.aggregator.nonces import Sender, spending, use_up
from fedledger_platform.ledger import SignatureFormatError, recover_signer
from fedledger_platform.protocol import RoundPhase
from fedledger_platform.protocol.rejections import (
    BadTypedSignature,
    DuplicateUpdate,
    NotAdmitted,
    NotAllowed,
    RoundNotClosed,
)
from fedledger_platform.storage import AttestationRecord, BlobStore, Database, queries

__all__ = ["AttestationReceipt", "Attestations"]


@dataclass(frozen=True)
class AttestationReceipt:
    """What the aggregator answers a held attestation (the same for an identical re-send)."""

    round_number: int
    participant: str
    model_hash: str
    upload_model: bool  # this attester is asked to upload the model's bytes now


class Attestations:
    """The signed attestations of one aggregator; ``wake`` runs the relayer now."""

    def __init__(
        self, db: Database, blobs: BlobStore, chain: ChainReads, wake: Callable[[], None]
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.chain = chain
        self._wake = wake

    def accept(
        self, sender: Sender, *, round_number: int, model_hash: bytes, signature: bytes
    ) -> tuple[AttestationReceipt, bool]:
        """Check and hold one signed attestation; returns the receipt and whether it is new.

        Order: admission on chain, the signature (the sender's ``ModelAttestation(round,
        model_hash)`` on this ledger), the round closed or published, the sender included in
        it, a different attestation already held (an identical one gets its receipt again).
        The row and the nonce are written in one transaction.
        """
        participant = sender.address
        if not self.chain.is_admitted(participant):
            raise NotAdmitted(f"{participant} is not an admitted participant")
        name = fc.hash_hex(model_hash)
        self._check_signature(round_number, participant, model_hash, signature)
        with self.db.session() as s:
            record = queries.round_record(s, round_number)
            included = queries.update(s, round_number, participant) is not None
            held = queries.attestation(s, round_number, participant)
        if record is None or record.phase not in (RoundPhase.CLOSED, RoundPhase.PUBLISHED):
            phase = record.phase if record else "not opened"
            raise RoundNotClosed(f"round {round_number} is not closed (it is {phase})")
        if not included:
            raise NotAllowed(f"{participant} is not included in round {round_number}")
        if held is not None:
            return self._again(sender, held, name)
        ask = not self._model_stored(model_hash)
        try:
            with spending(self.db, sender) as s:
                ask = ask and not queries.model_attester_asked(s, round_number, name)
                s.add(
                    AttestationRecord(
                        round_number=round_number,
                        participant=participant,
                        model_hash=name,
                        signature=signature,
                        received_at=int(time.time()),
                        on_chain=False,
                        asked_for_model=ask,
                    )
                )
        except IntegrityError:  # the same participant's concurrent request inserted first
            with self.db.session() as s:
                held = queries.attestation(s, round_number, participant)
            if held is None:
                raise
            return self._again(sender, held, name)
        self._wake()
        return AttestationReceipt(round_number, participant, name, ask), True

    def _check_signature(
        self, round_number: int, participant: str, model_hash: bytes, signature: bytes
    ) -> None:
        try:
            signer = recover_signer(
                self.chain.ledger.domain, "ModelAttestation", round_number, signature, model_hash
            )
        except SignatureFormatError as exc:
            raise BadTypedSignature(f"the attestation signature is malformed: {exc}") from exc
        if signer != participant:
            raise BadTypedSignature(
                f"the signature is not {participant}'s signature of ModelAttestation("
                f"{round_number}, {fc.hash_hex(model_hash)}) on this ledger and chain"
            )

    def _again(
        self, sender: Sender, held: AttestationRecord, name: str
    ) -> tuple[AttestationReceipt, bool]:
        """An attestation already held: an identical one is answered again (using up its
        nonce, with the request to upload still standing if the bytes are missing)."""
        if held.model_hash != name:
            raise DuplicateUpdate(
                f"{held.participant} already attested {held.model_hash} in round "
                f"{held.round_number}; one attestation per participant per round"
            )
        use_up(self.db, sender)
        ask = held.asked_for_model and not self._model_stored(fc.hash_from_hex(name))
        return AttestationReceipt(held.round_number, held.participant, name, ask), False

    def _model_stored(self, model_hash: bytes) -> bool:
        with self.db.session() as s:
            known = queries.model(s, fc.hash_hex(model_hash)) is not None
        return known and self.blobs.exists(model_hash)
