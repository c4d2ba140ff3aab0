"""Which reminder is due now (reminders/stages.py): pure, so the clock is just an argument."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from reminders.stages import (
    DEFAULT_QUIET_HOURS,
    ItemView,
    QuietHours,
    digest_due,
    due_reminders,
    due_return_notices,
    parse_quiet_hours,
    relative_due,
)

SH = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def item(
    submitted: datetime,
    due: datetime,
    *,
    ref: str = "R1",
    bureau: str = "3301",
    status: str = "pending",
    intake: datetime | None = None,
    decided: datetime | None = None,
) -> ItemView:
    return ItemView(
        ref=ref,
        bureau=bureau,
        credit_code="91330000MA0000000X",
        status=status,
        submitted_at=submitted,
        due_at=due,
        intake_at=intake,
        decided_at=decided,
    )


# Submitted Monday 2026-11-23 10:00, due two working days later: Wednesday 10:00.
SUBMITTED = at(2026, 11, 23, 10, 0)
DUE = at(2026, 11, 25, 10, 0)


def stage_at(now: datetime, sent: tuple[str, ...] = (), quiet: QuietHours | None = None) -> str:
    found = due_reminders(
        [item(SUBMITTED, DUE)], {"R1": sent}, {"3301"}, now, quiet_hours=quiet, tz=SH
    )
    assert len(found) <= 1
    return found[0].stage if found else ""


@pytest.mark.parametrize(
    ("now", "sent", "expected"),
    [
        (at(2026, 11, 23, 9, 59), (), ""),  # not submitted yet
        (at(2026, 11, 23, 10, 0), (), "new"),
        (at(2026, 11, 23, 10, 1), ("new",), ""),
        (at(2026, 11, 24, 9, 59), ("new",), ""),
        (at(2026, 11, 24, 10, 0), ("new",), "24h"),
        (at(2026, 11, 25, 5, 59), ("new", "24h"), ""),
        (at(2026, 11, 25, 6, 0), ("new", "24h"), "4h"),
        (at(2026, 11, 25, 10, 0), ("new", "24h", "4h"), "due"),
        (at(2026, 11, 25, 18, 0), ("new", "24h", "4h", "due"), ""),
        # every working morning at 09:00 after the day it fell due
        (at(2026, 11, 26, 8, 59), ("due",), ""),
        (at(2026, 11, 26, 9, 0), ("due",), "overdue-2026-11-26"),
        (at(2026, 11, 26, 15, 0), ("due", "overdue-2026-11-26"), ""),
        (at(2026, 11, 27, 9, 0), ("due", "overdue-2026-11-26"), "overdue-2026-11-27"),
        # the weekend has no mornings: Saturday and Sunday still point at Friday's, Monday is new
        (at(2026, 11, 28, 9, 0), ("overdue-2026-11-27",), ""),
        (at(2026, 11, 29, 12, 0), ("overdue-2026-11-27",), ""),
        (at(2026, 11, 30, 9, 0), ("overdue-2026-11-27",), "overdue-2026-11-30"),
    ],
)
def test_every_stage_in_turn(now, sent, expected):
    assert stage_at(now, sent) == expected


def test_after_downtime_only_the_most_urgent_stage_goes():
    # Down from before submission until Friday afternoon: new, 24h, 4h, due and Thursday's
    # morning were all missed; only Friday's morning reminder is due.
    assert stage_at(at(2026, 11, 27, 14, 0)) == "overdue-2026-11-27"
    # Missed only "new" and "24h": 4h is the one that matters.
    assert stage_at(at(2026, 11, 25, 7, 0)) == "4h"


def test_a_less_urgent_stage_never_follows_a_more_urgent_one():
    assert stage_at(at(2026, 11, 25, 7, 0), sent=("4h",)) == ""


def test_an_item_arriving_late_gets_its_current_stage_not_new():
    late = item(at(2026, 11, 20, 10, 0), at(2026, 11, 24, 10, 0), intake=at(2026, 11, 24, 7, 0))
    found = due_reminders([late], {}, {"3301"}, at(2026, 11, 24, 7, 0), quiet_hours=None, tz=SH)
    assert [r.stage for r in found] == ["4h"]


def test_new_is_due_on_intake_not_on_submission():
    imported_later = item(SUBMITTED, DUE, intake=at(2026, 11, 23, 15, 0))
    now = at(2026, 11, 23, 14, 0)
    assert due_reminders([imported_later], {}, {"3301"}, now, quiet_hours=None, tz=SH) == []


@pytest.mark.parametrize("status", ["approved", "returned", "withdrawn"])
def test_items_not_awaiting_review_get_nothing(status):
    done = item(SUBMITTED, DUE, status=status)
    now = at(2026, 11, 27, 9, 0)
    assert due_reminders([done], {}, {"3301"}, now, quiet_hours=None, tz=SH) == []


def test_resubmitted_items_are_reminded_again():
    again = item(SUBMITTED, DUE, status="resubmitted")
    found = due_reminders([again], {}, {"3301"}, SUBMITTED, quiet_hours=None, tz=SH)
    assert [r.stage for r in found] == ["new"]
    assert found[0].cycle == f"s{int(SUBMITTED.timestamp())}"


def test_unreachable_bureaus_wait():
    found = due_reminders([item(SUBMITTED, DUE)], {}, set(), SUBMITTED, quiet_hours=None, tz=SH)
    assert [(r.stage, r.waiting) for r in found] == [("new", True)]


# --- quiet hours ---------------------------------------------------------------------------------


def test_quiet_hours_defer_to_their_end():
    quiet = DEFAULT_QUIET_HOURS
    night = item(at(2026, 11, 23, 22, 30), at(2026, 11, 25, 22, 30))
    for now in (at(2026, 11, 23, 22, 30), at(2026, 11, 24, 8, 29)):
        assert due_reminders([night], {}, {"3301"}, now, quiet_hours=quiet, tz=SH) == []
    found = due_reminders([night], {}, {"3301"}, at(2026, 11, 24, 8, 30), quiet_hours=quiet, tz=SH)
    assert [r.stage for r in found] == ["new"]


def test_stages_falling_in_quiet_hours_collapse_to_the_most_urgent_at_their_end():
    # 4h left at 22:00, due at 02:00: at 08:30 only "due" goes.
    night = item(at(2026, 11, 23, 8, 0), at(2026, 11, 25, 2, 0))
    sent = {"R1": ("new", "24h")}
    found = due_reminders(
        [night], sent, {"3301"}, at(2026, 11, 25, 8, 30), quiet_hours=DEFAULT_QUIET_HOURS, tz=SH
    )
    assert [r.stage for r in found] == ["due"]


def test_quiet_hours_off_sends_at_night():
    found = due_reminders(
        [item(SUBMITTED, DUE)], {}, {"3301"}, at(2026, 11, 24, 3, 0), quiet_hours=None, tz=SH
    )
    assert [r.stage for r in found] == ["new"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("21:00-08:30", QuietHours(time(21, 0), time(8, 30))),
        (" 12:00 - 13:30 ", QuietHours(time(12, 0), time(13, 30))),
        ("", None),
        (None, None),
    ],
)
def test_parse_quiet_hours(value, expected):
    assert parse_quiet_hours(value) == expected


@pytest.mark.parametrize("value", ["21-8", "25:00-08:00", "09:00-09:00", "nightly"])
def test_parse_quiet_hours_refuses_nonsense(value):
    with pytest.raises(ValueError):
        parse_quiet_hours(value)


def test_daytime_quiet_hours():
    lunch = QuietHours(time(12, 0), time(13, 30))
    assert lunch.contains(time(12, 0)) and lunch.contains(time(13, 29))
    assert not lunch.contains(time(13, 30)) and not lunch.contains(time(11, 59))
    assert lunch.end_after(at(2026, 11, 23, 12, 10), SH) == at(2026, 11, 23, 13, 30)
    assert DEFAULT_QUIET_HOURS.end_after(at(2026, 11, 23, 23, 0), SH) == at(2026, 11, 24, 8, 30)


# --- the calendar's edge cases --------------------------------------------------------------------


def test_no_overdue_mornings_in_a_holiday_week_but_on_the_adjusted_saturday():
    # Due Wednesday 2026-09-30 10:00; 1–7 October are the National Day holiday, Saturday
    # 10 October is an adjusted working day.
    due = at(2026, 9, 30, 10, 0)
    late = item(at(2026, 9, 28, 10, 0), due)
    sent = {"R1": ("due",)}

    def stage(now: datetime) -> str:
        found = due_reminders([late], sent, {"3301"}, now, quiet_hours=None, tz=SH)
        return found[0].stage if found else ""

    for day in range(1, 8):
        assert stage(at(2026, 10, day, 9, 0)) == "", day
    assert stage(at(2026, 10, 8, 9, 0)) == "overdue-2026-10-08"
    sent = {"R1": ("overdue-2026-10-09",)}
    assert stage(at(2026, 10, 10, 9, 0)) == "overdue-2026-10-10"


def test_the_year_boundary():
    # Due 2025-12-31 17:00; New Year holiday 1–3 January 2026, Sunday 4 January is worked.
    late = item(at(2025, 12, 29, 17, 0), at(2025, 12, 31, 17, 0))
    sent = {"R1": ("due",)}
    for now in (at(2026, 1, 1, 9, 0), at(2026, 1, 3, 9, 0)):
        assert due_reminders([late], sent, {"3301"}, now, quiet_hours=None, tz=SH) == []
    found = due_reminders([late], sent, {"3301"}, at(2026, 1, 4, 9, 0), quiet_hours=None, tz=SH)
    assert [r.stage for r in found] == ["overdue-2026-01-04"]


# --- returned submissions ------------------------------------------------------------------------


def test_returned_notice_then_one_follow_up_after_three_days():
    returned = item(SUBMITTED, DUE, status="returned", decided=at(2026, 11, 24, 11, 0))
    reachable = {"91330000MA0000000X"}

    def notices(now: datetime, sent: tuple[str, ...] = ()) -> list[str]:
        found = due_return_notices(
            [returned], {"R1": sent}, reachable, now, quiet_hours=DEFAULT_QUIET_HOURS, tz=SH
        )
        return [r.stage for r in found]

    assert notices(at(2026, 11, 24, 11, 0)) == ["returned"]
    assert notices(at(2026, 11, 25, 11, 0), ("returned",)) == []
    assert notices(at(2026, 11, 27, 11, 0), ("returned",)) == ["returned-3d"]
    assert notices(at(2026, 11, 28, 11, 0), ("returned", "returned-3d")) == []
    assert notices(at(2026, 11, 27, 23, 0), ("returned",)) == []  # quiet hours
    # resubmitted in time: no follow-up
    resubmitted = item(SUBMITTED, DUE, status="resubmitted", decided=at(2026, 11, 24, 11, 0))
    assert (
        due_return_notices(
            [resubmitted], {}, reachable, at(2026, 11, 28, 11, 0), quiet_hours=None, tz=SH
        )
        == []
    )


def test_returned_notice_waits_for_a_bound_institution():
    returned = item(SUBMITTED, DUE, status="returned", decided=at(2026, 11, 24, 11, 0))
    found = due_return_notices(
        [returned], {}, set(), at(2026, 11, 24, 11, 0), quiet_hours=None, tz=SH
    )
    assert [(r.stage, r.waiting) for r in found] == [("returned", True)]


# --- digest and words ----------------------------------------------------------------------------


def test_digest_is_due_once_on_working_mornings():
    assert digest_due(at(2026, 11, 23, 8, 59), None, SH) is None
    assert digest_due(at(2026, 11, 23, 9, 0), None, SH) == date(2026, 11, 23)
    assert digest_due(at(2026, 11, 23, 15, 0), date(2026, 11, 23), SH) is None
    assert digest_due(at(2026, 11, 24, 9, 0), date(2026, 11, 23), SH) == date(2026, 11, 24)
    assert digest_due(at(2026, 11, 28, 9, 0), None, SH) is None  # Saturday
    assert digest_due(at(2026, 10, 10, 9, 0), None, SH) == date(2026, 10, 10)  # adjusted Saturday


@pytest.mark.parametrize(
    ("delta", "zh", "en"),
    [
        (timedelta(hours=5, minutes=10), "还剩 5 小时", "5 hours left"),
        (timedelta(minutes=-190), "已超期 3 小时", "3 hours overdue"),
        (timedelta(minutes=20), "还剩 20 分钟", "20 minutes left"),
        (timedelta(days=-3, hours=-2), "已超期 3 天", "3 days overdue"),
        (timedelta(hours=30), "还剩 30 小时", "30 hours left"),
    ],
)
def test_relative_due(delta, zh, en):
    now = at(2026, 11, 23, 10, 0)
    assert relative_due(now + delta, now, "zh") == zh
    assert relative_due(now + delta, now, "en") == en
