"""``helpdesk sandbox``: the real bot against the project's fake Telegram, chatted from a terminal.

Nothing leaves the machine: the fake Bot API server listens on 127.0.0.1, the bot polls it exactly
as it polls Telegram, and you type as an institution user. Buttons are numbered; type the number to
press one. ``/sticker`` and ``/photo`` send those instead of text; ``/quit`` (or Ctrl-D) ends.

The sandbox also has a staff group with forum topics and one staff member (an admin), so the
escalation desk can be tried: ``/as staff`` makes what you type go to the staff group, into the
topic of the latest ticket; ``/as user`` switches back.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr

from bot.clock import SystemClock
from bot.db import Database
from bot.fakeapi import CallRecord, FakeTelegram
from bot.settings import Settings

SANDBOX_USER = 10001
SANDBOX_STAFF = 10002
SANDBOX_STAFF_CHAT = -1000000000777
SANDBOX_DB = "sqlite:///./var/sandbox.db"
REPLY_WAIT = 10.0  # seconds to wait for the bot's first reply to an input
QUIET = 0.4  # the bot is done with an input when it stays quiet this long


class Terminal:
    """Prints what the bot sends and remembers the buttons of its latest keyboard."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.buttons: list[tuple[int, dict[str, Any], str]] = []  # (n, message, callback data)
        self.as_staff = False
        self.topic: int | None = None  # the staff-group topic of the latest ticket

    def show(self, record: CallRecord) -> None:
        if record.method == "answerCallbackQuery":
            if text := record.params.get("text"):
                self.print(f"   ({text})")
            return
        message = record.message or {}
        verb = "✎" if record.method.startswith("edit") else "🤖"
        text = message.get("text") or message.get("caption") or f"[{record.method}]"
        if record.chat_id == SANDBOX_STAFF_CHAT:
            thread = message.get("message_thread_id")
            if thread is not None:
                self.topic = thread
            verb = f"[staff group{f' topic {thread}' if thread else ''}] {verb}"
        elif record.chat_id == SANDBOX_STAFF:
            verb = f"[staff private chat] {verb}"
        self.print(f"{verb} {text}")
        rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        buttons = [b for row in rows for b in row if "callback_data" in b]
        if buttons:
            self.buttons = [(i, message, b["callback_data"]) for i, b in enumerate(buttons, 1)]
            for i, button in enumerate(buttons, 1):
                self.print(f"   [{i}] {button['text']}")

    def button(self, number: int) -> tuple[dict[str, Any], str] | None:
        for n, message, data in self.buttons:
            if n == number:
                return message, data
        return None

    def print(self, line: str) -> None:
        print(line, file=self.out, flush=True)


async def _replies(fake: FakeTelegram, terminal: Terminal) -> None:
    shown = {SANDBOX_USER, SANDBOX_STAFF, SANDBOX_STAFF_CHAT}

    def for_user(record: CallRecord) -> bool:
        return record.method == "answerCallbackQuery" or (
            record.message is not None and record.chat_id in shown
        )

    while True:
        try:
            terminal.show(await fake.wait_for(for_user, timeout=3600))
        except TimeoutError:
            continue


async def _settle(fake: FakeTelegram, before: int) -> None:
    """Wait for the bot's reply to an input, then until it stays quiet."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REPLY_WAIT
    while len(fake.log) == before and loop.time() < deadline:
        await asyncio.sleep(0.05)
    seen = -1
    while seen != len(fake.log):
        seen = len(fake.log)
        await asyncio.sleep(QUIET)


def _act(fake: FakeTelegram, terminal: Terminal, line: str) -> bool:
    """Send what the person typed; False when there was nothing to send."""
    if line in ("/as staff", "/as user"):
        terminal.as_staff = line == "/as staff"
        who = "staff, in the latest ticket's topic" if terminal.as_staff else "the user"
        terminal.print(f"   (you now type as {who})")
        return False
    who = SANDBOX_STAFF if terminal.as_staff else SANDBOX_USER
    chat = SANDBOX_STAFF_CHAT if terminal.as_staff else None
    thread = terminal.topic if terminal.as_staff else None
    if line == "/sticker":
        fake.user_sends_sticker(who, chat_id=chat)
    elif line == "/photo":
        fake.user_sends_photo(who, chat_id=chat, thread_id=thread)
    elif line.isdigit() and len(line) <= 2:
        pressed = terminal.button(int(line))
        if pressed is None:
            terminal.print("   (no button with that number)")
            return False
        fake.user_presses(who, *pressed)
    else:
        fake.user_sends_text(who, line, chat_id=chat, thread_id=thread)
    return True


async def chat(settings: Settings, lines: TextIO, out: TextIO, *, prompt: bool) -> None:
    from bot.app import build_application
    from bot.cli import thresholds
    from faq.service import FaqIndex

    async with FakeTelegram() as fake:
        lang = "en" if settings.default_lang == "en" else "zh-hans"
        fake.add_user(SANDBOX_USER, "Sandbox", language_code=lang, username="sandbox_user")
        fake.add_user(SANDBOX_STAFF, "工作人员", language_code=lang, username="sandbox_staff")
        fake.add_group(
            SANDBOX_STAFF_CHAT,
            "信用平台咨询工作组 (sandbox)",
            is_forum=True,
            members={SANDBOX_STAFF: "administrator"},
        )
        local = settings.model_copy(
            update={
                "bot_token": SecretStr(fake.token),
                "telegram_api_url": fake.api_url,
                "staff_chat_id": SANDBOX_STAFF_CHAT,
                "admin_ids": [SANDBOX_STAFF],
            }
        )
        db = Database(local.database_url)
        app = build_application(
            local, db=db, clock=SystemClock(), faq_index=FaqIndex(thresholds(local))
        )
        terminal = Terminal(out)
        await app.initialize()
        await app.post_init(app)  # type: ignore[misc]
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=5)  # type: ignore[union-attr]
        printer = asyncio.create_task(_replies(fake, terminal))
        terminal.print(
            "Sandbox: you are chatting with the helpdesk bot on a local fake Telegram.\n"
            "Type a question; a number presses a button; /sticker, /photo; /quit ends.\n"
            "/as staff types in the staff group (latest ticket's topic); /as user switches back."
        )
        try:
            fake.user_sends_text(SANDBOX_USER, "/start")
            await _settle(fake, 0)
            while True:
                if prompt:
                    print("> ", end="", file=out, flush=True)
                line = await asyncio.to_thread(lines.readline)
                if not line or line.strip() == "/quit":
                    break
                line = line.strip()
                if not prompt:
                    terminal.print(f"> {line}")
                if line:
                    before = len(fake.log)
                    if _act(fake, terminal, line):
                        await _settle(fake, before)
        finally:
            printer.cancel()
            await app.updater.stop()  # type: ignore[union-attr]
            await app.stop()
            await app.shutdown()
            await app.post_shutdown(app)  # type: ignore[misc]


def _log_to_file(path: Path) -> None:
    """The terminal is the chat: the bot's log goes to a file instead."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    handler = logging.FileHandler(path, encoding="utf-8")
    if root.handlers:
        handler.setFormatter(root.handlers[0].formatter)
        for old in list(root.handlers):
            root.removeHandler(old)
    root.addHandler(handler)


def run_sandbox(settings: Settings, *, script: Path | None = None) -> int:
    if settings.database_url == Settings.model_fields["database_url"].default:
        settings = settings.model_copy(update={"database_url": SANDBOX_DB})
    _log_to_file(Path("var/sandbox.log"))
    print("(the bot's log goes to var/sandbox.log)", flush=True)
    if script is not None:
        with script.open(encoding="utf-8") as lines:
            asyncio.run(chat(settings, lines, sys.stdout, prompt=False))
    else:
        asyncio.run(chat(settings, sys.stdin, sys.stdout, prompt=sys.stdin.isatty()))
    return 0
