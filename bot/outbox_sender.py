"""Sends the outbox (:mod:`bot.outbox`): claims due rows, calls Telegram, records the outcome.

Also the bot's rate limiter: a steady pace under Telegram's ~30 messages/s, and no retries on top
of the outbox's own for outbox sends (see :class:`HelpdeskRateLimiter`).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlmodel import Session
from telegram import Bot, InlineKeyboardMarkup, ReplyParameters
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter

from bot import metrics
from bot.clock import Clock
from bot.db import Database
from bot.outbox import (
    BATCH,
    MAX_ATTEMPTS,
    OUTBOX_RATE_LIMIT_ARGS,
    OutboxMessage,
    backoff,
    claim_due,
    mark_given_up,
    mark_retry,
    mark_sent,
    release,
    row_by_id,
)

logger = logging.getLogger(__name__)


Prepare = Callable[[OutboxMessage], Awaitable[dict[str, Any]]]
SentHook = Callable[[Session, OutboxMessage, int | None, datetime], None]
BlockedHook = Callable[[Session, OutboxMessage, datetime], None]


class Postpone(Exception):
    """Raised by a ``prepare`` hook: the row cannot go yet (e.g. the ticket's first post has not
    been sent); try again after a backoff."""


class OutboxSender:
    """Claims due rows, sends them, records the outcome. One flush at a time per process, so rows
    to the same chat keep their order; :meth:`kick` after enqueueing makes relays feel instant."""

    def __init__(
        self,
        *,
        bot: Bot,
        db: Database,
        clock: Clock,
        prepare: Prepare | None = None,
        on_sent: SentHook | None = None,
        on_blocked: BlockedHook | None = None,
        jitter: Callable[[], float] = random.random,
        owner: str | None = None,
    ) -> None:
        self.owner = owner  # the instance name claims are recorded under (bot/outbox.py)
        self.bot = bot
        self.db = db
        self.clock = clock
        self.prepare = prepare
        self.on_sent = on_sent
        self.on_blocked = on_blocked
        self.jitter = jitter
        self._lock = asyncio.Lock()
        self._kick_waiting = False
        self._tasks: set[asyncio.Task[int]] = set()

    def kick(self) -> None:
        """Flush soon, without waiting (called right after a handler enqueued). Kicks coalesce:
        while a kicked flush is still waiting for its turn, it will pick up the new rows too."""
        if self._kick_waiting:
            return
        self._kick_waiting = True
        task = asyncio.get_running_loop().create_task(self._kicked_flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _kicked_flush(self) -> int:
        async with self._lock:
            self._kick_waiting = False
            return await self._flush_locked(ignore_backoff=False)

    async def idle(self) -> None:
        """Wait for kicked flushes to finish (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def flush(self, *, ignore_backoff: bool = False) -> int:
        """Send every due row; returns how many were sent."""
        async with self._lock:
            return await self._flush_locked(ignore_backoff=ignore_backoff)

    async def _flush_locked(self, *, ignore_backoff: bool) -> int:
        sent = 0
        while True:
            rows = await self.db.run(
                claim_due, now=self.clock.now(), ignore_backoff=ignore_backoff, owner=self.owner
            )
            if not rows:
                return sent
            batch_sent = await self._send_batch(rows)
            sent += batch_sent
            # Ignoring backoff, a row that failed just now would be claimed again at once: one
            # pass over the failures is enough.
            if len(rows) < BATCH or (ignore_backoff and batch_sent < len(rows)):
                return sent

    async def _send_batch(self, rows: list[OutboxMessage]) -> int:
        sent = 0
        held: dict[int, datetime] = {}  # chat -> retry time of an earlier row to it
        for row in rows:
            assert row.id is not None
            if row.chat_id in held:
                await self.db.run(release, row_ids=[row.id], at=held[row.chat_id])
                continue
            retry_at = await self._send_one(row)
            if retry_at is None:
                sent += 1 if await self._was_sent(row.id) else 0
            else:
                held[row.chat_id] = retry_at
        return sent

    async def _was_sent(self, row_id: int) -> bool:
        def status(session: Session) -> str:
            return row_by_id(session, row_id).status

        return await self.db.run(status) == "sent"

    async def _send_one(self, row: OutboxMessage) -> datetime | None:
        """Send one row and record the outcome; the retry time if it must wait."""
        assert row.id is not None
        now = self.clock.now()
        try:
            extra = await self.prepare(row) if self.prepare else {}
            message_id = await self._call(row, extra)
        except RetryAfter as exc:
            at = now + exc._retry_after  # PTB keeps it as a timedelta
            await self._retry_or_give_up(row, f"429: {exc}", at)
            return at
        except Forbidden as exc:
            logger.info("outbox row %s to %s blocked: %s", row.id, row.chat_id, exc)
            metrics.outbox("blocked")
            await self.db.run(self._record_blocked, row=row, error=str(exc), now=now)
            return None
        except BadRequest as exc:
            logger.error("outbox row %s to %s refused for good: %s", row.id, row.chat_id, exc)
            metrics.outbox("failed")
            await self.db.run(mark_given_up, row_id=row.id, status="failed", error=str(exc))
            return None
        except (TelegramError, Postpone) as exc:  # 5xx, network, timeouts
            at = now + backoff(row.attempts, jitter=self.jitter())
            await self._retry_or_give_up(row, f"{type(exc).__name__}: {exc}", at)
            return at
        await self.db.run(self._record_sent, row=row, message_id=message_id, now=self.clock.now())
        metrics.outbox("sent")
        return None

    async def _retry_or_give_up(self, row: OutboxMessage, error: str, at: datetime) -> None:
        assert row.id is not None
        if row.attempts >= MAX_ATTEMPTS:
            logger.error("outbox row %s given up after %d tries: %s", row.id, row.attempts, error)
            metrics.outbox("failed")
            await self.db.run(mark_given_up, row_id=row.id, status="failed", error=error)
        else:
            logger.warning("outbox row %s will be retried at %s: %s", row.id, at, error)
            metrics.outbox("retry")
            await self.db.run(mark_retry, row_id=row.id, error=error, at=at)

    def _record_sent(
        self, session: Session, *, row: OutboxMessage, message_id: int | None, now: datetime
    ) -> None:
        assert row.id is not None
        mark_sent(session, row_id=row.id, message_id=message_id, now=now)
        if self.on_sent is not None:
            self.on_sent(session, row, message_id, now)

    def _record_blocked(
        self, session: Session, *, row: OutboxMessage, error: str, now: datetime
    ) -> None:
        assert row.id is not None
        mark_given_up(session, row_id=row.id, status="blocked", error=error)
        if self.on_blocked is not None:
            self.on_blocked(session, row, now)

    async def _call(self, row: OutboxMessage, extra: dict[str, Any]) -> int | None:
        args = row.arguments | extra
        markup = args.pop("reply_markup", None)
        reply_to = args.pop("reply_to_message_id", None)
        common: dict[str, Any] = {
            "chat_id": row.chat_id,
            "message_thread_id": args.pop("message_thread_id", row.thread_id),
            "reply_markup": InlineKeyboardMarkup.de_json(markup, self.bot) if markup else None,
            "reply_parameters": (
                ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
            ),
        }
        if getattr(self.bot, "rate_limiter", None) is not None:
            common["rate_limit_args"] = OUTBOX_RATE_LIMIT_ARGS
        if row.method == "sendMessage":
            message = await self.bot.send_message(**common, **args)
            return message.message_id
        if row.method == "copyMessage":
            copied = await self.bot.copy_message(**common, **args)
            return copied.message_id
        raise BadRequest(f"unknown outbox method {row.method}")


class HelpdeskRateLimiter(AIORateLimiter):
    """PTB's limiter, where ``rate_limit_args=-1`` means "throttle, but do not retry a 429".

    PTB reads ``rate_limit_args or max_retries`` (and drops a falsy value earlier still), so 0
    cannot say "no retries". Handler
    replies keep the default retries (a 429 waits ``retry_after`` and tries again); the outbox
    reschedules a 429 itself, and retrying it here too would stack two retry loops.
    """

    async def process_request(  # type: ignore[override]
        self,
        callback: Any,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        if rate_limit_args != OUTBOX_RATE_LIMIT_ARGS:
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )
        chat_id = data.get("chat_id")
        group = chat_id if isinstance(chat_id, int) and chat_id < 0 else False
        # One throttled attempt (PTB's own _run_request, which applies the overall and per-group
        # limits); a RetryAfter propagates to the outbox.
        return await self._run_request(
            chat=chat_id is not None,
            group=group,
            allow_paid_broadcast=bool(data.get("allow_paid_broadcast", False)),
            callback=callback,
            args=args,
            kwargs=kwargs,
        )


# A steady rate instead of PTB's default bucket of 30 that refills at 30/s: that bucket lets a big
# reminder tick send 30 at once and 30 more within the same second, which a strict count of "30
# per second" (Telegram's stated limit) answers with 429s. One message every 1/29 s never exceeds
# 30 in any second, even with a little network jitter, and still sends 29 a second.
SMOOTH_MESSAGES_PER_SECOND = 29


def smooth_rate_limiter(
    *, max_retries: int = 3, per_second: float = SMOOTH_MESSAGES_PER_SECOND
) -> HelpdeskRateLimiter:
    """The bot's rate limiter: :class:`HelpdeskRateLimiter` at a steady ``per_second`` overall
    (HELPDESK_MAX_MESSAGES_PER_SECOND, default :data:`SMOOTH_MESSAGES_PER_SECOND`; 0 = no overall
    limit). PTB's per-group 20/min is kept either way."""
    if per_second <= 0:
        return HelpdeskRateLimiter(overall_max_rate=0, max_retries=max_retries)
    return HelpdeskRateLimiter(
        overall_max_rate=1, overall_time_period=1 / per_second, max_retries=max_retries
    )
