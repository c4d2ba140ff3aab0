"""``POST /api/v1/review-events`` (reminders/http.py) over real HTTP on an ephemeral port."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlmodel import select

from bot.app import build_application
from bot.clock import FrozenClock
from bot.db import Database
from bot.fakeapi import FakeTelegram
from bot.settings import load_settings
from faq.service import FaqIndex
from reminders.bureaus import import_bureau_rows
from reminders.http import PATH, ReviewEventsApi
from reminders.intake import DuePolicy
from reminders.models import ReviewItem

from .conftest import TOKEN

API_TOKEN = "s3cret-token-for-tests-0123456789"
CODE_A = "91330106MA2CDE1234"


def event(**values: Any) -> dict[str, Any]:
    base = {
        "ref": "E-1",
        "institution": "某咨询公司",
        "credit_code": CODE_A,
        "contact_phone": "13800138000",
        "bureau_code": "330106",
        "stage": "preliminary",
        "submitted_at": "2026-11-23T10:00:00+08:00",
        "status": "pending",
        "event_at": "2026-11-23T10:00:00+08:00",
    }
    return base | values


@pytest.fixture
def seeded(db: Database, clock: FrozenClock) -> Database:
    rows = [{"code": "330106", "name": "西湖区财政局", "level": "city", "parent_code": ""}]
    db.call(import_bureau_rows, rows, now=clock.now())
    return db


async def started(api: ReviewEventsApi) -> ReviewEventsApi:
    await api.start()
    return api


@pytest.fixture
async def api(seeded: Database, clock: FrozenClock) -> AsyncIterator[ReviewEventsApi]:
    server = ReviewEventsApi(
        db=seeded,
        clock=clock,
        policy=DuePolicy(),
        token=API_TOKEN,
        port=0,
        max_body_bytes=4096,
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def post(
    url: str, body: bytes | str, token: str | None = API_TOKEN
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = body.encode() if isinstance(body, str) else body
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=data, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None)


def refs(db: Database) -> dict[str, str]:
    with db.session() as session:
        return {i.ref: i.status for i in session.exec(select(ReviewItem)).all()}


async def test_one_event_then_a_list_idempotent_and_newest_wins(
    api: ReviewEventsApi, seeded: Database
):
    status, body = await post(api.url, json.dumps(event()))
    assert status == 200
    assert body == {
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "stale": 0,
        "returned": 0,
        "stale_refs": [],
    }
    events = [
        event(ref="E-2"),
        event(),  # a retry of the first: unchanged
        event(
            ref="E-3",
            status="returned",
            return_reason="附件不全",
            event_at="2026-11-23T12:00:00+08:00",
        ),
    ]
    status, body = await post(api.url, json.dumps(events, ensure_ascii=False))
    assert status == 200
    assert (body["created"], body["unchanged"], body["returned"]) == (2, 1, 1)
    # An event older than the item's newest is ignored and said so.
    old = event(ref="E-3", status="approved", event_at="2026-11-23T11:00:00+08:00")
    status, body = await post(api.url, json.dumps(old))
    assert (status, body["stale_refs"]) == (200, ["E-3"])
    assert refs(seeded) == {"E-1": "pending", "E-2": "pending", "E-3": "returned"}


@pytest.mark.parametrize("token", [None, "wrong-token-wrong-token", ""])
async def test_a_missing_or_wrong_token_is_401(api: ReviewEventsApi, seeded: Database, token):
    status, body = await post(api.url, json.dumps(event()), token=token)
    assert status == 401
    assert body == {"error": "missing or wrong bearer token"}
    assert refs(seeded) == {}


async def test_malformed_json_and_invalid_events_are_400_and_apply_nothing(
    api: ReviewEventsApi, seeded: Database
):
    status, body = await post(api.url, '{"ref": "E-1",')
    assert status == 400 and body["error"].startswith("malformed JSON")
    status, body = await post(api.url, '"just a string"')
    assert status == 400 and "expected one event" in body["error"]
    status, body = await post(api.url, b"\xff\xfe")
    assert (status, body["error"]) == (400, "the body is not UTF-8")

    bad = [event(ref="E-7"), event(credit_code="123"), {"ref": "E-8"}]
    status, body = await post(api.url, json.dumps(bad))
    assert status == 400
    assert body["error"] == "invalid events; nothing was applied"
    by_index = {e["index"]: e["problems"] for e in body["events"]}
    assert set(by_index) == {1, 2}
    assert by_index[1][0].startswith("credit_code '123' is not an 18-character")
    assert "institution is empty" in by_index[2]
    assert refs(seeded) == {}


@pytest.mark.parametrize(
    "body",
    [b"[" + b"1" * 5000 + b"]", b"[" * 100_000 + b"]" * 100_000],
    ids=["integer-of-5000-digits", "nested-100000-deep"],
)
async def test_json_beyond_the_decoder_limits_is_400_not_500(
    seeded: Database, clock: FrozenClock, body: bytes
):
    server = await started(
        ReviewEventsApi(db=seeded, clock=clock, policy=DuePolicy(), token=API_TOKEN, port=0)
    )
    try:
        status, answer = await post(server.url, body)
    finally:
        await server.stop()
    assert (status, answer["error"]) == (
        400,
        "malformed JSON: a number or a nesting depth beyond the limits",
    )
    assert refs(seeded) == {}


async def test_an_oversized_body_is_413(api: ReviewEventsApi, seeded: Database):
    big = json.dumps([event(ref=f"E-{n}") for n in range(40)])
    assert len(big) > 4096
    status, body = await post(api.url, big)
    assert status == 413 and "larger than 4096 bytes" in body["error"]
    assert refs(seeded) == {}


async def test_without_a_token_the_endpoint_is_disabled(seeded: Database, clock: FrozenClock):
    server = await started(
        ReviewEventsApi(db=seeded, clock=clock, policy=DuePolicy(), token=None, port=0)
    )
    try:
        status, body = await post(server.url, json.dumps(event()))
    finally:
        await server.stop()
    assert status == 503 and "HELPDESK_API_TOKEN is not set" in body["error"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_bot_serves_the_endpoint_when_a_token_is_set(
    fake: FakeTelegram, seeded: Database, clock: FrozenClock, database_url: str
):
    port = free_port()
    settings = load_settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_url=fake.api_url,
        database_url=database_url,
        api_token=API_TOKEN,
        http_port=port,
    )
    application = build_application(settings, db=seeded, clock=clock, faq_index=FaqIndex())
    await application.initialize()
    await application.post_init(application)  # type: ignore[misc]
    try:
        status, _body = await post(f"http://127.0.0.1:{port}{PATH}", json.dumps(event()))
        assert status == 200
    finally:
        await application.shutdown()
        await application.post_shutdown(application)  # type: ignore[misc]
    assert refs(seeded) == {"E-1": "pending"}
    with pytest.raises(aiohttp.ClientConnectionError):  # stopped with the bot
        await post(f"http://127.0.0.1:{port}{PATH}", json.dumps(event()))


async def test_an_oversized_chunked_body_is_413_too(api: ReviewEventsApi, seeded: Database):
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit is met mid-read
        yield b"["
        for n in range(100):
            yield (json.dumps(event(ref=f"E-{n}")) + ",").encode()
        yield b"{}]"

    headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(api.url, data=chunks(), headers=headers) as response,
    ):
        assert response.status == 413
        assert "larger than 4096 bytes" in (await response.json())["error"]
    assert refs(seeded) == {}
