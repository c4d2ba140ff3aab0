"""Staff improving the FAQ through the bot (bot/staff_faq.py, bot/reports.py), end to end: the
real PTB application, real HTTP to the fake Bot API server, a real SQLite database."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import select
from telegram.ext import Application

from bot.app import register_commands
from bot.clock import FrozenClock
from bot.db import Database
from bot.fakeapi import FakeTelegram
from bot.reports import JOB_NAME
from bot.settings import Settings, load_settings
from bot.tickets import Ticket
from faq.drafts import FaqDraft
from faq.models import FaqEntry, Phrasing

from .conftest import NOW, SHANGHAI, TOKEN
from .test_bot_private_chat import Driver, button_data, faq_entry, questions
from .test_common import log

STAFF_CHAT = -1009876543210
ADMIN = 3001  # in HELPDESK_ADMIN_IDS, not in the group
CLERK = 3002  # a member of the staff group
ALICE = 1001  # an institution user
MALLORY = 1666  # an institution user trying staff things

JSON = dict[str, Any]


@pytest.fixture
def settings(fake: FakeTelegram, database_url: str) -> Settings:
    return load_settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_url=fake.api_url,
        database_url=database_url,
        staff_chat_id=STAFF_CHAT,
        admin_ids=str(ADMIN),
    )


@pytest.fixture
def bot(app: Application, fake: FakeTelegram) -> Driver:  # type: ignore[type-arg]
    fake.add_user(ALICE, "Alice", language_code="zh-hans")
    fake.add_user(MALLORY, "Mallory", language_code="zh-hans")
    fake.add_user(CLERK, "王科员", language_code="zh-hans")
    fake.add_user(ADMIN, "Admin", language_code="en")
    fake.add_group(STAFF_CHAT, "信用平台工作组", members={CLERK: "member"})
    return Driver(app, fake)


async def staff_says(bot: Driver, text: str, **kwargs: Any) -> JSON:
    """The clerk writes in the staff group; returns the bot's next message there."""
    return await bot.ask(CLERK, text, chat_id=STAFF_CHAT, **kwargs)


async def next_sent(bot: Driver) -> JSON:
    """The bot's next new message in the staff group (edits of older ones skipped)."""
    record = await bot.fake.wait_for(method="sendMessage", chat_id=STAFF_CHAT, timeout=2)
    assert record.message is not None
    return record.message


async def press(bot: Driver, user_id: int, message: JSON, data: str) -> JSON:
    """Press and return what the callback query was answered with."""
    await bot.press(user_id, message, data)
    return bot.fake.callback_answers[-1]


def add_phrasing(db: Database, clock: FrozenClock, entry_id: str, text: str) -> int:
    with db.session() as session:
        row = Phrasing(entry_id=entry_id, text=text, created_at=clock.now())
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def phrasing_status(db: Database, phrasing_id: int) -> str:
    with db.session() as session:
        row = session.get(Phrasing, phrasing_id)
        assert row is not None
        return row.status


def drafts(db: Database) -> list[FaqDraft]:
    with db.session() as session:
        return list(session.exec(select(FaqDraft).order_by(FaqDraft.id)).all())


def entries(db: Database) -> list[tuple[str, str, str]]:
    with db.session() as session:
        rows = session.exec(select(FaqEntry).order_by(FaqEntry.id)).all()
        return [(e.id, e.question, e.alternatives) for e in rows]


# A wording nothing in the bundled FAQ resembles: not answered until staff teach it.
ODD_WORDING = "蓝色小猫登记入口"


# --- /phrasings -----------------------------------------------------------------------------------


async def test_confirming_a_phrasing_makes_the_bot_answer_it_at_once(
    bot: Driver, db: Database, clock: FrozenClock
):
    await bot.ask(ALICE, ODD_WORDING)
    assert questions(db)[-1].decision != "answer"
    phrasing_id = add_phrasing(db, clock, "reg-001", ODD_WORDING)
    question = faq_entry(db, "reg-001").question

    listing = await staff_says(bot, "/phrasings")

    assert listing["raw_text"].startswith("<b>待确认的问法</b>（共 1 条）")
    assert f"1. “{ODD_WORDING}”\n→ {question}（reg-001）" in listing["raw_text"]
    assert button_data(listing) == [f"ph:{phrasing_id}:y", f"ph:{phrasing_id}:n"]

    answer = await press(bot, CLERK, listing, f"ph:{phrasing_id}:y")
    assert answer["text"] == "已确认，已加入该条目的问法。"
    assert (await bot.reply(STAFF_CHAT))["raw_text"] == "目前没有待确认的问法。"
    assert faq_entry(db, "reg-001").alternative_list[-1] == ODD_WORDING
    assert phrasing_status(db, phrasing_id) == "confirmed"

    reply = await bot.ask(ALICE, ODD_WORDING)
    assert reply["raw_text"].startswith(f"<b>{question}</b>")
    assert questions(db)[-1].decision == "answer"


async def test_rejecting_a_phrasing_changes_no_entry(bot: Driver, db: Database, clock):
    phrasing_id = add_phrasing(db, clock, "reg-001", ODD_WORDING)
    before = entries(db)
    listing = await staff_says(bot, "/phrasings")

    answer = await press(bot, CLERK, listing, f"ph:{phrasing_id}:n")

    assert answer["text"] == "已不采纳。"
    assert phrasing_status(db, phrasing_id) == "rejected"
    assert entries(db) == before
    again = await press(bot, CLERK, listing, f"ph:{phrasing_id}:y")  # an old list, pressed again
    assert again["text"] == "这个按钮已失效，请重新发送您的问题。"
    assert entries(db) == before


async def test_an_admin_works_from_a_private_chat_in_english(bot: Driver, db: Database, clock):
    add_phrasing(db, clock, "reg-001", ODD_WORDING)
    listing = await bot.ask(ADMIN, "/phrasings")
    assert listing["raw_text"].startswith("<b>Phrasings to confirm</b> (1)")


# --- drafts ---------------------------------------------------------------------------------------


async def test_a_draft_is_written_edited_and_saved_as_a_new_entry_answerable_at_once(
    bot: Driver, db: Database
):
    card = await staff_says(bot, f"/faqdraft {ODD_WORDING}？")
    [draft] = drafts(db)
    assert card["raw_text"].startswith(f"📝 <b>常见问题草稿 #{draft.id}</b>（手动新建）")
    assert "<b>答案</b>\n（尚未填写）" in card["raw_text"]
    data = button_data(card)
    assert data[0] == f"fd:{draft.id}:n"
    assert data[-4:] == [f"fd:{draft.id}:{a}" for a in ("q", "a", "c", "x")]

    refused = await press(bot, CLERK, card, f"fd:{draft.id}:n")
    assert refused["text"] == "请先点“改答案”填写答案，再保存。"

    await press(bot, CLERK, card, f"fd:{draft.id}:a")
    prompt = await bot.reply(STAFF_CHAT)
    assert prompt["raw_text"].startswith(f"请发送草稿 #{draft.id} 的新答案")
    mark = bot.mark()
    await bot.send(CLERK, "在平台“机构信息—小猫登记”中填写并提交即可。", chat_id=STAFF_CHAT)
    fresh = await next_sent(bot)
    assert "<b>答案</b>\n在平台“机构信息—小猫登记”中填写并提交即可。" in fresh["raw_text"]
    # The old card lost its buttons; the new text was not taken for a question.
    assert bot.calls_since(mark)[:2] == ["editMessageReplyMarkup", "sendMessage"]
    assert questions(db) == []
    await bot.fake.wait_for(method="editMessageReplyMarkup", chat_id=STAFF_CHAT)

    await press(bot, CLERK, fresh, f"fd:{draft.id}:n")
    saved = await bot.reply(STAFF_CHAT)
    [draft] = drafts(db)
    new_id = draft.saved_entry_id
    assert draft.status == "saved"
    assert faq_entry(db, new_id).category == draft.category  # type: ignore[arg-type]
    assert saved["raw_text"].startswith(f"✅ 已保存为新条目 {new_id}")
    assert button_data(saved) == []

    reply = await bot.ask(ALICE, ODD_WORDING)
    assert reply["raw_text"].startswith(f"<b>{ODD_WORDING}？</b>\n\n在平台")


async def test_a_draft_saved_as_a_phrasing_of_the_closest_entry(bot: Driver, db: Database):
    card = await staff_says(bot, "/faqdraft 附件老是传不上去咋整")
    [draft] = drafts(db)
    phrasing_buttons = [d for d in button_data(card) if d.startswith(f"fd:{draft.id}:p:")]
    assert 1 <= len(phrasing_buttons) <= 3
    entry_id = phrasing_buttons[0].rsplit(":", 1)[1]

    await press(bot, CLERK, card, phrasing_buttons[0])

    saved = await bot.reply(STAFF_CHAT)
    assert saved["raw_text"].startswith(f"✅ 已作为条目 {entry_id}")
    assert faq_entry(db, entry_id).alternative_list[-1] == "附件老是传不上去咋整"
    assert drafts(db)[0].target_entry_id == entry_id
    reply = await bot.ask(ALICE, "附件老是传不上去咋整")
    assert questions(db)[-1].entry_id == entry_id, reply["raw_text"]


async def test_editing_the_question_by_replying_to_the_prompt(bot: Driver, db: Database):
    card = await staff_says(bot, "/faqdraft 旧的问题")
    [draft] = drafts(db)
    await press(bot, CLERK, card, f"fd:{draft.id}:q")
    prompt = await bot.reply(STAFF_CHAT)

    await bot.send(
        CLERK, "How do I register a new branch?", chat_id=STAFF_CHAT, reply_to=prompt["message_id"]
    )
    fresh = await next_sent(bot)

    [draft] = drafts(db)
    assert (draft.question, draft.lang) == ("How do I register a new branch?", "en")
    assert "语言：en" in fresh["raw_text"]
    # /cancel ends an edit without touching the draft.
    await press(bot, CLERK, fresh, f"fd:{draft.id}:c")
    assert (await next_sent(bot))["raw_text"].startswith(f"请发送草稿 #{draft.id} 的分类")
    await bot.send(CLERK, "/cancel", chat_id=STAFF_CHAT)
    assert (await next_sent(bot))["raw_text"] == "已取消修改。"
    assert drafts(db)[0].category == draft.category


async def test_discard_and_a_second_press(bot: Driver, db: Database):
    card = await staff_says(bot, "/faqdraft 不要了的问题")
    [draft] = drafts(db)
    await press(bot, CLERK, card, f"fd:{draft.id}:x")
    assert (await bot.reply(STAFF_CHAT))["raw_text"] == f"🗑 草稿 #{draft.id} 已放弃。"
    late = await press(bot, CLERK, card, f"fd:{draft.id}:n")
    assert late["text"] == "这份草稿已经保存或放弃了。"
    assert drafts(db)[0].status == "discarded"


# --- /common ------------------------------------------------------------------------------------


async def test_common_groups_similar_unanswered_questions_and_starts_a_draft(
    bot: Driver, db: Database
):
    for text in ("发票抬头写错了能改吗", "发票抬头填错了怎么修改", "发漂抬头错了咋改"):
        log(db, text)
    log(db, "专家库怎么申请入库")
    log(db, "专家入库申请流程", decision="suggest")  # suggestions nobody tapped
    log(db, "去年的老问题", at=NOW - timedelta(days=10))

    listing = await staff_says(bot, "/common")

    text = listing["raw_text"]
    assert text.startswith("<b>本周常见未解决问题</b>（11-23 起")
    assert (
        "1. <b>发票抬头写错了能改吗</b> — 3 次\n类似问法：发票抬头填错了怎么修改；发漂抬头错了咋改"
        in text
    )
    assert "2. <b>专家库怎么申请入库</b> — 2 次" in text
    assert "去年" not in text
    first = button_data(listing)[0]
    assert first == "cm:1"

    await press(bot, CLERK, listing, first)

    card = await bot.reply(STAFF_CHAT)
    [draft] = drafts(db)
    assert (draft.source, draft.question) == ("common", "发票抬头写错了能改吗")
    assert "（来自常见未解决问题）" in card["raw_text"]


# --- /stats -------------------------------------------------------------------------------------


async def test_stats_this_week_against_last_week(bot: Driver, db: Database):
    log(db, "附件格式", decision="answer", entry_id="att-001", feedback="up")
    log(db, "不知道", decision="none")
    log(db, "上周的", decision="answer", entry_id="att-001", at=NOW - timedelta(days=7))

    reply = await staff_says(bot, "/stats")

    text = reply["raw_text"]
    assert text.startswith("<b>咨询统计</b>（本周 11-23 起 / 上周 11-16 起）")
    assert "提问数：2 / 1" in text
    assert "常见问题解答率：50% / 100%" in text
    assert "👍 / 👎：1 / 0（上周 0 / 0）" in text
    assert "新建工单：0 / 0" in text
    assert "平均评分：— / —" in text
    assert "1. 附件支持哪些格式？ — 1 次" in text


# --- /report and the Monday job -----------------------------------------------------------------


def add_ticket(db: Database, question: str, *, reported: bool) -> None:
    with db.session() as session:
        session.add(
            Ticket(
                user_id=ALICE,
                chat_id=ALICE,
                lang="zh",
                question=question,
                created_at=NOW - timedelta(hours=2),
                updated_at=NOW - timedelta(hours=2),
                reported_at=NOW - timedelta(hours=1) if reported else None,
                reported_by=CLERK if reported else None,
            )
        )


async def download_workbook(app: Application, message: JSON):  # type: ignore[type-arg]
    document = message["document"]
    assert document["file_name"].endswith(".xlsx")
    file = await app.bot.get_file(document["file_id"])
    return load_workbook(io.BytesIO(await file.download_as_bytearray()))


async def test_report_sends_a_workbook_with_formulas_neutralised(
    bot: Driver,
    db: Database,
    app: Application,  # type: ignore[type-arg]
):
    add_ticket(db, '=HYPERLINK("http://evil","点我")', reported=False)
    add_ticket(db, "上报的问题", reported=True)
    log(db, "=1+1 发票抬头写错了")
    log(db, "@SUM(A1) 发票抬头写错了")

    message = await staff_says(bot, "/report")

    assert message["caption"] == "📊 咨询情况报表（2026-11-23 至 2026-11-23）"
    workbook = await download_workbook(app, message)
    assert workbook.sheetnames == ["未解决工单", "已上报工单", "常见未解决问题", "统计"]
    unresolved = workbook["未解决工单"]
    assert unresolved.freeze_panes == "A2"
    assert unresolved["A1"].value == "工单号" and unresolved["A1"].font.bold
    assert unresolved["F2"].value == '\'=HYPERLINK("http://evil","点我")'
    assert unresolved["F2"].data_type == "s"
    assert unresolved["G2"].value == datetime(2026, 11, 23, 8, 0)  # Shanghai wall-clock time
    assert workbook["已上报工单"]["C2"].value == "上报的问题"
    common = workbook["常见未解决问题"]
    assert common["B2"].value == 2
    assert {common["C2"].value, common["D2"].value} == {
        "'=1+1 发票抬头写错了",
        "'@SUM(A1) 发票抬头写错了",
    }
    figures = workbook["统计"]
    assert [figures["A2"].value, figures["B2"].value, figures["C2"].value] == ["提问数", 2, 0]
    every_text = [
        cell.value
        for sheet in workbook.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if isinstance(cell.value, str)
    ]
    assert not [text for text in every_text if text[0] in "=+-@"]


async def test_report_drops_control_characters_a_workbook_cannot_hold(
    bot: Driver,
    db: Database,
    app: Application,  # type: ignore[type-arg]
):
    # openpyxl refuses them (IllegalCharacterError): one such question used to break /report.
    add_ticket(db, "\x1b=1+1 附件\x07传不上去", reported=False)
    log(db, "发票\x07抬头写错了")

    message = await staff_says(bot, "/report")

    workbook = await download_workbook(app, message)
    assert workbook["未解决工单"]["F2"].value == "'=1+1 附件传不上去"  # and still neutralised
    assert workbook["常见未解决问题"]["C2"].value == "发票抬头写错了"


async def test_the_weekly_report_runs_monday_0900_shanghai_with_last_week(
    bot: Driver,
    db: Database,
    app: Application,
    clock: FrozenClock,  # type: ignore[type-arg]
):
    [job] = app.job_queue.get_jobs_by_name(JOB_NAME)  # type: ignore[union-attr]
    await app.job_queue.start()  # type: ignore[union-attr]
    try:
        next_t = job.next_t.astimezone(SHANGHAI)
        assert (next_t.weekday(), next_t.hour, next_t.minute) == (0, 9, 0)  # Monday 09:00
        assert timedelta(0) < next_t - datetime.now(SHANGHAI) <= timedelta(days=7)
    finally:
        await app.job_queue.stop()  # type: ignore[union-attr]

    log(db, "上周没答上的问题", at=NOW + timedelta(days=3))
    clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI))
    await job.run(app)  # what the scheduler does at that instant

    message = await bot.reply(STAFF_CHAT)
    assert message["caption"] == "📊 上周咨询情况周报（2026-11-23 至 2026-11-29）"
    workbook = await download_workbook(app, message)
    assert workbook["常见未解决问题"]["C2"].value == "上周没答上的问题"


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", ["/phrasings", "/common", "/stats", "/report", "/faqdraft 问题"]
)
async def test_a_non_staff_user_is_refused_every_staff_command(bot: Driver, db: Database, command):
    reply = await bot.ask(MALLORY, command)
    assert reply["raw_text"] == "抱歉，只有工作人员可以使用这个功能。"
    assert drafts(db) == []
    assert bot.fake.calls[-1][0] == "sendMessage"  # no document, nothing else


async def test_staff_commands_in_another_group_get_no_reply(bot: Driver):
    other_group = -1001111111111
    bot.fake.add_group(other_group, "某机构群", members={CLERK: "member"})
    await bot.send(CLERK, "/stats", chat_id=other_group)
    assert bot.fake.messages(other_group) == []


async def test_a_non_staff_user_pressing_staff_buttons_changes_nothing(
    bot: Driver, db: Database, clock: FrozenClock
):
    phrasing_id = add_phrasing(db, clock, "reg-001", ODD_WORDING)
    card = await staff_says(bot, "/faqdraft 某个问题")
    [draft] = drafts(db)
    before = entries(db)
    # Mallory's own private chat holds a message of the bot to press on.
    own = await bot.ask(MALLORY, "/help")
    for data in (f"ph:{phrasing_id}:y", f"fd:{draft.id}:n", f"fd:{draft.id}:a", "cm:1"):
        answer = await press(bot, MALLORY, own, data)
        assert answer["text"] == "抱歉，只有工作人员可以使用这个功能。", data
    # And pressing the card in the staff group (a forwarded or shared view of it) too.
    answer = await press(bot, MALLORY, card, f"fd:{draft.id}:x")
    assert answer["show_alert"] is True

    assert phrasing_status(db, phrasing_id) == "pending"
    assert [d.status for d in drafts(db)] == ["open"]
    assert entries(db) == before
    # No edit conversation started for Mallory: her next message is an ordinary question.
    await bot.ask(MALLORY, "附件大小有什么限制")
    assert questions(db)[-1].text == "附件大小有什么限制"


@pytest.mark.parametrize(
    "data",
    [
        "fd:999:n",
        "fd:999:q",
        "ph:999:y",
        "cm:999",
        "fd:1:p:no-such-entry",
        "fd:x:n",
        "ph:1:maybe",
        "cm:9999999999999999999",  # beyond the database's 64-bit integers
    ],
)
async def test_a_forged_staff_button_is_refused(bot: Driver, db: Database, data):
    card = await staff_says(bot, "/faqdraft 某个问题")
    before = entries(db)
    answer = await press(bot, CLERK, card, data)
    assert answer["text"] == "这个按钮已失效，请重新发送您的问题。"
    assert answer["show_alert"] is True
    assert entries(db) == before
    assert [d.status for d in drafts(db)] == ["open"]


async def test_staff_commands_are_in_the_menu_of_the_staff_group_only(bot: Driver):
    await register_commands(bot.app)  # again: the fixture adds the staff group after start-up
    staff_scope = json.dumps({"chat_id": STAFF_CHAT, "type": "chat"}, sort_keys=True)
    keys = {scope for scope, _lang in bot.fake.commands}
    assert staff_scope in keys
    zh = [c["command"] for c in bot.fake.commands[(staff_scope, "zh")]]
    assert zh == ["common", "stats", "report", "phrasings", "faqdraft", "bureaus", "invite"]
    default = [c["command"] for c in bot.fake.commands[('{"type": "default"}', "zh")]]
    assert "report" not in default
