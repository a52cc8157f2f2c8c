"""Every query the aggregator runs, as plain functions of a :class:`~sqlalchemy.orm.Session`.

The session's transaction is the caller's (``Database.session()``): a function here never
commits, so a caller composes several reads and writes into one transaction. Reads that a
request answers from cost a fixed number of statements however long the history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import delete, func, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from fedledger_platform.protocol import RoundPhase
from fedledger_platform.storage.tables import (
    AttestationRecord,
    DroppedRecord,
    ModelRecord,
    NonceRecord,
    ParametersRecord,
    RevealRecord,
    RoundRecord,
    SealedKeyRecord,
    UpdateRecord,
)

__all__ = [
    "accepted_count",
    "add_nonce",
    "attestation",
    "attestation_held",
    "attestation_rounds",
    "attestations_by_hash",
    "dropped_by_round",
    "initial_model",
    "is_published",
    "latest_published",
    "latest_round",
    "mark_on_chain",
    "model",
    "model_attester_asked",
    "nonce_used",
    "parameters",
    "participants_by_round",
    "pending_attestations",
    "pending_commitments",
    "purge_nonces",
    "reveal",
    "reveals",
    "round_record",
    "round_updates",
    "rounds",
    "rounds_in",
    "sealed_key",
    "sealed_recipients",
    "update",
]

# ---------------------------------------------------------------------- rounds


def latest_round(session: Session) -> RoundRecord | None:
    """The round with the highest number (``None`` before the first): one row read, however
    long the history. (An ORM ``first()`` without a limit builds every row's object first.)"""
    return session.scalars(select(RoundRecord).order_by(RoundRecord.number.desc()).limit(1)).first()


def round_record(session: Session, number: int) -> RoundRecord | None:
    """Round ``number`` (``None`` if never recorded)."""
    return session.get(RoundRecord, number)


def rounds(session: Session) -> list[RoundRecord]:
    """Every round, oldest first."""
    return list(session.scalars(select(RoundRecord).order_by(RoundRecord.number)).all())


def rounds_in(session: Session, phases: Iterable[RoundPhase]) -> list[RoundRecord]:
    """The rounds in any of ``phases``, oldest first."""
    query = select(RoundRecord).where(RoundRecord.phase.in_(list(phases)))
    return list(session.scalars(query.order_by(RoundRecord.number)).all())


# ---------------------------------------------------------------------- updates


def participants_by_round(session: Session, number: int | None = None) -> dict[int, list[str]]:
    """Accepted participants by round, in address order: of round ``number``, or of every
    round in one query."""
    query = select(UpdateRecord.round_number, UpdateRecord.participant).order_by(
        UpdateRecord.round_number, UpdateRecord.participant
    )
    if number is not None:
        query = query.where(UpdateRecord.round_number == number)
    by_round: dict[int, list[str]] = {}
    for round_number, participant in session.execute(query):
        by_round.setdefault(round_number, []).append(participant)
    return by_round


def round_updates(session: Session, number: int) -> list[UpdateRecord]:
    """Round ``number``'s accepted updates, in participant address order."""
    query = select(UpdateRecord).where(UpdateRecord.round_number == number)
    return list(session.scalars(query.order_by(UpdateRecord.participant)).all())


def update(session: Session, number: int, participant: str) -> UpdateRecord | None:
    """``participant``'s accepted update in round ``number``, if any."""
    return session.get(UpdateRecord, (number, participant))


def accepted_count(session: Session, number: int) -> int:
    """How many updates round ``number`` has accepted."""
    query = select(func.count()).select_from(UpdateRecord)
    return int(session.scalar(query.where(UpdateRecord.round_number == number)) or 0)


# ---------------------------------------------------------------------- dropouts


def dropped_by_round(session: Session, number: int | None = None) -> dict[int, list[str]]:
    """Dropped members by round, in address order: of round ``number``, or of every round in
    one query."""
    query = select(DroppedRecord.round_number, DroppedRecord.participant).order_by(
        DroppedRecord.round_number, DroppedRecord.participant
    )
    if number is not None:
        query = query.where(DroppedRecord.round_number == number)
    by_round: dict[int, list[str]] = {}
    for round_number, participant in session.execute(query):
        by_round.setdefault(round_number, []).append(participant)
    return by_round


def reveals(session: Session, number: int, *, dropped: str | None = None) -> list[RevealRecord]:
    """Round ``number``'s stored reveals (those for ``dropped`` only, if given), ordered by
    dropped member then revealer."""
    query = select(RevealRecord).where(RevealRecord.round_number == number)
    if dropped is not None:
        query = query.where(RevealRecord.dropped == dropped)
    return list(session.scalars(query.order_by(RevealRecord.dropped, RevealRecord.revealer)))


def reveal(session: Session, number: int, revealer: str, dropped: str) -> RevealRecord | None:
    """The reveal ``revealer`` gave for ``dropped`` in round ``number``, if any."""
    return session.get(RevealRecord, (number, revealer, dropped))


def pending_commitments(
    session: Session, number: int, limit: int | None = None
) -> list[UpdateRecord]:
    """Round ``number``'s accepted updates whose signed commitment is not on chain yet, oldest
    first (at most ``limit``)."""
    query = (
        select(UpdateRecord)
        .where(UpdateRecord.round_number == number, UpdateRecord.commitment_on_chain.is_(False))
        .order_by(UpdateRecord.received_at, UpdateRecord.participant)
    )
    return list(session.scalars(query.limit(limit)).all())


def mark_on_chain(
    session: Session,
    table: type[UpdateRecord] | type[AttestationRecord],
    number: int,
    participants: Iterable[str],
    tx: str | None,
) -> None:
    """Record that the ledger holds the commitments (``UpdateRecord``) or attestations
    (``AttestationRecord``) of ``participants`` in round ``number``; ``tx``: the batch that
    put them there, when the aggregator's own."""
    who = list(participants)
    if table is UpdateRecord:
        statement = (
            sql_update(UpdateRecord)
            .where(UpdateRecord.round_number == number, UpdateRecord.participant.in_(who))
            .values(commitment_on_chain=True, relay_tx=tx)
        )
    else:
        statement = (
            sql_update(AttestationRecord)
            .where(AttestationRecord.round_number == number, AttestationRecord.participant.in_(who))
            .values(on_chain=True, relay_tx=tx)
        )
    session.execute(statement)


# ---------------------------------------------------------------------- attestations


def attestation(session: Session, number: int, participant: str) -> AttestationRecord | None:
    """``participant``'s signed attestation held for round ``number``, if any."""
    return session.get(AttestationRecord, (number, participant))


def pending_attestations(
    session: Session, number: int, limit: int | None = None
) -> list[AttestationRecord]:
    """Round ``number``'s held attestations not on chain yet, oldest first (at most ``limit``)."""
    query = (
        select(AttestationRecord)
        .where(AttestationRecord.round_number == number, AttestationRecord.on_chain.is_(False))
        .order_by(AttestationRecord.received_at, AttestationRecord.participant)
    )
    return list(session.scalars(query.limit(limit)).all())


def attestation_rounds(session: Session) -> list[int]:
    """The rounds that hold attestations not on chain yet, oldest first."""
    query = select(AttestationRecord.round_number).where(AttestationRecord.on_chain.is_(False))
    return sorted(set(session.scalars(query.distinct()).all()))


def attestations_by_hash(session: Session, number: int) -> dict[str, int]:
    """How many attestations round ``number`` holds per model hash (on chain or not)."""
    query = (
        select(AttestationRecord.model_hash, func.count())
        .where(AttestationRecord.round_number == number)
        .group_by(AttestationRecord.model_hash)
    )
    return {model_hash: int(count) for model_hash, count in session.execute(query)}


def attestation_held(session: Session, number: int, model_hash: str) -> bool:
    """Whether some included participant's verified attestation of ``model_hash`` for round
    ``number`` is held."""
    query = select(AttestationRecord.participant).where(
        AttestationRecord.round_number == number, AttestationRecord.model_hash == model_hash
    )
    return session.scalars(query.limit(1)).first() is not None


def model_attester_asked(session: Session, number: int, model_hash: str) -> bool:
    """Whether an attester of ``model_hash`` in round ``number`` was asked for its bytes."""
    query = select(AttestationRecord.participant).where(
        AttestationRecord.round_number == number,
        AttestationRecord.model_hash == model_hash,
        AttestationRecord.asked_for_model.is_(True),
    )
    return session.scalars(query.limit(1)).first() is not None


# ---------------------------------------------------------------------- models


def model(session: Session, model_hash: str) -> ModelRecord | None:
    """The stored model named ``model_hash`` (0x-hex)."""
    return session.get(ModelRecord, model_hash)


def initial_model(session: Session) -> ModelRecord | None:
    """The round-0 model, if stored."""
    return session.scalars(select(ModelRecord).where(ModelRecord.round_number == 0)).first()


def is_published(session: Session, model_hash: str) -> bool:
    """Whether some round published ``model_hash``."""
    query = select(RoundRecord.number).where(RoundRecord.published_model_hash == model_hash)
    return session.scalars(query.limit(1)).first() is not None


def latest_published(session: Session, stored: Callable[[str], bool]) -> RoundRecord | None:
    """The latest published round whose model ``stored(hash)`` says is stored (its bytes may
    arrive after the round is published)."""
    query = select(RoundRecord).where(RoundRecord.phase == RoundPhase.PUBLISHED)
    for record in session.scalars(query.order_by(RoundRecord.number.desc())):
        if record.published_model_hash is not None and stored(record.published_model_hash):
            return record
    return None


# ---------------------------------------------------------------------- nonces


def nonce_used(session: Session, address: str, nonce: str) -> bool:
    """Whether ``address`` already used ``nonce`` in an accepted request."""
    return session.get(NonceRecord, (address, nonce)) is not None


def add_nonce(session: Session, record: NonceRecord) -> None:
    """Insert ``record`` now (a flush): a used nonce fails here, before any other write of the
    transaction, with ``sqlalchemy.exc.IntegrityError``."""
    session.add(record)
    session.flush()


def purge_nonces(session: Session, now: int) -> int:
    """Forget nonces whose window ended before ``now``; returns how many."""
    result = session.execute(delete(NonceRecord).where(NonceRecord.expires_at < now))
    return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------------- keys


def sealed_key(session: Session, recipient: str) -> SealedKeyRecord | None:
    """The sealed key stored for ``recipient``."""
    return session.get(SealedKeyRecord, recipient)


def sealed_recipients(session: Session) -> set[str]:
    """Every recipient that has a sealed key."""
    return set(session.scalars(select(SealedKeyRecord.recipient)).all())


def parameters(session: Session) -> ParametersRecord | None:
    """The published CKKS parameters (one row, once published)."""
    return session.get(ParametersRecord, 1)
