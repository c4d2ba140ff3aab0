"""Schema migrations (bot/migrations): they build exactly the models' schema, adopt databases made
by ``create_all`` before they existed, and run from the command line and from several processes at
once. On SQLite, and on PostgreSQL with ``HELPDESK_TEST_DATABASE_URL`` (tests/conftest.py)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel, select

import bot.migrations
from bot.cli import main
from bot.db import Database, import_models
from bot.migrations import BASELINE, MIGRATIONS_DIR, alembic_config, head_revision
from bot.tickets import Ticket, TicketMessage
from faq.models import FaqEntry, QuestionLog

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture
def make_db(make_database_url: Callable[[str], str]) -> Iterator[Callable[[str], Database]]:
    """Fresh empty databases without any table, disposed after the test."""
    made: list[Database] = []

    def make(name: str = "helpdesk") -> Database:
        database = Database(make_database_url(name))
        made.append(database)
        return database

    yield make
    for database in made:
        database.dispose()


def schema_diff(db: Database) -> list[object]:
    """What autogenerate would write for this database: empty when it matches the models."""
    import_models()
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)


def add_rows(db: Database) -> None:
    with db.session() as session:
        session.add(
            FaqEntry(
                id="acc-001",
                category="account",
                lang="zh",
                question="忘记密码怎么办？",
                answer="点击找回密码。",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        session.add(
            Ticket(
                user_id=8_000_000_001,
                chat_id=8_000_000_001,
                lang="zh",
                question="?",
                created_at=NOW,
                updated_at=NOW,
            )
        )


def test_there_is_one_head_and_the_baseline_is_where_history_starts():
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
    assert list(script.get_bases()) == [BASELINE]


def test_upgrading_an_empty_database_yields_exactly_the_models_schema(make_db):
    db = make_db("fresh")
    assert db.current_revision() is None

    assert db.upgrade() == head_revision()

    # Non-empty means a model changed without a revision: `alembic revision --autogenerate`.
    assert schema_diff(db) == []
    assert db.current_revision() == head_revision()


def test_upgrading_twice_changes_nothing(make_db):
    db = make_db()
    db.upgrade()
    add_rows(db)

    assert db.upgrade() == head_revision()

    with db.session() as session:
        assert session.exec(select(FaqEntry.id)).all() == ["acc-001"]


def made_by_create_all_before_migrations(db: Database, *, without: tuple[str, ...] = ()) -> None:
    """The database ``create_all`` made before migrations existed: the baseline schema (which
    was written to be exactly that) with no revision recorded, optionally lacking some tables.
    Built from the baseline rather than today's models, which later revisions change."""
    config = alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, BASELINE)
        for table in (*without, "alembic_version"):
            connection.execute(text(f'DROP TABLE "{table}"'))


def add_baseline_rows(db: Database) -> None:
    """Rows in the baseline's columns, in SQL: the models may have more columns by now."""
    asked = NOW.replace(tzinfo=None)  # UtcDateTime stores naive UTC
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO faq_entry (id, category, lang, question, alternatives, answer, "
                "active, created_at, updated_at, times_answered, helpful_count, unhelpful_count) "
                "VALUES ('acc-001', 'account', 'zh', '忘记密码怎么办？', '', '点击找回密码。', "
                ":yes, :at, :at, 3, 1, 0)"
            ),
            {"yes": True, "at": asked},
        )
        connection.execute(
            text(
                "INSERT INTO question_log (asked_at, chat_id, user_id, lang, text, decision, "
                "entry_id, score, suggestions) VALUES (:at, 8000000001, 8000000001, 'zh', "
                "'密码忘了', 'answer', 'acc-001', 91.5, '[]')"
            ),
            {"at": asked},
        )
        connection.execute(
            text(
                "INSERT INTO ticket (user_id, chat_id, lang, status, question, source, "
                "created_at, updated_at, reminder_level, user_blocked, forward_notice_sent) "
                "VALUES (8000000001, 8000000001, 'zh', 'open', '?', 'human', :at, :at, 0, "
                ":no, :no)"
            ),
            {"at": asked, "no": False},
        )


def test_a_database_made_by_create_all_is_adopted_and_keeps_its_rows(make_db):
    db = make_db("legacy")
    made_by_create_all_before_migrations(db)
    add_baseline_rows(db)
    assert db.current_revision() is None

    assert db.upgrade() == head_revision()

    assert schema_diff(db) == []
    with db.session() as session:
        entry = session.exec(select(FaqEntry)).one()
        assert (entry.question, entry.times_answered, entry.created_at) == (
            "忘记密码怎么办？",
            3,
            NOW,
        )
        logged = session.exec(select(QuestionLog)).one()
        assert (logged.text, logged.score, logged.user_id) == ("密码忘了", 91.5, 8_000_000_001)
        ticket = session.exec(select(Ticket)).one()
        assert (ticket.user_id, ticket.created_at) == (8_000_000_001, NOW)


def test_adopting_an_older_create_all_database_adds_the_tables_it_lacks(make_db):
    # The CLI's create_all used to import fewer models than the bot's, so such a database can
    # lack the tables of faq/drafts.py and reminders/engine.py.
    db = make_db("partial")
    missing = ("faq_draft", "reminder_day_mark", "return_prompt")
    made_by_create_all_before_migrations(db, without=missing)
    add_baseline_rows(db)

    db.upgrade()

    assert set(missing) <= set(inspect(db.engine).get_table_names())
    assert schema_diff(db) == []
    with db.session() as session:
        assert session.exec(select(FaqEntry.id)).all() == ["acc-001"]


def test_create_all_makes_the_newest_schema_and_records_it(make_db):
    db = make_db()
    db.create_all()

    assert db.current_revision() == head_revision()
    assert db.upgrade() == head_revision()


FUTURE_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "f0000000000e"
down_revision = {down!r}
branch_labels = depends_on = None


def upgrade():
    with op.batch_alter_table("ticket") as batch_op:  # SQLite: copy, drop, rename
        batch_op.alter_column("lang", type_=sa.String(16))


def downgrade():
    pass
"""


def test_a_revision_that_rebuilds_a_referenced_table_keeps_its_rows(make_db, tmp_path, monkeypatch):
    # On SQLite batch mode copies the table and drops the old one, which enforced foreign keys
    # (ticket_message -> ticket) would refuse; on PostgreSQL the ALTER happens in place.
    db = make_db()
    db.upgrade()
    add_rows(db)
    with db.session() as session:
        ticket = session.exec(select(Ticket)).one()
        session.add(TicketMessage(ticket_id=ticket.id, direction="in", author_id=1, created_at=NOW))
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / "future.py").write_text(FUTURE_REVISION.format(down=head_revision()))
    monkeypatch.setattr(bot.migrations, "MIGRATIONS_DIR", migrations)
    bot.migrations.script_directory.cache_clear()
    try:
        assert db.upgrade() == "f0000000000e"
    finally:
        bot.migrations.script_directory.cache_clear()

    with db.session() as session:
        assert session.exec(select(TicketMessage.ticket_id)).all() == [ticket.id]
        assert session.exec(select(Ticket.lang)).all() == ["zh"]
    with db.engine.connect() as connection:  # enforcement is back on for the pool's connection
        if connection.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_instances_starting_together_upgrade_one_after_the_other(make_db):
    url = make_db("shared").url
    revisions: list[str | None] = []
    errors: list[BaseException] = []

    def start() -> None:
        db = Database(url)  # each instance its own engine, as separate processes would
        try:
            revisions.append(db.upgrade())
        except BaseException as exc:  # the assertion below shows it
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert revisions == [head_revision()] * 3


def test_every_revision_downgrades_back_to_an_empty_database(make_db):
    db = make_db()
    db.upgrade()
    config = alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")

    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    assert db.current_revision() is None


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture
def cli_database(monkeypatch, tmp_path, database_url) -> str:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("HELPDESK_DATABASE_URL", database_url)
    monkeypatch.delenv("HELPDESK_BOT_TOKEN", raising=False)
    return database_url


def test_db_upgrade_migrates_the_configured_database_and_says_to_which_revision(
    cli_database, capsys
):
    assert main(["db", "current"]) == 1
    assert "no schema revision" in capsys.readouterr().out

    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out.strip() == f"database at revision {head_revision()} (head)"

    assert main(["db", "upgrade"]) == 0  # idempotent
    assert capsys.readouterr().out.strip() == f"database at revision {head_revision()} (head)"
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out.strip() == f"database at revision {head_revision()} (head)"

    db = Database(cli_database)
    try:
        assert schema_diff(db) == []
    finally:
        db.dispose()


def test_cli_commands_that_open_the_database_migrate_it(cli_database, tmp_path, capsys):
    assert main(["faq", "export", str(tmp_path / "faq.csv")]) == 0
    capsys.readouterr()

    assert main(["db", "current"]) == 0
