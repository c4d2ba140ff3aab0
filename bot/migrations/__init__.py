"""Schema migrations (Alembic), shipped inside the package so an installed bot can upgrade its
own database: ``env.py``, ``script.py.mako`` and ``versions/`` live next to this file and are
configured here in code, so no ``alembic.ini`` is needed at run time (the one at the repository
root is for developers' ``alembic revision --autogenerate``).

:func:`upgrade` is what the bot runs at start and ``helpdesk db upgrade`` runs by hand. It holds a
lock for the whole upgrade, so several instances starting together on one database take turns
and all but the first find nothing to do: on PostgreSQL a transaction-level advisory lock, on
SQLite the write lock that every transaction takes up front (``BEGIN IMMEDIATE``, bot/db.py).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent
# Sortable file names: date first, so versions/ reads in the order revisions were written.
FILE_TEMPLATE = "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s"
# The revision that creates the schema as create_all made it before migrations existed.
BASELINE = "6b1f0c2e9a41"
# pg_advisory_xact_lock key of schema upgrades: any fixed 64-bit number no other code uses.
# (Text "helpdesk" as an integer: b"helpdesk".hex() == "68656c706465736b".)
ADVISORY_LOCK_KEY = 0x68656C706465736B


def alembic_config() -> Config:
    """Alembic's configuration without an ini file; the connection is handed over in
    ``attributes["connection"]`` (see env.py)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", FILE_TEMPLATE)
    return config


def lock_for_migrations(connection: Connection) -> None:
    """Wait until no other process is migrating this database; released when the transaction
    of ``connection`` ends. On SQLite the transaction already holds the database's write lock."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})


@functools.cache
def script_directory() -> ScriptDirectory:
    """The revisions in versions/, read once per process (they do not change while it runs)."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str | None:
    """The newest revision in versions/ (there is one head: tests/test_migrations.py)."""
    return script_directory().get_current_head()


def _revision_of(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return _revision_of(connection)


def stamp_head(engine: Engine) -> None:
    """Record the newest revision without running any: for a database whose tables were just
    made from the models themselves (``Database.create_all``), which is the newest schema."""
    with engine.begin() as connection:
        lock_for_migrations(connection)
        MigrationContext.configure(connection).stamp(script_directory(), "head")


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite's batch mode rebuilds a table by copying it and dropping the old one, which fails
    with foreign keys enforced whenever another table's rows point at it (bot/db.py turns them
    on). The pragma is ignored inside a transaction, so it is set here, before one begins, on the
    driver's connection (SQLAlchemy's would begin one), and set back for the pool."""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys=ON")


def _check_foreign_keys(connection: Connection) -> None:
    """Without enforcement during the upgrade, check the result before it is committed."""
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migrations left rows with dangling foreign keys: {broken[:5]}")


def upgrade(engine: Engine) -> str | None:
    """Migrate the database of ``engine`` to the newest revision and return that revision."""
    head = head_revision()
    # One transaction for lock, check and every migration: PostgreSQL's DDL is transactional,
    # so a failed upgrade leaves the schema as it was.
    with engine.connect() as connection, _sqlite_foreign_keys_off(connection), connection.begin():
        lock_for_migrations(connection)
        revision = _revision_of(connection)
        if revision == head:  # the usual start: nothing to run, no need to load env.py
            return revision
        if revision is None and inspect(connection).get_table_names():
            # Made by create_all before migrations existed: the baseline revision creates only
            # the tables it lacks (an old create_all from the CLI made fewer) and records
            # itself, which stamps the database there; later revisions then run as usual.
            logger.info("database has tables but no revision: adopting it at %s", BASELINE)
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        _check_foreign_keys(connection)
        revision = _revision_of(connection)
    logger.info("database schema upgraded to revision %s", revision)
    return revision
