"""Bureau reminders end to end: the real PTB application against the fake Bot API server, a frozen
clock, the reminder tick and the outbox run by hand (nothing sleeps)."""

from __future__ import annotations

import io
import itertools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from bot.bureau_desk import ReminderDesk
from bot.clock import FrozenClock
from bot.db import Database
from bot.desk import Desk
from bot.fakeapi import FakeTelegram
from bot.settings import Settings, load_settings
from faq.service import FaqIndex
from reminders import engine
from reminders.models import Bureau, BureauReviewer, InstitutionBinding, ReviewItem

from .conftest import NOW, SHANGHAI, TOKEN

REVIEWER_HZ = 2001  # bound to 3301
REVIEWER_NB = 2002  # bound to 3302
INSTITUTION = 3001  # bound to the credit code of HZ-1
STAFF_MEMBER = 501
OUTSIDER = 3003
STAFF = -1009876543210
CREDIT = "91330100MA2B3C4D5E"

JSON = dict[str, Any]


@pytest.fixture
def settings(fake: FakeTelegram, database_url: str) -> Settings:
    for user_id, name in (
        (REVIEWER_HZ, "杭州审核员"),
        (REVIEWER_NB, "宁波审核员"),
        (INSTITUTION, "某事务所"),
        (STAFF_MEMBER, "王科员"),
        (OUTSIDER, "Mallory"),
    ):
        fake.add_user(user_id, name, language_code="zh-hans")
    fake.add_group(STAFF, "信用平台客服组", is_forum=False, members={STAFF_MEMBER: "member"})
    return load_settings(
        _env_file=None,
        bot_token=TOKEN,
        telegram_api_url=fake.api_url,
        database_url=database_url,
        staff_chat_id=STAFF,
    )


def seed(db: Database) -> None:
    """Two bureaus with a reviewer each, two pending items of 3301, one of 3302."""
    with db.session() as session:
        for code, name in (("3301", "杭州市财政局"), ("3302", "=HYPERLINK(\"x\")宁波")):
            session.add(Bureau(code=code, name=name, level="city", created_at=NOW, updated_at=NOW))
        session.flush()
        session.add(BureauReviewer(user_id=REVIEWER_HZ, bureau_code="3301", bound_at=NOW))
        session.add(BureauReviewer(user_id=REVIEWER_NB, bureau_code="3302", bound_at=NOW))
        session.add(
            InstitutionBinding(
                user_id=INSTITUTION, credit_code=CREDIT, phone="13800000000", bound_at=NOW
            )
        )
        for ref, bureau, institution in (
            ("HZ-1", "3301", "杭州甲会计师事务所"),
            ("HZ-2", "3301", "杭州乙咨询公司"),
            ("NB-1", "3302", "宁波丙事务所"),
        ):
            session.add(
                ReviewItem(
                    ref=ref,
                    institution=institution,
                    credit_code=CREDIT,
                    contact_phone="13800000000",
                    bureau_code=bureau,
                    submitted_at=NOW,
                    due_at=NOW + timedelta(days=2),
                    last_event_at=NOW,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )


class Bureaus:
    """The reviewers, the institution and staff acting through the fake."""

    def __init__(self, app: Application, fake: FakeTelegram, db: Database) -> None:  # type: ignore[type-arg]
        self.app = app
        self.fake = fake
        self.db = db
        self._ids = itertools.count(1)

    @property
    def reminders(self) -> ReminderDesk:
        return self.app.bot_data.reminders  # type: ignore[attr-defined,no-any-return]

    @property
    def desk(self) -> Desk:
        return self.app.bot_data.desk  # type: ignore[attr-defined,no-any-return]

    async def tick(self) -> engine.TickResult:
        result = await self.reminders.tick()
        await self.desk.sender.idle()  # the tick kicked the sender; let it finish
        return result

    async def deliver(self, **payload: JSON) -> None:
        update = Update.de_json({"update_id": next(self._ids), **payload}, self.app.bot)
        await self.app.process_update(update)
        await self.desk.sender.idle()
        await self.desk.sender.flush()

    async def send(self, user_id: int, text: str, **kwargs: Any) -> None:
        await self.deliver(message=self.fake.user_sends_text(user_id, text, **kwargs))

    async def press(self, user_id: int, message: JSON, data: str) -> JSON:
        await self.deliver(callback_query=self.fake.user_presses(user_id, message, data))
        return self.fake.callback_answers[-1]

    def texts(self, chat_id: int) -> list[str]:
        return [m.get("raw_text") or m.get("text") or "" for m in self.fake.messages(chat_id)]

    def reminder(self, chat_id: int) -> JSON:
        return next(m for m in reversed(self.fake.messages(chat_id)) if "初审提醒" in m["raw_text"])

    def item(self, ref: str) -> ReviewItem:
        with self.db.session() as session:
            found = session.get(ReviewItem, ref)
            assert found is not None
            return found


@pytest.fixture
async def bureaus(app: Application, fake: FakeTelegram, db: Database) -> Bureaus:  # type: ignore[type-arg]
    seed(db)
    driver = Bureaus(app, fake, db)
    await driver.tick()
    return driver


def button_data(message: JSON) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button["callback_data"] for row in rows for button in row]


# --- 初审通过 / 退回 ------------------------------------------------------------------------


async def test_the_tick_sends_one_batched_reminder_per_bureau(bureaus: Bureaus):
    hz = bureaus.reminder(REVIEWER_HZ)
    assert "杭州甲会计师事务所" in hz["raw_text"] and "杭州乙咨询公司" in hz["raw_text"]
    assert "是否属于填报对象" in hz["raw_text"] and "还剩 2 天" in hz["raw_text"]
    assert button_data(hz) == ["rv:ok:HZ-1", "rv:rt:HZ-1", "rv:ok:HZ-2", "rv:rt:HZ-2"]
    assert "宁波丙事务所" in bureaus.reminder(REVIEWER_NB)["raw_text"]
    assert len([t for t in bureaus.texts(REVIEWER_HZ) if "初审提醒" in t]) == 1


async def test_a_reviewer_approves_and_the_button_goes(bureaus: Bureaus):
    hz = bureaus.reminder(REVIEWER_HZ)
    answer = await bureaus.press(REVIEWER_HZ, hz, "rv:ok:HZ-1")
    assert "初审通过" in answer["text"]
    item = bureaus.item("HZ-1")
    assert (item.status, item.decided_by) == ("approved", REVIEWER_HZ)
    assert button_data(bureaus.reminder(REVIEWER_HZ)) == ["rv:ok:HZ-2", "rv:rt:HZ-2"]
    # Pressed again (a stale copy of the message): refused, nothing changes.
    again = await bureaus.press(REVIEWER_HZ, hz, "rv:rt:HZ-1")
    assert again.get("show_alert") and "已失效" in again["text"]
    assert bureaus.item("HZ-1").status == "approved"


async def test_a_reviewer_returns_with_a_reason_and_the_institution_hears_it(bureaus: Bureaus):
    hz = bureaus.reminder(REVIEWER_HZ)
    await bureaus.press(REVIEWER_HZ, hz, "rv:rt:HZ-1")
    prompt = bureaus.fake.messages(REVIEWER_HZ)[-1]
    assert "退回原因" in prompt["raw_text"] and prompt["reply_markup"]["force_reply"]
    assert bureaus.item("HZ-1").status == "pending"  # nothing changes until the reason

    await bureaus.send(REVIEWER_HZ, "附件与填报内容不一致，请补充审计报告", reply_to=prompt)

    item = bureaus.item("HZ-1")
    assert (item.status, item.return_reason) == ("returned", "附件与填报内容不一致，请补充审计报告")
    assert "已退回" in bureaus.texts(REVIEWER_HZ)[-1]
    notice = bureaus.texts(INSTITUTION)[-1]
    assert "已被退回" in notice and "附件与填报内容不一致" in notice and "重新提交" in notice
    # The reviewer's next message is an ordinary question again, not another reason.
    await bureaus.send(REVIEWER_HZ, "附件大小有什么限制")
    assert bureaus.item("HZ-2").status == "pending"


async def test_cancel_leaves_the_item_pending(bureaus: Bureaus):
    await bureaus.press(REVIEWER_HZ, bureaus.reminder(REVIEWER_HZ), "rv:rt:HZ-2")
    await bureaus.send(REVIEWER_HZ, "/cancel")
    assert "已取消退回" in bureaus.texts(REVIEWER_HZ)[-1]
    assert bureaus.item("HZ-2").status == "pending"


@pytest.mark.parametrize(
    ("presser", "data"),
    [
        (REVIEWER_NB, "rv:ok:HZ-1"),  # another bureau's item
        (REVIEWER_NB, "rv:rt:HZ-1"),
        (OUTSIDER, "rv:ok:HZ-1"),  # bound to nothing
        (REVIEWER_HZ, "rv:ok:NB-1"),
        (REVIEWER_HZ, "rv:ok:NOPE"),  # forged
    ],
)
async def test_forged_and_foreign_buttons_are_refused(bureaus: Bureaus, presser: int, data: str):
    message = bureaus.reminder(REVIEWER_HZ if presser != REVIEWER_HZ else REVIEWER_NB)
    answer = await bureaus.press(presser, message, data)
    assert answer.get("show_alert") and "已失效" in answer["text"]
    assert {bureaus.item(ref).status for ref in ("HZ-1", "HZ-2", "NB-1")} == {"pending"}
    # No reason is awaited either: the presser's next words are not taken as one.
    await bureaus.send(presser, "你好")
    assert {bureaus.item(ref).status for ref in ("HZ-1", "HZ-2", "NB-1")} == {"pending"}


# --- /bureaus -----------------------------------------------------------------------------------


async def test_bureaus_is_for_staff_only(bureaus: Bureaus):
    await bureaus.send(OUTSIDER, "/bureaus")
    assert "工作人员" in bureaus.texts(OUTSIDER)[-1] and "杭州" not in bureaus.texts(OUTSIDER)[-1]
    await bureaus.send(REVIEWER_HZ, "/bureaus xlsx")
    assert not any(m.get("document") for m in bureaus.fake.messages(REVIEWER_HZ))


async def test_bureaus_in_the_staff_group_lists_worst_first(bureaus: Bureaus):
    with bureaus.db.session() as session:
        item = session.get(ReviewItem, "NB-1")
        assert item is not None
        item.due_at = NOW - timedelta(hours=1)  # overdue: 3302 is now the worst
        session.add(item)
    await bureaus.send(STAFF_MEMBER, "/bureaus", chat_id=STAFF)
    text = bureaus.texts(STAFF)[-1]
    assert "各财政局初审情况" in text
    assert text.index("3302") < text.index("3301")
    assert "超期 1" in text and "待审 2" in text


async def test_bureaus_xlsx_sends_a_neutralised_workbook(bureaus: Bureaus):
    await bureaus.send(STAFF_MEMBER, "/bureaus xlsx", chat_id=STAFF)
    message = bureaus.fake.messages(STAFF)[-1]
    document = message["document"]
    assert document["file_name"].endswith(".xlsx")
    data = bureaus.fake.file_content(document["file_id"])
    sheet = load_workbook(io.BytesIO(data)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][:4] == ["财政局代码", "财政局", "待审", "超期"]
    names = {row[0]: row[1] for row in rows[1:]}
    assert names["3301"] == "杭州市财政局"
    assert names["3302"] == "'=HYPERLINK(\"x\")宁波"  # never a formula


async def test_bureaus_xlsx_with_a_control_character_in_a_name(bureaus: Bureaus):
    # A bureau file may carry any character; openpyxl refuses control characters in a cell.
    with bureaus.db.session() as session:
        bureau = session.get(Bureau, "3301")
        assert bureau is not None
        bureau.name = "\x1b=杭州市\x07财政局"
        session.add(bureau)
    await bureaus.send(STAFF_MEMBER, "/bureaus xlsx", chat_id=STAFF)
    document = bureaus.fake.messages(STAFF)[-1]["document"]
    sheet = load_workbook(io.BytesIO(bureaus.fake.file_content(document["file_id"]))).active
    names = {row[0].value: row[1].value for row in sheet.iter_rows(min_row=2)}
    assert names["3301"] == "'=杭州市财政局"


# --- restart ------------------------------------------------------------------------------------


async def test_a_restart_in_the_middle_of_a_due_stage_loses_nothing_and_sends_nothing_twice(
    fake: FakeTelegram, settings: Settings, db: Database, tmp_path: Path
):
    clock = FrozenClock(NOW)

    async def started() -> AsyncIterator[Application]:  # type: ignore[type-arg]
        application = build_application(settings, db=db, clock=clock, faq_index=FaqIndex())
        await application.initialize()
        await application.post_init(application)  # type: ignore[misc]
        try:
            yield application
        finally:
            await application.shutdown()

    seed(db)
    # First run: the bot was down while the items fell due; on start it catches up, but dies
    # right after the tick committed, before the outbox could send (simulated by a fake that
    # refuses every send with a 5xx).
    fake.fail_next("sendMessage", status=502, times=50)
    runs = started()
    app = await anext(runs)
    clock.set(NOW + timedelta(days=2, hours=1))  # overdue now
    await app.bot_data.reminders.tick()  # type: ignore[attr-defined]
    await app.bot_data.desk.sender.idle()  # type: ignore[attr-defined]
    await runs.aclose()
    assert not [m for m in fake.messages(REVIEWER_HZ) if "初审提醒" in m["raw_text"]]
    fake._faults.clear()

    # Second run: the outbox rows left pending go out once; the tick claims nothing new.
    clock.advance(minutes=2)
    runs = started()
    app = await anext(runs)
    await app.bot_data.desk.sender.idle()  # type: ignore[attr-defined]  (start-up's kick)
    result = await app.bot_data.reminders.tick()  # type: ignore[attr-defined]
    await app.bot_data.desk.sender.idle()  # type: ignore[attr-defined]
    await runs.aclose()
    assert result.claimed == 0
    reminders = [m["raw_text"] for m in fake.messages(REVIEWER_HZ) if "初审提醒" in m["raw_text"]]
    # The first run's start-up tick (new) and its later tick (due) are both delivered, once each.
    assert len(reminders) == 2 and "已超期 1 小时" in reminders[-1]
    escalations = [t for t in (m["raw_text"] for m in fake.messages(STAFF)) if "初审超期" in t]
    assert len(escalations) == 1


def test_engine_config_from_settings(settings: Settings):
    config = engine.config_from_settings(settings)
    assert config.staff_chat_id == STAFF and config.tz == SHANGHAI
    assert config.quiet_hours is not None and str(config.quiet_hours.start) == "21:00:00"
    assert isinstance(NOW, datetime)


async def test_the_tick_and_the_morning_job_are_scheduled(bureaus: Bureaus):
    jobs = bureaus.app.job_queue
    assert jobs is not None
    (tick,) = jobs.get_jobs_by_name("reminders-tick")
    (morning,) = jobs.get_jobs_by_name("reminders-morning")
    assert tick.trigger.interval.total_seconds() == 60
    # Every day at 09:00 Beijing time: the tick itself knows which days are working days.
    fields = {f.name: str(f) for f in morning.trigger.fields}
    assert (fields["hour"], fields["minute"]) == ("9", "0")
    assert fields["day_of_week"] == "sun,mon,tue,wed,thu,fri,sat"  # all seven (PTB: 0 = Sunday)
    assert str(morning.trigger.timezone) == "Asia/Shanghai"
