"""Three `helpdesk run` processes on one database behind one webhook: nothing is sent twice.

The test plays Telegram and the load balancer: it POSTs each update to one of the instances, and
some a second time to another one (Telegram retries an update whose answer was slow). All three
tick reminders and run outbox senders against the same rows at once.

This is meant for PostgreSQL (``make test-postgres``), where instances claim rows with ``FOR UPDATE
SKIP LOCKED``; on SQLite it runs too (``BEGIN IMMEDIATE`` serialises the claims), which is how the
single-file default behaves if someone starts a second process by mistake.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlmodel import func, select

from bot.db import Database
from bot.fakeapi import FakeTelegram
from bot.outbox import OutboxMessage
from bot.web import SECRET_HEADER
from reminders.models import Bureau, BureauReviewer, ReviewItem

from .test_webhook import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "555111:INSTANCES-TOKEN"
SECRET = "several-instances_0123456789"
STAFF = -1004444444444
STAFF_MEMBER = 601
INSTANCES = 3
BUREAUS = 12
ITEMS_PER_BUREAU = 10
ASKERS = range(7001, 7031)  # 30 users asking the FAQ
TICKET_USERS = range(7101, 7106)  # 5 users asking for staff


def seed(db: Database) -> None:
    """Bureaus with a reviewer each and items that fell due an hour ago: every instance's first
    tick finds the same 120 reminders due."""
    now = datetime.now(UTC)
    with db.session() as session:
        for b in range(BUREAUS):
            code = f"33{b:02d}"
            session.add(
                Bureau(code=code, name=f"第{b}财政局", level="city", created_at=now, updated_at=now)
            )
            session.add(BureauReviewer(user_id=reviewer(b), bureau_code=code, bound_at=now))
            for i in range(ITEMS_PER_BUREAU):
                session.add(
                    ReviewItem(
                        ref=f"R{b:02d}-{i:02d}",
                        institution=f"第{b}-{i}会计师事务所",
                        credit_code=f"91330100MA{b:02d}{i:02d}00X",
                        contact_phone="13800000000",
                        bureau_code=code,
                        submitted_at=now - timedelta(days=3),
                        due_at=now - timedelta(hours=1),
                        last_event_at=now - timedelta(days=3),
                        created_at=now,
                        updated_at=now,
                    )
                )


def reviewer(bureau: int) -> int:
    return 8000 + bureau


async def post(session: aiohttp.ClientSession, port: int, update: dict[str, Any]) -> int:
    async with session.post(
        f"http://127.0.0.1:{port}/telegram", json=update, headers={SECRET_HEADER: SECRET}
    ) as response:
        return response.status


async def settle(db: Database, fake: FakeTelegram, *, timeout: float = 60) -> None:
    """Until the outbox is empty and nothing new reached the fake for a second."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = -1
    while loop.time() < deadline:
        with db.session() as session:
            pending = session.exec(
                select(func.count()).where(OutboxMessage.status == "pending")
            ).one()
        sent = len(fake.calls)
        if pending == 0 and sent == seen:
            return
        seen = sent
        await asyncio.sleep(1.0)
    raise AssertionError("the instances did not settle")


def sent_to(fake: FakeTelegram, chat_id: int) -> list[dict[str, Any]]:
    return fake.messages(chat_id)


async def test_three_instances_never_send_a_reminder_answer_or_relay_twice(
    tmp_path: Path, database_url: str
):
    db = Database(database_url)
    db.upgrade()
    seed(db)
    async with FakeTelegram(token=TOKEN) as fake:
        fake.add_group(STAFF, "客服组", is_forum=False, members={STAFF_MEMBER: "member"})
        fake.add_user(STAFF_MEMBER, "王科员", language_code="zh-hans")
        for b in range(BUREAUS):
            fake.add_user(reviewer(b), f"审核员{b}", language_code="zh-hans")
        for user_id in (*ASKERS, *TICKET_USERS):
            fake.add_user(user_id, f"用户{user_id}", language_code="zh-hans")

        ports = [free_port() for _ in range(INSTANCES)]
        procs = [
            await start_instance(tmp_path / f"i{n}", fake, database_url, port)
            for n, port in enumerate(ports)
        ]
        try:
            await wait_for_webhooks(fake, INSTANCES)
            async with aiohttp.ClientSession() as http:
                # FAQ questions: each to one instance, every third also to the next one.
                statuses = []
                for n, user_id in enumerate(ASKERS):
                    fake.user_sends_text(user_id, "附件大小有什么限制？")
                    update = fake.pending_updates[-1]
                    statuses.append(await post(http, ports[n % INSTANCES], update))
                    if n % 3 == 0:
                        statuses.append(await post(http, ports[(n + 1) % INSTANCES], update))
                # Tickets: /human, then the staff member answers each ticket's post.
                for n, user_id in enumerate(TICKET_USERS):
                    fake.user_sends_text(user_id, "/human 我的附件一直上传失败")
                    statuses.append(
                        await post(http, ports[n % INSTANCES], fake.pending_updates[-1])
                    )
                await settle(db, fake)
                cards = {user_id: card_for(fake, user_id) for user_id in TICKET_USERS}
                for n, user_id in enumerate(TICKET_USERS):
                    fake.user_sends_text(
                        STAFF_MEMBER,
                        f"您好，请换一个浏览器再试（{user_id}）",
                        chat_id=STAFF,
                        reply_to=cards[user_id],
                    )
                    update = fake.pending_updates[-1]
                    statuses.append(await post(http, ports[(n + 1) % INSTANCES], update))
                    statuses.append(await post(http, ports[(n + 2) % INSTANCES], update))
                await settle(db, fake)
            assert set(statuses) == {200}
        finally:
            logs = await stop_all(procs)

    for log in logs:
        assert " ERROR " not in log and "Traceback" not in log, log[-3000:]

    # Every reviewer got each of their bureau's items exactly once (one batched message).
    for b in range(BUREAUS):
        refs = Counter(
            button["callback_data"].removeprefix("rv:ok:")
            for message in sent_to(fake, reviewer(b))
            for row in message.get("reply_markup", {}).get("inline_keyboard", [])
            for button in row
            if button["callback_data"].startswith("rv:ok:")
        )
        assert refs == Counter({f"R{b:02d}-{i:02d}": 1 for i in range(ITEMS_PER_BUREAU)}), b
    # Every question answered exactly once, though a third were delivered twice.
    for user_id in ASKERS:
        replies = [m for m in sent_to(fake, user_id) if m["text"].startswith("附件大小")]
        assert len(replies) == 1, user_id
    # One ticket post per user, and each staff answer relayed exactly once.
    for user_id in TICKET_USERS:
        relayed = [m for m in sent_to(fake, user_id) if f"（{user_id}）" in m["text"]]
        assert len(relayed) == 1, user_id
    db.dispose()


def card_for(fake: FakeTelegram, user_id: int) -> int:
    cards = [m for m in fake.messages(STAFF) if f"用户{user_id}" in m["text"]]
    assert len(cards) == 1, (user_id, [m["text"][:80] for m in fake.messages(STAFF)])
    return int(cards[0]["message_id"])


async def start_instance(
    workdir: Path, fake: FakeTelegram, database_url: str, port: int
) -> asyncio.subprocess.Process:
    workdir.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HELPDESK_BOT_TOKEN": TOKEN,
        "HELPDESK_TELEGRAM_API_URL": fake.api_url,
        "HELPDESK_DATABASE_URL": database_url,
        "HELPDESK_WEBHOOK_URL": "https://bot.example.org/telegram",
        "HELPDESK_WEBHOOK_SECRET": SECRET,
        "HELPDESK_HTTP_PORT": str(port),
        "HELPDESK_STAFF_CHAT_ID": str(STAFF),
        "HELPDESK_QUIET_HOURS": "",  # the test runs at any hour
        "HELPDESK_OUTBOX_INTERVAL_SECONDS": "1",
    }
    return await helpdesk_run(workdir, env)


async def helpdesk_run(workdir: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    """``python -m bot.cli run`` in ``workdir`` with ``env``; its log on stderr (a pipe)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        cwd=workdir,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def wait_for_webhooks(fake: FakeTelegram, count: int, timeout: float = 90) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while sum(method == "setWebhook" for method, _ in fake.calls) < count:
        if loop.time() > deadline:
            raise AssertionError("not every instance registered the webhook")
        await asyncio.sleep(0.2)


async def stop_all(procs: list[asyncio.subprocess.Process]) -> list[str]:
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    logs = []
    for proc in procs:
        _out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        logs.append(err.decode())
    return logs
