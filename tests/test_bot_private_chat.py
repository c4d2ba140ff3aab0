"""The bot in a private chat (and staying quiet in groups), against the fake Bot API server.

Two kinds of tests, both with the real PTB application and real HTTP:

* fast handler tests build real ``telegram.Update`` objects from what the fake says the user sent
  and feed them to ``Application.process_update``; when it returns, every reply has reached the
  fake, so "no reply" is simply "no new call";
* end-to-end tests let the application long-poll the fake like in production.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import select
from telegram import Update
from telegram.error import BadRequest
from telegram.ext import Application

from bot import chat_users
from bot.app import build_application, report_error
from bot.chat_users import Talking, who_is_talking
from bot.clock import FrozenClock
from bot.context import HelpdeskContext
from bot.db import Database
from bot.fakeapi import FakeTelegram
from bot.models import ChatUser
from bot.settings import Settings
from bot.tickets import Ticket
from faq.models import FaqEntry, Phrasing, QuestionLog
from faq.service import FaqIndex
from reminders.engine import ReturnPrompt

from .conftest import BOT_USERNAME, add_entry

ALICE = 1001  # Telegram in Chinese
BOB = 1002  # Telegram in English
GROUP = -1001234567890
STAFF = -1009876543210

JSON = dict[str, Any]


class Driver:
    """Plays the user's side for the fast tests: the fake builds what Telegram would deliver,
    ``process_update`` runs the real handlers on it."""

    def __init__(self, app: Application, fake: FakeTelegram) -> None:  # type: ignore[type-arg]
        self.app = app
        self.fake = fake
        self._update_ids = itertools.count(1)

    async def deliver(self, **payload: JSON) -> None:
        update = Update.de_json({"update_id": next(self._update_ids), **payload}, self.app.bot)
        await self.app.process_update(update)

    async def send(self, user_id: int, text: str, **kwargs: Any) -> JSON:
        message = self.fake.user_sends_text(user_id, text, **kwargs)
        await self.deliver(message=message)
        return message

    async def press(self, user_id: int, message: JSON, data: str) -> JSON:
        query = self.fake.user_presses(user_id, message, data)
        await self.deliver(callback_query=query)
        return query

    async def reply(self, chat_id: int) -> JSON:
        return await self.fake.next_reply(chat_id, timeout=2)

    async def ask(self, user_id: int, text: str, **kwargs: Any) -> JSON:
        await self.send(user_id, text, **kwargs)
        return await self.reply(kwargs.get("chat_id") or user_id)

    def mark(self) -> int:
        return len(self.fake.calls)

    def calls_since(self, mark: int) -> list[str]:
        return [method for method, _ in self.fake.calls[mark:]]


def buttons(message: JSON) -> list[list[tuple[str, str]]]:
    keyboard = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [[(b["text"], b["callback_data"]) for b in row] for row in keyboard]


def button_data(message: JSON) -> list[str]:
    return [data for row in buttons(message) for _, data in row]


def questions(db: Database) -> list[QuestionLog]:
    with db.session() as session:
        return list(session.exec(select(QuestionLog).order_by(QuestionLog.id)).all())


def faq_entry(db: Database, entry_id: str) -> FaqEntry:
    with db.session() as session:
        found = session.get(FaqEntry, entry_id)
        assert found is not None
        return found


def chat_user(db: Database, user_id: int) -> ChatUser:
    with db.session() as session:
        found = session.get(ChatUser, user_id)
        assert found is not None
        return found


@pytest.fixture
def users(fake: FakeTelegram) -> None:
    fake.add_user(ALICE, "Alice", language_code="zh-hans", username="alice")
    fake.add_user(BOB, "Bob", language_code="en")
    fake.add_group(GROUP, "第三方机构交流群")


@pytest.fixture
def bot(app: Application, fake: FakeTelegram, users: None) -> Driver:  # type: ignore[type-arg]
    return Driver(app, fake)


async def rebuild_index(app: Application) -> None:  # type: ignore[type-arg]
    services = app.bot_data.services
    await services.db.run(services.faq.rebuild)


# --- start-up ------------------------------------------------------------------------------------


async def test_post_init_loads_the_bundled_faq_and_registers_the_menu_in_both_languages(
    app: Application,  # type: ignore[type-arg]
    fake: FakeTelegram,
    db: Database,
):
    assert faq_entry(db, "account-001").question == "忘记登录密码了怎么办？"
    assert app.bot_data.services.faq.entry("account-001") is not None

    default_scope = '{"type": "default"}'
    zh = fake.commands[(default_scope, "zh")]
    en = fake.commands[(default_scope, "en")]
    assert fake.commands[(default_scope, "")] == en
    names = ["start", "help", "human", "mytickets", "bind", "whoami", "lang"]
    assert [c["command"] for c in zh] == [c["command"] for c in en] == names
    assert zh[1]["description"] == "使用说明"
    assert en[1]["description"] == "How to use this bot"


async def test_a_second_start_does_not_reload_the_faq(
    app: Application,  # type: ignore[type-arg]
    db: Database,
):
    with db.session() as session:
        session.get(FaqEntry, "account-001").question = "改过的问题"  # type: ignore[union-attr]
    await app.post_init(app)  # type: ignore[misc]
    assert faq_entry(db, "account-001").question == "改过的问题"


# --- commands ------------------------------------------------------------------------------------


async def test_start_in_chinese_offers_example_questions(bot: Driver, db: Database, clock):
    reply = await bot.ask(ALICE, "/start")

    assert reply["raw_text"].startswith("您好，Alice！我是省财政厅第三方机构信用管理平台的咨询助手")
    assert reply["parse_mode"] == "HTML"
    assert buttons(reply) == [
        [("忘记登录密码了怎么办？", "ex:account-001")],
        [("信息填报包括哪些内容？", "ex:fill-001")],
        [("附件支持哪些格式？", "ex:att-001")],
        [("审核流程是怎样的？", "ex:review-001")],
    ]
    user = chat_user(db, ALICE)
    assert (user.first_name, user.username, user.telegram_lang) == ("Alice", "alice", "zh-hans")
    assert user.last_seen_at == clock.now()


async def test_start_in_english_for_a_telegram_in_english(bot: Driver):
    reply = await bot.ask(BOB, "/start")

    assert reply["raw_text"].startswith("Hello, Bob! I'm the helpdesk assistant")
    assert button_data(reply) == ["ex:account-101", "ex:fill-104", "ex:att-101", "ex:review-101"]


async def test_tapping_an_example_answers_it(bot: Driver, db: Database):
    welcome = await bot.ask(ALICE, "/start")
    await bot.press(ALICE, welcome, "ex:att-001")

    answer = await bot.reply(ALICE)
    [log] = questions(db)
    assert answer["raw_text"].startswith("<b>附件支持哪些格式？</b>\n\n")
    assert button_data(answer) == [f"fb:{log.id}:u", f"fb:{log.id}:d"]
    assert (log.decision, log.entry_id, log.user_id) == ("answer", "att-001", ALICE)
    assert bot.fake.callback_answers[-1].get("text") is None  # answered, silently


async def test_help_explains_and_offers_the_contact_button(bot: Driver):
    reply = await bot.ask(ALICE, "/help")
    assert reply["raw_text"].startswith("<b>使用说明</b>")
    assert buttons(reply) == [[("联系工作人员", "cs")]]


async def test_lang_switches_at_once_and_is_remembered(bot: Driver, db: Database):
    reply = await bot.ask(ALICE, "/lang en")
    assert reply["raw_text"] == "OK, I'll reply in English from now on."
    assert chat_user(db, ALICE).chosen_lang == "en"

    # Telegram still says Chinese; the choice wins, for commands and for Chinese questions.
    assert (await bot.ask(ALICE, "/help"))["raw_text"].startswith("<b>How to use this bot</b>")
    answer = await bot.ask(ALICE, "忘记登录密码了怎么办？")
    assert button_data(answer)[0].startswith("fb:")
    assert buttons(answer)[0][0][0] == "👍 Helpful"


async def test_lang_buttons(bot: Driver, db: Database):
    prompt = await bot.ask(BOB, "/lang")
    assert buttons(prompt) == [[("中文", "lg:zh"), ("English", "lg:en")]]

    await bot.press(BOB, prompt, "lg:zh")
    edited = await bot.reply(BOB)
    assert edited["message_id"] == prompt["message_id"]
    assert edited["raw_text"] == "好的，之后我会用中文回复您。"
    assert buttons(edited) == []
    assert chat_user(db, BOB).chosen_lang == "zh"
    assert (await bot.ask(BOB, "/start"))["raw_text"].startswith("您好，Bob！")


async def test_an_unknown_command_points_to_help(bot: Driver):
    reply = await bot.ask(BOB, "/whatever")
    assert "/help" in reply["raw_text"]


# --- questions -----------------------------------------------------------------------------------


async def test_a_clear_question_is_answered_with_feedback_buttons(bot: Driver, db: Database):
    reply = await bot.ask(ALICE, "忘记登录密码了怎么办？")

    entry = faq_entry(db, "account-001")
    [log] = questions(db)
    assert reply["raw_text"] == f"<b>{entry.question}</b>\n\n{entry.answer}"
    assert reply["text"].startswith("忘记登录密码了怎么办？\n\n在平台登录页")
    assert reply["entities"][0] == {"type": "bold", "offset": 0, "length": len(entry.question)}
    assert buttons(reply) == [[("👍 有帮助", f"fb:{log.id}:u"), ("👎 没帮助", f"fb:{log.id}:d")]]
    assert (log.chat_id, log.user_id, log.lang, log.text) == (
        ALICE,
        ALICE,
        "zh",
        "忘记登录密码了怎么办？",
    )
    assert (log.decision, log.entry_id, log.score) == ("answer", "account-001", 100.0)
    assert entry.times_answered == 1


async def test_thumbs_up_thanks_and_removes_the_buttons(bot: Driver, db: Database):
    answer = await bot.ask(ALICE, "忘记登录密码了怎么办？")
    [log] = questions(db)

    mark = bot.mark()
    await bot.press(ALICE, answer, f"fb:{log.id}:u")

    assert bot.fake.callback_answers[-1]["text"] == "感谢您的反馈！"
    assert bot.calls_since(mark) == ["answerCallbackQuery", "editMessageReplyMarkup"]
    assert buttons(bot.fake.message(ALICE, answer["message_id"])) == []
    assert questions(db)[0].feedback == "up"
    entry = faq_entry(db, "account-001")
    assert (entry.helpful_count, entry.unhelpful_count) == (1, 0)


async def test_thumbs_down_apologises_and_offers_staff(bot: Driver, db: Database):
    answer = await bot.ask(ALICE, "忘记登录密码了怎么办？")
    [log] = questions(db)

    await bot.press(ALICE, answer, f"fb:{log.id}:d")
    edited = await bot.reply(ALICE)  # the 👍/👎 buttons go
    sorry = await bot.reply(ALICE)

    assert buttons(edited) == []
    assert sorry["raw_text"].startswith("抱歉，这个回答没能帮到您。")
    assert buttons(sorry) == [[("联系工作人员", f"cs:{log.id}")]]
    assert questions(db)[0].feedback == "down"
    assert faq_entry(db, "account-001").unhelpful_count == 1

    # A stale 👍 on the same answer changes the vote instead of adding one.
    await bot.press(ALICE, answer, f"fb:{log.id}:u")
    entry = faq_entry(db, "account-001")
    assert (entry.helpful_count, entry.unhelpful_count) == (1, 0)


async def test_a_vague_question_gets_suggestions_and_a_tap_records_the_phrasing(
    bot: Driver, db: Database, clock
):
    # Two entries with the same question: no sensible matcher can pick one outright.
    add_entry(db, clock, "tie-001", "电子发票怎么开具？", answer="在“票据管理”中申请电子发票。")
    add_entry(db, clock, "tie-002", "电子发票怎么开具？", answer="联系所在地财政局开具电子发票。")
    await rebuild_index(bot.app)

    reply = await bot.ask(ALICE, "请问电子发票怎么开具")
    [log] = questions(db)
    assert reply["raw_text"] == "您是想问下面哪个问题吗？请选择最接近的一项："
    assert log.decision == "suggest"
    assert sorted(button_data(reply)[:2]) == [f"sg:{log.id}:tie-001", f"sg:{log.id}:tie-002"]
    assert buttons(reply)[0][0][0] == "电子发票怎么开具？"
    assert buttons(reply)[-1] == [("都不是，联系工作人员", f"cs:{log.id}")]

    await bot.press(ALICE, reply, f"sg:{log.id}:tie-002")
    answer = await bot.reply(ALICE)
    assert answer["raw_text"] == "<b>电子发票怎么开具？</b>\n\n联系所在地财政局开具电子发票。"
    assert button_data(answer) == [f"fb:{log.id}:u", f"fb:{log.id}:d"]
    assert questions(db)[0].chosen_entry_id == "tie-002"
    with db.session() as session:
        [phrasing] = session.exec(select(Phrasing)).all()
    assert (phrasing.entry_id, phrasing.text, phrasing.status) == (
        "tie-002",
        "请问电子发票怎么开具",
        "pending",
    )

    await bot.press(ALICE, answer, f"fb:{log.id}:u")
    assert faq_entry(db, "tie-002").helpful_count == 1


# About the city's review (the first review, 初审, review-002), but the provincial second review
# (复审, review-003) is still plausible, so it is offered under the answer.
UNCERTAIN = "市里审要多久"
ANSWERED, RELATED = "review-002", "review-003"


async def test_an_uncertain_answer_shows_related_questions_under_the_feedback_buttons(
    bot: Driver, db: Database
):
    reply = await bot.ask(ALICE, UNCERTAIN)

    [log] = questions(db)
    answered, related = faq_entry(db, ANSWERED), faq_entry(db, RELATED)
    assert (log.decision, log.entry_id, log.chosen_entry_id) == ("answer", ANSWERED, None)
    assert reply["raw_text"] == (
        f"<b>{answered.question}</b>\n\n{answered.answer}\n\n也许您想问的是："
    )
    assert buttons(reply) == [
        [("👍 有帮助", f"fb:{log.id}:u"), ("👎 没帮助", f"fb:{log.id}:d")],
        [(related.question, f"sg:{log.id}:{RELATED}")],
    ]
    assert [s["id"] for s in json.loads(log.suggestions)] == [RELATED]
    assert (answered.times_answered, related.times_answered) == (1, 0)


async def test_an_uncertain_answer_in_english_says_or_did_you_mean(bot: Driver, db: Database):
    await bot.ask(ALICE, "/lang en")
    reply = await bot.ask(ALICE, UNCERTAIN)
    [log] = questions(db)
    assert reply["raw_text"].endswith("\n\nOr did you mean:")
    assert buttons(reply)[0][0][0] == "👍 Helpful"
    assert button_data(reply)[2:] == [f"sg:{log.id}:{RELATED}"]


async def test_a_clear_answer_has_no_related_questions(bot: Driver, db: Database):
    reply = await bot.ask(ALICE, "初审需要多长时间？")  # word for word the entry's question
    [log] = questions(db)
    assert "也许您想问的是" not in reply["raw_text"]
    assert button_data(reply) == [f"fb:{log.id}:u", f"fb:{log.id}:d"]


async def test_thumbs_down_on_an_uncertain_answer_offers_the_related_questions(
    bot: Driver, db: Database
):
    answer = await bot.ask(ALICE, UNCERTAIN)
    [log] = questions(db)

    await bot.press(ALICE, answer, f"fb:{log.id}:d")
    edited = await bot.reply(ALICE)  # the answer's buttons go, related rows too
    sorry = await bot.reply(ALICE)

    assert buttons(edited) == []
    assert sorry["raw_text"].startswith("抱歉，这个回答没能帮到您。")
    assert buttons(sorry) == [
        [(faq_entry(db, RELATED).question, f"sg:{log.id}:{RELATED}")],
        [("都不是，联系工作人员", f"cs:{log.id}")],
    ]
    assert faq_entry(db, ANSWERED).unhelpful_count == 1

    # The related question tapped: its answer, rated on its own; the 👎 stays with the answer.
    await bot.press(ALICE, sorry, f"sg:{log.id}:{RELATED}")
    chosen = await bot.reply(ALICE)
    assert chosen["raw_text"].startswith(f"<b>{faq_entry(db, RELATED).question}</b>\n\n")
    assert button_data(chosen) == [f"fb:{log.id}:u", f"fb:{log.id}:d"]
    [log] = questions(db)
    assert (log.chosen_entry_id, log.feedback) == (RELATED, None)
    assert faq_entry(db, ANSWERED).unhelpful_count == 1

    # 👎 on that one: a related question was chosen already, so only "contact staff", as before.
    await bot.press(ALICE, chosen, f"fb:{log.id}:d")
    await bot.reply(ALICE)  # its buttons go
    sorry_again = await bot.reply(ALICE)
    assert buttons(sorry_again) == [[("联系工作人员", f"cs:{log.id}")]]
    assert faq_entry(db, RELATED).unhelpful_count == 1
    assert faq_entry(db, ANSWERED).unhelpful_count == 1


async def test_pressing_a_related_question_shows_its_answer_and_records_the_phrasing(
    bot: Driver, db: Database
):
    answer = await bot.ask(ALICE, UNCERTAIN)
    [log] = questions(db)

    await bot.press(ALICE, answer, f"sg:{log.id}:{RELATED}")
    edited = await bot.reply(ALICE)
    shown = await bot.reply(ALICE)

    # The answer's 👍 / 👎 would now rate the chosen entry: they go, the related row stays.
    assert edited["message_id"] == answer["message_id"]
    assert button_data(edited) == [f"sg:{log.id}:{RELATED}"]
    related = faq_entry(db, RELATED)
    assert shown["raw_text"] == f"<b>{related.question}</b>\n\n{related.answer}"
    assert button_data(shown) == [f"fb:{log.id}:u", f"fb:{log.id}:d"]  # no further related rows
    assert questions(db)[0].chosen_entry_id == RELATED
    assert related.times_answered == 1
    with db.session() as session:
        [phrasing] = session.exec(select(Phrasing)).all()
    assert (phrasing.entry_id, phrasing.text, phrasing.status) == (RELATED, UNCERTAIN, "pending")

    await bot.press(ALICE, shown, f"fb:{log.id}:u")
    assert faq_entry(db, RELATED).helpful_count == 1
    assert faq_entry(db, ANSWERED).helpful_count == 0


@pytest.mark.parametrize(
    ("user_id", "text", "expected"),
    [
        (ALICE, "谢谢", "不客气！如果还有其他问题，随时问我。"),
        (ALICE, "你好", "您好！请问有什么可以帮您？直接发送您的问题即可。"),
        (BOB, "thanks", "You're welcome! Ask me any time if you have other questions."),
    ],
)
async def test_small_talk_gets_a_friendly_line(bot: Driver, db: Database, user_id, text, expected):
    reply = await bot.ask(user_id, text)
    assert reply["raw_text"] == expected
    assert buttons(reply) == []
    assert questions(db)[0].decision == "smalltalk"


async def test_an_out_of_scope_question_is_answered_honestly(bot: Driver, db: Database):
    reply = await bot.ask(ALICE, "今天天气怎么样")
    [log] = questions(db)
    assert log.decision == "none"
    assert reply["raw_text"].startswith("抱歉，常见问题中暂时没有找到这个问题的答案。")
    assert buttons(reply) == [[("联系工作人员", f"cs:{log.id}")]]

    await bot.press(ALICE, reply, f"cs:{log.id}")
    contact = await bot.reply(ALICE)
    text = contact["raw_text"]
    assert text.startswith("目前还不能在这个对话中为您转接人工客服。")
    assert "所在地财政局的平台管理员" in text
    hours = faq_entry(db, "contact-002")
    assert f"<b>{hours.question}</b>\n{hours.answer}" in text


async def test_out_of_scope_in_english(bot: Driver):
    reply = await bot.ask(BOB, "What's the weather like today?")
    assert reply["raw_text"].startswith("Sorry, I couldn't find an answer to this in the FAQ.")
    await bot.press(BOB, reply, button_data(reply)[0])
    contact = await bot.reply(BOB)
    assert contact["raw_text"].startswith("I can't hand you over to a person in this chat yet.")
    assert "How do I contact a staff member?" in contact["raw_text"]


async def test_human_without_a_staff_group_says_how_to_reach_staff(bot: Driver, db: Database):
    # No HELPDESK_STAFF_CHAT_ID: nobody would see a ticket, so none is opened.
    reply = await bot.ask(ALICE, "/human 我要找人工")
    assert reply["raw_text"].startswith("目前还不能在这个对话中为您转接人工客服。")


async def test_html_in_user_and_faq_text_is_escaped(
    bot: Driver, db: Database, fake: FakeTelegram, clock
):
    fake.add_user(2001, "<b>&", language_code="zh")
    welcome = await bot.ask(2001, "/start")
    assert welcome["raw_text"].startswith("您好，&lt;b&gt;&amp;！")
    assert welcome["text"].startswith("您好，<b>&！")

    reply = await bot.ask(2001, "<b>&")
    assert reply["parse_mode"] == "HTML"  # and the fake, strict like Telegram, accepted it
    assert questions(db)[0].text == "<b>&"

    add_entry(db, clock, "html-001", "金额<万元>&比例怎么填？", answer="填 <数字> & 单位 </b>")
    await rebuild_index(bot.app)
    answer = await bot.ask(2001, "金额<万元>&比例怎么填？")
    assert answer["text"] == "金额<万元>&比例怎么填？\n\n填 <数字> & 单位 </b>"


# --- what is not a question ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "send",
    [
        lambda fake: fake.user_sends_sticker(ALICE),
        lambda fake: fake.user_sends_photo(ALICE),
        lambda fake: fake.user_sends_photo(ALICE, caption="这个报错怎么办"),
        lambda fake: fake.user_sends_voice(ALICE),
        lambda fake: fake.user_sends_document(ALICE, "业绩证明.pdf", b"%PDF-1.4"),
        lambda fake: fake.user_sends_contact(ALICE, "+8613800000000"),
    ],
    ids=["sticker", "photo", "photo-with-caption", "voice", "document", "contact"],
)
async def test_non_text_messages_get_a_polite_hint(bot: Driver, db: Database, send):
    await bot.deliver(message=send(bot.fake))
    reply = await bot.reply(ALICE)
    assert reply["raw_text"] == "抱歉，我目前只能识别文字消息。请直接输入您的问题。"
    assert questions(db) == []


POLL = {
    "id": "1",
    "question": "?",
    "options": [],
    "total_voter_count": 0,
    "is_closed": False,
    "is_anonymous": True,
    "type": "regular",
    "allows_multiple_answers": False,
    "allows_revoting": False,
    "members_only": False,
}


@pytest.mark.parametrize(
    "content",
    [
        {"location": {"latitude": 28.19, "longitude": 112.98}},
        {"poll": POLL},
        {"video": {"file_id": "v", "file_unique_id": "v", "width": 1, "height": 1, "duration": 1}},
        {"dice": {"emoji": "🎲", "value": 3}},
    ],
    ids=["location", "poll", "video", "dice"],
)
async def test_other_kinds_of_messages_get_the_same_hint(bot: Driver, content):
    message = {
        "message_id": 900,
        "date": 1_795_000_000,
        "chat": {"id": BOB, "type": "private", "first_name": "Bob"},
        "from": {"id": BOB, "is_bot": False, "first_name": "Bob", "language_code": "en"},
        **content,
    }
    await bot.deliver(message=message)
    reply = await bot.reply(BOB)
    assert reply["raw_text"] == "Sorry, I can only read text messages. Please type your question."


async def test_blank_text_asks_for_a_question(bot: Driver, db: Database):
    reply = await bot.ask(ALICE, " \n\u3000 ")
    assert reply["raw_text"] == "没有收到问题内容，请输入您想咨询的问题。"
    assert questions(db) == []


async def test_overlong_text_names_the_limit(bot: Driver, db: Database, settings: Settings):
    reply = await bot.ask(BOB, "x" * (settings.max_message_chars + 1))
    assert f"over {settings.max_message_chars} characters" in reply["raw_text"]
    assert questions(db) == []
    # Exactly at the limit is still a question.
    await bot.ask(BOB, "x" * settings.max_message_chars)
    assert len(questions(db)) == 1


async def test_edited_messages_are_ignored(bot: Driver, db: Database):
    message = bot.fake.user_sends_text(ALICE, "忘记登录密码了怎么办？")
    mark = bot.mark()
    await bot.deliver(edited_message=message | {"edit_date": message["date"] + 5})
    assert bot.calls_since(mark) == []
    assert questions(db) == []


# --- forged and stale buttons --------------------------------------------------------------------


@pytest.mark.parametrize(
    "forged",
    [
        "fb:{alice}:d",  # Alice's question, pressed by Bob
        "sg:{alice}:account-002",
        "cs:{alice}",
        "fb:999999:u",  # no such question
        "ex:no-such-entry",
        "lg:fr",
        "zz",
        "fb:{alice}:u:extra",
        "",
        "fb:9999999999999999999:u",  # beyond the database's 64-bit integers
    ],
)
async def test_a_forged_button_is_refused_and_changes_nothing(
    bot: Driver, db: Database, forged: str
):
    await bot.ask(ALICE, "忘记登录密码了怎么办？")
    [alice_question] = questions(db)
    bobs_message = await bot.ask(BOB, "/start")
    before = faq_entry(db, "account-001")

    mark = bot.mark()
    await bot.press(BOB, bobs_message, forged.format(alice=alice_question.id))

    assert bot.calls_since(mark) == ["answerCallbackQuery"]
    assert bot.fake.callback_answers[-1]["text"] == (
        "This button is no longer valid. Please send your question again."
    )
    assert [q.id for q in questions(db)] == [alice_question.id]
    assert questions(db)[0].feedback is None
    after = faq_entry(db, "account-001")
    assert (after.helpful_count, after.unhelpful_count) == (before.helpful_count, 0)
    with db.session() as session:
        assert session.exec(select(Phrasing)).all() == []
    assert chat_user(db, BOB).chosen_lang is None


async def test_a_suggestion_not_offered_for_that_question_is_refused(
    bot: Driver, db: Database, clock
):
    add_entry(db, clock, "tie-001", "电子发票怎么开具？", answer="在“票据管理”中申请电子发票。")
    add_entry(db, clock, "tie-002", "电子发票怎么开具？", answer="联系所在地财政局开具电子发票。")
    await rebuild_index(bot.app)
    reply = await bot.ask(ALICE, "请问电子发票怎么开具")
    [log] = questions(db)
    assert log.decision == "suggest"
    mark = bot.mark()
    await bot.press(ALICE, reply, f"sg:{log.id}:att-008")
    assert bot.calls_since(mark) == ["answerCallbackQuery"]
    assert questions(db)[0].chosen_entry_id is None


@pytest.mark.parametrize("entry_id", ["att-008", ANSWERED], ids=["not-offered", "the-answer"])
async def test_a_forged_related_question_under_an_answer_is_refused(
    bot: Driver, db: Database, entry_id: str
):
    answer = await bot.ask(ALICE, UNCERTAIN)
    [log] = questions(db)
    before = faq_entry(db, entry_id).times_answered

    mark = bot.mark()
    await bot.press(ALICE, answer, f"sg:{log.id}:{entry_id}")

    assert bot.calls_since(mark) == ["answerCallbackQuery"]
    assert bot.fake.callback_answers[-1]["text"] == "这个按钮已失效，请重新发送您的问题。"
    assert questions(db)[0].chosen_entry_id is None
    assert faq_entry(db, entry_id).times_answered == before
    assert len(button_data(bot.fake.message(ALICE, answer["message_id"]))) == 3  # untouched
    with db.session() as session:
        assert session.exec(select(Phrasing)).all() == []


async def test_a_button_for_an_entry_removed_since_is_refused(bot: Driver, db: Database):
    welcome = await bot.ask(ALICE, "/start")
    with db.session() as session:
        session.get(FaqEntry, "att-001").active = False  # type: ignore[union-attr]
    await rebuild_index(bot.app)

    mark = bot.mark()
    await bot.press(ALICE, welcome, "ex:att-001")
    assert bot.calls_since(mark) == ["answerCallbackQuery"]
    assert bot.fake.callback_answers[-1]["text"] == "这个按钮已失效，请重新发送您的问题。"
    assert questions(db) == []


# --- groups --------------------------------------------------------------------------------------


async def test_in_a_group_the_bot_speaks_only_when_addressed(bot: Driver, db: Database):
    mark = bot.mark()
    await bot.send(ALICE, "忘记登录密码了怎么办？", chat_id=GROUP)
    await bot.send(ALICE, "谢谢大家", chat_id=GROUP)
    await bot.deliver(message=bot.fake.user_sends_sticker(ALICE, chat_id=GROUP))
    await bot.send(ALICE, "/start@some_other_bot", chat_id=GROUP)
    assert bot.calls_since(mark) == []
    assert questions(db) == []

    answer = await bot.ask(ALICE, f"@{BOT_USERNAME} 附件支持哪些格式？", chat_id=GROUP)
    assert answer["raw_text"].startswith("<b>附件支持哪些格式？</b>")
    assert questions(db)[-1].text == "附件支持哪些格式？"  # the mention is not part of it
    assert questions(db)[-1].chat_id == GROUP

    follow_up = await bot.ask(ALICE, "谢谢", chat_id=GROUP, reply_to=answer)
    assert follow_up["raw_text"] == "不客气！如果还有其他问题，随时问我。"
    assert follow_up["reply_to_message"]["text"] == "谢谢"  # in a group it quotes the question

    welcome = await bot.ask(ALICE, f"/start@{BOT_USERNAME}", chat_id=GROUP)
    assert welcome["raw_text"].startswith("您好，Alice！")

    # Somebody else's reply to another member is still not for the bot.
    mark = bot.mark()
    member = bot.fake.user_sends_text(BOB, "我也想问", chat_id=GROUP)
    await bot.deliver(message=member)
    await bot.send(ALICE, "同问", chat_id=GROUP, reply_to=member)
    assert bot.calls_since(mark) == []


async def test_every_group_member_is_remembered_even_when_the_bot_stays_quiet(
    bot: Driver, db: Database
):
    await bot.send(BOB, "hello everyone", chat_id=GROUP)
    assert chat_user(db, BOB).telegram_lang == "en"


async def test_a_user_blocking_the_bot_is_remembered(bot: Driver, db: Database):
    await bot.ask(ALICE, "/start")
    bot.fake.block(ALICE)
    await bot.deliver(my_chat_member=bot.fake.pending_updates[-1]["my_chat_member"])
    assert chat_user(db, ALICE).blocked_bot is True

    bot.fake.unblock(ALICE)
    await bot.send(ALICE, "你好")
    assert chat_user(db, ALICE).blocked_bot is False


# --- failures ------------------------------------------------------------------------------------


async def test_a_question_is_logged_even_when_the_reply_fails(bot: Driver, db: Database):
    bot.fake.fail_next("sendMessage", status=400, description="Bad Request: chat is busy")
    await bot.send(ALICE, "忘记登录密码了怎么办？")

    [log] = questions(db)
    assert (log.decision, log.entry_id) == ("answer", "account-001")
    apology = await bot.reply(ALICE)  # the failed reply has no message; the apology does
    assert apology["raw_text"] == "抱歉，处理您的消息时出了点问题，请稍后再试。"


@pytest.fixture
async def staffed_app(
    settings: Settings, db: Database, clock: FrozenClock, fake: FakeTelegram, users: None
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    fake.add_group(STAFF, "省财政厅工作人员")
    staffed = settings.model_copy(update={"staff_chat_id": STAFF})
    application = build_application(staffed, db=db, clock=clock, faq_index=FaqIndex())
    await application.initialize()
    await application.post_init(application)  # type: ignore[misc]
    try:
        yield application
    finally:
        await application.shutdown()


async def test_errors_are_reported_to_the_staff_chat_escaped(
    staffed_app: Application,  # type: ignore[type-arg]
    fake: FakeTelegram,
):
    bot = Driver(staffed_app, fake)
    fake.fail_next("sendMessage", status=400, description="Bad Request: <oops> & co")
    await bot.send(ALICE, "忘记登录密码了怎么办？")

    notice = await fake.next_reply(STAFF, timeout=2)
    assert "BadRequest: &lt;oops&gt; &amp; co" in notice["raw_text"]
    assert notice["text"].startswith("⚠️ 机器人处理消息时出错\nBadRequest: <oops> & co")
    assert f"user {ALICE}" in notice["text"]


async def test_the_error_handler_never_raises(
    staffed_app: Application,  # type: ignore[type-arg]
    fake: FakeTelegram,
):
    fake.fail_next("sendMessage", status=403, description="Forbidden: bot was kicked", times=2)
    update = Update.de_json(
        {"update_id": 1, "message": fake.user_sends_text(ALICE, "hi")}, staffed_app.bot
    )
    context = HelpdeskContext.from_error(update, BadRequest("boom"), staffed_app)
    await report_error(update, context)  # both the apology and the staff notice fail
    assert [m for m, _ in fake.calls[-2:]] == ["sendMessage", "sendMessage"]


# --- end to end: the application polls the fake ---------------------------------------------------


async def test_a_conversation_end_to_end(
    polling_app: Application,  # type: ignore[type-arg]
    fake: FakeTelegram,
    users: None,
    db: Database,
):
    fake.user_sends_text(ALICE, "/start")
    welcome = await fake.next_reply(ALICE)
    assert welcome["raw_text"].startswith("您好，Alice！")

    fake.user_presses(ALICE, welcome, "ex:account-001")
    await fake.wait_for(method="answerCallbackQuery")
    answer = await fake.next_reply(ALICE)
    assert answer["raw_text"].startswith("<b>忘记登录密码了怎么办？</b>")
    [log] = questions(db)
    assert button_data(answer) == [f"fb:{log.id}:u", f"fb:{log.id}:d"]

    fake.user_presses(ALICE, answer, f"fb:{log.id}:u")
    await fake.wait_for(method="answerCallbackQuery")
    assert fake.callback_answers[-1]["text"] == "感谢您的反馈！"
    assert buttons(await fake.next_reply(ALICE)) == []

    fake.user_sends_sticker(ALICE)
    assert (await fake.next_reply(ALICE))["raw_text"].startswith("抱歉，我目前只能识别文字消息")

    fake.user_sends_text(ALICE, "谢谢")
    assert (await fake.next_reply(ALICE))["raw_text"] == "不客气！如果还有其他问题，随时问我。"
    assert faq_entry(db, "account-001").helpful_count == 1


async def test_out_of_scope_and_a_forged_button_end_to_end(
    polling_app: Application,  # type: ignore[type-arg]
    fake: FakeTelegram,
    users: None,
    db: Database,
):
    fake.user_sends_text(BOB, "asdfghjkl qwerty")
    reply = await fake.next_reply(BOB)
    assert reply["raw_text"].startswith("Sorry, I couldn't find an answer to this in the FAQ.")
    [log] = questions(db)

    fake.user_presses(ALICE, reply, f"cs:{log.id}")  # not Alice's question
    await fake.wait_for(method="answerCallbackQuery")
    assert fake.callback_answers[-1]["text"] == "这个按钮已失效，请重新发送您的问题。"

    fake.user_presses(BOB, reply, f"cs:{log.id}")
    contact = await fake.next_reply(BOB)
    assert contact["raw_text"].startswith("I can't hand you over to a person in this chat yet.")


# --- database round trips ------------------------------------------------------------------------


async def test_a_question_takes_two_transactions_besides_the_inbox_writer(
    bot: Driver, db: Database, monkeypatch: pytest.MonkeyPatch
):
    await bot.ask(ALICE, "你好")  # the user exists already: the question below only reads it
    called: list[str] = []
    call = Database.call

    def recording(self: Database, fn: Any, *args: Any, **kwargs: Any) -> Any:
        called.append(fn.__name__)
        return call(self, fn, *args, **kwargs)

    monkeypatch.setattr(Database, "call", recording)
    reply = await bot.ask(ALICE, "附件大小有什么限制？")
    await bot.app.update_queue.flush()  # type: ignore[attr-defined]

    assert reply["text"].startswith("附件大小有什么限制？")
    # Who is talking (ChatUser, return prompt, active ticket) and the question log; the replied
    # and done marks go through the inbox's ordered writer (_apply), grouped with other writes.
    assert [name for name in called if name != "_apply"] == ["who_is_talking", "log_question"]
    [log] = [q for q in questions(db) if q.text == "附件大小有什么限制？"]
    assert log.replied_at is not None


async def test_an_unchanged_user_is_not_written_again_until_last_seen_is_stale(
    bot: Driver, db: Database, clock: FrozenClock
):
    await bot.ask(ALICE, "你好")
    first_seen = chat_user(db, ALICE).last_seen_at
    updates: list[str] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE CHAT_USER"):
            updates.append(statement)

    event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        clock.advance(minutes=5)
        await bot.ask(ALICE, "谢谢")
        assert updates == []
        assert chat_user(db, ALICE).last_seen_at == first_seen

        clock.advance(minutes=11)  # last_seen_at is 16 minutes old: refreshed
        await bot.ask(ALICE, "谢谢")
        assert len(updates) == 1
        assert chat_user(db, ALICE).last_seen_at == clock.now()

        bot.fake.add_user(ALICE, "Alice Wang", language_code="zh-hans", username="alice")
        await bot.ask(ALICE, "谢谢")  # a new name: written at once
        assert len(updates) == 2
        assert chat_user(db, ALICE).first_name == "Alice Wang"
    finally:
        event.remove(db.engine, "before_cursor_execute", on_execute)


def test_who_is_talking_is_one_select_for_a_known_user(db: Database, clock: FrozenClock):
    now = clock.now()
    with db.session() as session:
        session.add(
            ChatUser(
                id=ALICE,
                first_name="Alice",
                telegram_lang="zh-hans",  # as talker() below: nothing to write
                chosen_lang="en",
                created_at=now,
                last_seen_at=now,
            )
        )
        session.add(ReturnPrompt(user_id=ALICE, item_ref="R-1", prompt_message_id=5, asked_at=now))
        session.add(
            Ticket(
                user_id=ALICE,
                chat_id=ALICE,
                lang="zh",
                status="answered",
                created_at=now,
                updated_at=now,
            )
        )
        session.add(
            Ticket(
                user_id=BOB, chat_id=BOB, lang="en", status="closed", created_at=now, updated_at=now
            )
        )
    statements: list[str] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        user, talking = db.call(who_is_talking, **talker(ALICE, "Alice"), now=now)
    finally:
        event.remove(db.engine, "before_cursor_execute", on_execute)

    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")
    assert (user.id, user.first_name, user.chosen_lang) == (ALICE, "Alice", "en")
    assert user.created_at == now
    assert talking is not None and talking.active_ticket
    assert talking.return_prompt is not None
    assert (talking.return_prompt.item_ref, talking.return_prompt.asked_at) == ("R-1", now)

    user, talking = db.call(who_is_talking, **talker(BOB, "Bob"), now=now)  # new, closed ticket
    assert (user.id, user.first_name, user.created_at, user.chosen_lang) == (BOB, "Bob", now, None)
    assert talking == Talking(return_prompt=None, active_ticket=False)
    assert chat_user(db, BOB).first_name == "Bob"

    user, talking = db.call(who_is_talking, **talker(BOB, "Bob", private=False), now=now)
    assert user.first_name == "Bob" and talking is None


def test_a_new_user_stored_meanwhile_by_another_process_is_refreshed_not_refused(
    db: Database, clock: FrozenClock
):
    earlier = clock.now()
    with db.session() as session:  # stored by another process after this one read "no such user"
        session.add(
            ChatUser(
                id=ALICE, first_name="A", chosen_lang="en", created_at=earlier, last_seen_at=earlier
            )
        )
    clock.advance(minutes=1)
    user = db.call(
        lambda session: chat_users._touched(
            session.connection(),
            None,  # what this process read
            user_id=ALICE,
            first_name="Alice",
            username="alice",
            telegram_lang="zh-hans",
            blocked_bot=False,
            now=clock.now(),
        )
    )
    assert user.first_name == "Alice"
    stored = chat_user(db, ALICE)
    assert (stored.first_name, stored.username, stored.chosen_lang) == ("Alice", "alice", "en")
    assert (stored.created_at, stored.last_seen_at) == (earlier, clock.now())


def test_on_sqlite_who_is_talking_waits_for_no_writer(db: Database, clock: FrozenClock):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's database-wide write lock")
    now = clock.now()
    db.call(who_is_talking, **talker(ALICE, "Alice"), now=now)  # stored
    writer = sqlite3.connect(db.engine.url.database, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process writing, for longer than this test waits
    try:
        started = time.monotonic()
        user, talking = db.call(who_is_talking, **talker(ALICE, "Alice"), now=now)
        assert time.monotonic() - started < 5  # the busy timeout is 30 s
        assert user.first_name == "Alice" and talking is not None
    finally:
        writer.rollback()
        writer.close()


def talker(user_id: int, first_name: str, *, private: bool = True) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "first_name": first_name,
        "username": None,
        "telegram_lang": "zh-hans",
        "private_message": private,
    }
