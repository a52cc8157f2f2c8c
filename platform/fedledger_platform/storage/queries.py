"""Every query the aggregator runs, as plain functions of a :class:`~sqlalchemy.orm.Session`.

The session's transaction is the caller's (``Database.session()``): a function here never
commits, so a caller composes several reads and writes into one transaction. Reads that a
request answers from cost a fixed number of statements however long the history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fedledger_platform.protocol import RoundPhase
from fedledger_platform.storage.tables import (
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
    "dropped_by_round",
    "initial_model",
    "is_published",
    "latest_published",
    "latest_round",
    "model",
    "nonce_used",
    "parameters",
    "participants_by_round",
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
