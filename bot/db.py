"""The database engine and how the rest of the code reaches it.

One rule everywhere: domain functions are plain synchronous functions that take a ``Session`` first.
The bot runs them in a worker thread through :meth:`Database.run`, which opens a session, calls the
function and commits, so the event loop never blocks on the database. The CLI uses
:meth:`Database.session` directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel, create_engine

import bot.models  # noqa: F401  (registers tables)
import faq.models  # noqa: F401
import reminders.models  # noqa: F401

P = ParamSpec("P")
T = TypeVar("T")


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's transactions drive BEGIN ourselves (pysqlite's own handling is broken).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred BEGIN that reads and then writes fails with "database is locked" under several
        # writers; taking the write lock up front makes writers queue instead.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)

    def create_all(self) -> None:
        # The escalation desk's tables; imported here, not at the top, because bot.outbox
        # imports this module.
        from bot import outbox, tickets  # noqa: F401

        SQLModel.metadata.create_all(self.engine)

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
