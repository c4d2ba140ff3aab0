"""The reminder tick (reminders/engine.py) against a real database (SQLite, or PostgreSQL with
HELPDESK_TEST_DATABASE_URL) and a frozen clock: what it claims, what it queues in the outbox, and
that nothing goes twice or gets lost."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.db import Database
from bot.outbox import OutboxMessage
from reminders import engine
from reminders.engine import ReminderConfig, ReviewRefused, tick
from reminders.models import (
    Bureau,
    BureauReviewer,
    InstitutionBinding,
    ReminderSent,
    ReviewItem,
)
from reminders.stages import DEFAULT_QUIET_HOURS

from .conftest import SHANGHAI

STAFF = -100777
REVIEWER_A, REVIEWER_A2, REVIEWER_B = 2001, 2002, 2003
INSTITUTION_USER = 3001
CREDIT = "91330100MA2B3C4D5E"
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)

CONFIG = ReminderConfig(staff_chat_id=STAFF, tz=SHANGHAI, quiet_hours=DEFAULT_QUIET_HOURS)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def add_bureau(db: Database, code: str, name: str, *reviewers: int) -> None:
    with db.session() as session:
        session.add(
            Bureau(code=code, name=name, level="city", created_at=MONDAY_10, updated_at=MONDAY_10)
        )
        session.flush()
        for user_id in reviewers:
            session.add(BureauReviewer(user_id=user_id, bureau_code=code, bound_at=MONDAY_10))


def add_item(
    db: Database,
    ref: str,
    bureau: str,
    *,
    submitted: datetime = MONDAY_10,
    due: datetime | None = None,
    status: str = "pending",
    institution: str = "杭州某某会计师事务所",
    credit_code: str = CREDIT,
    decided: datetime | None = None,
    reason: str | None = None,
) -> None:
    with db.session() as session:
        session.add(
            ReviewItem(
                ref=ref,
                institution=institution,
                credit_code=credit_code,
                contact_phone="13800000000",
                bureau_code=bureau,
                submitted_at=submitted,
                due_at=due or submitted + timedelta(days=2),
                status=status,
                decided_at=decided,
                return_reason=reason,
                last_event_at=submitted,
                created_at=submitted,
                updated_at=submitted,
            )
        )


def run_tick(db: Database, now: datetime, config: ReminderConfig = CONFIG) -> engine.TickResult:
    return db.call(tick, config=config, now=now)


def outbox(db: Database) -> list[OutboxMessage]:
    with db.session() as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all())


def to(db: Database, chat_id: int, *, digests: bool = False) -> list[dict[str, Any]]:
    """What was queued for a chat; the daily digest (due on the first tick after 09:00) only
    when asked for."""
    return [
        row.arguments
        for row in outbox(db)
        if row.chat_id == chat_id and digests == row.dedupe_key.startswith("dg:")
    ]


def sent_stages(db: Database) -> list[tuple[str, str]]:
    with db.session() as session:
        rows = session.exec(select(ReminderSent).order_by(ReminderSent.item_ref)).all()
        return [(row.item_ref, row.stage) for row in rows]


def buttons(payload: dict[str, Any]) -> list[str]:
    rows = (payload.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button["callback_data"] for row in rows for button in row]


@pytest.fixture
def bureaus(db: Database) -> Database:
    add_bureau(db, "3301", "杭州市财政局", REVIEWER_A, REVIEWER_A2)
    add_bureau(db, "3302", "宁波市财政局", REVIEWER_B)
    add_bureau(db, "3303", "温州市财政局")  # nobody bound yet
    return db


# --- batching -------------------------------------------------------------------------------------


def test_one_message_per_bureau_per_tick_to_every_bound_reviewer(bureaus: Database):
    db = bureaus
    for n in range(3):
        add_item(db, f"HZ-{n}", "3301", institution=f"杭州第{n}事务所")
    add_item(db, "NB-0", "3302")

    result = run_tick(db, MONDAY_10)

    assert result.claimed == 4 and result.bureau_messages == 3
    hz = to(db, REVIEWER_A)
    assert len(hz) == 1 and to(db, REVIEWER_A2) == hz
    text = hz[0]["text"]
    assert "杭州市财政局" in text and "3 件" in text
    assert all(f"杭州第{n}事务所" in text for n in range(3))
    for point in ("是否属于填报对象", "附件是否匹配", "前后信息是否一致", "内容是否完整合规"):
        assert point in text
    assert "还剩 2 天" in text and "11-23 10:00" in text  # local time, relative words
    assert sorted(buttons(hz[0])) == sorted(
        [f"rv:ok:HZ-{n}" for n in range(3)] + [f"rv:rt:HZ-{n}" for n in range(3)]
    )
    assert len(to(db, REVIEWER_B)) == 1
    # The next tick has nothing new to say.
    assert run_tick(db, MONDAY_10 + timedelta(minutes=1)).claimed == 0
    assert len(to(db, REVIEWER_A)) == 1


def test_later_stages_batch_again_and_only_the_most_urgent_after_downtime(bureaus: Database):
    db = bureaus
    add_item(db, "HZ-1", "3301")  # due Wednesday 10:00
    run_tick(db, MONDAY_10)
    # Down from Monday 10:01 until Wednesday 08:45: 24h and 4h both passed; only 4h goes.
    run_tick(db, at(2026, 11, 25, 8, 45))
    assert sent_stages(db) == [("HZ-1", "new"), ("HZ-1", "4h")]
    assert "剩余不足 4 小时" in to(db, REVIEWER_A)[-1]["text"]


def test_a_bureau_with_many_items_gets_them_over_several_ticks(bureaus: Database):
    db = bureaus
    for n in range(20):
        add_item(db, f"HZ-{n:02d}", "3301")
    assert run_tick(db, MONDAY_10).claimed == engine.ITEMS_PER_MESSAGE
    assert run_tick(db, MONDAY_10 + timedelta(minutes=1)).claimed == 20 - engine.ITEMS_PER_MESSAGE
    assert len(to(db, REVIEWER_A)) == 2
    assert len(sent_stages(db)) == 20


def test_quiet_hours_defer_the_tick(bureaus: Database):
    db = bureaus
    add_item(db, "HZ-1", "3301", submitted=at(2026, 11, 23, 22, 0))
    assert run_tick(db, at(2026, 11, 23, 22, 0)).claimed == 0
    assert run_tick(db, at(2026, 11, 24, 8, 30)).claimed == 1


# --- at most once, nothing lost -------------------------------------------------------------------


def test_reminder_sent_is_unique_per_item_cycle_and_stage(bureaus: Database):
    db = bureaus
    add_item(db, "HZ-1", "3301")
    run_tick(db, MONDAY_10)
    with pytest.raises(IntegrityError), db.session() as session:
        (cycle,) = session.exec(select(ReminderSent.cycle)).all()
        session.add(ReminderSent(item_ref="HZ-1", cycle=cycle, stage="new", sent_at=MONDAY_10))
        session.flush()
    # A claim of what another tick claimed first never sends twice: on SQLite (one writer at a
    # time) it fails the transaction; on PostgreSQL (concurrent ticks) it claims nothing.
    def claim_again() -> list[engine.Reminder]:
        with db.session() as session:
            reminders = engine.due_reminders(
                engine._item_views(session, MONDAY_10),
                {},
                {"3301"},
                MONDAY_10,
                quiet_hours=None,
                tz=SHANGHAI,
            )
            assert [r.stage for r in reminders] == ["new"]
            return engine.claim(session, reminders, MONDAY_10)

    if db.engine.dialect.name == "postgresql":
        assert claim_again() == []
    else:
        with pytest.raises(IntegrityError):
            claim_again()
    assert sent_stages(db) == [("HZ-1", "new")]


class Crash(Exception):
    pass


def test_a_crash_mid_tick_loses_nothing_and_a_restart_sends_nothing_twice(
    bureaus: Database, tmp_path: Path
):
    db = bureaus
    add_item(db, "HZ-1", "3301", due=MONDAY_10 - timedelta(hours=1))  # overdue: "due" stage
    # The process dies after deciding but before committing: neither the claim nor the messages
    # exist, so the next tick decides again.
    with pytest.raises(Crash), db.session() as session:
        assert tick(session, config=CONFIG, now=MONDAY_10).claimed == 1
        raise Crash
    assert sent_stages(db) == [] and outbox(db) == []

    assert run_tick(db, MONDAY_10 + timedelta(minutes=1)).claimed == 1
    queued = len(outbox(db))
    assert len(to(db, REVIEWER_A) + to(db, REVIEWER_A2) + to(db, STAFF)) == 3
    # A restarted process (a fresh engine on the same file) finds the stage claimed.
    restarted = Database(db.url)
    try:
        assert run_tick(restarted, MONDAY_10 + timedelta(minutes=2)).claimed == 0
    finally:
        restarted.dispose()
    assert len(outbox(db)) == queued
    assert sent_stages(db) == [("HZ-1", "due")]


# --- unreachable bureaus --------------------------------------------------------------------------


def test_an_unreachable_bureau_waits_and_staff_are_told_once_a_day(bureaus: Database):
    db = bureaus
    add_item(db, "WZ-1", "3303")
    add_item(db, "WZ-2", "3303")

    first = run_tick(db, MONDAY_10)
    assert first.claimed == 0 and first.waiting_bureaus == ["3303"]
    notice = to(db, STAFF)
    assert len(notice) == 1 and "温州市财政局（3303）：2 件待提醒" in notice[0]["text"]
    assert run_tick(db, MONDAY_10 + timedelta(hours=1)).waiting_bureaus == []
    assert len(to(db, STAFF)) == 1  # once per day
    assert sent_stages(db) == []

    with db.session() as session:
        session.add(BureauReviewer(user_id=REVIEWER_B, bureau_code="3303", bound_at=MONDAY_10))
    bound = run_tick(db, MONDAY_10 + timedelta(hours=2))
    assert bound.claimed == 2
    assert "WZ-1" in to(db, REVIEWER_B)[-1]["text"]


def test_unbound_reviewers_get_nothing(bureaus: Database):
    db = bureaus
    with db.session() as session:
        binding = session.exec(
            select(BureauReviewer).where(BureauReviewer.user_id == REVIEWER_B)
        ).one()
        binding.active = False
        session.add(binding)
    add_item(db, "NB-1", "3302")
    assert run_tick(db, MONDAY_10).waiting_bureaus == ["3302"]
    assert to(db, REVIEWER_B) == []


# --- escalation and digest ------------------------------------------------------------------------


def test_overdue_items_escalate_to_staff_grouped_by_bureau(bureaus: Database):
    db = bureaus
    friday = at(2026, 11, 20, 10, 0)
    add_item(db, "HZ-1", "3301", submitted=friday, due=at(2026, 11, 23, 9, 0))
    add_item(db, "HZ-2", "3301", submitted=friday, due=at(2026, 11, 23, 7, 0))
    add_item(db, "NB-1", "3302", submitted=friday, due=at(2026, 11, 23, 8, 0))
    add_item(db, "NB-2", "3302")  # not overdue: not escalated

    result = run_tick(db, MONDAY_10)

    assert result.escalated == 3
    (staff,) = to(db, STAFF)
    text = staff["text"]
    assert "共 3 件" in text
    hz, nb = text.index("杭州市财政局"), text.index("宁波市财政局")
    assert hz < text.index("HZ-2") < text.index("HZ-1") < nb < text.index("NB-1")
    assert "NB-2" not in text and "已超期 3 小时" in text
    # Tuesday 09:00: the working-morning repeat goes to the bureaus and to staff again.
    run_tick(db, at(2026, 11, 24, 9, 0))
    assert len(to(db, STAFF)) == 2
    assert (
        "NB-1" in to(db, REVIEWER_B)[-1]["text"] and "已超期 25 小时" in to(db, STAFF)[-1]["text"]
    )


def test_daily_digest_on_working_mornings_once(bureaus: Database):
    db = bureaus
    add_item(db, "HZ-1", "3301", submitted=at(2026, 11, 20, 10, 0), due=at(2026, 11, 23, 8, 0))
    add_item(db, "HZ-2", "3301", submitted=at(2026, 11, 21, 10, 0), due=at(2026, 11, 24, 15, 0))
    add_item(db, "HZ-3", "3301", submitted=at(2026, 11, 23, 8, 0), due=at(2026, 11, 25, 8, 0))
    tuesday_9 = at(2026, 11, 24, 9, 0)
    run_tick(db, at(2026, 11, 23, 8, 59))
    assert to(db, REVIEWER_A, digests=True) == []

    assert run_tick(db, tuesday_9).digests == 2  # both reviewers of 3301
    digest = to(db, REVIEWER_A, digests=True)[-1]["text"]
    assert "2026-11-24" in digest
    assert "待初审：3 件" in digest and "今日到期：1 件" in digest and "已超期：1 件" in digest
    assert run_tick(db, tuesday_9 + timedelta(hours=2)).digests == 0
    assert run_tick(db, at(2026, 11, 28, 9, 0)).digests == 0  # Saturday


# --- returned submissions -------------------------------------------------------------------------


def bind_institution(db: Database, user_id: int = INSTITUTION_USER) -> None:
    with db.session() as session:
        session.add(
            InstitutionBinding(
                user_id=user_id, credit_code=CREDIT, phone="13800000000", bound_at=MONDAY_10
            )
        )


def test_returned_item_notifies_the_bound_institution_then_follows_up_once(bureaus: Database):
    db = bureaus
    bind_institution(db)
    add_item(db, "HZ-1", "3301", status="returned", decided=MONDAY_10, reason="附件与填报内容不符")
    with db.session() as session:
        item = session.get(ReviewItem, "HZ-1")
        assert engine.on_intake(session, [item], MONDAY_10) == 1
    (notice,) = to(db, INSTITUTION_USER)
    assert "附件与填报内容不符" in notice["text"] and "重新提交" in notice["text"]
    assert run_tick(db, MONDAY_10 + timedelta(minutes=1)).return_notices == 0

    assert run_tick(db, MONDAY_10 + timedelta(days=3)).return_notices == 1
    assert "尚未重新提交" in to(db, INSTITUTION_USER)[-1]["text"]
    assert run_tick(db, MONDAY_10 + timedelta(days=4)).return_notices == 0


def test_returned_notice_waits_for_the_institution_to_bind(bureaus: Database):
    db = bureaus
    add_item(db, "HZ-1", "3301", status="returned", decided=MONDAY_10, reason="缺少附件")
    assert run_tick(db, MONDAY_10).return_notices == 0
    bind_institution(db)
    assert run_tick(db, MONDAY_10 + timedelta(hours=1)).return_notices == 1


def test_returned_at_night_is_told_after_quiet_hours(bureaus: Database):
    db = bureaus
    bind_institution(db)
    night = at(2026, 11, 23, 23, 0)
    add_item(db, "HZ-1", "3301", status="returned", decided=night, reason="缺少附件")
    with db.session() as session:
        assert engine.on_intake(session, ["HZ-1"], night) == 0
    assert run_tick(db, at(2026, 11, 24, 8, 30)).return_notices == 1


# --- the bureau's decisions -----------------------------------------------------------------------


def test_only_a_bound_reviewer_of_the_items_bureau_decides_and_only_once(bureaus: Database):
    db = bureaus
    add_item(db, "HZ-1", "3301")
    with pytest.raises(ReviewRefused):
        db.call(engine.approve, ref="HZ-1", user_id=REVIEWER_B, now=MONDAY_10)  # other bureau
    with pytest.raises(ReviewRefused):
        db.call(engine.approve, ref="NOPE", user_id=REVIEWER_A, now=MONDAY_10)
    item = db.call(engine.approve, ref="HZ-1", user_id=REVIEWER_A, now=MONDAY_10)
    assert (item.status, item.decided_by, item.decided_at) == ("approved", REVIEWER_A, MONDAY_10)
    with pytest.raises(ReviewRefused):
        db.call(engine.ask_return_reason, ref="HZ-1", user_id=REVIEWER_A2, now=MONDAY_10)


def test_return_with_a_reason_queues_the_institution_notice(bureaus: Database):
    db = bureaus
    bind_institution(db)
    add_item(db, "HZ-1", "3301")
    db.call(engine.ask_return_reason, ref="HZ-1", user_id=REVIEWER_A, now=MONDAY_10)
    assert db.call(engine.open_prompt, user_id=REVIEWER_A, reply_to=None, now=MONDAY_10)
    later = MONDAY_10 + engine.RETURN_PROMPT_TTL + timedelta(seconds=1)
    assert db.call(engine.open_prompt, user_id=REVIEWER_A, reply_to=None, now=later) is None
    item = db.call(
        engine.return_item, config=CONFIG, user_id=REVIEWER_A, reason="附件不全", now=MONDAY_10
    )
    assert (item.status, item.return_reason) == ("returned", "附件不全")
    assert "附件不全" in to(db, INSTITUTION_USER)[0]["text"]
    with pytest.raises(ReviewRefused):  # no return in progress any more
        db.call(engine.return_item, config=CONFIG, user_id=REVIEWER_A, reason="x", now=MONDAY_10)


# --- staff view -----------------------------------------------------------------------------------


def test_bureau_stats_worst_first(bureaus: Database):
    db = bureaus
    # 3301: one overdue pending item; 3302: two decided, one late; 3303: nothing.
    add_item(db, "HZ-1", "3301", submitted=at(2026, 11, 19, 10, 0), due=at(2026, 11, 21, 10, 0))
    add_item(
        db,
        "NB-1",
        "3302",
        submitted=at(2026, 11, 10, 10, 0),
        due=at(2026, 11, 12, 10, 0),
        status="approved",
        decided=at(2026, 11, 11, 10, 0),
    )
    add_item(
        db,
        "NB-2",
        "3302",
        submitted=at(2026, 11, 10, 10, 0),
        due=at(2026, 11, 12, 10, 0),
        status="returned",
        decided=at(2026, 11, 14, 10, 0),
    )
    stats = db.call(engine.bureau_stats, now=MONDAY_10)
    assert [s.code for s in stats] == ["3301", "3302", "3303"]
    hz, nb, _wz = stats
    assert (hz.pending, hz.overdue, hz.on_time_rate) == (1, 1, None)
    assert (nb.decided, nb.on_time, nb.on_time_rate, nb.median_hours) == (
        2,
        1,
        0.5,
        60.0,
    )  # 24 h and 96 h


def test_payloads_are_valid_json_for_the_outbox(bureaus: Database):
    db = bureaus
    add_item(db, "HZ-<1>", "3301", institution="A&B <会计>")
    run_tick(db, MONDAY_10)
    payload = json.loads(outbox(db)[0].payload)
    assert "A&amp;B &lt;会计&gt;" in payload["text"]  # user data is escaped for HTML


def test_enqueue_many_keeps_order_and_skips_keys_already_queued(db: Database):
    from bot.outbox import enqueue, enqueue_many

    def message(key: str, chat_id: int) -> dict[str, Any]:
        return {"key": key, "chat_id": chat_id, "method": "sendMessage", "payload": {"text": key}}

    with db.session() as session:
        enqueue(session, now=MONDAY_10, **message("a", 1))
    with db.session() as session:
        added = enqueue_many(
            session, [message("b", 1), message("a", 1), message("c", 2)], now=MONDAY_10
        )
    assert added == 2
    assert [(row.dedupe_key, row.chat_id, row.status) for row in outbox(db)] == [
        ("a", 1, "pending"),
        ("b", 1, "pending"),
        ("c", 2, "pending"),
    ]
