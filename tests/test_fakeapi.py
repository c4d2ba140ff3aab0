"""The fake Bot API server, exercised through the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import datetime as dtm
import re

import aiohttp
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    ChatMemberAdministrator,
    ChatMemberLeft,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReactionTypeEmoji,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.fakeapi import FakeTelegram, HtmlParseError, parse_html

ALICE = 1001
BOB = 1002
STAFF = -1001234567890


@pytest.fixture
async def fake():
    async with FakeTelegram() as server:
        server.add_user(ALICE, "Alice", username="alice")
        yield server


@pytest.fixture
async def bot(fake):
    async with Bot(fake.token, base_url=fake.api_url, base_file_url=fake.file_url) as client:
        yield client


def says(text: str) -> str:
    """A case-insensitive literal pattern for pytest.raises(match=...).

    PTB strips "Bad Request: " and .capitalize()s the rest, so "BUTTON_DATA_INVALID" arrives as
    "Button_data_invalid" and "can't parse entities" as "Can't parse entities".
    """
    return "(?i)" + re.escape(text)


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d, callback_data=d) for d in data]])


# ---- the HTML parser on its own --------------------------------------------------------------


def test_html_is_reduced_to_plain_text_and_entities():
    text, entities = parse_html('<b>粗</b> &lt;1&gt; <a href="https://x.y/?a=1&amp;b=2">链接</a>')
    assert text == "粗 <1> 链接"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 1},
        {"type": "text_link", "offset": 6, "length": 2, "url": "https://x.y/?a=1&b=2"},
    ]


def test_html_entity_offsets_are_utf16_code_units():
    text, entities = parse_html("😀<i>x</i>&#128512;&#x41;")
    assert text == "😀x😀A"
    assert entities == [{"type": "italic", "offset": 2, "length": 1}]


def test_html_pre_code_language_spoiler_and_blockquote():
    source = (
        '<pre><code class="language-python">x = 1</code></pre>'
        '<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>'
        "<blockquote expandable>q</blockquote>"
    )
    _, entities = parse_html(source)
    assert [e["type"] for e in entities] == ["pre", "spoiler", "spoiler", "expandable_blockquote"]
    assert entities[0]["language"] == "python"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("<b>1 < 2</b>", 'Unsupported start tag "" at byte offset 5'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag"),
        ("<br>", 'Unsupported start tag "br"'),
        ("<span>x</span>", 'must have class "tg-spoiler"'),
        ("Tom & Jerry", "Unsupported HTML entity"),
        ("&nbsp;", "Unsupported HTML entity"),
        ('<a href="x>y</a>', "Unclosed end of an attribute value"),
        ("<b", "Unclosed start tag"),
    ],
)
def test_malformed_html_is_refused(source, reason):
    with pytest.raises(HtmlParseError, match=re.escape(reason)):
        parse_html(source)


# ---- sending, editing, validation through PTB --------------------------------------------------


async def test_get_me(bot, fake):
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "helpdesk_test_bot", True)
    assert fake.api_url == f"{fake.base_url}/bot"


async def test_html_message_is_stored_with_raw_text_and_edited(bot, fake):
    sent = await bot.send_message(
        ALICE, "<b>您好</b> &amp; 欢迎", parse_mode=ParseMode.HTML, reply_markup=keyboard("a")
    )
    assert sent.text == "您好 & 欢迎"
    assert sent.entities[0].type == "bold"
    assert sent.reply_markup == keyboard("a")

    edited = await bot.edit_message_text(
        "<i>已更新</i>",
        ALICE,
        sent.message_id,
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard("b"),
    )
    assert edited.text == "已更新"
    assert edited.edit_date is not None
    [stored] = fake.messages(ALICE)
    assert stored["text"] == "已更新"
    assert stored["raw_text"] == "<i>已更新</i>"
    assert stored["parse_mode"] == "HTML"
    assert stored["reply_markup"] == keyboard("b").to_dict()


async def test_unescaped_user_text_in_html_is_a_bad_request(bot, fake):
    with pytest.raises(BadRequest, match=says("Can't parse entities")):
        await bot.send_message(ALICE, "<b>1 < 2", parse_mode=ParseMode.HTML)
    assert fake.messages(ALICE) == []
    assert fake.log[-1].status == 400


async def test_identical_edit_is_not_modified_and_an_edit_without_markup_drops_keyboard(bot, fake):
    sent = await bot.send_message(ALICE, "问题", reply_markup=keyboard("x"))
    with pytest.raises(BadRequest, match=says("Message is not modified")):
        await bot.edit_message_text("问题", ALICE, sent.message_id, reply_markup=keyboard("x"))
    edited = await bot.edit_message_text("问题", ALICE, sent.message_id)  # like Telegram
    assert edited.reply_markup is None
    assert "reply_markup" not in fake.messages(ALICE)[0]
    with pytest.raises(BadRequest, match=says("Message to edit not found")):
        await bot.edit_message_text("x", ALICE, 999)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"text": ""}, "Message text is empty"),
        ({"text": "<b></b>", "parse_mode": "HTML"}, "Message text is empty"),
        ({"text": "长" * 4097}, "Message is too long"),
        ({"text": "<b>" + "x" * 4096 + "</b>", "parse_mode": "HTML"}, None),
        ({"text": "x", "reply_markup": keyboard("d" * 65)}, "BUTTON_DATA_INVALID"),
        ({"text": "x", "reply_markup": keyboard("数" * 22)}, "BUTTON_DATA_INVALID"),  # 66 bytes
        ({"text": "x", "chat_id": 4242}, "Chat not found"),
        ({"text": "x", "parse_mode": "Klingon"}, "Unsupported parse_mode"),
    ],
)
async def test_send_message_validation(bot, kwargs, reason):
    arguments = {"chat_id": ALICE} | kwargs
    if reason is None:
        assert (await bot.send_message(**arguments)).text == "x" * 4096
        return
    with pytest.raises(BadRequest, match=says(reason)):
        await bot.send_message(**arguments)


async def test_inline_button_needs_exactly_one_action(bot, fake):
    with pytest.raises(BadRequest, match=says("Text buttons are unallowed")):
        await bot.send_message(ALICE, "x", reply_markup={"inline_keyboard": [[{"text": "t"}]]})
    two = {"text": "t", "callback_data": "a", "url": "https://example.org"}
    with pytest.raises(BadRequest, match=says("exactly one")):
        await bot.send_message(ALICE, "x", reply_markup={"inline_keyboard": [[two]]})


# ---- auth, unknown methods, request encodings ----------------------------------------------------


async def test_wrong_token_is_invalid_token(fake):
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=fake.api_url):
            pass


async def test_raw_http_methods_encodings_and_errors(fake):
    async with aiohttp.ClientSession() as http:
        base = f"{fake.api_url}{fake.token}"
        async with http.post(f"{base}/noSuchMethod") as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found",
            }
        async with http.get(f"{base}/sendAudio") as response:  # real but not faked: say so
            assert response.status == 400
            assert "not implemented" in (await response.json())["description"]
        markup = '{"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}'
        body = {"chat_id": str(ALICE), "text": "json", "reply_markup": markup}
        async with http.post(f"{base}/SENDMESSAGE", json=body) as response:
            result = (await response.json())["result"]
            assert result["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "a"
        form = {"chat_id": str(ALICE), "text": "123", "disable_notification": "true"}
        async with http.post(f"{base}/sendmessage", data=form) as response:
            assert (await response.json())["result"]["text"] == "123"  # text stays a string
        async with http.post(f"{fake.api_url}1:nope/getMe") as response:
            assert response.status == 401
            assert (await response.json())["description"] == "Unauthorized"


# ---- fault injection ---------------------------------------------------------------------------


async def test_rate_limit_is_retry_after_and_does_nothing(bot, fake, monkeypatch):
    # PTB 22 returns retry_after as int (with a deprecation warning) unless PTB_TIMEDELTA is set.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(ALICE, "x")
    assert info.value.retry_after == dtm.timedelta(seconds=7)
    assert fake.messages(ALICE) == []
    assert fake.log[-1].injected
    await bot.send_message(ALICE, "x")  # only the next call failed
    assert len(fake.messages(ALICE)) == 1


async def test_bad_gateway_is_a_network_error(bot, fake):
    fake.fail_next("SendMessage", status=502, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match=says("Bad Gateway")):
            await bot.send_message(ALICE, "x")
    await bot.send_message(ALICE, "x")
    assert [r.ok for r in fake.log if r.method == "sendMessage"] == [False, False, True]


async def test_dropped_connection_with_and_without_effect(bot, fake):
    fake.drop_next("sendMessage")
    with pytest.raises(NetworkError, match=says("disconnected")):
        await bot.send_message(ALICE, "lost request")
    assert fake.messages(ALICE) == []
    fake.drop_next("sendMessage", after_effect=True)
    with pytest.raises(NetworkError):
        await bot.send_message(ALICE, "lost response")
    assert [m["text"] for m in fake.messages(ALICE)] == ["lost response"]
    assert [(r.ok, r.status, r.dropped) for r in fake.log[-2:]] == [
        (False, 0, True),
        (True, 200, True),
    ]


async def test_blocked_user_is_forbidden_and_the_bot_is_told(bot, fake):
    fake.block(ALICE)
    with pytest.raises(Forbidden, match=says("bot was blocked by the user")):
        await bot.send_message(ALICE, "x")
    [update] = await bot.get_updates()
    assert update.my_chat_member.new_chat_member.status == "kicked"
    fake.add_user(BOB, "Bob", started=False)
    with pytest.raises(Forbidden, match=says("can't initiate conversation")):
        await bot.send_message(BOB, "x")


# ---- updates: polling, callbacks -------------------------------------------------------------


async def test_application_polls_echoes_and_round_trips_a_callback(fake):
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(f"echo: {update.message.text}", reply_markup=keyboard("ok"))

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        await query.answer("收到")
        await query.edit_message_text(f"pressed {query.data}")

    app = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(fake.api_url)
        .base_file_url(fake.file_url)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.add_handler(CallbackQueryHandler(pressed))
    await app.initialize()
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        fake.user_sends_text(ALICE, "hello <world>")
        reply = await fake.next_reply(ALICE)
        assert reply["text"] == "echo: hello <world>"
        assert reply["reply_markup"] == keyboard("ok").to_dict()

        fake.user_presses(ALICE, reply, "forged:data")
        edited = await fake.next_reply(ALICE)
        assert edited["message_id"] == reply["message_id"]
        assert edited["text"] == "pressed forged:data"
        assert fake.callback_answers[0]["text"] == "收到"
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    assert fake.pending_updates == []  # the updater confirmed everything it fetched


async def test_long_poll_waits_for_an_update_and_offset_confirms(bot, fake):
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, fake.user_sends_text, ALICE, "/start@helpdesk_test_bot hi @bob_1")
    started = loop.time()
    [update] = await bot.get_updates(timeout=5)
    assert loop.time() - started < 2
    assert [(e.type, e.offset, e.length) for e in update.message.entities] == [
        ("bot_command", 0, 24),
        ("mention", 28, 6),
    ]
    assert len(await bot.get_updates()) == 1  # not confirmed yet
    assert await bot.get_updates(offset=update.update_id + 1) == ()
    assert fake.pending_updates == []


async def test_a_second_poller_terminates_the_first(fake):
    async with (
        Bot(fake.token, base_url=fake.api_url) as first,
        Bot(fake.token, base_url=fake.api_url) as second,
    ):
        waiting = asyncio.create_task(first.get_updates(timeout=5))
        await asyncio.sleep(0.1)  # let the first long poll reach the server
        assert await second.get_updates(timeout=0) == ()
        with pytest.raises(Conflict, match=says("terminated by other getUpdates")):
            await waiting


async def test_answering_a_query_twice_or_a_made_up_one_fails(bot, fake):
    sent = await bot.send_message(ALICE, "x", reply_markup=keyboard("a"))
    query = fake.user_presses(ALICE, sent.to_dict(), "a")
    assert query["message"]["message_id"] == sent.message_id
    assert await bot.answer_callback_query(query["id"])
    with pytest.raises(BadRequest, match=says("Query is too old")):
        await bot.answer_callback_query(query["id"])
    with pytest.raises(BadRequest, match=says("Query is too old")):
        await bot.answer_callback_query("12345")


# ---- groups, forums, members, files, commands ------------------------------------------------


async def test_forum_topics(bot, fake):
    fake.add_group(STAFF, "Staff", is_forum=True)
    fake.add_group(-42, "Plain group")
    topic = await bot.create_forum_topic(STAFF, "工单 #7")
    assert topic.name == "工单 #7"
    sent = await bot.send_message(STAFF, "new ticket", message_thread_id=topic.message_thread_id)
    assert sent.message_thread_id == topic.message_thread_id
    assert sent.is_topic_message
    assert sent.reply_to_message.forum_topic_created.name == "工单 #7"  # Telegram does this too
    assert await bot.close_forum_topic(STAFF, topic.message_thread_id)
    with pytest.raises(BadRequest, match=says("Topic_not_modified")):
        await bot.close_forum_topic(STAFF, topic.message_thread_id)
    with pytest.raises(BadRequest, match=says("Message thread not found")):
        await bot.send_message(STAFF, "x", message_thread_id=999)
    with pytest.raises(BadRequest, match=says("The chat is not a forum")):
        await bot.create_forum_topic(-42, "t")
    user_message = fake.user_sends_text(
        ALICE, "reply", chat_id=STAFF, thread_id=sent.message_thread_id
    )
    assert user_message["message_thread_id"] == topic.message_thread_id
    assert [m["text"] for m in fake.messages(STAFF)] == ["new ticket"]  # no service messages


async def test_get_chat_member(bot, fake):
    fake.add_user(BOB, "Bob")
    fake.add_group(STAFF, "Staff", members={ALICE: "administrator"})
    assert isinstance(await bot.get_chat_member(STAFF, ALICE), ChatMemberAdministrator)
    assert isinstance(await bot.get_chat_member(STAFF, BOB), ChatMemberLeft)
    fake.user_sends_text(BOB, "hi", chat_id=STAFF)  # posting makes Bob a known member
    assert isinstance(await bot.get_chat_member(STAFF, BOB), ChatMemberMember)
    fake.set_member(STAFF, BOB, "restricted")  # PTB requires every permission field
    assert (await bot.get_chat_member(STAFF, BOB)).status == "restricted"
    fake.set_member(STAFF, BOB, "kicked")
    assert (await bot.get_chat_member(STAFF, BOB)).status == "kicked"
    assert (await bot.get_chat_member(STAFF, bot.id)).status == "administrator"
    assert (await bot.get_chat(STAFF)).title == "Staff"
    with pytest.raises(BadRequest, match=says("Chat not found")):
        await bot.get_chat_member(-5, ALICE)


async def test_files_round_trip(bot, fake):
    message = fake.user_sends_document(ALICE, "评估报告.xlsx", b"PK\x03\x04data", caption="见附件")
    file = await bot.get_file(message["document"]["file_id"])
    assert bytes(await file.download_as_bytearray()) == b"PK\x03\x04data"

    photo = await bot.send_photo(ALICE, b"\xff\xd8jpeg", caption="<b>图</b>", parse_mode="HTML")
    assert photo.caption == "图"
    assert fake.file_content(photo.photo[-1].file_id) == b"\xff\xd8jpeg"
    again = await bot.send_photo(ALICE, photo.photo[-1].file_id)  # resend by file_id
    assert again.photo[-1].file_id == photo.photo[-1].file_id
    voice = fake.user_sends_voice(ALICE)
    resent = await bot.send_voice(ALICE, voice["voice"]["file_id"])
    assert resent.voice.file_id == voice["voice"]["file_id"]
    assert (await bot.send_sticker(ALICE, b"RIFFwebp")).sticker.width == 512
    with pytest.raises(BadRequest, match=says("Wrong file identifier")):
        await bot.send_document(ALICE, "no-such-file-id")
    with pytest.raises(BadRequest, match=says("can't use file of type Photo as Document")):
        await bot.send_document(ALICE, photo.photo[-1].file_id)
    contact = fake.user_sends_contact(ALICE, "+8613800000000")
    assert contact["contact"]["user_id"] == ALICE
    location = fake.user_sends_location(ALICE, 30.25, 120.17)
    stored = fake.message(ALICE, location["message_id"])  # stored, so it can be replied to
    assert stored["location"] == {"latitude": 30.25, "longitude": 120.17}


async def test_copy_forward_reply_delete_and_react(bot, fake):
    fake.add_group(STAFF, "Staff")
    question = fake.user_sends_text(ALICE, "我的问题")
    copied = await bot.copy_message(STAFF, ALICE, question["message_id"])
    forwarded = await bot.forward_message(STAFF, ALICE, question["message_id"])
    assert forwarded.forward_origin.sender_user.id == ALICE
    texts = [(m["message_id"], m["text"]) for m in fake.messages(STAFF)]
    assert texts == [(copied.message_id, "我的问题"), (forwarded.message_id, "我的问题")]
    answer = await bot.send_message(ALICE, "答复", reply_to_message_id=question["message_id"])
    assert answer.reply_to_message.text == "我的问题"
    with pytest.raises(BadRequest, match=says("Message to be replied not found")):
        await bot.send_message(ALICE, "x", reply_to_message_id=999)
    await bot.set_message_reaction(ALICE, question["message_id"], ReactionTypeEmoji("👍"))
    assert fake.message(ALICE, question["message_id"])["reactions"][0]["emoji"] == "👍"
    with pytest.raises(BadRequest, match=says("Reaction_invalid")):
        await bot.set_message_reaction(ALICE, question["message_id"], "❤️")  # needs plain ❤
    assert await bot.delete_message(ALICE, answer.message_id)
    with pytest.raises(BadRequest, match=says("Message to delete not found")):
        await bot.delete_message(ALICE, answer.message_id)
    assert await bot.send_chat_action(ALICE, "typing")


async def test_commands_are_kept_per_scope_and_language(bot):
    await bot.set_my_commands([BotCommand("start", "开始")])
    await bot.set_my_commands([BotCommand("help", "Help")], language_code="en")
    await bot.set_my_commands([BotCommand("stats", "统计")], scope=BotCommandScopeChat(ALICE))
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    assert [c.command for c in await bot.get_my_commands(language_code="en")] == ["help"]
    assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeChat(ALICE))] == [
        "stats"
    ]
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    with pytest.raises(BadRequest, match=says("Bot_command_invalid")):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])
    with pytest.raises(BadRequest, match=says("Invalid language code")):
        await bot.set_my_commands([BotCommand("a", "b")], language_code="zh-hans")
    assert await bot.set_chat_menu_button()
    assert await bot.set_webhook("https://example.org/hook")
    assert (await bot.get_webhook_info()).url == "https://example.org/hook"
    with pytest.raises(Conflict, match=says("webhook is active")):
        await bot.get_updates()
    assert await bot.delete_webhook()


# ---- the test-side API ------------------------------------------------------------------------


async def test_wait_for_consumes_calls_in_order_and_times_out(bot, fake):
    await bot.send_message(ALICE, "one")
    await bot.send_message(ALICE, "two")
    first = await fake.wait_for(method="sendmessage", chat_id=ALICE)
    assert first.params["text"] == "one"
    second = await fake.wait_for(lambda r: r.params.get("text") == "two")
    assert second.index > first.index
    with pytest.raises(TimeoutError, match="no matching Bot API call"):
        await fake.wait_for(method="sendMessage", timeout=0.05)
    assert ("sendMessage", {"chat_id": ALICE, "text": "one"}) in fake.calls


async def test_control_http_api(bot, fake):
    async with aiohttp.ClientSession(base_url=fake.base_url) as http:

        async def call(verb: str, path: str, **kwargs):
            async with http.request(verb, f"/_test/{path}", **kwargs) as response:
                payload = await response.json()
                assert payload["ok"], payload
                return payload["result"]

        await call("POST", "users", json={"user_id": BOB, "first_name": "Bob"})
        await call("POST", "groups", json={"chat_id": STAFF, "title": "Staff", "members": {}})
        sent = await call("POST", "send_text", json={"user_id": BOB, "text": "/start"})
        assert sent["entities"][0]["type"] == "bot_command"

        reply = await bot.send_message(BOB, "菜单", reply_markup=keyboard("m"))
        [listed] = await call("GET", "messages", params={"chat_id": BOB, "after_id": 0})
        assert listed["text"] == "菜单"
        assert await call("GET", "messages", params={"chat_id": BOB, "after_id": 2}) == []
        calls = await call("GET", "calls", params={"since": 0})
        assert calls["calls"][-1]["method"] == "sendMessage"

        body = {"user_id": BOB, "chat_id": BOB, "message_id": reply.message_id, "data": "m"}
        query = await call("POST", "press", json=body)
        updates = await bot.get_updates()
        assert [u.callback_query.id for u in updates if u.callback_query] == [query["id"]]

        await call("POST", "fail", json={"method": "sendMessage", "status": 500})
        with pytest.raises(NetworkError, match=says("Internal Server Error")):
            await bot.send_message(BOB, "x")
        waited = await call("GET", "calls", params={"since": calls["next"], "timeout": 1})
        assert waited["calls"][0]["status"] == 500

        async with http.post("/_test/send_text", json={"user_id": 5, "text": "x"}) as response:
            assert response.status == 400  # unknown user: a clear error, not a crash


async def test_restart_keeps_port_and_state(fake):
    port = fake.port
    fake.user_sends_text(ALICE, "before restart")
    await fake.stop()
    await fake.start()
    assert fake.port == port
    async with Bot(fake.token, base_url=fake.api_url) as bot:
        [update] = await bot.get_updates()
        assert update.message.text == "before restart"
