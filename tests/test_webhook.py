"""Webhook mode (bot/web.py, bot/app.py): the real Application against the fake Bot API server,
with updates POSTed to the bot's own HTTP server the way Telegram would (the fake does not call
webhooks itself)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import create_engine
from telegram import Update
from telegram.ext import Application

from bot import metrics
from bot.app import build_application
from bot.clock import FrozenClock
from bot.db import Database
from bot.fakeapi import FakeTelegram
from bot.settings import Settings, SettingsError, load_settings
from bot.web import SECRET_HEADER, WebServer
from faq.service import FaqIndex

from .conftest import TOKEN

ROOT = Path(__file__).resolve().parent.parent
SECRET = "webhook-secret_0123456789"
PUBLIC_URL = "https://helpdesk.example.org/tg/hook"
USER = 4101


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def with_changes(settings: Settings, **changes: Any) -> Settings:
    """The shared test settings (whatever database they point at) plus these, validated again."""
    given = {name: getattr(settings, name) for name in settings.model_fields_set}
    return load_settings(_env_file=None, **(given | changes))


@pytest.fixture
async def webhook_app(
    settings: Settings, db: Database, clock: FrozenClock, fake: FakeTelegram
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """The application in webhook mode, started without its Updater, as serve_webhook runs it."""
    fake.add_user(USER, "Wang", language_code="zh-hans")
    webhook_settings = with_changes(
        settings, webhook_url=PUBLIC_URL, webhook_secret=SECRET, http_port=free_port()
    )
    application = build_application(webhook_settings, db=db, clock=clock, faq_index=FaqIndex())
    await application.initialize()
    await application.post_init(application)  # type: ignore[misc]
    await application.start()
    try:
        yield application
    finally:
        await application.stop()
        await application.shutdown()
        await application.post_shutdown(application)  # type: ignore[misc]


def server_of(application: Application) -> WebServer:  # type: ignore[type-arg]
    server = application.bot_data.web  # type: ignore[attr-defined]
    assert isinstance(server, WebServer)
    return server


def user_writes(fake: FakeTelegram, user_id: int, text: str) -> dict[str, Any]:
    """The update the fake made of the user's message: what Telegram would POST to the webhook
    (nobody polls, so it is the newest pending one)."""
    fake.user_sends_text(user_id, text)
    return fake.pending_updates[-1]


async def post_update(url: str, update: dict[str, Any], secret: str | None) -> int:
    headers = {} if secret is None else {SECRET_HEADER: secret}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=update, headers=headers) as response,
    ):
        return response.status


async def test_the_webhook_is_registered_with_its_secret_and_all_update_types(
    webhook_app: Application,  # type: ignore[type-arg]
    fake: FakeTelegram,
):
    assert fake.webhook_url == PUBLIC_URL
    [params] = [p for method, p in fake.calls if method == "setWebhook"]
    assert params["secret_token"] == SECRET
    assert set(params["allowed_updates"]) == set(Update.ALL_TYPES)
    assert not params.get("drop_pending_updates")
    assert webhook_app.updater is None or not webhook_app.updater.running  # no polling
    assert server_of(webhook_app).webhook is not None
    assert server_of(webhook_app).webhook.path == "/tg/hook"  # type: ignore[union-attr]


async def test_an_update_with_the_right_secret_is_answered(
    webhook_app: Application,  # type: ignore[type-arg]
    fake: FakeTelegram,
):
    url = server_of(webhook_app).base_url + "/tg/hook"
    before = metrics.REGISTRY.value(metrics.WEBHOOK_REQUESTS, result="accepted")
    update = user_writes(fake, USER, "附件大小有什么限制？")
    assert await post_update(url, update, SECRET) == 200
    reply = await fake.next_reply(USER, timeout=10)
    assert reply["text"].startswith("附件大小有什么限制？")
    assert metrics.REGISTRY.value(metrics.WEBHOOK_REQUESTS, result="accepted") == before + 1


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x", SECRET[:-1]])
async def test_without_the_right_secret_it_is_403_and_nothing_is_processed(
    webhook_app: Application,  # type: ignore[type-arg]
    fake: FakeTelegram,
    secret: str | None,
):
    url = server_of(webhook_app).base_url + "/tg/hook"
    updates_before = metrics.REGISTRY.value(metrics.UPDATES)
    forbidden_before = metrics.REGISTRY.value(metrics.WEBHOOK_REQUESTS, result="forbidden")
    update = user_writes(fake, USER, "附件大小有什么限制？")
    assert await post_update(url, update, secret) == 403
    assert metrics.REGISTRY.value(metrics.WEBHOOK_REQUESTS, result="forbidden") == (
        forbidden_before + 1
    )
    # Nothing was queued and no handler ran: a good update sent next is the first one answered
    # (updates are processed in order, so a leaked one would have been answered before it).
    assert webhook_app.update_queue.empty()
    assert metrics.REGISTRY.value(metrics.UPDATES) == updates_before
    good = user_writes(fake, USER, "/help")
    assert await post_update(url, good, SECRET) == 200
    await fake.next_reply(USER, timeout=10)
    assert len(fake.messages(USER)) == 1
    assert not fake.messages(USER)[0]["text"].startswith("附件大小")


async def test_a_body_that_is_not_an_update_is_400(
    webhook_app: Application,  # type: ignore[type-arg]
):
    url = server_of(webhook_app).base_url + "/tg/hook"
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        for body in (b"{not json", b'"a string"', b"[1, 2]", b"null", b"{}"):
            async with session.post(url, data=body, headers=headers) as response:
                assert response.status == 400


async def test_healthz_is_200_then_503_when_the_database_is_unreachable(
    webhook_app: Application,  # type: ignore[type-arg]
    db: Database,
):
    url = server_of(webhook_app).base_url + "/healthz"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert response.status == 200
            body = await response.json()
        assert body["database_reachable"] is True
        assert body["faq_entries"] == len(webhook_app.bot_data.services.faq) > 0
        assert body["mode"] == "webhook"

        working = db.engine
        db.engine = create_engine("sqlite:////nonexistent-helpdesk-dir/broken.db")
        try:
            async with session.get(url) as response:
                assert response.status == 503
                body = await response.json()
        finally:
            db.engine.dispose()
            db.engine = working
        assert body["database_reachable"] is False

        async with session.get(url) as response:  # and back once it answers again
            assert response.status == 200


async def test_polling_mode_serves_health_and_metrics_but_no_webhook(
    settings: Settings, db: Database, clock: FrozenClock, fake: FakeTelegram
):
    polling = with_changes(settings, http_port=free_port())
    assert polling.webhook_url is None
    application = build_application(polling, db=db, clock=clock, faq_index=FaqIndex())
    await application.initialize()
    await application.post_init(application)  # type: ignore[misc]
    try:
        base = server_of(application).base_url
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/healthz") as response:
                assert response.status == 200
                assert (await response.json())["mode"] == "polling"
            async with session.get(base + "/metrics") as response:
                assert response.status == 200
            async with session.post(base + "/telegram", json={"update_id": 1}) as response:
                assert response.status == 404
    finally:
        await application.shutdown()
        await application.post_shutdown(application)  # type: ignore[misc]
    assert not any(method == "setWebhook" for method, _ in fake.calls)


def test_webhook_settings():
    base = {"_env_file": None, "bot_token": TOKEN}
    plain = load_settings(**base)
    assert (plain.webhook_url, plain.http_server_wanted) == (None, False)  # polling, no port
    assert load_settings(**base, webhook_url="").webhook_url is None
    assert load_settings(**base, http_port=9000).http_server_wanted  # explicit port: /metrics

    bare = load_settings(**base, webhook_url="https://bot.example.org")
    assert (bare.webhook_path, bare.webhook_public_url) == (
        "/telegram",
        "https://bot.example.org/telegram",
    )
    assert bare.http_server_wanted
    secret, derived = bare.webhook_secret_value()
    assert derived and secret == bare.webhook_secret_value()[0]  # stable: every instance agrees
    assert TOKEN not in secret and len(secret) == 64
    other_bot = load_settings(**(base | {"bot_token": "999:OTHER"}), webhook_url=PUBLIC_URL)
    assert other_bot.webhook_secret_value()[0] != secret
    given = load_settings(**base, webhook_url=PUBLIC_URL, webhook_secret=SECRET)
    assert given.webhook_secret_value() == (SECRET, False)
    assert given.webhook_path == "/tg/hook"

    for bad, field in (
        ({"webhook_url": "http://bot.example.org/hook"}, "HELPDESK_WEBHOOK_URL"),
        ({"webhook_url": "https://bot.example.org/hook?x=1"}, "HELPDESK_WEBHOOK_URL"),
        ({"webhook_url": PUBLIC_URL, "http_port": 0}, "HELPDESK_WEBHOOK_URL"),
        ({"webhook_secret": "has space"}, "HELPDESK_WEBHOOK_SECRET"),
        ({"webhook_secret": "x" * 257}, "HELPDESK_WEBHOOK_SECRET"),
    ):
        with pytest.raises(SettingsError, match=field):
            load_settings(**base, **bad)


async def test_helpdesk_run_in_webhook_mode_serves_until_sigterm_and_keeps_the_webhook(
    tmp_path: Path, settings: Settings
):
    async with FakeTelegram(token="987654:WEBHOOK-RUN-TOKEN") as fake:
        fake.add_user(3002, "Dan", language_code="zh-hans")
        port = free_port()
        env = {
            **os.environ,
            "HELPDESK_BOT_TOKEN": fake.token,
            "HELPDESK_TELEGRAM_API_URL": fake.api_url,
            "HELPDESK_DATABASE_URL": settings.database_url,
            "HELPDESK_WEBHOOK_URL": "https://bot.example.org",
            "HELPDESK_HTTP_PORT": str(port),
            "HELPDESK_LOG_LEVEL": "DEBUG",
            "PYTHONPATH": str(ROOT),
        }
        env.pop("HELPDESK_WEBHOOK_SECRET", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            registered = await fake.wait_for(method="setWebhook", timeout=60)
            secret = registered.params["secret_token"]
            assert fake.webhook_url == "https://bot.example.org/telegram"
            update = user_writes(fake, 3002, "附件大小有什么限制？")
            url = f"http://127.0.0.1:{port}/telegram"
            assert await post_update(url, update, "nope") == 403
            assert await post_update(url, update, secret) == 200
            reply = await fake.next_reply(3002, timeout=30)
            assert reply["text"].startswith("附件大小有什么限制？")
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        log = err.decode()
        assert proc.returncode == 0, log[-2000:]
        assert "using a secret derived from the bot token" in log
        assert secret not in log and "WEBHOOK-RUN-TOKEN" not in log
        assert "getUpdates" not in [method for method, _ in fake.calls]
        assert fake.poll_count == 0  # never polled
        assert fake.webhook_url  # not deleted: another instance may serve it
        assert "deleteWebhook" not in [method for method, _ in fake.calls]
