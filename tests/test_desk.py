"""The escalation desk end to end: the real PTB application, the fake Bot API server over HTTP, a
frozen clock. Updates are fed with ``process_update``; the outbox is flushed by hand (the kick a
handler gives it is awaited too), so nothing sleeps."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import pytest
from sqlmodel import select
from telegram import Update
from telegram.ext import Application

from bot import tickets
from bot.app import build_application
from bot.clock import FrozenClock
from bot.db import Database
from bot.desk import Desk
from bot.fakeapi import FakeTelegram
from bot.models import ChatUser
from bot.outbox import OutboxMessage
from bot.settings import Settings, load_settings
from bot.tickets import Ticket, TicketMessage
from faq.service import FaqIndex

from .conftest import SHANGHAI, TOKEN

ALICE = 1001  # Telegram in Chinese
BOB = 1002  # Telegram in English
STAFF_MEMBER = 501  # in the staff group
ADMIN = 900  # HELPDESK_ADMIN_IDS
OUTSIDER = 3003  # nobody's staff
STAFF = -1009876543210
SIGNATURE = "—— 省财政厅工作人员"

JSON = dict[str, Any]


@pytest.fixture
def forum() -> bool:
    return True  # tests of the reply-thread fallback parametrize this to False


@pytest.fixture
def settings(fake: FakeTelegram, database_url: str, forum: bool) -> Settings:
    fake.add_user(ALICE, "Alice", language_code="zh-hans")
    fake.add_user(BOB, "Bob", language_code="en")
    fake.add_user(STAFF_MEMBER, "王科员")
    fake.add_user(ADMIN, "Admin")
    fake.add_user(OUTSIDER, "Mallory")
    fake.add_group(
        STAFF,
        "信用平台客服组",
        is_forum=forum,
        members={STAFF_MEMBER: "member", ADMIN: "administrator"},
    )
    return load_settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_url=fake.api_url,
        database_url=database_url,
        staff_chat_id=STAFF,
        admin_ids=[ADMIN],
    )


class Desktop:
    """Both sides of the desk: users and staff act through the fake, the application handles it."""

    def __init__(self, app: Application, fake: FakeTelegram, db: Database) -> None:  # type: ignore[type-arg]
        self.app = app
        self.fake = fake
        self.db = db
        self._ids = itertools.count(1)

    @property
    def desk(self) -> Desk:
        return self.app.bot_data.desk  # type: ignore[attr-defined]

    async def deliver(self, **payload: JSON) -> None:
        update = Update.de_json({"update_id": next(self._ids), **payload}, self.app.bot)
        await self.app.process_update(update)
        await self.settle()

    async def settle(self) -> None:
        """Let kicked outbox flushes finish, then flush what is due."""
        await self.desk.sender.idle()
        await self.desk.sender.flush()

    async def send(self, user_id: int, text: str, **kwargs: Any) -> JSON:
        message = self.fake.user_sends_text(user_id, text, **kwargs)
        await self.deliver(message=message)
        return message

    async def press(self, user_id: int, message: JSON, data: str) -> JSON:
        query = self.fake.user_presses(user_id, message, data)
        await self.deliver(callback_query=query)
        return query

    def texts(self, chat_id: int) -> list[str]:
        return [m.get("raw_text") or m.get("text") or "" for m in self.fake.messages(chat_id)]

    def last(self, chat_id: int) -> JSON:
        return self.fake.messages(chat_id)[-1]

    def staff_posts(self, ticket: Ticket) -> list[JSON]:
        """The bot's posts of one ticket in the staff group."""
        posts = self.fake.messages(STAFF)
        if ticket.topic_id is not None:
            return [m for m in posts if m.get("message_thread_id") == ticket.topic_id]
        first = ticket.staff_message_id
        return [
            m
            for m in posts
            if m["message_id"] == first
            or (m.get("reply_to_message") or {}).get("message_id") == first
        ]

    def ticket(self, ticket_id: int = 1) -> Ticket:
        with self.db.session() as session:
            found = session.get(Ticket, ticket_id)
            assert found is not None
            return found

    def ticket_messages(self, ticket_id: int = 1) -> list[TicketMessage]:
        with self.db.session() as session:
            return tickets.ticket_messages(session, ticket_id=ticket_id)

    def outbox(self) -> list[OutboxMessage]:
        with self.db.session() as session:
            return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all())

    def answers(self) -> list[JSON]:
        return self.fake.callback_answers

    async def open_ticket(
        self, user_id: int = ALICE, question: str = "附件一直上传失败怎么办"
    ) -> Ticket:
        await self.send(user_id, f"/human {question}")
        with self.db.session() as session:
            found = tickets.active_ticket(session, user_id=user_id)
            assert found is not None
            return found

    async def staff_says(self, ticket: Ticket, text: str, user_id: int = STAFF_MEMBER) -> JSON:
        if ticket.topic_id is not None:
            return await self.send(user_id, text, chat_id=STAFF, thread_id=ticket.topic_id)
        return await self.send(user_id, text, chat_id=STAFF, reply_to=ticket.staff_message_id)


@pytest.fixture
def desk(app: Application, fake: FakeTelegram, db: Database) -> Desktop:  # type: ignore[type-arg]
    return Desktop(app, fake, db)


def card_of(desk: Desktop, ticket: Ticket) -> JSON:
    posts = desk.staff_posts(ticket)
    assert posts, "the ticket has no first post in the staff group"
    return posts[0]


def button_data(message: JSON) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button["callback_data"] for row in rows for button in row]


# --- escalation -----------------------------------------------------------------------------------


async def test_thumbs_down_then_contact_opens_a_ticket_with_its_own_topic(
    desk: Desktop, fake: FakeTelegram
):
    await desk.send(ALICE, "忘记登录密码了怎么办")
    answer = desk.last(ALICE)
    thumbs_down = next(d for d in button_data(answer) if d.endswith(":d"))
    await desk.press(ALICE, answer, thumbs_down)
    sorry = desk.last(ALICE)
    contact = button_data(sorry)
    assert contact[0].startswith("cs:")
    await desk.press(ALICE, sorry, contact[0])

    assert desk.texts(ALICE)[-1].startswith("已为您创建工单 #1")
    ticket = desk.ticket()
    assert (ticket.source, ticket.status, ticket.lang) == ("thumbs_down", "open", "zh")
    assert ticket.question == "忘记登录密码了怎么办"
    created = next(params for method, params in fake.calls if method == "createForumTopic")
    assert created["name"] == "#1 忘记登录密码了怎么办"
    card = card_of(desk, ticket)
    assert "工单 #1" in card["raw_text"] and "对回答点了 👎" in card["raw_text"]
    assert "忘记登录密码了怎么办？" in card["raw_text"]  # the FAQ entry the bot found
    assert "置信度" in card["raw_text"] and "中文" in card["raw_text"]
    assert button_data(card)[:3] == ["tk:c:1", "tk:x:1", "tk:r:1"]


async def test_further_messages_of_any_kind_are_relayed_and_the_user_told_once(
    desk: Desktop, fake: FakeTelegram
):
    ticket = await desk.open_ticket()
    before = len(desk.texts(ALICE))
    await desk.send(ALICE, "补充：浏览器是 IE")
    assert desk.texts(ALICE)[before:] == [
        "已转给工作人员（工单 #1）。之后的消息也会一并转达，请耐心等待回复。"
    ]
    await desk.deliver(message=fake.user_sends_photo(ALICE, "报错截图"))
    await desk.deliver(message=fake.user_sends_document(ALICE, "报错.txt", b"log"))
    await desk.deliver(message=fake.user_sends_voice(ALICE))
    assert len(desk.texts(ALICE)) == before + 1  # told once, not four times

    relayed = desk.staff_posts(desk.ticket())[1:]
    assert relayed[0]["text"] == "补充：浏览器是 IE"
    assert "photo" in relayed[1] and relayed[1]["caption"] == "报错截图"
    assert "document" in relayed[2] and "voice" in relayed[3]
    kinds = [m.kind for m in desk.ticket_messages()]
    assert kinds == ["text", "text", "photo", "document", "voice"]
    assert ticket.question == "附件一直上传失败怎么办"


async def test_staff_replies_reach_the_user_signed_and_notes_stay_internal(
    desk: Desktop, fake: FakeTelegram
):
    ticket = await desk.open_ticket()
    await desk.staff_says(ticket, "请把附件压缩到 10MB 以内 <再试>")
    reply = desk.last(ALICE)
    assert reply["text"] == f"请把附件压缩到 10MB 以内 <再试>\n\n{SIGNATURE}"
    assert "王科员" not in reply["text"]
    assert desk.ticket().status == "answered"

    await desk.deliver(
        message=fake.user_sends_photo(
            STAFF_MEMBER, "按图操作", chat_id=STAFF, thread_id=ticket.topic_id
        )
    )
    photo = desk.last(ALICE)
    assert "photo" in photo and photo["caption"] == f"按图操作\n\n{SIGNATURE}"

    count = len(fake.messages(ALICE))
    await desk.staff_says(ticket, "#note 这个用户上周也问过")
    assert len(fake.messages(ALICE)) == count
    assert [m.direction for m in desk.ticket_messages()] == ["in", "out", "out", "note"]


async def test_close_asks_for_a_rating_closes_the_topic_and_stores_the_rating(
    desk: Desktop, fake: FakeTelegram
):
    ticket = await desk.open_ticket()
    await desk.staff_says(ticket, "已处理")
    await desk.press(STAFF_MEMBER, card_of(desk, ticket), "tk:x:1")

    closed = desk.last(ALICE)
    assert closed["text"].startswith("您的工单 #1 已处理完毕")
    assert button_data(closed) == [f"rt:1:{n}" for n in range(1, 6)]
    assert any(method == "closeForumTopic" for method, _ in fake.calls)
    assert desk.ticket().status == "closed"

    await desk.press(BOB, closed, "rt:1:1")  # not Bob's ticket
    assert desk.answers()[-1]["show_alert"] is True
    await desk.press(ALICE, closed, "rt:1:5")
    assert desk.ticket().rating == 5
    assert desk.last(ALICE)["text"].startswith("感谢您的评价（5 星）")
    await desk.press(ALICE, closed, "rt:1:1")  # only once
    assert desk.ticket().rating == 5

    # After closing, a message is a question for the FAQ again, not a relay.
    await desk.send(ALICE, "忘记登录密码了怎么办")
    assert "忘记登录密码" in desk.texts(ALICE)[-1]


async def test_close_command_in_the_topic(desk: Desktop, fake: FakeTelegram):
    ticket = await desk.open_ticket()
    await desk.send(STAFF_MEMBER, "/close", chat_id=STAFF, thread_id=ticket.topic_id)
    assert desk.ticket().status == "closed"
    assert desk.ticket().closed_by == STAFF_MEMBER
    await desk.staff_says(ticket, "再补充一句")
    assert "已关闭" in desk.texts(STAFF)[-1]


async def test_asking_again_within_seven_days_reopens_the_ticket_and_its_topic(
    desk: Desktop, fake: FakeTelegram, clock: FrozenClock
):
    ticket = await desk.open_ticket()
    await desk.send(STAFF_MEMBER, "/close", chat_id=STAFF, thread_id=ticket.topic_id)
    clock.advance(days=2)
    await desk.send(ALICE, "/human 还是不行")
    assert desk.texts(ALICE)[-1].startswith("已重新打开您的工单 #1")
    assert desk.ticket().status == "open"
    assert any(method == "reopenForumTopic" for method, _ in fake.calls)
    posts = [m["text"] for m in desk.staff_posts(desk.ticket())]
    assert "🔄 用户重新打开了工单 #1。" in posts and "💬 还是不行" in posts


async def test_an_over_long_question_is_shortened_to_fit_the_staff_post(
    desk: Desktop, fake: FakeTelegram
):
    await desk.open_ticket()
    # Longer than Telegram delivers today (4,096), as the random-update drill sends.
    await desk.send(ALICE, "/human " + "<" * 5000)
    [post] = [m for m in desk.staff_posts(desk.ticket()) if m["text"].startswith("💬 <<<")]
    assert len(post["text"]) <= 4096 and post["text"].endswith("…")


async def test_contact_without_a_question_asks_for_it_and_names_the_topic_after_it(
    desk: Desktop, fake: FakeTelegram
):
    await desk.send(ALICE, "/human")
    assert desk.texts(ALICE)[-1].startswith("已为您创建工单 #1。请直接发送您的问题")
    ticket = desk.ticket()
    assert "尚未填写问题" in card_of(desk, ticket)["raw_text"]
    await desk.send(ALICE, "单位信息填报后无法提交")
    assert desk.ticket().question == "单位信息填报后无法提交"
    renamed = [p for m, p in fake.calls if m == "editForumTopic"]
    assert renamed[-1]["name"] == "#1 单位信息填报后无法提交"


@pytest.mark.parametrize("forum", [False])
async def test_without_forum_topics_staff_reply_to_the_ticket_post(
    desk: Desktop, fake: FakeTelegram
):
    ticket = await desk.open_ticket()
    ticket = desk.ticket()
    assert ticket.topic_id is None and ticket.staff_message_id is not None
    assert not any(method == "createForumTopic" for method, _ in fake.calls)
    card = card_of(desk, ticket)
    assert "回复本消息" in card["raw_text"]

    await desk.send(ALICE, "补充说明")
    relayed = desk.staff_posts(ticket)[-1]
    assert relayed["text"] == "补充说明"
    assert relayed["reply_to_message"]["message_id"] == ticket.staff_message_id

    await desk.send(STAFF_MEMBER, "请重新登录", chat_id=STAFF, reply_to=ticket.staff_message_id)
    assert desk.last(ALICE)["text"] == f"请重新登录\n\n{SIGNATURE}"
    # A reply to the relayed user message belongs to the ticket too.
    await desk.send(STAFF_MEMBER, "还有问题吗？", chat_id=STAFF, reply_to=relayed["message_id"])
    assert desk.last(ALICE)["text"] == f"还有问题吗？\n\n{SIGNATURE}"
    # A group message that is not a reply to a ticket is not relayed.
    count = len(fake.messages(ALICE))
    await desk.send(STAFF_MEMBER, "大家好", chat_id=STAFF)
    assert len(fake.messages(ALICE)) == count

    await desk.send(STAFF_MEMBER, "/close", chat_id=STAFF, reply_to=ticket.staff_message_id)
    assert desk.ticket().status == "closed"


# --- roles and forged buttons ---------------------------------------------------------------------


async def test_non_staff_are_refused_staff_buttons_and_commands(desk: Desktop, fake: FakeTelegram):
    ticket = await desk.open_ticket()
    card = card_of(desk, ticket)
    for data in ("tk:c:1", "tk:x:1", "tk:r:1"):
        await desk.press(OUTSIDER, card, data)
        assert desk.answers()[-1]["text"] == "抱歉，只有工作人员可以使用这个功能。"
    after = desk.ticket()
    assert (after.status, after.claimed_by, after.reported_at) == ("open", None, None)

    await desk.send(OUTSIDER, "/close")
    assert desk.texts(OUTSIDER)[-1] == "抱歉，只有工作人员可以使用这个功能。"
    await desk.send(ALICE, "/ban 1002")
    assert desk.texts(ALICE)[-1] == "抱歉，只有管理员可以使用这个命令。"
    await desk.send(STAFF_MEMBER, "/ban 1002", chat_id=STAFF)  # staff, but not an admin
    assert desk.texts(STAFF)[-1] == "抱歉，只有管理员可以使用这个命令。"
    assert desk.ticket().status == "open"


async def test_forged_callbacks_change_nothing(desk: Desktop, fake: FakeTelegram):
    ticket = await desk.open_ticket()
    own = desk.last(ALICE)
    await desk.press(ALICE, own, "tk:x:1")  # a user forging a staff button
    assert desk.answers()[-1]["show_alert"] is True
    await desk.press(STAFF_MEMBER, card_of(desk, ticket), "tk:c:999")  # no such ticket
    assert desk.answers()[-1]["text"] == "这个按钮已失效，请重新发送您的问题。"
    await desk.press(ALICE, own, "rt:1:5")  # not closed yet
    await desk.press(ALICE, own, "rt:1:9")  # not a rating this bot sends
    assert desk.ticket().status == "open" and desk.ticket().rating is None

    await desk.open_ticket(BOB, "How do I reset my password?")
    await desk.press(ALICE, own, "cs:999")  # somebody else's (or no) question
    assert desk.answers()[-1]["show_alert"] is True
    assert len(desk.ticket_messages(1)) == 1


async def test_contact_staff_pressed_in_a_group_is_answered_in_the_private_chat(
    desk: Desktop, fake: FakeTelegram
):
    group = -1005550000000
    fake.add_group(group, "第三方机构交流群")
    await desk.send(ALICE, "/help", chat_id=group)
    helped = desk.last(group)
    await desk.press(ALICE, helped, "cs")
    ticket = desk.ticket()
    assert (ticket.user_id, ticket.chat_id) == (ALICE, ALICE)

    await desk.staff_says(ticket, "您好，请说明具体问题。")
    # Staff answers a person, never a whole group.
    assert not any("请说明具体问题" in text for text in desk.texts(group))
    assert any("请说明具体问题" in text for text in desk.texts(ALICE))


async def test_staff_claim_and_report_upward(desk: Desktop, fake: FakeTelegram):
    ticket = await desk.open_ticket()
    card = card_of(desk, ticket)
    await desk.press(STAFF_MEMBER, card, "tk:c:1")
    await desk.press(ADMIN, card, "tk:r:1")
    await desk.press(ADMIN, card, "tk:r:1")  # the first report counts, once
    after = desk.ticket()
    assert (after.claimed_by, after.reported_by) == (STAFF_MEMBER, ADMIN)
    notices = [m["text"] for m in desk.staff_posts(after)]
    assert "✋ 工单 #1 已由 王科员 认领。" in notices
    assert sum("向上级报告" in n for n in notices) == 1
    with desk.db.session() as session:
        assert [row.id for row in tickets.reported_tickets(session)] == [1]


async def test_my_tickets_shows_only_my_own(desk: Desktop):
    await desk.open_ticket(ALICE, "附件上传失败")
    await desk.open_ticket(BOB, "Cannot log in")
    assert desk.texts(BOB)[-1].startswith("I've opened ticket #2 for you")
    await desk.send(ALICE, "/mytickets")
    mine = desk.texts(ALICE)[-1]
    assert "#1" in mine and "附件上传失败" in mine and "处理中" in mine
    assert "#2" not in mine and "Cannot log in" not in mine
    await desk.send(OUTSIDER, "/mytickets")
    assert desk.texts(OUTSIDER)[-1].startswith("您还没有工单")


# --- nothing is lost ------------------------------------------------------------------------------


async def test_a_relay_meeting_429_and_502_arrives_exactly_once(
    desk: Desktop, fake: FakeTelegram, clock: FrozenClock
):
    ticket = await desk.open_ticket()
    fake.fail_next("sendMessage", status=429, retry_after=5)
    fake.fail_next("sendMessage", status=502)
    await desk.staff_says(ticket, "答复内容")
    assert desk.texts(ALICE)[-1] != f"答复内容\n\n{SIGNATURE}"
    clock.advance(seconds=5)
    await desk.settle()  # meets the 502
    clock.advance(minutes=1)
    await desk.settle()
    await desk.settle()
    replies = [text for text in desk.texts(ALICE) if text.startswith("答复内容")]
    assert replies == [f"答复内容\n\n{SIGNATURE}"]
    failed = [r for method, r in fake.calls if method == "sendMessage" and r["chat_id"] == ALICE]
    assert len(failed) >= 3  # 429, 502, delivered


async def test_a_restart_sends_pending_relays_once(
    desk: Desktop,
    fake: FakeTelegram,
    db: Database,
    clock: FrozenClock,
    settings: Settings,
    app: Application,  # type: ignore[type-arg]
):
    ticket = await desk.open_ticket()
    fake.fail_next("sendMessage", status=502)
    await desk.staff_says(ticket, "第一条答复")  # meets the 502 and backs off
    await desk.staff_says(ticket, "第二条答复")  # waits behind the first (order per chat)
    assert [r.status for r in desk.outbox() if r.chat_id == ALICE] == ["pending", "pending"]
    await app.shutdown()
    await app.post_shutdown(app)  # type: ignore[misc]

    restarted = build_application(settings, db=db, clock=clock, faq_index=FaqIndex())
    await restarted.initialize()
    await restarted.post_init(restarted)  # type: ignore[misc]  # sends what was pending
    try:
        replies = [t for t in desk.texts(ALICE) if "条答复" in t]
        assert replies == [f"第一条答复\n\n{SIGNATURE}", f"第二条答复\n\n{SIGNATURE}"]
        await restarted.bot_data.desk.sender.flush(ignore_backoff=True)  # type: ignore[attr-defined]
        assert len([t for t in desk.texts(ALICE) if "条答复" in t]) == 2
    finally:
        await restarted.shutdown()
        await restarted.post_shutdown(restarted)  # type: ignore[misc]


async def test_a_user_who_blocked_the_bot_is_marked_and_the_ticket_says_so(
    desk: Desktop, fake: FakeTelegram
):
    ticket = await desk.open_ticket()
    fake.block(ALICE, notify=False)
    await desk.staff_says(ticket, "请问还需要帮助吗？")
    assert desk.outbox()[-2].status == "blocked"
    assert desk.ticket().user_blocked
    with desk.db.session() as session:
        assert session.get(ChatUser, ALICE).blocked_bot  # type: ignore[union-attr]
    assert "用户已屏蔽机器人" in desk.staff_posts(desk.ticket())[-1]["text"]


async def test_ban_and_unban(desk: Desktop, fake: FakeTelegram):
    ticket = await desk.open_ticket()
    await desk.send(ADMIN, "/ban 1001", chat_id=STAFF)
    assert "已屏蔽用户 1001" in desk.texts(STAFF)[-1]
    posts = len(desk.staff_posts(ticket))
    await desk.send(ALICE, "为什么不回复我！！")
    assert desk.texts(ALICE)[-1] == "您的消息已收到。"
    assert len(desk.staff_posts(ticket)) == posts
    await desk.send(ALICE, "/human 再问一次")
    assert desk.texts(ALICE)[-1] == "您的消息已收到。"

    # Not a user id (²  is a digit to str.isdigit, not to int; 20 digits overflow the database).
    await desk.send(ADMIN, "/ban ²", chat_id=STAFF)
    assert desk.texts(STAFF)[-1].startswith("用法")
    await desk.send(ADMIN, "/ban 99999999999999999999", chat_id=STAFF)
    assert desk.texts(STAFF)[-1].startswith("用法")

    # Unban as a reply to a message of the ticket.
    await desk.send(ADMIN, "/unban", chat_id=STAFF, thread_id=ticket.topic_id)
    assert "已解除对用户 1001 的屏蔽" in desk.texts(STAFF)[-1]
    await desk.send(ALICE, "现在可以了吗")
    assert desk.staff_posts(ticket)[-1]["text"] == "现在可以了吗"


# --- deadlines and hours --------------------------------------------------------------------------


async def test_first_response_reminders_at_n_and_2n_business_minutes(
    desk: Desktop, fake: FakeTelegram, clock: FrozenClock
):
    ticket = await desk.open_ticket()  # Monday 10:00
    clock.advance(minutes=29)
    assert await desk.desk.remind_job() == 0
    clock.advance(minutes=1)
    assert await desk.desk.remind_job() == 1
    assert "已等待 30 个工作分钟" in desk.staff_posts(desk.ticket())[-1]["text"]
    assert await desk.desk.remind_job() == 0  # at most once
    clock.advance(minutes=30)
    assert await desk.desk.remind_job() == 1
    assert "已超过 60 个工作分钟" in desk.texts(ADMIN)[-1]
    clock.advance(hours=5)
    assert await desk.desk.remind_job() == 0
    assert len(desk.texts(ADMIN)) == 1
    assert ticket.id == 1


async def test_a_staff_reply_in_time_means_no_reminder(desk: Desktop, clock: FrozenClock):
    ticket = await desk.open_ticket()
    clock.advance(minutes=10)
    await desk.staff_says(ticket, "收到，正在处理")
    clock.advance(hours=3)
    assert await desk.desk.remind_job() == 0


async def test_outside_business_hours_the_user_is_told_when_to_expect_an_answer(
    desk: Desktop, clock: FrozenClock
):
    clock.set(datetime(2026, 9, 30, 20, 0, tzinfo=SHANGHAI))  # the eve of National Day
    await desk.open_ticket()
    assert "预计在 2026-10-08 09:00 之后回复您" in desk.texts(ALICE)[-1]
    clock.advance(hours=24 * 7)  # the holiday week has no business minutes
    assert await desk.desk.remind_job() == 0


async def test_add_to_faq_hands_a_draft_to_the_staff_faq_flow(desk: Desktop, fake: FakeTelegram):
    ticket = await desk.open_ticket()
    await desk.staff_says(ticket, "请把附件压缩到10MB以内。")
    card = card_of(desk, ticket)
    assert "tk:f:1" in button_data(card)
    await desk.press(STAFF_MEMBER, card, "tk:f:1")
    draft = desk.last(STAFF)
    assert "附件一直上传失败怎么办" in draft["raw_text"]
    assert "请把附件压缩到10MB以内。" in draft["raw_text"]
    assert draft.get("message_thread_id") is None  # outside the topic: edits never reach the user


# --- end to end, polling like production ----------------------------------------------------------


async def test_a_ticket_end_to_end_with_polling(
    polling_app: Application,  # type: ignore[type-arg]
    fake: FakeTelegram,
    db: Database,
):
    fake.user_sends_text(ALICE, "/human 审核进度怎么查不到")
    await fake.wait_for(
        lambda r: r.message is not None and "工单 #1" in (r.message.get("raw_text") or ""),
        chat_id=STAFF,
    )
    with db.session() as session:
        ticket = session.get(Ticket, 1)
        assert ticket is not None and ticket.topic_id is not None
    fake.user_sends_text(
        STAFF_MEMBER, "请在“我的填报”中查看", chat_id=STAFF, thread_id=ticket.topic_id
    )
    reply = await fake.wait_for(
        lambda r: r.message is not None and SIGNATURE in (r.message.get("text") or ""),
        chat_id=ALICE,
    )
    assert reply.message is not None
    assert reply.message["text"] == f"请在“我的填报”中查看\n\n{SIGNATURE}"
