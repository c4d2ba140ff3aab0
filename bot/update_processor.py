"""Updates of different chats handled concurrently, each chat's strictly in order.

PTB handles one update at a time by default, so every question waits for the database round trips
and the reply of the one before it, whoever asked it. With :class:`ChatOrderedProcessor` (the
Application's ``concurrent_updates``) updates of *different* chats overlap, while the updates of one
chat still run one after another in the order Telegram delivered them — exactly as before for any
single chat: a user's messages and button presses, a staff group's messages, and the staff FAQ's
ConversationHandler (keyed by chat and user, so within one chat) never see two of their updates
at once. Updates of different chats were never ordered by Telegram either (and several bot
instances behind one webhook already handle them side by side).

The key is the update's chat; without one its user; without either, one shared key (those are
handled one at a time, in order, as before).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Hashable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

MAX_CONCURRENT_UPDATES = 32  # more only queue for the database's worker threads


def order_key(update: object) -> Hashable:
    """Updates with the same key are handled one at a time, in arrival order."""
    if isinstance(update, Update):
        if update.effective_chat is not None:
            return ("chat", update.effective_chat.id)
        if update.effective_user is not None:
            return ("user", update.effective_user.id)
    return ("other",)


class ChatOrderedProcessor(BaseUpdateProcessor):
    """At most ``max_concurrent_updates`` updates at once; per :func:`order_key`, one at a time."""

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._tails: dict[Hashable, asyncio.Future[None]] = {}

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        # PTB starts one task per update in arrival order, and this runs up to its first await
        # synchronously: so the chain below is built in arrival order, before the concurrency
        # limit (whose waiters need not be woken in order) is even asked.
        key = order_key(update)
        previous = self._tails.get(key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[key] = mine
        started = False
        try:
            if previous is not None:
                await asyncio.shield(previous)
            started = True
            await super().process_update(update, coroutine)
        finally:
            if not started and inspect.iscoroutine(coroutine):
                coroutine.close()  # cancelled while waiting (shutdown): it never ran
            if previous is not None and not previous.done():
                # Still cancelled while waiting: the chat's next update waits for the previous.
                previous.add_done_callback(lambda _done: mine.set_result(None))
            else:
                mine.set_result(None)
            if self._tails.get(key) is mine:
                del self._tails[key]

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release (PTB waits for the running updates itself)."""
