"""Bad input drill: 10,000 random updates through the real handlers.

Every kind of update Telegram can deliver (texts, commands with random arguments, media, contacts,
locations, edits, channel posts, group/supergroup/forum messages, membership changes, button
presses with forged, random or overlong data, inline queries, ...) from private users, staff,
bureau reviewers, institutions and strangers goes through ``Application.process_update`` of the
real application, wired to the fake Bot API server and a real database. The drill pins that the
bot never crashes (no ERROR in the log, the error handler never runs) and that every message it
sends is sensible: non-empty text, HTML the strict fake accepts, in the chat the update came from
(or the staff group, or the private chat of the person concerned).

A failure prints the seed; ``HELPDESK_DRILL_SEED=<seed>`` replays the same run, and
``HELPDESK_DRILL_UPDATES=<n>`` runs fewer updates while debugging. The run takes about 10 ms of CPU
per update, two thirds of it the application's own database round trips (SQLAlchemy and the
worker-thread hops): about 100 s for the 10,000 on an idle machine.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import time
from collections import deque
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from telegram import Update
from telegram.ext import Application

from bot import app as app_module
from bot.clock import FrozenClock
from bot.db import Database
from bot.fakeapi import CallRecord, FakeTelegram
from bot.fakeapi import _member_json as member_json  # the fake's ChatMember, complete for PTB
from bot.outbox_sender import HelpdeskRateLimiter
from bot.settings import Settings, load_settings
from bot.texts import t
from reminders.models import Bureau, BureauReviewer, InstitutionBinding, ReviewItem

from .conftest import NOW, TOKEN

JSON = dict[str, Any]

UPDATES = int(os.environ.get("HELPDESK_DRILL_UPDATES") or 10_000)  # fewer while debugging
SETTLE_EVERY = 50  # the outbox is flushed by hand every so many updates (and at the end)

STAFF = -1009876543210  # the staff supergroup, with forum topics
GROUP = -1001111111111  # a supergroup of institutions
SMALL_GROUP = -222222  # a basic group
FORUM = -1002222222222  # a forum that is not the staff group
CHANNEL = -1003333333333
STAFF_MEMBERS = (501, 502)
ADMIN = 900
REVIEWERS = {2001: "3301", 2002: "3302"}
INSTITUTION = 3001
CREDIT = "91330100MA2B3C4D5E"
USERS = tuple(range(1001, 1031))  # ordinary people, unknown to the bot until they write
PEOPLE = (*USERS, *STAFF_MEMBERS, ADMIN, *REVIEWERS, INSTITUTION)
REFS = ("HZ-1", "HZ-2", "NB-1")

NAMES = [
    "Alice",
    "张三",
    "<b>&amp;",
    "</i><script>",
    "&",
    "a" * 64,
    "👩‍💻",
    "\u202eevil",
    "=HYPERLINK()",
    "Robert'); DROP TABLE chat_user;--",
]
LANGUAGE_CODES = [None, "zh-hans", "zh", "en", "en-US", "ru", "", "xx-invalid"]

QUESTIONS = [
    "忘记登录密码了怎么办？",
    "附件多大",
    "审核流程是怎样的",
    "How do I reset my password?",
    "谢谢",
    "hi",
    "ok",
    "今天天气怎么样",
    "退回了怎么办",
    "密码",
]
HOSTILE = [
    "<b>",
    "</b>",
    "&",
    "&amp",
    "<a href='x'>x</a>",
    "<tg-spoiler>",
    "=1+1",
    "'; DROP TABLE faq_entry; --",
    "9" * 400,
    "1e308",
    "\x00",
    "\u200b",
    "\ufeff",
    "\U0001f600" * 30,
    "\n\n\n",
    "   ",
    "@helpdesk_test_bot",
    "#note",
    "#",
    "/",
]
COMMANDS = [
    "start",
    "help",
    "lang",
    "human",
    "mytickets",
    "bind",
    "whoami",
    "unbind",
    "invite",
    "close",
    "ban",
    "unban",
    "cancel",
    "bureaus",
    "common",
    "stats",
    "report",
    "phrasings",
    "faqdraft",
    "settings",
    "x" * 32,
]
COMMAND_ARGS = [
    "",
    "zh",
    "en",
    "fr",
    "1",
    "0",
    "-1",
    "99999999999999999999999",
    "abc",
    "3301",
    "HZ-1",
    "<b>",
    "&",
    "bureau-x",
    "inv_" + "A" * 40,
]


def random_text(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.35:
        return rng.choice(QUESTIONS)
    if kind < 0.55:
        return rng.choice(HOSTILE) + rng.choice(["", " ", rng.choice(QUESTIONS)])
    if kind < 0.9:
        # Any code point but surrogates (Telegram text is UTF-8), control characters included.
        size = rng.choice([1, 2, 5, 20, 80, 300])
        chars: list[str] = []
        while len(chars) < size:
            code = rng.choice([rng.randrange(0, 0x80), rng.randrange(0x80, 0x30000)])
            if not 0xD800 <= code <= 0xDFFF:
                chars.append(chr(code))
        return "".join(chars)
    if kind < 0.995:
        return " ".join(rng.choice(QUESTIONS + HOSTILE) for _ in range(rng.randrange(2, 40)))
    return rng.choice(["密", "a", "<", "&"]) * rng.choice([4096, 100_000])  # 100 KB at most


def random_data(rng: random.Random, offered: list[str]) -> str | None:
    """Callback data: offered by the bot, tampered with, or forged outright."""
    kind = rng.random()
    if offered and kind < 0.4:
        return rng.choice(offered)
    if offered and kind < 0.6:
        data = rng.choice(offered)
        number = str(rng.choice([0, 1, 2, 7, 10**18, 10**19, -1]))
        return data.rsplit(":", 1)[0] + ":" + number if ":" in data else data + number
    prefixes = ["fb", "sg", "ex", "lg", "cs", "tk", "rt", "rv", "fd", "ph", "cm", "zz", ""]
    parts = [rng.choice(prefixes)]
    for _ in range(rng.randrange(0, 4)):
        parts.append(
            rng.choice(
                [
                    str(rng.randrange(0, 10**6)),
                    "9" * rng.randrange(1, 30),
                    rng.choice(["u", "d", "ok", "rt", "c", "x", "r", "f", "n", "q", "a", "y"]),
                    rng.choice((*REFS, "account-001", "att-001", "nope", "<b>", "&", "")),
                    random_text(rng)[:20],
                ]
            )
        )
    data = ":".join(parts)
    if kind > 0.95:
        data = data + "x" * rng.choice([64, 200, 5000])  # longer than Telegram's 64 bytes
    if kind > 0.99:
        return None  # a game button: no data at all
    return data


@pytest.fixture
def seed(capsys: pytest.CaptureFixture[str]) -> int:
    seed = int(os.environ.get("HELPDESK_DRILL_SEED") or random.SystemRandom().randrange(10**9))
    with capsys.disabled():
        print(f"\nupdate drill seed: {seed} (HELPDESK_DRILL_SEED={seed} replays it)")
    return seed


@pytest.fixture
def rng(seed: int) -> random.Random:
    return random.Random(seed)


@pytest.fixture
def settings(
    fake: FakeTelegram, database_url: str, rng: random.Random, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    build_world(fake, rng)  # before the application starts: it looks at the staff group
    # Telegram's pace (29 messages/s, 20 a minute per group) would stretch the drill to hours;
    # the rate limiter has tests of its own (tests/test_outbox.py). Unlimited, same class.
    monkeypatch.setattr(
        app_module,
        "smooth_rate_limiter",
        lambda *, max_retries=3, per_second=0: HelpdeskRateLimiter(
            overall_max_rate=0, group_max_rate=0, max_retries=max_retries
        ),
    )
    return load_settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_url=fake.api_url,
        database_url=database_url,
        staff_chat_id=STAFF,
        admin_ids=[ADMIN],
        max_message_chars=1000,
    )


def build_world(fake: FakeTelegram, rng: random.Random) -> None:
    """The people and chats, with hostile names and odd language codes."""
    for user_id in PEOPLE:
        fake.add_user(
            user_id,
            rng.choice(NAMES),
            language_code=rng.choice(LANGUAGE_CODES),
            username=rng.choice([None, f"user{user_id}", "x" * 32]),
            last_name=rng.choice([None, "<>&", "李"]),
        )
    staff = {uid: "member" for uid in STAFF_MEMBERS} | {ADMIN: "administrator"}
    fake.add_group(STAFF, "信用平台客服组", is_forum=True, members=staff)
    fake.add_group(GROUP, "第三方机构交流群 <&>")
    fake.add_group(SMALL_GROUP, "小群", chat_type="group")
    fake.add_group(FORUM, "论坛", is_forum=True)
    fake.add_group(CHANNEL, "公告频道", chat_type="channel")


def seed_reminders(db: Database) -> None:
    """Two bureaus with a reviewer each, an institution bound to a credit code, three items."""
    with db.session() as session:
        for code, name in (("3301", "杭州市财政局"), ("3302", '=HYPERLINK("x")<b>宁波&')):
            session.add(Bureau(code=code, name=name, level="city", created_at=NOW, updated_at=NOW))
        session.flush()
        for user_id, code in REVIEWERS.items():
            session.add(BureauReviewer(user_id=user_id, bureau_code=code, bound_at=NOW))
        session.add(
            InstitutionBinding(
                user_id=INSTITUTION, credit_code=CREDIT, phone="13800000000", bound_at=NOW
            )
        )
        for ref in REFS:
            session.add(
                ReviewItem(
                    ref=ref,
                    institution=f"<i>{ref}</i> & 事务所",
                    credit_code=CREDIT,
                    contact_phone="13800000000",
                    bureau_code=REVIEWERS[2001] if ref.startswith("HZ") else REVIEWERS[2002],
                    submitted_at=NOW,
                    due_at=NOW + timedelta(days=2),
                    last_event_at=NOW,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )


class ErrorLog(logging.Handler):
    """Every log record at ERROR or above, from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


class Drill:
    """Generates the updates, feeds them, and checks what the bot did after each one."""

    def __init__(
        self,
        app: Application,  # type: ignore[type-arg]
        fake: FakeTelegram,
        rng: random.Random,
    ) -> None:
        self.app = app
        self.fake = fake
        self.rng = rng
        self.ids = itertools.count(1)
        self.people = PEOPLE
        self.groups = [GROUP, SMALL_GROUP, FORUM, STAFF]
        self.sent: list[JSON] = []  # messages users sent, for edits and replies
        self.blocked: set[int] = set()
        self.problems: list[str] = []
        self.errors: list[BaseException | None] = []
        self.kinds: dict[str, int] = {}
        self.seconds: dict[str, float] = {}  # handling time by kind, for the summary line
        self.recent: dict[int, deque[JSON]] = {}
        self.topic_ids: dict[int, set[int]] = {}

    # --- the world ----------------------------------------------------------------------------

    @property
    def bot_user(self) -> JSON:
        return self.fake.bot_user

    def user_json(self, user_id: int) -> JSON:
        return self.fake.user(user_id).to_api()

    def chat_json(self, chat_id: int) -> JSON:
        if chat_id > 0:
            user = self.fake.user(chat_id)
            return {"id": chat_id, "type": "private", "first_name": user.first_name}
        kinds = {SMALL_GROUP: "group", CHANNEL: "channel"}
        chat = {"id": chat_id, "type": kinds.get(chat_id, "supergroup"), "title": "群"}
        if chat_id in (STAFF, FORUM):
            chat["is_forum"] = True
        return chat

    def topics(self, chat_id: int) -> list[int]:
        """Forum topics the bot posted in (a ticket each in the staff group)."""
        return sorted(self.topic_ids.get(chat_id, ()))

    def bot_messages(self, chat_id: int) -> list[JSON]:
        """The bot's latest messages in the chat (tracked: asking the fake each time copies every
        message of the chat, which makes a long drill quadratic)."""
        return list(self.recent.get(chat_id, ()))

    def remember(self, record: CallRecord) -> None:
        message = record.message
        if not record.ok or message is None:
            return
        chat_id = message["chat"]["id"]
        self.recent.setdefault(chat_id, deque(maxlen=20)).append(message)
        if message.get("is_topic_message"):
            self.topic_ids.setdefault(chat_id, set()).add(message["message_thread_id"])

    # --- updates ----------------------------------------------------------------------------------

    def actor(self) -> int:
        rng = self.rng
        roll = rng.random()
        if roll < 0.55:
            return rng.choice(USERS)
        if roll < 0.75:
            return rng.choice([*STAFF_MEMBERS, ADMIN])
        if roll < 0.9:
            return rng.choice(list(REVIEWERS))
        return INSTITUTION

    def where(self, user_id: int) -> tuple[int, int | None]:
        """A chat the user writes in, and a forum topic in it (or None)."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.6:
            return user_id, None
        if user_id in (*STAFF_MEMBERS, ADMIN):
            chat_id = STAFF if roll < 0.9 else rng.choice(self.groups)
        else:  # writing in a group makes one a member, and members of the staff group are staff
            chat_id = rng.choice([GROUP, SMALL_GROUP, FORUM])
        topics = self.topics(chat_id) if chat_id in (STAFF, FORUM) else []
        return chat_id, rng.choice(topics) if topics and rng.random() < 0.7 else None

    def message_update(self, user_id: int) -> tuple[str, JSON]:
        rng, fake = self.rng, self.fake
        chat_id, thread = self.where(user_id)
        target = None if chat_id == user_id else chat_id
        roll = rng.random()
        if roll < 0.5:
            text = random_text(rng)
            if target is not None and rng.random() < 0.3:
                text = f"@{fake.bot_username} {text}"
            reply_to = None
            mine = self.bot_messages(chat_id)
            if mine and thread is None and rng.random() < 0.3:
                reply_to = rng.choice(mine)["message_id"]
            kind = "text"
            message = fake.user_sends_text(
                user_id, text, chat_id=target, reply_to=reply_to, thread_id=thread
            )
        elif roll < 0.75:
            name = rng.choice(COMMANDS)
            if rng.random() < 0.1:
                name += rng.choice(["@" + fake.bot_username, "@other_bot", "@"])
            args = " ".join(rng.choice(COMMAND_ARGS) for _ in range(rng.randrange(0, 3)))
            if rng.random() < 0.2:
                args = random_text(rng)
            kind = "command"
            message = fake.user_sends_text(
                user_id, f"/{name} {args}".strip(), chat_id=target, thread_id=thread
            )
        else:
            kind = rng.choice(
                ["sticker", "photo", "document", "sheet", "voice", "contact", "location"]
            )
            caption = rng.choice([None, random_text(rng)[:1024]])
            if kind == "sticker":
                message = fake.user_sends_sticker(user_id, chat_id=target)
            elif kind == "photo":
                message = fake.user_sends_photo(
                    user_id, caption=caption, chat_id=target, thread_id=thread
                )
            elif kind in ("document", "sheet"):
                name = rng.choice(["a.pdf", "b.csv", "c.xlsx", "d", "<e>.csv", "f.exe"])
                content = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
                if kind == "sheet":  # a spreadsheet with a real header and hostile rows
                    content = (
                        "ref,institution,credit_code,contact_phone,bureau_code,stage,"
                        "submitted_at,status,return_reason,event_at\r\n"
                        f"{rng.choice(REFS)},=cmd|x,{CREDIT},,3301,,"
                        f"{rng.choice(['2026-11-23 10:00', '9999-12-31 23:59', 'x'])},"
                        f"{rng.choice(['returned', 'approved', 'pending', '?'])},<b>&,\r\n"
                    ).encode()
                    name = "reviews.csv"
                message = fake.user_sends_document(
                    user_id, name, content, caption=caption, chat_id=target, thread_id=thread
                )
            elif kind == "voice":
                message = fake.user_sends_voice(user_id, chat_id=target)
            elif kind == "contact":
                phone = rng.choice(["+8613800000000", "13800000000", "0", "abc", "+1" + "9" * 30])
                message = fake.user_sends_contact(user_id, phone, chat_id=target)
            else:
                message = fake.user_sends_location(
                    user_id, rng.uniform(-90, 90), rng.uniform(-180, 180), chat_id=target
                )
        self.sent.append(message)
        return kind, {"message": message}

    def raw_message(self, user_id: int, chat_id: int, content: JSON) -> JSON:
        """A message the fake has no helper for (it still counts as sent in that chat)."""
        return {
            "message_id": 10_000_000 + next(self.ids),
            "date": int(NOW.timestamp()),
            "chat": self.chat_json(chat_id),
            "from": self.user_json(user_id),
            **content,
        }

    def press_update(self, user_id: int) -> tuple[str, JSON]:
        rng = self.rng
        chat_id = user_id if rng.random() < 0.6 else rng.choice([STAFF, *self.groups])
        mine = self.bot_messages(chat_id)
        if mine and rng.random() < 0.9:
            message = rng.choice(mine)
        else:  # a message the bot never sent, or one that was deleted since
            message = self.raw_message(user_id, chat_id, {"text": "x"})
            message["from"] = self.bot_user
        keyboard = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        offered = [b["callback_data"] for row in keyboard for b in row if "callback_data" in b]
        if rng.random() < 0.2:  # somebody else presses it
            user_id = self.actor()
        query = self.fake.user_presses(user_id, message, "x")
        data = random_data(rng, offered)
        if data is None:
            del query["data"]
            query["game_short_name"] = "game"
        else:
            query["data"] = data
        return "press", {"callback_query": query}

    def edit_update(self) -> tuple[str, JSON]:
        original = self.rng.choice(self.sent)
        edited = dict(original, edit_date=int(NOW.timestamp()) + 60)
        if "text" in edited:
            edited["text"] = random_text(self.rng)[:4096] or "x"
            edited.pop("entities", None)
        return "edited_message", {"edited_message": edited}

    def channel_update(self) -> tuple[str, JSON]:
        rng = self.rng
        post = {
            "message_id": 20_000_000 + next(self.ids),
            "date": int(NOW.timestamp()),
            "chat": self.chat_json(CHANNEL),
            "sender_chat": self.chat_json(CHANNEL),
            "text": random_text(rng)[:4096] or "x",
        }
        if rng.random() < 0.3:
            return "edited_channel_post", {"edited_channel_post": post | {"edit_date": 1}}
        return "channel_post", {"channel_post": post}

    def member_update(self, user_id: int) -> tuple[str, JSON]:
        rng = self.rng
        statuses = ["member", "left", "kicked", "administrator", "restricted"]
        if rng.random() < 0.5:
            chat_id = rng.choice([user_id, *self.groups, CHANNEL])
            member = self.bot_user
            kind = "my_chat_member"
        else:
            chat_id = rng.choice([*self.groups, CHANNEL])
            member = self.user_json(self.actor())
            kind = "chat_member"
        old, new = rng.choice(statuses), rng.choice(statuses)
        change = {
            "chat": self.chat_json(chat_id),
            "from": self.user_json(user_id),
            "date": int(NOW.timestamp()),
            "old_chat_member": member_json(old, member),
            "new_chat_member": member_json(new, member),
        }
        if kind == "my_chat_member" and chat_id == user_id:
            # Blocking for real: sends to them now fail with 403 until they unblock.
            self.fake.block(user_id, notify=False) if new == "kicked" else self.unblock(user_id)
            if new == "kicked":
                self.blocked.add(user_id)
        return kind, {kind: change}

    def unblock(self, user_id: int) -> None:
        self.fake.unblock(user_id, notify=False)
        self.blocked.discard(user_id)

    def other_update(self, user_id: int) -> tuple[str, JSON]:
        rng = self.rng
        user = self.user_json(user_id)
        roll = rng.random()
        if roll < 0.4:
            query = {"id": str(next(self.ids)), "from": user, "query": random_text(rng)[:256]}
            return "inline_query", {"inline_query": query | {"offset": ""}}
        if roll < 0.55:
            result = {"result_id": "1", "from": user, "query": "x"}
            return "chosen_inline_result", {"chosen_inline_result": result}
        if roll < 0.7:
            answer = {
                "poll_id": "p1",
                "user": user,
                "option_ids": [0],
                "option_persistent_ids": ["a"],
            }
            return "poll_answer", {"poll_answer": answer}
        if roll < 0.85:
            reaction = {
                "chat": self.chat_json(rng.choice([user_id, GROUP])),
                "message_id": 1,
                "user": user,
                "date": int(NOW.timestamp()),
                "old_reaction": [],
                "new_reaction": [{"type": "emoji", "emoji": "👍"}],
            }
            return "message_reaction", {"message_reaction": reaction}
        request = {
            "chat": self.chat_json(GROUP),
            "from": user,
            "user_chat_id": user_id,
            "date": int(NOW.timestamp()),
        }
        return "chat_join_request", {"chat_join_request": request}

    def next_update(self) -> tuple[str, JSON, int | None, int]:
        """(kind, payload, chat the update came from, the user behind it)."""
        rng = self.rng
        user_id = self.actor()
        if user_id in self.blocked:
            self.unblock(user_id)  # a blocked user cannot write; they unblock first
        roll = rng.random()
        if roll < 0.6:
            kind, payload = self.message_update(user_id)
        elif roll < 0.8:
            kind, payload = self.press_update(user_id)
        elif roll < 0.85 and self.sent:
            kind, payload = self.edit_update()
        elif roll < 0.88:
            kind, payload = self.channel_update()
        elif roll < 0.94:
            kind, payload = self.member_update(user_id)
        else:
            kind, payload = self.other_update(user_id)
        update = next(iter(payload.values()))
        chat = update.get("chat") or (update.get("message") or {}).get("chat") or {}
        return kind, payload, chat.get("id"), user_id

    # --- running and checking ---------------------------------------------------------------------

    async def run(self, count: int) -> None:
        desk = self.app.bot_data.desk  # type: ignore[attr-defined]

        async def record_error(update: object, context: Any) -> None:
            self.errors.append(context.error)

        self.app.add_error_handler(record_error)
        for number in range(1, count + 1):
            kind, payload, chat_id, user_id = self.next_update()
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            mark = len(self.fake.log)
            update = Update.de_json({"update_id": next(self.ids), **payload}, self.app.bot)
            began = time.perf_counter()
            await self.app.process_update(update)
            await desk.sender.idle()
            self.seconds[kind] = self.seconds.get(kind, 0.0) + time.perf_counter() - began
            if number % SETTLE_EVERY == 0:
                await desk.sender.flush(ignore_backoff=True)
            allowed = {chat_id, user_id, STAFF}
            if chat_id == STAFF:
                allowed.update(self.people)  # staff replies are relayed to the ticket's user
            if user_id in (*STAFF_MEMBERS, ADMIN, *REVIEWERS):
                # Staff and reviewers act on other people's tickets and items: relays, invites,
                # an approval told to the institution.
                allowed.update(self.people)
            for record in self.fake.log[mark:]:
                self.check(record, f"update {number} ({kind} from {user_id})", allowed)
                self.remember(record)
            if self.errors:
                raise AssertionError(f"update {number} ({kind}): {self.errors[0]!r}")
        await desk.sender.idle()
        await desk.sender.flush(ignore_backoff=True)

    def check(self, record: CallRecord, where: str, allowed: set[int | None]) -> None:
        params = record.params
        text = params.get("text")
        if record.method in ("sendMessage", "editMessageText") and (
            not isinstance(text, str) or not text.strip()
        ):
            self.problems.append(f"{where}: {record.method} with empty text {text!r}")
        # The fake parses HTML as strictly as Telegram and refuses a bad text or caption; code
        # that catches TelegramError would hide the refusal, the record does not.
        if not record.ok and record.description and "parse" in record.description:
            self.problems.append(f"{where}: {record.method} refused: {record.description}")
        sends = record.method.startswith("send") and record.method != "sendChatAction"
        if sends and record.chat_id not in allowed:
            self.problems.append(f"{where}: {record.method} to chat {record.chat_id}")


async def test_ten_thousand_random_updates_crash_nothing_and_get_sensible_replies(
    app: Application,  # type: ignore[type-arg]
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    error_log: ErrorLog,
    capsys: pytest.CaptureFixture[str],
    seed: int,
    rng: random.Random,
):
    drill = Drill(app, fake, rng)
    seed_reminders(db)

    started, cpu = time.perf_counter(), time.process_time()
    await drill.run(UPDATES)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu

    errors = [f"{r.name}: {r.getMessage()}" for r in error_log.records]
    assert errors == [], f"seed {seed}: errors logged: {errors[:5]}"
    assert drill.errors == [], f"seed {seed}: the error handler ran: {drill.errors[:5]}"
    assert drill.problems == [], f"seed {seed}: {drill.problems[:10]}"
    notice = t("zh", "staff_error", error="", where="").split("\n")[0]  # "⚠️ 机器人处理消息时出错"
    assert not [m for m in fake.messages(STAFF) if (m.get("raw_text") or "").startswith(notice)]
    assert sum(drill.kinds.values()) == UPDATES
    with capsys.disabled():
        slowest = sorted(drill.seconds.items(), key=lambda kv: -kv[1])[:6]
        print(
            f"update drill: {UPDATES} updates in {elapsed:.1f}s ({cpu:.1f}s CPU); "
            f"kinds {sorted(drill.kinds.items())}; "
            f"slowest {[(k, round(v, 1)) for k, v in slowest]}"
        )
