"""The Telegram side of the inbox (bot/inbox.py): nothing is acknowledged before it is stored.

:class:`InboxQueue` is the Application's ``update_queue``. PTB's polling loop puts each fetched
update on it and then asks Telegram for the next batch, which acknowledges this one; the webhook
handler of bot/web.py puts each update before answering 200.

Writes are grouped (one transaction for everything that arrived meanwhile, in arrival order) by
the queue's ordered writer: update records, ``done`` marks and questions' "replied" marks.

* Polling: ``put`` only buffers the record and returns; :class:`InboxRequest`, the bot's request
  object for ``getUpdates``, waits until everything buffered is committed before any
  ``getUpdates`` goes out. That call is what acknowledges the batch, so an update is either
  committed or Telegram still has it. (A crash with records still buffered loses nothing:
  they were not acknowledged, Telegram sends them again.)
* Webhook: :meth:`InboxQueue.put_once` waits for its record's commit before the 200 (several
  concurrent requests share one transaction); a failed commit answers 5xx and Telegram retries.
* An update is queued for its handlers only once its record is committed, in arrival order.

:class:`InboxApplication` marks an update done once all its handlers have run. A periodic job
renews the leases of the updates this process holds and takes over those whose process died.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import Session
from telegram import Update
from telegram.error import NetworkError
from telegram.ext import Application, ContextTypes

from bot import inbox
from bot.clock import Clock
from bot.db import Database
from bot.telegram_request import AiohttpRequest
from faq.service import mark_replied as mark_question_replied
from faq.service import mark_replied_many as mark_questions_replied

logger = logging.getLogger(__name__)

RETRY_FIRST, RETRY_MAX = 0.5, 30.0  # seconds between attempts to store while the database is down
PURGE_EVERY = timedelta(hours=1)
# How long a getUpdates waits for the buffered records' commit before it gives up with a
# NetworkError (PTB's polling loop retries it; the records stay buffered and are retried too).
ACK_WAIT_SECONDS = 5.0


@dataclass(eq=False, slots=True)
class _Write:
    """One buffered write: ``fn(session, **kwargs)`` in the writer's next transaction."""

    seq: int
    fn: Callable[..., Any]
    kwargs: dict[str, Any]
    future: asyncio.Future[Any] | None = None  # settled at commit, for whoever waits on it
    update: Update | None = None  # a record: queued for its handlers once stored fresh
    retry: bool = True  # False: dropped when a transaction fails (the webhook answers 5xx)


def _apply(session: Session, writes: Sequence[tuple[Callable[..., Any], dict[str, Any]]]) -> list:
    """The writes of one round, in one transaction; their results in the same order.

    The writes of a kind in :data:`_MANY` go as one statement each (their ``*_many`` function),
    before the other writes, which follow in order. That regrouping is safe: within one round
    they touch different rows or commute (a done mark or a replied mark is only buffered after
    its update's record, or its question's log, has been committed in an earlier round; a
    record of an update known already is refused whichever comes first)."""
    results: list[Any] = [None] * len(writes)
    grouped: dict[Callable[..., Any], list[int]] = {}
    rest: list[int] = []
    for index, (fn, _kwargs) in enumerate(writes):
        if fn in _MANY:
            grouped.setdefault(fn, []).append(index)
        else:
            rest.append(index)
    for fn, indexes in grouped.items():
        outcomes = _MANY[fn](session, [writes[index][1] for index in indexes])
        for index, outcome in zip(indexes, outcomes, strict=True):
            results[index] = outcome
    for index in rest:
        fn, kwargs = writes[index]
        results[index] = fn(session, **kwargs)
    return results


# A write function -> the same for several writes in one statement: (session, [kwargs, ...]) ->
# [result, ...].
_MANY: dict[Callable[..., Any], Callable[[Session, list[dict[str, Any]]], list[Any]]] = {
    inbox.record: inbox.record_many,
    inbox.mark_done: inbox.mark_done_many,
    mark_question_replied: mark_questions_replied,
}


class InboxQueue(asyncio.Queue):  # type: ignore[type-arg]
    def __init__(
        self, *, db: Database, clock: Clock, owner: str = "", lease: timedelta = inbox.LEASE
    ) -> None:
        super().__init__()
        self.db = db
        self.clock = clock
        self.owner = owner  # this instance's name: its rows survive its restarts
        self.lease = lease
        self.held: set[int] = set()  # updates this process holds: queued or being handled
        self._last_purge = None
        # The ordered writer: writes buffered in arrival order, one transaction per round.
        self._writes: list[_Write] = []
        self._enqueued = 0  # the seq of the last buffered write
        self._settled = 0  # every write up to this seq is committed (or dropped: webhook only)
        self._settled_changed: asyncio.Condition | None = None
        self._wake: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None

    async def put(self, item: Any) -> None:
        """Polling: buffer the update's record and return at once; it is queued for its handlers
        once stored. Nothing here awaits, so PTB's loop buffers a whole batch and then calls
        getUpdates, which waits for the commit first (:class:`InboxRequest`)."""
        if not isinstance(item, Update):  # PTB lets code put its own objects: not Telegram's
            await super().put(item)
            return
        self._record(item, retry=True)

    async def put_once(self, update: Update) -> bool:
        """Webhook: store and queue; False for an update stored already (a redelivery: not queued
        again). Raises when the database fails: the webhook then answers 5xx and Telegram
        retries."""
        future = self._record(update, retry=False)
        return bool(await future)

    def _record(self, update: Update, *, retry: bool) -> asyncio.Future[Any]:
        return self._buffer(
            inbox.record,
            update_id=update.update_id,
            payload=json.dumps(update.to_dict(), ensure_ascii=False),
            now=self.clock.now(),
            owner=self.owner,
            lease=self.lease,
            _update=update,
            _retry=retry,
        )

    async def done(self, update: Update) -> None:
        """Buffered, not awaited. A crash before its commit leaves the update pending: it is
        handled again after the lease, which every handler tolerates (the reply of a question is
        recorded by :meth:`mark_replied` before this, the relays have dedupe keys)."""
        self.held.discard(update.update_id)
        self._buffer(inbox.mark_done, update_ids=[update.update_id], now=self.clock.now())

    async def mark_replied(self, question_id: int) -> None:
        """A question's reply went out (faq.service.mark_replied): awaited until committed, as the
        direct transaction it replaces was, so a replay after a crash finds it just as often. The
        commit is shared with whatever else is buffered meanwhile."""
        await self._buffer(mark_question_replied, question_id=question_id, now=self.clock.now())

    async def flush(self) -> None:
        """Until everything buffered so far is committed (retried while the database is down)."""
        target = self._enqueued
        condition = self._condition()
        async with condition:
            await condition.wait_for(lambda: self._settled >= target)

    async def close(self, timeout: float = ACK_WAIT_SECONDS) -> None:
        """At shutdown, after the handlers: commit what is buffered (within ``timeout``), then stop
        the writer. What could not be committed is safe to lose: records were not acknowledged,
        done marks only mean a replay."""
        if self._writer is None:
            return
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            logger.warning("inbox: %d writes not stored at shutdown", len(self._writes))
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        self._writer = None

    # --- the ordered writer -------------------------------------------------------------------

    def _condition(self) -> asyncio.Condition:
        if self._settled_changed is None:
            self._settled_changed = asyncio.Condition()
        return self._settled_changed

    def _buffer(
        self,
        fn: Callable[..., Any],
        *,
        _update: Update | None = None,
        _retry: bool = True,
        **kwargs: Any,
    ) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        self._enqueued += 1
        future = loop.create_future()
        self._writes.append(_Write(self._enqueued, fn, kwargs, future, _update, _retry))
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write_loop(), name="inbox-writer")
        return future

    async def _write_loop(self) -> None:
        assert self._wake is not None
        delay = RETRY_FIRST
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._writes = self._writes, []
            if not batch:
                continue
            try:
                results = await self.db.run(_apply, [(w.fn, w.kwargs) for w in batch])
            except Exception as exc:  # the database is down or locked: retried, in order
                logger.warning("inbox: could not store %d writes, retrying: %s", len(batch), exc)
                kept = []
                for write in batch:
                    if write.retry:
                        kept.append(write)
                    elif write.future is not None and not write.future.done():
                        write.future.set_exception(exc)
                self._writes = kept + self._writes
                await self._settle()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                self._wake.set()
                continue
            delay = RETRY_FIRST
            for write, result in zip(batch, results, strict=True):
                if write.update is not None:
                    self._queue_recorded(write.update, fresh=bool(result))
                if write.future is not None and not write.future.done():
                    write.future.set_result(result)
            await self._settle()

    async def _settle(self) -> None:
        """Everything neither buffered nor being written is settled: tell flush() waiters."""
        settled = self._writes[0].seq - 1 if self._writes else self._enqueued
        if settled > self._settled:
            self._settled = settled
            condition = self._condition()
            async with condition:
                condition.notify_all()

    def _queue_recorded(self, update: Update, *, fresh: bool) -> None:
        if not fresh:
            logger.info("update %s was received before: not handled again", update.update_id)
            return
        self.held.add(update.update_id)
        self.put_nowait(update)  # asyncio.Queue's: unbounded, never blocks

    async def recover(self, bot: Any) -> int:
        """At start, before polling or the webhook: queue what this instance's previous run left
        unfinished, so it is handled before anything newer from the same chats."""
        rows = await self.db.run(
            inbox.claim_own, owner=self.owner, now=self.clock.now(), lease=self.lease
        )
        await self._queue_claimed(rows, bot, "before it stopped")
        return len(rows)

    async def maintain(self, bot: Any) -> int:
        """Renew this process's leases and take over updates abandoned by a dead process; returns
        how many were taken over. Runs every lease/3 (see :func:`start`)."""
        now = self.clock.now()
        if self.held:
            await self.db.run(inbox.renew, update_ids=sorted(self.held), now=now, lease=self.lease)
        rows = await self.db.run(inbox.claim_abandoned, owner=self.owner, now=now, lease=self.lease)
        await self._queue_claimed(rows, bot, "by a process that stopped")
        if self._last_purge is None or now - self._last_purge >= PURGE_EVERY:
            self._last_purge = now
            purged = await self.db.run(inbox.purge_done, now=now)
            if purged:
                logger.info("inbox: %d handled updates older than a week removed", purged)
        return len(rows)

    async def _queue_claimed(self, rows: list[inbox.InboxUpdate], bot: Any, whose: str) -> None:
        for row in rows:
            logger.warning(
                "update %s was left unfinished %s: handling it (attempt %d)",
                row.update_id,
                whose,
                row.attempts,
            )
            self.held.add(row.update_id)
            await super().put(Update.de_json(json.loads(row.payload), bot))


class InboxRequest(AiohttpRequest):
    """The bot's request object for ``getUpdates`` (and only for it: PTB gives getUpdates its own).

    A ``getUpdates`` with a higher offset acknowledges the updates fetched before, and PTB's
    polling loop sends it right after putting them on the queue (also once more when polling
    stops): so each one first waits until the buffered records are committed. If that takes
    longer than ``ack_wait`` (the database is down), nothing is sent and PTB's loop gets a
    NetworkError and tries again later; the records stay buffered and are retried meanwhile."""

    def __init__(
        self, inbox_queue: InboxQueue, *, ack_wait: float = ACK_WAIT_SECONDS, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.inbox_queue = inbox_queue
        self.ack_wait = ack_wait

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        try:
            await asyncio.wait_for(self.inbox_queue.flush(), self.ack_wait)
        except TimeoutError:
            raise NetworkError("updates received are not stored yet: not acknowledged") from None
        return await super().do_request(*args, **kwargs)


class InboxApplication(Application):  # type: ignore[type-arg]
    """PTB's Application, marking each update done in the inbox after its handlers ran."""

    async def process_update(self, update: object) -> None:
        try:
            await super().process_update(update)
        finally:
            # Not when cancelled (shutdown in the middle): the update stays pending and is
            # handled again. After an exception the handlers had their turn: done.
            queue = self.update_queue
            if isinstance(update, Update) and isinstance(queue, InboxQueue):
                task = asyncio.current_task()
                if task is None or not task.cancelling():
                    await queue.done(update)


async def maintain_inbox(context: ContextTypes.DEFAULT_TYPE) -> None:
    queue = context.application.update_queue
    if isinstance(queue, InboxQueue):
        await queue.maintain(context.bot)


async def start(application: Application) -> None:  # type: ignore[type-arg]
    """What this instance left unfinished first, then the job: every lease/3, renew this
    process's leases and take over updates of processes that died."""
    queue = application.update_queue
    assert isinstance(queue, InboxQueue)
    assert application.job_queue is not None
    await queue.recover(application.bot)
    application.job_queue.run_repeating(
        maintain_inbox,
        interval=queue.lease.total_seconds() / 3,
        first=queue.lease.total_seconds() / 3,
        name="inbox",
        job_kwargs={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
    )
