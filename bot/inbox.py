"""The inbox: every incoming Telegram update is in the database before Telegram is told we have it.

Telegram forgets an update once the bot acknowledges it (polling: the next ``getUpdates`` offset;
webhook: the 200 answer), but the bot may die between that moment and the end of the update's
handlers. So the receiving side records each update here first (``pending``, leased to this
process) and the processing side marks it ``done`` once every handler has run. Updates still
pending when their lease runs out belonged to a process that died: another process claims them and
handles them again. Each row names its owner (the instance name, stable across restarts), so a
restarted process takes back its own unfinished updates at once, before it polls anything new: a
user's messages keep their order across the crash. Handlers are written so that a second run
of the same update changes nothing and sends nothing twice (dedupe keys in the outbox, a question's
reply recorded per message; see ``bot/relay.py`` and ``faq.service.log_question``).

Nothing here calls Telegram; ``bot/inbox_queue.py`` is the edge that does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, Column, Text, bindparam, delete, update
from sqlmodel import Field, Session, SQLModel, col, select

from bot.db import upsert_insert
from faq.models import utc_column

LEASE = timedelta(seconds=30)  # default; renewed every lease/3 while queued or being handled
MAX_ATTEMPTS = 3  # an update whose handling killed the process this often is set aside
KEEP_DONE = timedelta(days=7)  # done rows answer "seen already?" for redeliveries this long
CHUNK = 500  # ids per IN (...) list


class InboxUpdate(SQLModel, table=True):
    __tablename__ = "inbox_update"

    update_id: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    payload: str = Field(sa_column=Column(Text, nullable=False))  # the update's JSON, as received
    status: str = Field(default="pending", max_length=16, index=True)  # pending | done | failed
    owner: str = Field(default="", max_length=128)  # the instance holding it (bot/inbox_queue.py)
    attempts: int = 1
    received_at: datetime = utc_column()
    lease_until: datetime | None = utc_column(nullable=True, index=True)
    done_at: datetime | None = utc_column(nullable=True)


def record(
    session: Session,
    *,
    update_id: int,
    payload: str,
    now: datetime,
    owner: str = "",
    lease: timedelta = LEASE,
) -> bool:
    """Keep a received update, leased to the caller; False if it is known already (Telegram sent it
    again, or another process has it), in which case the caller must not handle it."""
    [fresh] = record_many(
        session,
        [dict(update_id=update_id, payload=payload, now=now, owner=owner, lease=lease)],
    )
    return fresh


def record_many(session: Session, updates: Sequence[Mapping[str, Any]]) -> list[bool]:
    """:func:`record` for several updates (each a mapping of its keyword arguments) in one
    statement: ``INSERT ... ON CONFLICT DO NOTHING RETURNING update_id``. A row that exists (this
    process or another stored it first, even concurrently: the insert waits for the other
    transaction) is left alone and reported False, as is a second copy within ``updates``."""
    rows: list[dict[str, Any]] = []
    seen: set[int] = set()
    for item in updates:
        update_id = item["update_id"]
        if update_id in seen:
            continue
        seen.add(update_id)
        now = item["now"]
        rows.append(
            {
                "update_id": update_id,
                "payload": item["payload"],
                "status": "pending",
                "owner": item.get("owner", ""),
                "attempts": 1,
                "received_at": now,
                "lease_until": now + item.get("lease", LEASE),
                "done_at": None,
            }
        )
    statement = _record_statement(session.get_bind().dialect.name)
    stored = set(session.connection().execute(statement, rows).scalars()) if rows else set()
    fresh: list[bool] = []
    for item in updates:
        update_id = item["update_id"]
        fresh.append(update_id in stored)
        stored.discard(update_id)  # a second copy in the same batch is not fresh
    return fresh


@cache
def _record_statement(dialect_name: str) -> Any:
    table = InboxUpdate.__table__  # type: ignore[attr-defined]
    return (
        upsert_insert(dialect_name, table)
        .on_conflict_do_nothing(index_elements=[table.c.update_id])
        .returning(table.c.update_id)
    )


def mark_done(session: Session, *, update_ids: Sequence[int], now: datetime) -> None:
    mark_done_many(session, [{"update_ids": update_ids, "now": now}])


def mark_done_many(session: Session, marks: Sequence[Mapping[str, Any]]) -> list[None]:
    """:func:`mark_done` for several marks (each a mapping of its keyword arguments): one
    executemany of a prebuilt UPDATE."""
    rows = [
        {"done_id": update_id, "now": mark["now"]}
        for mark in marks
        for update_id in mark["update_ids"]
    ]
    if rows:
        session.connection().execute(_MARK_DONE, rows)
    return [None] * len(marks)


_MARK_DONE = (
    update(InboxUpdate.__table__)  # type: ignore[attr-defined]
    .where(InboxUpdate.__table__.c.update_id == bindparam("done_id"))  # type: ignore[attr-defined]
    .values(status="done", done_at=bindparam("now"), lease_until=None)
)


def renew(
    session: Session, *, update_ids: Sequence[int], now: datetime, lease: timedelta = LEASE
) -> None:
    """Extend the lease of updates this process still holds (queued or being handled)."""
    for chunk in _chunks(update_ids):
        session.execute(
            update(InboxUpdate)
            .where(col(InboxUpdate.update_id).in_(chunk), InboxUpdate.status == "pending")
            .values(lease_until=now + lease)
        )


def claim_own(
    session: Session, *, owner: str, now: datetime, lease: timedelta = LEASE
) -> list[InboxUpdate]:
    """At start: the updates this instance's previous run stored and did not finish (it died),
    whatever their lease says, oldest first."""
    query = select(InboxUpdate).where(InboxUpdate.status == "pending", InboxUpdate.owner == owner)
    return _claim(session, query, owner=owner, now=now, lease=lease)


def claim_abandoned(
    session: Session, *, owner: str = "", now: datetime, lease: timedelta = LEASE, limit: int = 200
) -> list[InboxUpdate]:
    """Lease pending updates whose lease ran out (their process died), oldest first.

    ``FOR UPDATE SKIP LOCKED`` lets several processes claim at once without taking the same row
    (SQLite's ``BEGIN IMMEDIATE`` serialises them instead). An update that has been claimed
    ``MAX_ATTEMPTS`` times is most likely what killed the process: it is set aside as ``failed``
    (kept for a look) rather than crashing every process in turn."""
    query = (
        select(InboxUpdate)
        .where(InboxUpdate.status == "pending", col(InboxUpdate.lease_until) <= now)
        .limit(limit)
    )
    return _claim(session, query, owner=owner, now=now, lease=lease)


def _claim(
    session: Session, query: Any, *, owner: str, now: datetime, lease: timedelta
) -> list[InboxUpdate]:
    rows = session.exec(
        query.order_by(col(InboxUpdate.update_id)).with_for_update(skip_locked=True)
    ).all()
    claimed: list[InboxUpdate] = []
    for row in rows:
        if row.attempts >= MAX_ATTEMPTS:
            row.status, row.lease_until = "failed", None
        else:
            row.attempts += 1
            row.lease_until = now + lease
            row.owner = owner
            claimed.append(row)
        session.add(row)
    return claimed


def purge_done(session: Session, *, now: datetime) -> int:
    result = session.execute(
        delete(InboxUpdate).where(
            InboxUpdate.status == "done", col(InboxUpdate.done_at) < now - KEEP_DONE
        )
    )
    return max(result.rowcount, 0)


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    batch = list(ids)
    for start in range(0, len(batch), CHUNK):
        yield batch[start : start + CHUNK]
