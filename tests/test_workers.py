"""HELPDESK_WORKERS: `helpdesk run` as a supervisor of several webhook workers on one port.

The supervisor's rules run against real stand-in processes and a hand-moved clock; the end-to-end
test starts the real `helpdesk run` with two workers against the fake Bot API server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.app import build_application, instance_name
from bot.clock import SystemClock
from bot.db import Database
from bot.fakeapi import FakeTelegram
from bot.outbox_sender import smooth_rate_limiter
from bot.settings import Settings
from bot.workers import STABLE_AFTER, START_GRACE, Supervisor
from faq.service import FaqIndex

from .test_instances import SECRET, helpdesk_run, post
from .test_webhook import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "555222:WORKERS-TOKEN"
ASKERS = range(7201, 7241)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stand_in(exit_code: int | None) -> subprocess.Popen[bytes]:
    """A process that exits with ``exit_code`` at once, or runs until stopped (None)."""
    code = "import time; time.sleep(120)" if exit_code is None else f"raise SystemExit({exit_code})"
    return subprocess.Popen([sys.executable, "-c", code])


def settle(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


def test_a_worker_dying_at_start_stops_all_workers_and_fails():
    clock = Clock()
    started: list[int] = []

    def spawn(k: int) -> subprocess.Popen[bytes]:
        started.append(k)
        return stand_in(3 if k == 2 else None)

    supervisor = Supervisor(2, spawn=spawn, clock=clock, sleep=lambda _s: None)
    for worker in supervisor.workers:
        supervisor._start(worker)
    survivor = supervisor.workers[0].process
    settle(supervisor.workers[1].process)
    clock.now += 2
    assert supervisor.check() == 1
    supervisor.stop_all()
    assert survivor is not None and survivor.returncode == -signal.SIGTERM
    assert started == [1, 2]


def test_a_worker_dying_later_is_restarted_with_growing_delays():
    clock = Clock()
    exits = iter([None, 1, 1, None])  # runs, dies, dies again at once, then keeps running
    spawned: list[subprocess.Popen[bytes]] = []

    def spawn(k: int) -> subprocess.Popen[bytes]:
        spawned.append(stand_in(next(exits)))
        return spawned[-1]

    supervisor = Supervisor(1, spawn=spawn, clock=clock, sleep=lambda _s: None)
    worker = supervisor.workers[0]
    supervisor._start(worker)
    clock.now += START_GRACE + 1
    assert supervisor.check() == 0  # past its start: from now on a death is a crash
    spawned[0].kill()
    settle(spawned[0])
    assert supervisor.check() == 0
    assert worker.process is None and worker.delay == 2.0  # died before STABLE_AFTER: doubled
    clock.now += 1.9
    assert supervisor.check() == 0 and worker.process is None  # not yet
    clock.now += 0.2
    assert supervisor.check() == 0 and worker.process is spawned[1]
    settle(spawned[1])
    assert supervisor.check() == 0 and worker.delay == 4.0  # dies at once: still a crash
    clock.now += 4.1
    supervisor.check()
    assert worker.process is spawned[2]
    settle(spawned[2])
    clock.now += 0.1
    supervisor.check()
    clock.now += 8.1
    supervisor.check()
    assert worker.process is spawned[3]
    clock.now += STABLE_AFTER + 1
    assert supervisor.check() == 0 and worker.process.poll() is None
    supervisor.stop_all()
    assert spawned[3].returncode == -signal.SIGTERM


def test_several_workers_need_webhook_mode():
    with pytest.raises(ValueError, match="needs webhook mode"):
        Settings(_env_file=None, bot_token="1:x", workers=2)
    settings = Settings(
        _env_file=None, bot_token="1:x", webhook_url="https://bot.example.org/hook", workers=2
    )
    assert settings.workers == 2


async def test_two_workers_share_the_webhook_port_and_answer_every_question_once(
    tmp_path: Path, database_url: str
):
    port = free_port()
    while port + 2 > 65535:
        port = free_port()
    async with FakeTelegram(token=TOKEN) as fake:
        for user_id in ASKERS:
            fake.add_user(user_id, f"用户{user_id}", language_code="zh-hans")
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "HELPDESK_BOT_TOKEN": TOKEN,
            "HELPDESK_TELEGRAM_API_URL": fake.api_url,
            "HELPDESK_DATABASE_URL": database_url,
            "HELPDESK_WEBHOOK_URL": "https://bot.example.org/telegram",
            "HELPDESK_WEBHOOK_SECRET": SECRET,
            "HELPDESK_HTTP_PORT": str(port),
            "HELPDESK_WORKERS": "2",
            "HELPDESK_QUIET_HOURS": "",
        }
        supervisor = await helpdesk_run(tmp_path, env)
        try:
            async with aiohttp.ClientSession() as http:
                await wait_until_listening(http, [port + 1, port + 2])
                # One connection per question, like many Telegram connections: the kernel
                # spreads them over both workers.
                statuses = []
                for user_id in ASKERS:
                    fake.user_sends_text(user_id, "附件大小有什么限制？")
                    async with aiohttp.ClientSession() as one:
                        statuses.append(await post(one, port, fake.pending_updates[-1]))
                assert set(statuses) == {200}
                await wait_for_replies(fake, len(ASKERS))
                answered = [
                    await questions_counted(http, port + k) for k in (1, 2)
                ]  # each worker's own port shows its own counters
        finally:
            supervisor.send_signal(signal.SIGTERM)
            _out, err = await asyncio.wait_for(supervisor.communicate(), timeout=60)
    log = err.decode()
    assert supervisor.returncode == 0, log[-3000:]
    assert " ERROR " not in log and "Traceback" not in log, log[-3000:]
    assert "worker 1 started" in log and "worker 2 started" in log
    for user_id in ASKERS:
        replies = [m for m in fake.messages(user_id) if m["text"].startswith("附件大小")]
        assert len(replies) == 1, user_id
    assert sum(answered) == len(ASKERS)
    assert all(n > 0 for n in answered), answered  # 40 connections never all land on one


async def wait_until_listening(http: aiohttp.ClientSession, ports: list[int]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    for port in ports:
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            if loop.time() > deadline:
                raise AssertionError(f"worker port {port} never answered")
            await asyncio.sleep(0.2)


async def wait_for_replies(fake: FakeTelegram, count: int, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while sum(method == "sendMessage" for method, _ in fake.calls) < count:
        if loop.time() > deadline:
            raise AssertionError("not every question was answered")
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # and nothing more comes


async def questions_counted(http: aiohttp.ClientSession, port: int) -> int:
    async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("helpdesk_questions_total"):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def test_workers_share_the_outgoing_message_limit(tmp_path: Path):
    settings = Settings(
        _env_file=None,
        bot_token="1:x",
        database_url=f"sqlite:///{tmp_path / 'w.db'}",
        webhook_url="https://bot.example.org/hook",
        workers=2,
        max_messages_per_second=30,
    )
    db = Database(settings.database_url)
    try:
        one = build_application(
            settings, db=db, clock=SystemClock(), faq_index=FaqIndex(), worker=1
        )
        limiter = one.bot.rate_limiter
        assert limiter is not None and limiter._base_limiter is not None
        assert limiter._base_limiter.time_period == pytest.approx(1 / 15)  # 15 messages/s each
        assert instance_name(settings, worker=1).endswith(":8080/w1")
    finally:
        db.dispose()


def test_no_overall_limit_when_the_setting_is_zero():
    assert smooth_rate_limiter(per_second=0)._base_limiter is None
    assert smooth_rate_limiter(per_second=29)._base_limiter is not None
