"""Shared fixtures: a throwaway database, a frozen clock, the fake Bot API server and the real
application pointed at it.

The database is a fresh SQLite file by default. With ``HELPDESK_TEST_DATABASE_URL`` pointing at a
PostgreSQL server (``postgresql+psycopg://postgres@127.0.0.1:54329/postgres``) every test gets a
fresh empty database of its own on that server instead (``make test-postgres``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from telegram.ext import Application

from bot.app import build_application
from bot.clock import FrozenClock
from bot.db import Database
from bot.fakeapi import FakeTelegram
from bot.settings import BUNDLED_FAQ, Settings, load_settings
from faq.io import import_file
from faq.models import FaqEntry
from faq.service import FaqIndex

TOKEN = "123456:TEST-TOKEN"
BOT_USERNAME = "helpdesk_test_bot"
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)


SERVER_URL_ENV = "HELPDESK_TEST_DATABASE_URL"

# Hypothesis draws new examples on every run on a developer's machine; CI (HYPOTHESIS_PROFILE=ci,
# set by .ci/run) draws the same ones every time, so main's CI fails only when the code changed.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def make_database_url(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """A factory of URLs of fresh, empty databases: SQLite files under ``tmp_path``, or, with
    ``HELPDESK_TEST_DATABASE_URL`` set to a PostgreSQL server, databases created on that server
    for this test and dropped after it (dispose every engine on them before the test ends)."""
    server = os.environ.get(SERVER_URL_ENV, "").strip()
    if not server:
        yield lambda name="helpdesk": f"sqlite:///{tmp_path / f'{name}.db'}"
        return

    server_url = make_url(server)
    if server_url.get_backend_name() != "postgresql":
        raise pytest.UsageError(f"{SERVER_URL_ENV} must be a postgresql URL, not {server!r}")
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    created: list[str] = []

    def make(name: str = "helpdesk") -> str:
        database = f"helpdesk_test_{uuid.uuid4().hex}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
        created.append(database)
        return server_url.set(database=database).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with admin.connect() as conn:
            for database in created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(make_database_url: Callable[[str], str]) -> str:
    """The URL of this test's database (SQLite file or PostgreSQL database, see above)."""
    return make_database_url("helpdesk")


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """An empty database with every table.

    Straight from the models (``create_all``), not through the migrations: a model changed
    without its revision yet still gets its tests run, and tests/test_migrations.py is the one
    that fails and says so. The application's post_init then adopts the database (upgrade)."""
    database = Database(database_url)
    database.create_all()
    yield database
    database.dispose()


@pytest.fixture
def faq_db(db: Database, clock: FrozenClock) -> Database:
    """The database holding the bundled FAQ catalogue."""
    db.call(import_file, BUNDLED_FAQ, replace=False, now=clock.now())
    return db


@pytest.fixture
def faq_index(faq_db: Database) -> FaqIndex:
    index = FaqIndex()
    faq_db.call(index.rebuild)
    return index


def add_entry(
    db: Database,
    clock: FrozenClock,
    entry_id: str,
    question: str,
    *,
    answer: str = "",
    category: str = "misc",
    lang: str = "zh",
    alternatives: str = "",
) -> None:
    with db.session() as session:
        session.add(
            FaqEntry(
                id=entry_id,
                category=category,
                lang=lang,
                question=question,
                alternatives=alternatives,
                answer=answer or f"{question}的答案。",
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )


# --- Telegram -------------------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(token=TOKEN, bot_username=BOT_USERNAME)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def settings(fake: FakeTelegram, database_url: str) -> Settings:
    return load_settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_url=fake.api_url,
        database_url=database_url,
        max_message_chars=200,
    )


@pytest.fixture
async def app(
    settings: Settings, db: Database, clock: FrozenClock
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """The real application, initialised against the fake server, not polling: tests feed it
    updates with ``process_update`` and its replies are real HTTP calls to the fake."""
    application = build_application(settings, db=db, clock=clock, faq_index=FaqIndex())
    await application.initialize()
    await application.post_init(application)  # type: ignore[misc]
    try:
        yield application
    finally:
        await application.shutdown()
        await application.post_shutdown(application)  # type: ignore[misc]


@pytest.fixture
async def polling_app(
    app: Application,  # type: ignore[type-arg]
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """The same application, started and long-polling the fake server like in production."""
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
