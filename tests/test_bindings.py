"""Binding people and staff uploads, end to end: the real PTB application, the fake Bot API server
over HTTP, a frozen clock; updates fed with ``process_update``, nothing sleeps."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from sqlmodel import select
from telegram import Update
from telegram.ext import Application

from bot.clock import FrozenClock
from bot.db import Database
from bot.fakeapi import FakeTelegram
from bot.settings import Settings, load_settings
from reminders import bindings
from reminders.bureaus import import_bureau_rows
from reminders.intake import REVIEW_COLUMNS, DuePolicy, import_review_rows
from reminders.models import BureauReviewer, InstitutionBinding, Invite, ReviewItem

from .conftest import BOT_USERNAME, TOKEN

STAFF = -1009876543210
STAFF_MEMBER = 501
REVIEWER = 2001
SECOND = 2002
INSTITUTION_USER = 3001
OUTSIDER = 3003
CODE_A = "91330106MA2CDE1234"
PHONE = "13800138000"
JSON = dict[str, Any]


@pytest.fixture
def settings(fake: FakeTelegram, database_url: str) -> Settings:
    fake.add_user(STAFF_MEMBER, "王科员")
    fake.add_user(REVIEWER, "李审核")
    fake.add_user(SECOND, "赵审核")
    fake.add_user(INSTITUTION_USER, "机构经办人")
    fake.add_user(OUTSIDER, "Mallory", language_code="en")
    fake.add_group(STAFF, "信用平台客服组", is_forum=True, members={STAFF_MEMBER: "member"})
    return load_settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_url=fake.api_url,
        database_url=database_url,
        staff_chat_id=STAFF,
    )


@pytest.fixture
def seeded(db: Database, clock: FrozenClock) -> Database:
    bureaus = [
        {"code": "330100", "name": "杭州市财政局", "level": "city", "parent_code": ""},
        {"code": "330106", "name": "西湖区财政局", "level": "county", "parent_code": "330100"},
    ]
    db.call(import_bureau_rows, bureaus, now=clock.now())
    item = {
        "ref": "R-001",
        "institution": "杭州某会计师事务所",
        "credit_code": CODE_A,
        "contact_phone": "138-0013-8000",
        "bureau_code": "330106",
        "submitted_at": "2026-11-23 10:00",
    }
    db.call(import_review_rows, [item], now=clock.now(), policy=DuePolicy())
    return db


class Chat:
    def __init__(self, app: Application, fake: FakeTelegram) -> None:  # type: ignore[type-arg]
        self.app, self.fake = app, fake
        self._ids = itertools.count(1)

    async def deliver(self, **payload: JSON) -> None:
        update = Update.de_json({"update_id": next(self._ids), **payload}, self.app.bot)
        await self.app.process_update(update)
        await self.app.bot_data.desk.sender.idle()  # type: ignore[attr-defined]

    async def send(self, user_id: int, text: str, **kwargs: Any) -> None:
        message = self.fake.user_sends_text(user_id, text, **kwargs)
        self.not_staff()
        await self.deliver(message=message)

    def not_staff(self) -> None:
        """The fake makes whoever posts in a group a member; the outsider is not (a member who
        was removed, or a forged update), as the staff check will find."""
        self.fake.set_member(STAFF, OUTSIDER, "left")

    def last(self, chat_id: int) -> str:
        message = self.fake.messages(chat_id)[-1]
        return message.get("text") or ""

    async def invite_link(self, bureau: str = "330106") -> str:
        await self.send(STAFF_MEMBER, f"/invite {bureau}", chat_id=STAFF)
        found = re.search(rf"https://t\.me/{BOT_USERNAME}\?start=(\S+)", self.last(STAFF))
        assert found, self.last(STAFF)
        return found.group(1)


@pytest.fixture
def chat(app: Application, fake: FakeTelegram, seeded: Database) -> Chat:  # type: ignore[type-arg]
    return Chat(app, fake)


def reviewers(db: Database) -> list[tuple[int, str, bool]]:
    with db.session() as session:
        rows = session.exec(select(BureauReviewer).order_by(BureauReviewer.id)).all()
        return [(r.user_id, r.bureau_code, r.active) for r in rows]


# --- invites ------------------------------------------------------------------------------------


async def test_an_invite_binds_the_reviewer_who_opens_it_and_only_once(
    chat: Chat, db: Database, clock: FrozenClock
):
    code = await chat.invite_link()
    assert "西湖区财政局" in chat.last(STAFF) and "2026-11-30 10:00" in chat.last(STAFF)

    await chat.send(REVIEWER, f"/start {code}")
    assert chat.last(REVIEWER).startswith("绑定成功！您已作为 西湖区财政局（330106）")
    assert reviewers(db) == [(REVIEWER, "330106", True)]

    await chat.send(SECOND, f"/start {code}")  # the same link, someone else
    assert chat.last(SECOND).startswith("这个邀请链接已经使用过了")
    await chat.send(REVIEWER, f"/start {code}")  # the same link, the same person
    assert chat.last(REVIEWER).startswith("这个邀请链接已经使用过了")
    assert reviewers(db) == [(REVIEWER, "330106", True)]
    with db.session() as session:
        invite = session.get(Invite, code)
        assert invite is not None and invite.used_by == REVIEWER


async def test_an_expired_or_unknown_invite_is_refused(
    chat: Chat, db: Database, clock: FrozenClock
):
    code = await chat.invite_link()
    clock.advance(days=7)
    await chat.send(REVIEWER, f"/start {code}")
    assert chat.last(REVIEWER).startswith("这个邀请链接已过期")
    await chat.send(REVIEWER, "/start inv_forged")
    assert chat.last(REVIEWER).startswith("这个邀请链接无效")
    assert reviewers(db) == []

    await chat.send(REVIEWER, "/start")  # no payload: the usual welcome
    assert chat.last(REVIEWER).startswith("您好，李审核！")


async def test_invite_is_for_staff_in_the_staff_group_and_known_bureaus(chat: Chat, db: Database):
    await chat.send(OUTSIDER, "/invite 330106", chat_id=STAFF)
    assert chat.last(STAFF) == "抱歉，只有工作人员可以使用这个功能。"
    await chat.send(STAFF_MEMBER, "/invite 330106")  # in private
    assert chat.last(STAFF_MEMBER) == "请在工作人员群中使用这个命令。"
    await chat.send(STAFF_MEMBER, "/invite 999999", chat_id=STAFF)
    assert "没有代码为 999999 的财政局" in chat.last(STAFF)
    await chat.send(STAFF_MEMBER, "/invite", chat_id=STAFF)
    assert chat.last(STAFF).startswith("用法：/invite")
    with db.session() as session:
        assert session.exec(select(Invite)).all() == []


async def test_whoami_and_unbind(chat: Chat, db: Database):
    await chat.send(REVIEWER, "/whoami")
    assert "尚未绑定" in chat.last(REVIEWER)
    code = await chat.invite_link()
    await chat.send(REVIEWER, f"/start {code}")
    await chat.send(REVIEWER, "/whoami")
    assert "财政局初审人员：西湖区财政局（330106）" in chat.last(REVIEWER)

    await chat.send(OUTSIDER, f"/unbind {REVIEWER}", chat_id=STAFF)
    assert chat.last(STAFF) == "抱歉，只有工作人员可以使用这个功能。"
    await chat.send(OUTSIDER, f"/whoami {REVIEWER}")  # someone else's bindings: staff only
    assert chat.last(OUTSIDER) == "Sorry, only staff can do that."
    await chat.send(STAFF_MEMBER, f"/whoami {REVIEWER}", chat_id=STAFF)
    assert "西湖区财政局" in chat.last(STAFF)

    await chat.send(STAFF_MEMBER, f"/unbind {REVIEWER} 330106", chat_id=STAFF)
    assert chat.last(STAFF) == f"已解除用户 {REVIEWER} 的绑定：330106"
    assert reviewers(db) == [(REVIEWER, "330106", False)]
    await chat.send(STAFF_MEMBER, f"/unbind {REVIEWER}", chat_id=STAFF)
    assert chat.last(STAFF) == f"用户 {REVIEWER} 没有可解除的绑定。"

    # Not a user id: the usage, not a crash (a 20-digit number overflows the database's integers).
    for args in ("99999999999999999999", "²", "-5", "abc"):
        await chat.send(STAFF_MEMBER, f"/unbind {args}", chat_id=STAFF)
        assert chat.last(STAFF).startswith("用法：/unbind"), args
        await chat.send(STAFF_MEMBER, f"/whoami {args}", chat_id=STAFF)
        assert chat.last(STAFF).startswith("用法：/whoami"), args

    # A new invite reactivates the same binding row.
    code = await chat.invite_link()
    await chat.send(REVIEWER, f"/start {code}")
    assert reviewers(db) == [(REVIEWER, "330106", True)]


# --- institutions -------------------------------------------------------------------------------


def institution_bindings(db: Database) -> list[tuple[int, str, str]]:
    with db.session() as session:
        rows = session.exec(select(InstitutionBinding)).all()
        return [(r.user_id, r.credit_code, r.phone) for r in rows]


async def test_bind_by_sharing_ones_own_matching_phone(
    chat: Chat, db: Database, fake: FakeTelegram
):
    await chat.send(INSTITUTION_USER, "/bind")
    offer = fake.messages(INSTITUTION_USER)[-1]
    button = offer["reply_markup"]["keyboard"][0][0]
    assert button["request_contact"] is True

    await chat.deliver(message=fake.user_sends_contact(INSTITUTION_USER, "+86 138 0013 8000"))
    assert chat.last(INSTITUTION_USER) == (
        f"绑定成功！您已绑定机构：杭州某会计师事务所（{CODE_A}）"
    )
    assert institution_bindings(db) == [(INSTITUTION_USER, CODE_A, PHONE)]
    await chat.send(INSTITUTION_USER, "/whoami")
    assert f"机构：杭州某会计师事务所（统一社会信用代码 {CODE_A}）" in chat.last(INSTITUTION_USER)


async def test_someone_elses_contact_or_an_unknown_phone_binds_nothing(
    chat: Chat, db: Database, fake: FakeTelegram
):
    await chat.send(INSTITUTION_USER, "/bind")
    forwarded = fake.user_sends_contact(INSTITUTION_USER, PHONE)
    forwarded["contact"]["user_id"] = OUTSIDER  # a contact card of another person
    await chat.deliver(message=forwarded)
    assert chat.last(INSTITUTION_USER).startswith("请点击“分享我的手机号”按钮分享您本人的号码")

    await chat.send(INSTITUTION_USER, "/bind")
    await chat.deliver(message=fake.user_sends_contact(INSTITUTION_USER, "+8613999999999"))
    assert chat.last(INSTITUTION_USER).startswith("没有找到以这个手机号登记为联系电话的提交材料")

    # Typing the credit code is just a question for the FAQ: it grants nothing.
    await chat.send(INSTITUTION_USER, CODE_A)
    assert institution_bindings(db) == []


def test_bind_institution_domain_rules(seeded: Database, clock: FrozenClock):
    with pytest.raises(bindings.NotOwnContact):
        seeded.call(
            bindings.bind_institution,
            user_id=1,
            contact_user_id=None,
            phone_number=PHONE,
            now=clock.now(),
        )
    found = seeded.call(
        bindings.bind_institution,
        user_id=1,
        contact_user_id=1,
        phone_number="8613800138000",
        now=clock.now(),
    )
    assert [i.credit_code for i in found] == [CODE_A]


# --- staff uploads ------------------------------------------------------------------------------


REVIEW_HEADER = ",".join(REVIEW_COLUMNS)


async def test_staff_upload_imports_review_items_and_reports_problems(
    chat: Chat, db: Database, fake: FakeTelegram
):
    good = (
        f"{REVIEW_HEADER}\n"
        f"R-002,某咨询公司,{CODE_A},13900000000,330106,preliminary,2026-11-23 11:00,pending,,\n"
        f"R-001,杭州某会计师事务所,{CODE_A},13800138000,330106,preliminary,2026-11-23 10:00,"
        "returned,附件与填报内容不匹配,2026-11-23 12:00\n"
    ).encode("gb18030")
    upload = fake.user_sends_document(STAFF_MEMBER, "导出.csv", good, "text/csv", chat_id=STAFF)
    await chat.deliver(message=upload)
    assert chat.last(STAFF) == ("✅ 已导入初审材料 导出.csv：新增 1，更新 1，未变 0，其中新退回 1")
    with db.session() as session:
        item = session.get(ReviewItem, "R-001")
        assert item is not None and item.status == "returned"

    bad = f"{REVIEW_HEADER}\nR-003,某公司,BAD,,330106,,2026-11-23 10:00,,,\n".encode()
    upload = fake.user_sends_document(STAFF_MEMBER, "bad.csv", bad, "text/csv", chat_id=STAFF)
    await chat.deliver(message=upload)
    reply = chat.last(STAFF)
    assert reply.startswith("❌ bad.csv 未导入：发现 1 个问题")
    assert "row 2: credit_code 'BAD' is not an 18-character" in reply
    with db.session() as session:
        assert session.get(ReviewItem, "R-003") is None


async def test_staff_upload_of_bureaus_is_told_apart_by_its_header(chat: Chat, db: Database, fake):
    data = "code,name,level,parent_code\n330108,滨江区财政局,county,330100\n".encode()
    upload = fake.user_sends_document(STAFF_MEMBER, "局.csv", data, "text/csv", chat_id=STAFF)
    await chat.deliver(message=upload)
    assert chat.last(STAFF) == "✅ 已导入财政局名单 局.csv：新增 1，更新 0，未变 0"

    other = b"a,b\n1,2\n"
    upload = fake.user_sends_document(STAFF_MEMBER, "x.csv", other, "text/csv", chat_id=STAFF)
    await chat.deliver(message=upload)
    assert "row 1: the header is neither the review-item header" in chat.last(STAFF)


async def test_a_non_staff_upload_is_refused(chat: Chat, db: Database, fake: FakeTelegram):
    data = f"{REVIEW_HEADER}\nR-9,某公司,{CODE_A},,330106,,2026-11-23 10:00,,,\n".encode()
    upload = fake.user_sends_document(OUTSIDER, "r.csv", data, "text/csv", chat_id=STAFF)
    chat.not_staff()
    await chat.deliver(message=upload)
    assert chat.last(STAFF) == "抱歉，只有工作人员可以使用这个功能。"
    with db.session() as session:
        assert session.get(ReviewItem, "R-9") is None
