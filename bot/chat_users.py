"""Chat users: who is talking to the bot, as Telegram describes them, and what the handlers need
to know about them. No Telegram imports: the handlers (bot/handlers.py) pass plain values.

Every update reads its sender once (:func:`who_is_talking`, one SELECT) and writes only when the
user is new or Telegram describes them differently (``last_seen_at`` moves in steps of
:data:`LAST_SEEN_STEP`), so most updates only read. The statements are prebuilt Core statements:
SQLAlchemy's compiled cache hits them, and no unit of work is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, bindparam, cast, exists, or_, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from bot import tickets
from bot.db import autocommit_connection, loaded, upsert_insert
from bot.models import ChatUser
from bot.texts import LANGS
from reminders.engine import ReturnPrompt

LAST_SEEN_STEP = timedelta(minutes=15)  # ChatUser.last_seen_at is this precise


def touch_chat_user(
    session: Session,
    *,
    user_id: int,
    first_name: str,
    username: str | None,
    telegram_lang: str | None,
    blocked_bot: bool = False,
    now: datetime,
) -> ChatUser:
    """Create or refresh the user as Telegram describes them now. No write when nothing changed
    (``last_seen_at`` moves in steps of :data:`LAST_SEEN_STEP`): most updates only read."""
    connection = autocommit_connection(session)
    row = connection.execute(_CHAT_USER, {"user_id": user_id}).first()
    return _touched(
        connection,
        row,
        user_id=user_id,
        first_name=first_name,
        username=username,
        telegram_lang=telegram_lang,
        blocked_bot=blocked_bot,
        now=now,
    )


def who_is_talking(
    session: Session,
    *,
    user_id: int,
    first_name: str,
    username: str | None,
    telegram_lang: str | None,
    blocked_bot: bool = False,
    private_message: bool = False,
    now: datetime,
) -> tuple[ChatUser, Talking | None]:
    """The ChatUser (refreshed) and, for a private message, what the later handler groups need to
    know about its sender (:class:`bot.context.Talking`): one SELECT (the user, their return
    prompt and whether they have an active ticket), and a write only when the user is new or
    changed. Each statement commits on its own (bot.db.autocommit_connection): the read is one
    consistent snapshot, and the write sets what Telegram says now whatever the read saw, so it
    needs no transaction around both; on SQLite the usual read takes no write lock."""
    if not private_message:
        user = touch_chat_user(
            session,
            user_id=user_id,
            first_name=first_name,
            username=username,
            telegram_lang=telegram_lang,
            blocked_bot=blocked_bot,
            now=now,
        )
        return user, None
    connection = autocommit_connection(session)
    row = connection.execute(_WHO_IS_TALKING, {"user_id": user_id}).one()
    user = _touched(
        connection,
        row[:_USER_COLUMNS] if row[0] is not None else None,
        user_id=user_id,
        first_name=first_name,
        username=username,
        telegram_lang=telegram_lang,
        blocked_bot=blocked_bot,
        now=now,
    )
    prompt = None
    if row[_USER_COLUMNS] is not None:
        prompt = loaded(ReturnPrompt, dict(zip(_PROMPT_KEYS, row[_USER_COLUMNS:-1], strict=True)))
    return user, Talking(return_prompt=prompt, active_ticket=bool(row[-1]))


def _touched(
    connection: Connection,
    row: Sequence[Any] | None,
    *,
    user_id: int,
    first_name: str,
    username: str | None,
    telegram_lang: str | None,
    blocked_bot: bool,
    now: datetime,
) -> ChatUser:
    """The ChatUser of ``row`` (chat_user's columns; None: not stored yet), written first if
    Telegram describes them differently now or ``last_seen_at`` is a step old."""
    fresh = {
        "first_name": first_name,
        "username": username,
        "telegram_lang": telegram_lang,
        "blocked_bot": blocked_bot,
        "last_seen_at": now,
    }
    if row is None:
        values = {"id": user_id, "chosen_lang": None, "created_at": now, **fresh}
        # Another process may store the same new user at the same moment: then this refreshes it.
        connection.execute(_insert_chat_user(connection.dialect.name), values)
    else:
        values = dict(zip(_USER_KEYS, row, strict=True))
        unchanged = (
            values["first_name"],
            values["username"],
            values["telegram_lang"],
            values["blocked_bot"],
        ) == (first_name, username, telegram_lang, blocked_bot)
        if not unchanged or now - values["last_seen_at"] >= LAST_SEEN_STEP:
            connection.execute(
                _UPDATE_CHAT_USER,
                {"user_id": user_id, **{f"new_{key}": value for key, value in fresh.items()}},
            )
            values.update(fresh)
    return loaded(ChatUser, values)


# Prebuilt statements (SQLAlchemy's compiled cache hits them), Core: no unit of work needed.
_USERS = ChatUser.__table__  # type: ignore[attr-defined]
_PROMPTS = ReturnPrompt.__table__  # type: ignore[attr-defined]
_TICKETS = tickets.Ticket.__table__  # type: ignore[attr-defined]
_USER_KEYS = tuple(column.key for column in _USERS.c)
_PROMPT_KEYS = tuple(column.key for column in _PROMPTS.c)
_USER_COLUMNS = len(_USER_KEYS)
# What Telegram tells about a user, refreshed by every write (chosen_lang is the user's own).
_REFRESHED = ("first_name", "username", "telegram_lang", "blocked_bot", "last_seen_at")
_CHAT_USER = select(_USERS).where(_USERS.c.id == bindparam("user_id"))
_TALKER = select(cast(bindparam("user_id"), BigInteger).label("id")).subquery("talker")
# One row whether or not the user is stored: chat_user's columns, return_prompt's, then whether
# they have an open or answered ticket (tickets.active_ticket).
_WHO_IS_TALKING = select(
    *_USERS.c,
    *_PROMPTS.c,
    exists()
    .where(
        _TICKETS.c.user_id == _TALKER.c.id,
        or_(*(_TICKETS.c.status == status for status in tickets.ACTIVE)),  # plain binds: cheaper
    )
    .label("active_ticket"),
).select_from(
    _TALKER.outerjoin(_USERS, _USERS.c.id == _TALKER.c.id).outerjoin(
        _PROMPTS, _PROMPTS.c.user_id == _TALKER.c.id
    )
)
_UPDATE_CHAT_USER = (
    update(_USERS)
    .where(_USERS.c.id == bindparam("user_id"))
    .values({key: bindparam(f"new_{key}") for key in _REFRESHED})
)


@cache
def _insert_chat_user(dialect_name: str) -> Any:
    insert = upsert_insert(dialect_name, _USERS)
    return insert.on_conflict_do_update(
        index_elements=[_USERS.c.id], set_={key: insert.excluded[key] for key in _REFRESHED}
    )


def choose_lang(session: Session, *, user_id: int, lang: str, now: datetime) -> ChatUser:
    if lang not in LANGS:
        raise ValueError(f"unsupported language {lang!r}")
    user = session.get(ChatUser, user_id)
    if user is None:
        user = ChatUser(id=user_id, created_at=now, last_seen_at=now)
    user.chosen_lang = lang
    session.add(user)
    return user


@dataclass(slots=True)
class Talking:
    """What later handler groups would ask the database about the user of a private message, read
    by :func:`bot.handlers.remember_user` in the same transaction as the ChatUser, as it stood
    when the update's handling began. A handler that changes it within the update changes it here
    too; the handlers that decide on it (bureau_desk's return reason, the desk's relay) still
    re-check inside their own transaction whenever they act on it."""

    return_prompt: ReturnPrompt | None  # the reviewer's pending 退回, answered or not
    active_ticket: bool  # an open or answered ticket: the desk relays the message to staff
