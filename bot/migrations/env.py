"""Alembic's environment: runs the revisions in versions/ on a connection.

Two ways in. The bot and ``helpdesk db upgrade`` (bot/migrations/__init__.py) hand over a
connection, already in a transaction and holding the migration lock, in
``config.attributes["connection"]``. The ``alembic`` command line (developers, with the
repository's alembic.ini) hands over nothing: then the database is ``sqlalchemy.url`` from the
ini file if set, else ``HELPDESK_DATABASE_URL`` (the settings, ``.env`` included).
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from bot.db import import_models, make_engine
from bot.migrations import lock_for_migrations
from faq.models import UtcDateTime

config = context.config
if config.config_file_name is not None and config.attributes.get("connection") is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

import_models()
target_metadata = SQLModel.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Write the project's column types as the plain SQLAlchemy types they store as, so a
    revision never imports application code that may change or move after it was written."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime()"
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_item=render_item,
        # SQLite cannot ALTER most things; batch mode copies the table instead. A no-op elsewhere.
        render_as_batch=True,
        compare_type=True,
        **kwargs,
    )


def run_on(connection: Connection) -> None:
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from bot.settings import load_settings

    return load_settings().database_url


def run_offline() -> None:
    configure(url=database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    engine = make_engine(database_url())
    try:
        with engine.begin() as connection:
            lock_for_migrations(connection)
            run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
