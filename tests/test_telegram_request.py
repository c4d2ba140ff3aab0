"""bot/telegram_request.py: PTB's real Bot over AiohttpRequest, against the fake Bot API server
(and, for timeouts and refused connections, against sockets that misbehave on purpose)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import NetworkError, RetryAfter, TelegramError, TimedOut

from bot.fakeapi import FakeTelegram, UploadedFile
from bot.telegram_request import AiohttpRequest, _scrubbed

TOKEN = "123456:SECRET-aiohttp-TOKEN"
ALICE = 1001
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("有帮助 👍", callback_data="fb:12:y"),
            InlineKeyboardButton("没帮助", callback_data="fb:12:n"),
        ],
        [InlineKeyboardButton("转人工 & 其他", callback_data="human:12")],
    ]
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as server:
        server.add_user(ALICE, "Alice")
        yield server


def make_bot(base: str, *, connection_pool_size: int = 8, **timeouts: float) -> Bot:
    return Bot(
        TOKEN,
        base_url=f"{base}/bot",
        base_file_url=f"{base}/file/bot",
        request=AiohttpRequest(connection_pool_size=connection_pool_size, **timeouts),
        get_updates_request=AiohttpRequest(connection_pool_size=1, **timeouts),
    )


@contextlib.asynccontextmanager
async def offline_bot(base: str, **kwargs: Any) -> AsyncIterator[Bot]:
    """A Bot for a server that does not answer getMe (Bot.initialize): only its requests are
    initialised."""
    bot = make_bot(base, **kwargs)
    await bot.request.initialize()
    try:
        yield bot
    finally:
        await bot.request.shutdown()


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with make_bot(fake.base_url) as client:
        yield client


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A server that accepts connections, reads everything and never answers."""

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.read(65536):
                pass
        finally:
            writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        # (no wait_closed: it would wait for the clients' connections, which are left to drop)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens on it once the socket is closed


async def test_send_message_with_keyboard_round_trips(bot: Bot, fake: FakeTelegram) -> None:
    text = "<b>如何提交材料？</b>\n登录平台 → 上传 &amp; 提交 (a+b=c?%20) 🙂"
    sent = await bot.send_message(ALICE, text, parse_mode="HTML", reply_markup=KEYBOARD)

    assert sent.text == "如何提交材料？\n登录平台 → 上传 & 提交 (a+b=c?%20) 🙂"
    assert sent.reply_markup == KEYBOARD
    record = await fake.wait_for(method="sendMessage", chat_id=ALICE)
    assert record.params["text"] == text
    assert record.params["reply_markup"] == KEYBOARD.to_dict()
    [stored] = fake.messages(ALICE)
    assert stored["message_id"] == sent.message_id
    # A call without parameters, and a GET (file downloads use it), go through as well.
    assert (await bot.get_me()).id == bot.id


async def test_concurrent_calls_share_a_small_pool(fake: FakeTelegram) -> None:
    async with make_bot(fake.base_url, connection_pool_size=2) as bot:
        sent = await asyncio.gather(*(bot.send_message(ALICE, f"#{i}") for i in range(20)))
    assert sorted(m.text for m in sent) == sorted(f"#{i}" for i in range(20))


async def test_document_upload_arrives_with_bytes_and_filename(
    bot: Bot, fake: FakeTelegram
) -> None:
    data = b"PK\x03\x04" + bytes(range(256)) * 400  # binary, ~100 KB: more than one socket write
    sent = await bot.send_document(
        ALICE,
        data,
        filename="评估报告 2026-11.xlsx",
        caption="<b>周报</b> &amp; 统计",
        parse_mode="HTML",
        reply_markup=KEYBOARD,
    )

    record = await fake.wait_for(method="sendDocument", chat_id=ALICE)
    upload = record.params["document"]
    assert isinstance(upload, UploadedFile)
    assert upload.data == data
    assert upload.filename == "评估报告 2026-11.xlsx"
    assert upload.content_type == XLSX
    assert record.params["caption"] == "<b>周报</b> &amp; 统计"
    assert record.params["reply_markup"] == KEYBOARD.to_dict()
    assert sent.caption == "周报 & 统计"
    assert sent.document is not None
    assert sent.document.file_name == "评估报告 2026-11.xlsx"
    assert fake.file_content(sent.document.file_id) == data
    # And back down through the file URL (BaseRequest.retrieve: a GET).
    file = await bot.get_file(sent.document.file_id)
    assert bytes(await file.download_as_bytearray()) == data


async def test_csv_upload_from_a_file_handle(bot: Bot, fake: FakeTelegram, tmp_path) -> None:
    path = tmp_path / "questions.csv"
    path.write_bytes("问题,次数\n怎么登录,3\n".encode())
    with path.open("rb") as handle:
        sent = await bot.send_document(ALICE, handle)
    assert sent.document is not None
    assert sent.document.file_name == "questions.csv"
    assert fake.file_content(sent.document.file_id) == path.read_bytes()


async def test_a_server_that_never_answers_times_out_after_the_read_timeout(
    silent_server: str,
) -> None:
    async with offline_bot(silent_server, read_timeout=0.5) as bot:
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await bot.send_message(ALICE, "hello", reply_markup=KEYBOARD)
        elapsed = time.monotonic() - started
        assert 0.45 <= elapsed < 2.0
        # An upload too (read timeout from the end of the upload, within the overall deadline).
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await bot.send_document(ALICE, b"x" * 300_000, filename="big.csv")
        assert time.monotonic() - started < 3.0
        # A call's own read_timeout wins over the default.
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await bot.send_message(ALICE, "hello", read_timeout=0.1)
        assert time.monotonic() - started < 0.45


async def test_a_full_pool_times_out_without_sending(silent_server: str) -> None:
    async with offline_bot(
        silent_server, connection_pool_size=1, read_timeout=2.0, pool_timeout=0.2
    ) as bot:
        first = asyncio.create_task(bot.send_message(ALICE, "takes the only connection"))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(TimedOut, match="Pool timeout"):
            await bot.send_message(ALICE, "waits for it")
        assert time.monotonic() - started < 1.0
        with pytest.raises(TimedOut):
            await first


async def test_long_polling_gets_the_longer_read_timeout(fake: FakeTelegram) -> None:
    # PTB adds getUpdates' timeout to the read timeout: a 1 s poll outlives a 0.3 s read timeout.
    async with make_bot(fake.base_url, read_timeout=0.3) as bot:
        started = time.monotonic()
        assert await bot.get_updates(timeout=1) == ()
        assert time.monotonic() - started >= 0.9
        fake.user_sends_text(ALICE, "你好")
        [update] = await bot.get_updates(timeout=1)
        assert update.message is not None and update.message.text == "你好"


async def test_a_closed_port_is_a_network_error() -> None:
    async with offline_bot(f"http://127.0.0.1:{closed_port()}") as bot:
        with pytest.raises(NetworkError) as raised:
            await bot.send_message(ALICE, "hello")
    assert not isinstance(raised.value, TimedOut)
    assert "127.0.0.1" in raised.value.message


async def test_a_dropped_connection_is_a_network_error(bot: Bot, fake: FakeTelegram) -> None:
    fake.drop_next("sendMessage")
    with pytest.raises(NetworkError) as raised:
        await bot.send_message(ALICE, "hello")
    assert not isinstance(raised.value, TimedOut)
    assert (await bot.send_message(ALICE, "again")).text == "again"


async def test_429_is_retry_after(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(RetryAfter, match="Retry in 7 seconds"):
        await bot.send_message(ALICE, "hello", reply_markup=KEYBOARD)


async def test_shut_down_requests_refuse_until_initialised_again(fake: FakeTelegram) -> None:
    request = AiohttpRequest()
    bot = Bot(TOKEN, base_url=fake.api_url, request=request)
    async with bot:
        await bot.send_message(ALICE, "one")
    with pytest.raises(NetworkError, match="not initialized"):  # as HTTPXRequest
        await request.post(f"{fake.api_url}{TOKEN}/getMe")
    async with bot:
        assert (await bot.send_message(ALICE, "two")).text == "two"


async def test_the_token_is_in_no_log_record_nor_error(
    fake: FakeTelegram, silent_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    async with make_bot(fake.base_url) as bot:
        await bot.send_message(ALICE, "hello", reply_markup=KEYBOARD)
        await bot.send_document(ALICE, b"a,b\n", filename="x.csv")
        fake.drop_next("sendMessage")
        fake.fail_next("sendMessage", status=429, retry_after=1)
        for _ in range(2):
            try:
                await bot.send_message(ALICE, "fails")
            except TelegramError as exc:
                errors.append(exc)
    for base in (f"http://127.0.0.1:{closed_port()}", silent_server):
        async with offline_bot(base, read_timeout=0.2) as bot:
            try:
                await bot.send_message(ALICE, "fails")
            except NetworkError as exc:
                errors.append(exc)
    assert len(errors) == 4
    for exc in errors:  # logged the way the bot logs errors: with their traceback
        logging.getLogger("test").error("failed: %s", exc, exc_info=exc)

    formatter = logging.Formatter("%(name)s %(message)s")
    secret = TOKEN.split(":")[1]
    assert len(caplog.records) > 10
    for record in caplog.records:
        if record.name == "telegram.Bot" and record.getMessage().startswith("Set Bot API"):
            continue  # PTB's own debug lines, masked by bot/logs.py's formatter
        assert secret not in formatter.format(record), record.name


def test_error_messages_lose_the_token() -> None:
    # aiohttp puts the URL in some errors ("Can not write request body for <url>").
    url = f"https://api.telegram.org/bot{TOKEN}/sendDocument"
    err = aiohttp.ClientOSError(32, f"Can not write request body for {url}")
    text, cause = _scrubbed(err, url)
    assert text == (
        "aiohttp.ClientOSError: [Errno 32] Can not write request body for "
        "https://api.telegram.org/bot<token>/sendDocument"
    )
    assert cause is None  # chaining it would print the token in tracebacks
    plain = aiohttp.ServerDisconnectedError()
    assert _scrubbed(plain, url) == ("aiohttp.ServerDisconnectedError: Server disconnected", plain)


async def test_the_environments_proxy_carries_the_requests_unless_no_proxy_says_otherwise(
    fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
):
    """Servers in mainland China reach Telegram through a proxy: HTTPS_PROXY / HTTP_PROXY /
    NO_PROXY are honoured as httpx honoured them."""
    request_lines: list[str] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_lines.append(head.split(b"\r\n", 1)[0].decode())
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        await reader.readexactly(int(length.group(1)) if length else 0)
        me = {"id": 42, "is_bot": True, "first_name": "Proxied", "username": "proxied_bot"}
        body = json.dumps({"ok": True, "result": me}).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    try:
        async with make_bot(fake.base_url) as client:
            assert client.bot.first_name == "Proxied"
        assert request_lines and request_lines[0].startswith(f"POST {fake.base_url}/bot")
        assert request_lines[0].endswith("/getMe HTTP/1.1")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with make_bot(fake.base_url) as client:
            assert client.bot.first_name != "Proxied"  # straight to the fake server
        assert len(request_lines) == 1
    finally:
        server.close()
        await server.wait_closed()
