"""The Telegram side of the inbox (bot/inbox.py): nothing is acknowledged before it is stored.

:class:`InboxQueue` is the Application's ``update_queue``. PTB's polling loop puts each fetched
update on it and only then asks Telegram for the next batch (which acknowledges this one); the
webhook handler of bot/web.py puts each update before answering 200. So making ``put`` record the
update in the database first is enough for both modes: an update is either stored, or Telegram
still has it.

:class:`InboxApplication` marks an update done once all its handlers have run. A periodic job
renews the leases of the updates this process holds and takes over those whose process died.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.ext import Application, ContextTypes

from bot import inbox
from bot.clock import Clock
from bot.db import Database

logger = logging.getLogger(__name__)

RETRY_FIRST, RETRY_MAX = 0.5, 30.0  # seconds between attempts to store while the database is down
PURGE_EVERY = timedelta(hours=1)


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

    async def put(self, item: Any) -> None:
        """Store, then queue. Retries while the database is unreachable: PTB's polling loop waits
        here, so nothing more is fetched (or acknowledged) until the update is safe."""
        if not isinstance(item, Update):  # PTB lets code put its own objects: not Telegram's
            await super().put(item)
            return
        delay = RETRY_FIRST
        while True:
            try:
                await self.put_once(item)
                return
            except Exception as exc:  # the database is down or locked; Telegram keeps the update
                logger.warning("could not store update %s, retrying: %s", item.update_id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)

    async def put_once(self, update: Update) -> bool:
        """Store and queue; False for an update stored already (a redelivery: not queued again).
        Raises when the database fails: the webhook then answers 5xx and Telegram retries."""
        fresh = await self.db.run(
            inbox.record,
            update_id=update.update_id,
            payload=json.dumps(update.to_dict(), ensure_ascii=False),
            now=self.clock.now(),
            owner=self.owner,
            lease=self.lease,
        )
        if not fresh:
            logger.info("update %s was received before: not handled again", update.update_id)
            return False
        self.held.add(update.update_id)
        await super().put(update)
        return True

    async def done(self, update: Update) -> None:
        self.held.discard(update.update_id)
        await self.db.run(inbox.mark_done, update_ids=[update.update_id], now=self.clock.now())

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
        how many were taken over. Runs every lease/3 (see :func:`schedule`)."""
        now = self.clock.now()
        if self.held:
            await self.db.run(inbox.renew, update_ids=sorted(self.held), now=now, lease=self.lease)
        rows = await self.db.run(
            inbox.claim_abandoned, owner=self.owner, now=now, lease=self.lease
        )
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
