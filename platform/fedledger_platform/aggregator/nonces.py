"""Who signed an accepted request, and the nonce its acceptance uses up.

A request's nonce is recorded in the same transaction as what the request changes — or alone,
when the request is answered from what is already stored — so that every accepted request,
new or idempotent, can be sent only once. A rejected request records nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fedledger_platform.protocol.rejections import ReplayedNonce
from fedledger_platform.storage import Database, NonceRecord, queries

__all__ = ["Sender", "spend", "spending", "use_up"]


@dataclass(frozen=True)
class Sender:
    """The verified signer of a request, and its nonce with the time it may be forgotten (once
    a replay would fail the timestamp check anyway)."""

    address: str
    nonce: str
    expires_at: int

    def replayed(self) -> ReplayedNonce:
        """The refusal of a request whose nonce was already used."""
        return ReplayedNonce(f"nonce {self.nonce} was already used by {self.address}")

    def check_unused(self, db: Database) -> None:
        """:class:`ReplayedNonce` when the nonce was already used: an early refusal, before the
        work of accepting (the accepting transaction checks again)."""
        with db.session() as s:
            if queries.nonce_used(s, self.address, self.nonce):
                raise self.replayed()


def spend(session: Session, sender: Sender) -> None:
    """Record ``sender``'s nonce first in ``session``'s transaction; :class:`ReplayedNonce` when
    it was used, also by a concurrent request (the one place a nonce conflict becomes a
    refusal)."""
    row = NonceRecord(address=sender.address, nonce=sender.nonce, expires_at=sender.expires_at)
    try:
        queries.add_nonce(session, row)
    except IntegrityError as exc:
        raise sender.replayed() from exc


@contextmanager
def spending(db: Database, sender: Sender | None) -> Iterator[Session]:
    """A transaction that uses up ``sender``'s nonce before anything else it writes (``None``:
    the aggregator's own write). A replay raises :class:`ReplayedNonce` and writes nothing."""
    with db.session() as s:
        if sender is not None:
            spend(s, sender)
        yield s


def use_up(db: Database, sender: Sender | None) -> None:
    """Use up ``sender``'s nonce alone: the request is accepted and answered from what is
    already stored (``None``: the aggregator's own call, nothing to record)."""
    with spending(db, sender):
        pass
