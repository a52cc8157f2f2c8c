"""Alembic environment: runs migrations on the connection handed over by ``Database.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from fedledger_platform.storage.tables import Base

target_metadata = Base.metadata
config = context.config
connection = config.attributes.get("connection")

if connection is None:  # `alembic upgrade` from the command line with sqlalchemy.url set
    engine = engine_from_config(
        config.get_section(config.config_ini_section) or {},
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
