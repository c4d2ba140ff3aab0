"""Shared fixtures: a throwaway SQLite database, a frozen clock, the fake Bot API server and the
real application pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
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


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """An empty database with every table."""
    database = Database(f"sqlite:///{tmp_path / 'helpdesk.db'}")
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
def settings(fake: FakeTelegram, tmp_path: Path) -> Settings:
    return load_settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_url=fake.api_url,
        database_url=f"sqlite:///{tmp_path / 'helpdesk.db'}",
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
