"""Tables of the FAQ domain: entries, the question log and candidate phrasings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Text, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

ALT_SEPARATOR = " | "


class UtcDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, hands back aware UTC: SQLite keeps no zone, PostgreSQL gets the same."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utc_column(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=Column(UtcDateTime(), nullable=nullable, index=index))


class FaqEntry(SQLModel, table=True):
    __tablename__ = "faq_entry"

    id: str = Field(primary_key=True, max_length=64)
    category: str = Field(max_length=64)
    lang: str = Field(max_length=8, index=True)
    question: str = Field(sa_column=Column(Text, nullable=False))
    # Other phrasings separated by " | ", exactly as in the catalogue file.
    alternatives: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    answer: str = Field(sa_column=Column(Text, nullable=False))
    active: bool = Field(default=True, index=True)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()
    times_answered: int = 0
    helpful_count: int = 0
    unhelpful_count: int = 0

    @property
    def alternative_list(self) -> list[str]:
        return split_alternatives(self.alternatives)


def split_alternatives(text: str) -> list[str]:
    return [part.strip() for part in text.split("|") if part.strip()]


class QuestionLog(SQLModel, table=True):
    """Every question asked, with what the bot decided; the raw material for common problems."""

    __tablename__ = "question_log"
    # One row per Telegram message: an update handled twice (after a crash) finds its row.
    __table_args__ = (
        UniqueConstraint("chat_id", "message_id", name="uq_question_log_chat_message"),
    )

    id: int | None = Field(default=None, primary_key=True)
    asked_at: datetime = utc_column(index=True)
    chat_id: int = Field(index=True, sa_type=BigInteger)
    message_id: int | None = Field(default=None, sa_type=BigInteger)  # None: not from a message
    user_id: int = Field(index=True, sa_type=BigInteger)
    lang: str = Field(max_length=8)
    text: str = Field(sa_column=Column(Text, nullable=False))
    decision: str = Field(max_length=16, index=True)
    entry_id: str | None = Field(default=None, max_length=64, index=True)
    score: float = 0.0
    # JSON list of {"id", "score"} the matcher offered besides the decision.
    suggestions: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    # The suggestion the user tapped (decision == "suggest"); the answer they actually read.
    chosen_entry_id: str | None = Field(default=None, max_length=64, index=True)
    feedback: str | None = Field(default=None, max_length=8)  # "up" | "down"
    feedback_at: datetime | None = utc_column(nullable=True)
    replied_at: datetime | None = utc_column(nullable=True)  # when Telegram took the reply


class Phrasing(SQLModel, table=True):
    """A user's wording recorded as a candidate alternative of an entry, for staff to confirm."""

    __tablename__ = "faq_phrasing"

    id: int | None = Field(default=None, primary_key=True)
    entry_id: str = Field(max_length=64, index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    question_id: int | None = Field(default=None, index=True)
    status: str = Field(default="pending", max_length=16, index=True)  # pending|confirmed|rejected
    created_at: datetime = utc_column()
    decided_at: datetime | None = utc_column(nullable=True)
