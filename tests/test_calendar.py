"""Chinese working days and business-hours arithmetic (reminders/calendar.py)."""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from reminders import calendar
from reminders.calendar import (
    BusinessHours,
    add_business_minutes,
    business_minutes_between,
    is_business_time,
    is_working_day,
    next_opening,
)

SH = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


@pytest.fixture(autouse=True)
def fresh_warnings():
    calendar._warned_years.clear()
    yield
    calendar._warned_years.clear()


def test_national_day_week_is_a_holiday_and_the_adjusted_saturday_is_worked():
    assert not any(is_working_day(date(2026, 10, d)) for d in range(1, 8))
    assert is_working_day(date(2026, 10, 10))  # a Saturday made a working day (调休)
    assert is_working_day(date(2026, 2, 14))  # the Spring Festival's adjusted Saturday
    assert not is_working_day(date(2026, 10, 11))  # an ordinary Sunday


def test_minutes_across_the_national_day_holiday_count_only_working_time():
    # Wednesday 30 September 17:00 → Thursday 8 October 09:30: 30 + 30 minutes.
    assert business_minutes_between(at(2026, 9, 30, 17, 0), at(2026, 10, 8, 9, 30)) == 60
    # The instant 60 business minutes after 17:00 on the last day before the holiday.
    assert add_business_minutes(at(2026, 9, 30, 17, 0), 60) == at(2026, 10, 8, 9, 30)


def test_the_adjusted_saturday_counts_as_a_working_day():
    friday = at(2026, 10, 9, 17, 0)
    assert add_business_minutes(friday, 60) == at(2026, 10, 10, 9, 30)
    assert next_opening(at(2026, 10, 9, 18, 0)) == at(2026, 10, 10, 9, 0)
    # And a holiday evening waits for the first working day after it.
    assert next_opening(at(2026, 10, 1, 20, 0)) == at(2026, 10, 8, 9, 0)


def test_inside_business_hours_the_next_opening_is_now():
    now = at(2026, 11, 23, 10, 0)
    assert is_business_time(now)
    assert next_opening(now) == now
    assert not is_business_time(at(2026, 11, 23, 17, 30))  # closing time is closed
    assert next_opening(at(2026, 11, 23, 8, 0)) == at(2026, 11, 23, 9, 0)


def test_hours_are_parameters():
    hours = BusinessHours(opens=time(8, 30), closes=time(12, 0), tz=SH)
    monday = at(2026, 11, 23, 11, 0)
    assert business_minutes_between(monday, at(2026, 11, 23, 16, 0), hours) == 60
    assert add_business_minutes(monday, 90, hours) == at(2026, 11, 24, 9, 0)
    with pytest.raises(ValueError):
        BusinessHours(opens=time(12), closes=time(9))


def test_instants_in_utc_are_converted():
    start = datetime(2026, 11, 23, 1, 0, tzinfo=ZoneInfo("UTC"))  # 09:00 in Shanghai
    assert business_minutes_between(start, at(2026, 11, 23, 9, 45)) == 45
    with pytest.raises(ValueError):
        business_minutes_between(datetime(2026, 11, 23, 9), at(2026, 11, 23, 10))


def test_a_year_the_package_does_not_know_falls_back_to_weekdays_with_one_warning(caplog):
    caplog.set_level(logging.WARNING, logger="reminders.calendar")
    # Thursday 31 December 2026 16:30 → Monday 4 January 2027 10:00 (2027 unknown: Mon-Fri).
    # 2026-12-31 is a working day; 1 January 2027 (a Friday) counts as one in the fallback.
    minutes = business_minutes_between(at(2026, 12, 31, 16, 30), at(2027, 1, 4, 10, 0))
    assert minutes == 60 + 8.5 * 60 + 60
    assert is_working_day(date(2027, 1, 4))
    assert not is_working_day(date(2027, 1, 9))  # a Saturday
    warnings = [r for r in caplog.records if "2027" in r.getMessage()]
    assert len(warnings) == 1
