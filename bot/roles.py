"""Who may do what, checked on the server for every command and every button press.

Staff are the members of the staff group (``HELPDESK_STAFF_CHAT_ID``), asked of Telegram with
getChatMember and cached briefly so a removed member loses access within a minute; admins are
``HELPDESK_ADMIN_IDS`` (and are staff too). Callback data can be forged, so a button is never
trusted to say who pressed it or what they may do: handlers call these checks with the presser's
real user id from the update.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from telegram import Bot
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

logger = logging.getLogger(__name__)

# A Telegram user id typed as a command argument: ASCII digits ("²".isdigit() is true but int()
# refuses it), and short enough for the database's 64-bit integer columns (ids are below 2**52).
_USER_ID = re.compile(r"[0-9]{1,15}")


def parse_user_id(text: str) -> int | None:
    """The user id in a command argument, or ``None`` if it is not one."""
    return int(text) if _USER_ID.fullmatch(text) else None


STAFF_STATUSES = frozenset(
    {ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}
)
CACHE_SECONDS = 60.0


class Roles:
    def __init__(
        self,
        *,
        staff_chat_id: int | None,
        admin_ids: list[int],
        cache_seconds: float = CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.staff_chat_id = staff_chat_id
        self.admin_ids = frozenset(admin_ids)
        self.cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._cache: dict[int, tuple[float, bool]] = {}

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.admin_ids

    async def is_staff(self, bot: Bot, user_id: int) -> bool:
        if self.is_admin(user_id):
            return True
        if self.staff_chat_id is None:
            return False
        now = self._monotonic()
        cached = self._cache.get(user_id)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        try:
            member = await bot.get_chat_member(self.staff_chat_id, user_id)
        except TelegramError as exc:
            # Unknown to Telegram or Telegram unreachable: refuse, and don't cache a guess.
            logger.warning("getChatMember for %s failed: %s", user_id, exc)
            return False
        allowed = member.status in STAFF_STATUSES or (
            member.status == ChatMemberStatus.RESTRICTED and getattr(member, "is_member", False)
        )
        self._cache[user_id] = (now, allowed)
        return allowed

    def forget(self, user_id: int | None = None) -> None:
        """Drop cached answers (all of them without a user), e.g. on a chat_member update."""
        if user_id is None:
            self._cache.clear()
        else:
            self._cache.pop(user_id, None)
