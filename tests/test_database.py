"""The database edge (bot/db.py), on whichever database the suite runs against."""

from datetime import UTC, datetime

from sqlmodel import select

from bot.db import Database
from faq.models import QuestionLog


def test_text_with_a_nul_character_is_stored_on_every_database(db: Database):
    # Telegram and spreadsheets can carry NUL; PostgreSQL text cannot hold it, so it is dropped.
    with db.session() as session:
        session.add(
            QuestionLog(
                asked_at=datetime(2026, 11, 23, tzinfo=UTC),
                chat_id=1,
                user_id=1,
                lang="zh",
                text="附件\x00传不上去",
                decision="none",
            )
        )
    with db.session() as session:
        stored = session.exec(select(QuestionLog.text)).one()
    expected = "附件传不上去" if db.engine.dialect.name == "postgresql" else "附件\x00传不上去"
    assert stored == expected
