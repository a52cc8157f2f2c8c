"""The database: an engine, sessions, and Alembic migrations run at start-up.

SQLite by default (WAL mode, so readers never block the writer), PostgreSQL by URL
(``postgresql+psycopg://user@host:port/db``). The schema only ever changes through the Alembic
migrations shipped in ``migrations/``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, sessionmaker

__all__ = ["MIGRATIONS", "Database"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged upload survives power loss
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _note_flush(session: Session, _flush: UOWTransaction) -> None:
    # Still the pre-flush state here: new, dirty and deleted list what this flush writes.
    written = session.info.setdefault("written", set())
    for instance in (*session.new, *session.dirty, *session.deleted):
        written.add(instance.__table__.name)


def _note_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        state.session.info.setdefault("written", set()).add(getattr(table, "name", "*"))


class Database:
    """A SQLAlchemy engine plus a session factory for one database URL.

    :meth:`generation` counts committed writes per table, so a reader can keep an answer for
    as long as the tables behind it have not changed (within this process, the only writer).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self._sessions, "after_flush", _note_flush)
        event.listen(self._sessions, "do_orm_execute", _note_statement)
        self._generations: dict[str, int] = {}
        self._generations_lock = threading.Lock()

    def migrate(self) -> None:
        """Bring the schema to the latest migration (idempotent)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def tables(self) -> list[str]:
        """Names of the existing tables."""
        return sorted(inspect(self.engine).get_table_names())

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any exception."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            written = session.info.pop("written", None)
            session.close()
        if written:
            # Counted only after the commit: a reader that saw the old count cannot have read
            # data older than the count it sees next.
            with self._generations_lock:
                for table in written:
                    self._generations[table] = self._generations.get(table, 0) + 1

    def generation(self, *tables: str) -> int:
        """How many committed sessions of this process wrote to any of ``tables`` (or, for a
        statement whose table is unknown, ``"*"``)."""
        with self._generations_lock:
            return sum(self._generations.get(t, 0) for t in (*tables, "*"))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
