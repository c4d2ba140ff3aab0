"""The database edge (bot/db.py), on whichever database the suite runs against."""

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, inspect
from sqlmodel import select

from bot.db import Database, autocommit_connection, loaded, switch_to_wal, upsert_insert
from bot.models import ChatUser
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


def test_an_autocommit_connection_commits_each_statement_at_once(db: Database):
    with db.session() as session:
        connection = autocommit_connection(session)
        connection.execute(insert(ChatUser.__table__), user_row(1))  # type: ignore[attr-defined]
        # Visible before the session ends; on SQLite the other BEGIN IMMEDIATE would wait for a
        # write lock still held (30 s busy timeout) and fail.
        with db.engine.connect() as other:
            assert other.execute(select(ChatUser.id)).all() == [(1,)]  # type: ignore[call-overload]


def test_inside_a_transaction_an_autocommit_connection_is_the_transactions(db: Database):
    with db.session() as session:
        session.add(ChatUser(**user_row(1)))
        session.flush()  # the transaction has begun
        connection = autocommit_connection(session)
        connection.execute(insert(ChatUser.__table__), user_row(2))  # type: ignore[attr-defined]
        session.rollback()
    with db.session() as session:
        assert session.exec(select(ChatUser)).all() == []


def test_a_loaded_object_is_a_stored_row_not_a_new_one(db: Database):
    db.call(lambda session: session.connection().execute(insert(ChatUser.__table__), user_row(1)))
    user = loaded(ChatUser, user_row(1))
    assert inspect(user).detached
    with db.session() as session:
        session.add(user)  # an UPDATE of what changes, never an INSERT
        user.chosen_lang = "en"
    with db.session() as session:
        [stored] = session.exec(select(ChatUser)).all()
        assert (stored.first_name, stored.chosen_lang) == ("Alice", "en")


def test_upsert_insert_is_for_sqlite_and_postgresql_only():
    with pytest.raises(NotImplementedError):
        upsert_insert("mysql", ChatUser.__table__)  # type: ignore[attr-defined]


def user_row(user_id: int) -> dict:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    return {
        "id": user_id,
        "first_name": "Alice",
        "username": None,
        "telegram_lang": None,
        "chosen_lang": None,
        "blocked_bot": False,
        "created_at": now,
        "last_seen_at": now,
    }


def test_connections_opening_a_new_sqlite_file_at_once_all_get_it_in_wal(tmp_path: Path):
    """SQLite answers "database is locked" at once to one of two connections switching a new file
    to WAL together (a deadlock, so no busy timeout): bot.db.switch_to_wal tries again."""
    errors: list[BaseException] = []
    for n in range(40):
        path = tmp_path / f"new{n}.db"
        barrier = threading.Barrier(4)

        def open_new(path: Path = path, barrier: threading.Barrier = barrier) -> None:
            connection = sqlite3.connect(path, timeout=30, check_same_thread=False)
            connection.isolation_level = None
            try:
                barrier.wait()
                connection.execute("PRAGMA busy_timeout=30000")
                switch_to_wal(connection.cursor())
                mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
                assert mode == "wal"
            except BaseException as exc:  # collected: the assertion below shows it
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=open_new) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
