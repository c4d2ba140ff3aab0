"""The typed context handlers receive, carrying the services (PTB's ``ContextTypes`` pattern).

The composition root puts one :class:`Services` into ``application.bot_data``; handlers reach it as
``context.services`` instead of through module globals, so tests build as many applications as they
like, each with its own database and clock.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from bot.chat_users import Talking
from bot.clock import Clock
from bot.db import Database
from bot.roles import Roles
from bot.settings import Settings
from bot.texts import t, user_lang
from faq.matcher import Match
from faq.service import FaqIndex

if TYPE_CHECKING:
    from bot.desk import Desk
    from bot.models import ChatUser


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a handler needs besides the update itself."""

    settings: Settings
    db: Database
    clock: Clock
    faq: FaqIndex
    roles: Roles  # staff and admins, checked on every staff command and button press

    def now(self) -> datetime:
        return self.clock.now()

    async def match(self, text: str) -> Match:
        """Match in a worker thread: over a large catalogue one query takes tens of milliseconds,
        too long to hold the event loop."""
        return await asyncio.to_thread(self.faq.match, text)


class BotData:
    """``application.bot_data``: the services, set once by the composition root."""

    services: Services
    desk: Desk  # the escalation desk: its configuration and the outbox sender


class HelpdeskContext(CallbackContext[ExtBot[None], dict, dict, BotData]):
    """The context of one update: the services plus who is talking, remembered by the first
    handler group (see :func:`bot.handlers.remember_user`)."""

    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)
        self.chat_user: ChatUser | None = None
        # Private messages only; None = not read (another kind of update, or no remember_user):
        # the handlers then ask the database themselves.
        self.talking: Talking | None = None

    @property
    def services(self) -> Services:
        return self.bot_data.services

    @property
    def lang(self) -> str:
        """The language to talk to this update's user in."""
        user = self.chat_user
        default = self.services.settings.default_lang
        if user is None:
            return default
        return user_lang(user.chosen_lang, user.telegram_lang, default)

    @property
    def chosen_lang(self) -> str | None:
        """The language the user picked with /lang, if any."""
        return self.chat_user.chosen_lang if self.chat_user else None

    def text(self, key: str, **values: object) -> str:
        return t(self.lang, key, **values)


CONTEXT_TYPES = ContextTypes(context=HelpdeskContext, bot_data=BotData)
