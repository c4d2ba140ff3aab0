"""The database engine and how the rest of the code reaches it.

One rule everywhere: domain functions are plain synchronous functions that take a ``Session`` first.
The bot runs them in a worker thread through :meth:`Database.run`, which opens a session, calls the
function and commits, so the event loop never blocks on the database. The CLI uses
:meth:`Database.session` directly.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import class_mapper, make_transient_to_detached
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session, SQLModel, create_engine

import bot.models  # noqa: F401  (registers tables)
import faq.models  # noqa: F401
import reminders.models  # noqa: F401

P = ParamSpec("P")
T = TypeVar("T")


def import_models() -> None:
    """Import every module of bot/, faq/ and reminders/, so that ``SQLModel.metadata`` holds every
    table (for ``create_all`` and for the migrations' autogenerate and tests): a model added
    anywhere is found without a list to keep up to date. Subpackages (texts, migrations) declare
    no tables. Not at import time: several of these modules import this one."""
    import bot
    import faq
    import reminders

    for package in (bot, faq, reminders):
        for module in pkgutil.iter_modules(package.__path__):
            if not module.ispkg:
                importlib.import_module(f"{package.__name__}.{module.name}")


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
        if parsed.get_backend_name() == "postgresql":
            event.listen(engine, "before_cursor_execute", _without_nul, retval=True)
        return engine

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's transactions drive BEGIN ourselves (pysqlite's own handling is broken).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        # The busy timeout first: switching a new file to WAL needs a lock that another process
        # starting at the same moment may hold.
        cursor.execute("PRAGMA busy_timeout=30000")
        switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred BEGIN that reads and then writes fails with "database is locked" under several
        # writers; taking the write lock up front makes writers queue instead. Straight on the
        # DBAPI connection: it is the same statement, without SQLAlchemy's per-statement work.
        # Not on a connection of autocommit_connection(): each statement commits on its own.
        if not conn.get_execution_options().get(_SQLITE_AUTOCOMMIT):
            conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE")

    return engine


# The execution option that makes a SQLite connection leave out BEGIN (autocommit_connection).
_SQLITE_AUTOCOMMIT = "helpdesk_autocommit"


def autocommit_connection(session: Session) -> Connection:
    """The session's connection with each statement committed on its own, for a function whose
    statements need no transaction around them: one read, and at most writes each complete and
    right by itself (an upsert, an increment), whatever ran in between. No BEGIN and COMMIT (two
    round trips fewer on PostgreSQL) and on SQLite no write lock for a read (reads never wait for
    writers in WAL mode, and no writer waits for them).

    Only when the session has not begun a transaction yet (as in :meth:`Database.run`): inside
    one the function's statements simply belong to it."""
    if session.in_transaction():
        return session.connection()
    if session.get_bind().dialect.name == "sqlite":
        # Not SQLAlchemy's AUTOCOMMIT isolation level: on pysqlite its reset when the connection
        # goes back to the pool would undo the connect hook's isolation_level = None.
        return session.connection(execution_options={_SQLITE_AUTOCOMMIT: True})
    return session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def _without_nul(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> tuple[str, Any]:
    """PostgreSQL text cannot hold NUL (SQLite can): a user's message, a name or an imported cell
    with one would fail to store. It carries no meaning, so it is dropped on the way in."""
    return statement, _strip_nul(parameters)


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {key: _strip_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_strip_nul(item) for item in value)
    return value


WAL_SWITCH_ATTEMPTS = 200


def switch_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, tried again while SQLite says "database is locked".

    Connections opening a new file at the same moment (workers, instances, tests) each hold the
    read lock the other's switch needs; SQLite sees the deadlock and answers at once instead of
    waiting out the busy timeout (one connection in fifteen, four at a time, in a stress run).
    A short random pause lets one of them finish; after that the file is in WAL for good."""
    for attempt in range(WAL_SWITCH_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == WAL_SWITCH_ATTEMPTS - 1:
                raise
            time.sleep(0.01 + random.random() * 0.02)


def upsert_insert(dialect_name: str, table: Table) -> Insert:
    """An ``INSERT`` of the dialect's own flavour, which has ``ON CONFLICT`` (SQLite and
    PostgreSQL, the two databases the bot runs on). Build statements with it once per dialect
    (``functools.cache``): a statement object used again hits SQLAlchemy's compiled cache."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no INSERT ... ON CONFLICT for {dialect_name}")


def loaded(model: type[T], values: Mapping[str, Any]) -> T:
    """The ORM object of a row read or written with a Core statement, as a load would give it:
    detached (in no session; adding it to one never inserts it again), ``values`` (every column)
    taken as they are. A fraction of the constructor's cost, which validates and tracks changes
    (tens of microseconds a row)."""
    instance = class_mapper(model).class_manager.new_instance()
    instance.__dict__.update(values)
    make_transient_to_detached(instance)
    return instance  # type: ignore[no-any-return]


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)

    def create_all(self) -> None:
        """Every table straight from the models, recorded as the newest revision (the models are
        the newest schema: tests/test_migrations.py), so a later :meth:`upgrade` has nothing to
        do. For tests and benchmarks; the bot and the CLI call :meth:`upgrade`."""
        from bot.migrations import stamp_head

        import_models()
        SQLModel.metadata.create_all(self.engine)
        stamp_head(self.engine)

    def upgrade(self) -> str | None:
        """Migrate this database to the newest revision (bot/migrations) and return it.

        Safe to call on every start and from several processes at once; a database made by
        ``create_all`` before migrations existed is adopted at the baseline revision."""
        from bot.migrations import upgrade

        return upgrade(self.engine)

    def current_revision(self) -> str | None:
        """The revision this database is at; None before the first :meth:`upgrade`."""
        from bot.migrations import current_revision

        return current_revision(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends without an exception."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session
            session.commit()

    def call(
        self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        with self.session() as session:
            return fn(session, *args, **kwargs)

    async def run(
        self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(session, ...)`` in a worker thread and commit."""
        return await asyncio.to_thread(self.call, fn, *args, **kwargs)

    def ping(self) -> None:
        """``SELECT 1`` on a pooled DBAPI connection, for health checks; raises if unreachable.

        Below SQLAlchemy's Connection on purpose: that would fire the SQLite ``begin`` hook and
        take the write lock (BEGIN IMMEDIATE), so a probe would queue behind every writer.
        """
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        finally:
            connection.close()

    def dispose(self) -> None:
        self.engine.dispose()
