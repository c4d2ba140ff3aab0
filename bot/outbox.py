"""Nothing is lost: outgoing messages that matter are rows first and Telegram calls second.

A handler that changes state (a ticket opened, a staff reply recorded) writes the messages that
must follow as :class:`OutboxMessage` rows in the same transaction (:func:`enqueue`). The
sender (:class:`bot.outbox_sender.OutboxSender`) then claims due rows, sends them and records the
outcome. This module is the table and its transactions only, free of Telegram, so domain modules
(the reminder engine) can enqueue; outcomes:

* accepted → ``sent`` with Telegram's message id, at once, so a row is never sent twice;
* 429 → pending again at Telegram's ``retry_after`` (PTB's rate limiter does not also retry it:
  the outbox sends with ``rate_limit_args=-1``, see :class:`HelpdeskRateLimiter`);
* 5xx, network errors, timeouts → pending again after an exponential backoff with jitter, capped,
  and ``failed`` after :data:`MAX_ATTEMPTS`;
* 400 → ``failed`` (logged): the same request would fail again;
* 403 → ``blocked``: the user blocked the bot; the ``on_blocked`` hook marks them and their ticket.

A network error is ambiguous: the request may have reached Telegram and the answer got lost (see
DESIGN.md). The Bot API has no idempotency key for sendMessage/copyMessage, so the outbox chooses
to retry: a staff answer that never arrives is worse than the rare duplicate. The window is only
the lost-answer case; every other outcome is recorded exactly.

Claiming: a row is leased (``claimed_until``) in a short transaction, then sent outside it, so
no database lock is held across a network call. On SQLite ``BEGIN IMMEDIATE`` (bot/db.py)
serialises claimers; on PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets several senders claim
disjoint rows. A sender that dies mid-send leaves a lease that expires after :data:`LEASE`; the
row is then sent again (the same ambiguity as a network error). Rows to one chat go out in order:
a row waits while an earlier row to the same chat is backing off.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import BigInteger, Column, Text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Field, Session, SQLModel, col, exists, or_, select
from sqlmodel.sql.expression import Select

from faq.models import utc_column

logger = logging.getLogger(__name__)

OutboxMethod = Literal["sendMessage", "copyMessage"]
OutboxStatus = Literal["pending", "sent", "failed", "blocked"]

LEASE = timedelta(seconds=60)
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0
MAX_ATTEMPTS = 12  # ~ half an hour of 5xx at the cap before a row is given up
BATCH = 50
# rate_limit_args meaning "no retries in the rate limiter": the outbox reschedules a 429 itself.
# Not 0: PTB drops a falsy rate_limit_args before the limiter sees it.
OUTBOX_RATE_LIMIT_ARGS = -1


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    chat_id: int = Field(index=True, sa_type=BigInteger)
    thread_id: int | None = Field(default=None, sa_type=BigInteger)
    # What the row is about, for the hooks: the ticket, and what kind of message it is there.
    ticket_id: int | None = Field(default=None, index=True)
    kind: str = Field(default="notice", max_length=16)  # card | relay | notice | reminder
    method: str = Field(max_length=16)
    payload: str = Field(sa_column=Column(Text, nullable=False))  # JSON: the method's arguments
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime = utc_column(index=True)
    claimed_until: datetime | None = utc_column(nullable=True)
    # The instance that claimed it: after a crash its restart takes the row back at once instead
    # of waiting for the lease (bot/inbox_queue.py names instances).
    claimed_by: str | None = Field(default=None, max_length=128)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    sent_message_id: int | None = Field(default=None, index=True, sa_type=BigInteger)
    created_at: datetime = utc_column()
    sent_at: datetime | None = utc_column(nullable=True)

    @property
    def arguments(self) -> dict[str, Any]:
        return json.loads(self.payload)


# --- the table (no Telegram) ----------------------------------------------------------------------


def enqueue(
    session: Session,
    *,
    key: str,
    chat_id: int,
    method: OutboxMethod,
    payload: dict[str, Any],
    now: datetime,
    thread_id: int | None = None,
    ticket_id: int | None = None,
    kind: str = "notice",
) -> OutboxMessage:
    """Record a message to send; the same ``key`` again returns the first row (a redelivered
    update or a retried handler never queues a second copy)."""
    existing = session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == key)).first()
    if existing is not None:
        return existing
    row = OutboxMessage(
        dedupe_key=key,
        chat_id=chat_id,
        thread_id=thread_id,
        ticket_id=ticket_id,
        kind=kind,
        method=method,
        payload=json.dumps(payload, ensure_ascii=False),
        next_attempt_at=now,
        created_at=now,
    )
    try:
        with session.begin_nested():  # a concurrent writer with the same key: keep theirs
            session.add(row)
    except IntegrityError:
        return session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == key)).one()
    return row


ENQUEUE_CHUNK = 500  # rows per INSERT: SQLite allows ~32k parameters per statement


def enqueue_many(session: Session, messages: list[dict[str, Any]], *, now: datetime) -> int:
    """Record many messages at once, as :func:`enqueue` would one by one (a reminder tick queues
    thousands; one ORM round trip per row took seconds). Each dict holds ``enqueue``'s keyword
    arguments: ``key``, ``chat_id``, ``method``, ``payload`` and optionally ``thread_id``,
    ``ticket_id``, ``kind``. Keys already queued are skipped; rows keep the list's order, so
    each chat gets its messages in that order. Returns how many rows were added."""
    if not messages:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect not in ("sqlite", "postgresql"):  # pragma: no cover - the row-by-row way
        before = len(pending_rows(session))
        for message in messages:
            enqueue(session, now=now, **message)
        return len(pending_rows(session)) - before
    from sqlalchemy.dialects import postgresql, sqlite

    insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
    table: Any = OutboxMessage.__table__  # type: ignore[attr-defined]
    added = 0
    for start in range(0, len(messages), ENQUEUE_CHUNK):
        values = [
            {
                "dedupe_key": m["key"],
                "chat_id": m["chat_id"],
                "thread_id": m.get("thread_id"),
                "ticket_id": m.get("ticket_id"),
                "kind": m.get("kind", "notice"),
                "method": m["method"],
                "payload": json.dumps(m["payload"], ensure_ascii=False),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for m in messages[start : start + ENQUEUE_CHUNK]
        ]
        # executemany of one compiled statement: a multi-row VALUES would be compiled anew for
        # every chunk, which costs more than the insert itself.
        statement = insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
        if dialect == "postgresql":
            # psycopg's executemany reports no rowcount: count the rows RETURNING hands back
            # (SQLAlchemy's "insertmanyvalues" batches them into multi-row INSERTs, in order).
            added += len(session.execute(statement.returning(table.c.id), values).all())
        else:
            added += max(session.execute(statement, values).rowcount, 0)
    return added


def claim_due(
    session: Session,
    *,
    now: datetime,
    limit: int = BATCH,
    ignore_backoff: bool = False,
    owner: str | None = None,
) -> list[OutboxMessage]:
    """Lease the pending rows that are due (all pending unleased rows with ``ignore_backoff``,
    used at start-up), oldest first."""
    rows = list(session.exec(due_rows(now=now, limit=limit, ignore_backoff=ignore_backoff)).all())
    for row in rows:
        row.claimed_until = now + LEASE
        row.claimed_by = owner
        row.attempts += 1
        session.add(row)
    return rows


def due_rows(*, now: datetime, limit: int, ignore_backoff: bool) -> Select[tuple[OutboxMessage]]:
    """The claim query: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (several senders take disjoint
    rows); SQLite has no row locks and ignores it, its ``BEGIN IMMEDIATE`` serialises claimers."""
    earlier = aliased(OutboxMessage)
    # An earlier row to the same chat being sent right now by another sender, or (unless
    # backoff is ignored) backing off: this row waits, so each chat gets its messages in order.
    blocking = col(earlier.claimed_until) > now
    if not ignore_backoff:
        blocking = or_(blocking, earlier.next_attempt_at > now)
    waiting_behind = exists().where(
        earlier.chat_id == OutboxMessage.chat_id,
        earlier.status == "pending",
        col(earlier.id) < col(OutboxMessage.id),
        blocking,
    )
    query = select(OutboxMessage).where(
        OutboxMessage.status == "pending",
        or_(col(OutboxMessage.claimed_until).is_(None), col(OutboxMessage.claimed_until) <= now),
        ~waiting_behind,
    )
    if not ignore_backoff:
        query = query.where(OutboxMessage.next_attempt_at <= now)
    return query.order_by(col(OutboxMessage.id)).limit(limit).with_for_update(skip_locked=True)


def mark_sent(session: Session, *, row_id: int, message_id: int | None, now: datetime) -> None:
    row = row_by_id(session, row_id)
    row.status = "sent"
    row.sent_message_id = message_id
    row.sent_at = now
    row.claimed_until = None
    row.last_error = None
    session.add(row)


def mark_retry(session: Session, *, row_id: int, error: str, at: datetime) -> None:
    row = row_by_id(session, row_id)
    row.next_attempt_at = at
    row.claimed_until = None
    row.last_error = error
    session.add(row)


def mark_given_up(session: Session, *, row_id: int, status: OutboxStatus, error: str) -> None:
    row = row_by_id(session, row_id)
    row.status = status
    row.claimed_until = None
    row.last_error = error
    session.add(row)


def release(session: Session, *, row_ids: list[int], at: datetime) -> None:
    """Hand claimed rows back untried (they queue behind a row that must be retried first)."""
    for row_id in row_ids:
        row = row_by_id(session, row_id)
        row.attempts = max(0, row.attempts - 1)
        row.next_attempt_at = max(row.next_attempt_at, at)
        row.claimed_until = None
        session.add(row)


def release_own(session: Session, *, owner: str) -> int:
    """At start: drop the leases this instance's previous run held when it died. Those rows'
    fate is unknown (sent or not); they go again: a rare duplicate rather than a lost message."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.claimed_by == owner,
            col(OutboxMessage.claimed_until).is_not(None),
        )
        .values(claimed_until=None)
    )
    return max(result.rowcount, 0)


def pending_rows(session: Session) -> list[OutboxMessage]:
    return list(
        session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.status == "pending")
            .order_by(col(OutboxMessage.id))
        ).all()
    )


def sent_row_for(session: Session, *, chat_id: int, message_id: int) -> OutboxMessage | None:
    """The row whose sending produced ``message_id`` in ``chat_id``."""
    return session.exec(
        select(OutboxMessage).where(
            OutboxMessage.chat_id == chat_id, OutboxMessage.sent_message_id == message_id
        )
    ).first()


def row_by_id(session: Session, row_id: int) -> OutboxMessage:
    row = session.get(OutboxMessage, row_id)
    if row is None:
        raise LookupError(f"outbox row {row_id} vanished")
    return row


def backoff(attempts: int, *, jitter: float) -> timedelta:
    """Exponential in the attempts made, capped, times a jitter in [0.5, 1) so many failed rows
    do not all come back in the same second."""
    seconds = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return timedelta(seconds=seconds * (0.5 + jitter / 2))


# --- sending (the Telegram edge) ------------------------------------------------------------------
