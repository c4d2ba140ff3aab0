"""``GET /metrics`` (bot/metrics.py, bot/web.py): the Prometheus text format, and counters that
move when the bot works — the real application polling the fake Bot API server."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram.ext import Application

from bot import metrics, outbox
from bot.app import build_application
from bot.clock import FrozenClock
from bot.db import Database
from bot.fakeapi import FakeTelegram
from bot.metrics import Registry
from bot.settings import Settings, load_settings
from bot.web import METRICS_CONTENT_TYPE, WebServer
from faq.service import FaqIndex

USER = 4201
SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\S+)$")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def parse(text: str) -> dict[str, float]:
    """``name{labels}`` -> value; every line must be a comment or a well-formed sample."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        found = SAMPLE.match(line)
        assert found, f"not a Prometheus sample line: {line!r}"
        samples[found[1] + (found[2] or "")] = float(found[3])
    return samples


def test_the_text_format_by_hand():
    registry = Registry()
    registry.counter("x_total", "Things.", [{"kind": "a"}, {"kind": "b"}])
    registry.inc("x_total", kind="a")
    registry.inc("x_total", 2, kind='we"ird\\\n')
    text = registry.render([("y", "A gauge.", 7)])
    assert text.endswith("\n")
    assert text.splitlines() == [
        "# HELP x_total Things.",
        "# TYPE x_total counter",
        'x_total{kind="a"} 1',
        'x_total{kind="b"} 0',
        'x_total{kind="we\\"ird\\\\\\n"} 2',
        "# HELP y A gauge.",
        "# TYPE y gauge",
        "y 7",
    ]


@pytest.fixture
async def running(
    settings: Settings, db: Database, clock: FrozenClock, fake: FakeTelegram
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """The application polling the fake, with its HTTP server on a free port (polling mode)."""
    fake.add_user(USER, "Li", language_code="zh-hans")
    given: dict[str, Any] = {name: getattr(settings, name) for name in settings.model_fields_set}
    with_port = load_settings(_env_file=None, **(given | {"http_port": free_port()}))
    application = build_application(with_port, db=db, clock=clock, faq_index=FaqIndex())
    await application.initialize()
    await application.post_init(application)  # type: ignore[misc]
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield application
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()
        await application.post_shutdown(application)  # type: ignore[misc]


async def scrape(application: Application) -> dict[str, float]:  # type: ignore[type-arg]
    server = application.bot_data.web  # type: ignore[attr-defined]
    assert isinstance(server, WebServer)
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.base_url + "/metrics") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"] == METRICS_CONTENT_TYPE
        return parse(await response.text())


async def test_metrics_has_every_series_and_they_move_after_a_question(
    running: Application,  # type: ignore[type-arg]
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
):
    before = await scrape(running)
    for series in (
        "helpdesk_updates_total",
        'helpdesk_questions_total{decision="answer"}',
        'helpdesk_questions_total{decision="suggest"}',
        'helpdesk_questions_total{decision="smalltalk"}',
        'helpdesk_questions_total{decision="none"}',
        'helpdesk_outbox_rows_total{status="sent"}',
        'helpdesk_outbox_rows_total{status="retry"}',
        'helpdesk_outbox_rows_total{status="failed"}',
        'helpdesk_outbox_rows_total{status="blocked"}',
        'helpdesk_webhook_requests_total{result="forbidden"}',
        "helpdesk_reminder_ticks_total",
        "helpdesk_faq_entries",
    ):
        assert series in before, series
    assert before["helpdesk_faq_entries"] == len(running.bot_data.services.faq) > 0
    assert before["helpdesk_reminder_ticks_total"] >= 1  # the catch-up tick at start

    fake.user_sends_text(USER, "附件大小有什么限制？")
    reply = await fake.next_reply(USER, timeout=10)
    assert reply["text"].startswith("附件大小有什么限制？")
    fake.user_sends_text(USER, "你好")
    await fake.next_reply(USER, timeout=10)

    # The outbox: one row sent, one refused for good by Telegram (400).
    for key, text in (("metrics-1", "一"), ("metrics-2", "二")):
        db.call(
            outbox.enqueue,
            key=key,
            chat_id=USER,
            method="sendMessage",
            payload={"text": text, "parse_mode": "HTML"},
            now=clock.now(),
        )
    fake.fail_next("sendMessage", status=400, description="Bad Request: message is too long")
    await running.bot_data.desk.sender.flush()  # type: ignore[attr-defined]

    after = await scrape(running)
    moved = {name: after[name] - before.get(name, 0) for name in after}
    assert moved["helpdesk_updates_total"] == 2
    assert moved['helpdesk_questions_total{decision="answer"}'] == 1
    assert moved['helpdesk_questions_total{decision="smalltalk"}'] == 1
    assert moved['helpdesk_questions_total{decision="none"}'] == 0
    assert moved['helpdesk_outbox_rows_total{status="failed"}'] == 1
    assert moved['helpdesk_outbox_rows_total{status="sent"}'] == 1
    assert after["helpdesk_faq_entries"] == before["helpdesk_faq_entries"]


def test_the_one_line_calls_count_in_the_process_registry():
    before = metrics.REGISTRY.value(metrics.REMINDER_TICKS)
    metrics.reminder_tick()
    assert metrics.REGISTRY.value(metrics.REMINDER_TICKS) == before + 1
