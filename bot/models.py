"""Tables the Telegram edge owns: the people who talk to the bot."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from faq.models import utc_column


class ChatUser(SQLModel, table=True):
    __tablename__ = "chat_user"

    id: int = Field(  # Telegram user id
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    first_name: str = ""
    username: str | None = None
    telegram_lang: str | None = None  # language_code Telegram reports
    chosen_lang: str | None = None  # set by /lang; wins over telegram_lang
    blocked_bot: bool = False
    created_at: datetime = utc_column()
    last_seen_at: datetime = utc_column()
