"""Global models: storing validated model bytes, the models participants upload once they
attested them, a round's base model, and the published models consumers read."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import IntegrityError

import fedledger_crypto as fc
from fedledger_platform.aggregator.chain_reads import ChainReads
from fedledger_platform.aggregator.nonces import Sender, spending, use_up
from fedledger_platform.modelfile import ModelFile, ModelFileError, decode_model
from fedledger_platform.protocol.rejections import (
    BaseModelMissing,
    CommitmentMismatch,
    MalformedModel,
    NotAdmitted,
    NotAttested,
    NotFound,
    NotReady,
)
from fedledger_platform.storage import BlobStore, Database, ModelRecord, RoundRecord, queries

__all__ = ["ModelStore"]


class ModelStore:
    """The models of one aggregator; ``wake`` runs the coordinator now (attested bytes arrived,
    so a round may be published and the next one opened)."""

    def __init__(
        self, db: Database, blobs: BlobStore, chain: ChainReads, wake: Callable[[], None]
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.chain = chain
        self._wake = wake

    def store(
        self,
        data: bytes,
        *,
        round_number: int,
        uploaded_by: str | None,
        sender: Sender | None = None,
        digest: bytes | None = None,
    ) -> tuple[str, bool]:
        """Store model bytes (validated as a model file); returns the 0x-hash and whether it
        was new. Idempotent, also under concurrent uploads of the same bytes (every attester
        may upload them at once): the first insert wins, the others find the row.

        ``sender``'s nonce is used up with the model row, or alone when the bytes were already
        stored; ``digest`` is the keccak256 of ``data`` when the caller has computed it.
        """
        name = fc.hash_hex(fc.keccak256(data) if digest is None else digest)
        with self.db.session() as s:
            stored = queries.model(s, name) is not None
        if stored and self.blobs.exists(fc.hash_from_hex(name)):
            use_up(self.db, sender)
            self._wake()  # re-sent by the attester that completed the quorum: publish promptly
            return name, False
        try:
            decode_model(data)
        except ModelFileError as exc:
            raise MalformedModel(str(exc)) from exc
        self.blobs.put(data)  # also repairs a stored row whose blob went missing
        try:
            with spending(self.db, sender) as s:
                if queries.model(s, name) is not None:
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
        except IntegrityError:  # a concurrent upload of the same bytes inserted the row first
            with self.db.session() as s:
                if queries.model(s, name) is None:
                    raise
            use_up(self.db, sender)
            return name, False
        self._wake()
        return name, True

    def accept_upload(
        self, sender: Sender, *, model_hash: bytes, round_number: int, body: Path, body_hash: bytes
    ) -> bool:
        """A participant's upload of model bytes (``body``, hashing to ``body_hash``) named
        ``model_hash`` for ``round_number``; returns whether they were new.

        Accepted only from an admitted participant, when the body hashes to the name and some
        included participant attested that hash for the round — in a verified signed
        attestation the aggregator holds, or on chain; only then is the body read and parsed.
        """
        if not self.chain.is_admitted(sender.address):
            raise NotAdmitted(f"{sender.address} is not an admitted participant")
        if body_hash != model_hash:
            raise CommitmentMismatch(
                f"keccak256 of the body is {fc.hash_hex(body_hash)}, not {fc.hash_hex(model_hash)}"
            )
        with self.db.session() as s:
            held = queries.attestation_held(s, round_number, fc.hash_hex(model_hash))
        if not held and self.chain.ledger.attestation_count(round_number, model_hash) < 1:
            raise NotAttested(
                f"no included participant attested {fc.hash_hex(model_hash)} for round "
                f"{round_number}"
            )
        _, new = self.store(
            body.read_bytes(),
            round_number=round_number,
            uploaded_by=sender.address,
            sender=sender,
            digest=body_hash,
        )
        return new

    def base_model(self, record: RoundRecord) -> ModelFile:
        """The decoded base model of a round (its layout fixes the round's update schema)."""
        digest = fc.hash_from_hex(record.base_model_hash)
        if not self.blobs.exists(digest):
            raise BaseModelMissing(
                f"the bytes of round {record.number}'s base model {record.base_model_hash} are "
                "not stored yet; an attester of that model uploads them"
            )
        try:
            return decode_model(self.blobs.get(digest))
        except (OSError, ModelFileError) as exc:
            raise NotReady(f"base model {record.base_model_hash} is not available: {exc}") from exc

    def initial_model_hash(self) -> str | None:
        """Hash of the stored round-0 model, if any."""
        with self.db.session() as s:
            record = queries.initial_model(s)
            return record.hash if record else None

    def model(self, digest: bytes) -> ModelRecord:
        """A stored model's record."""
        return self.info(digest, published=False)[0]

    def info(self, digest: bytes, *, published: bool = True) -> tuple[ModelRecord, bool]:
        """A stored model's record and (when asked) whether some round published it."""
        name = fc.hash_hex(digest)
        with self.db.session() as s:
            record = queries.model(s, name)
            if record is None:
                raise NotFound(f"model {name} is not stored")
            return record, published and queries.is_published(s, name)

    def latest_published(self) -> RoundRecord:
        """The latest published round whose model bytes are stored."""
        with self.db.session() as s:
            record = queries.latest_published(s, lambda h: self.blobs.exists(fc.hash_from_hex(h)))
        if record is None:
            raise NotFound("no published model has been stored yet")
        return record
