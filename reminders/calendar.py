"""Chinese working days and business-hours arithmetic, as pure functions of aware datetimes.

Working days come from the ``chinese-calendar`` package, which knows the State Council's holiday
and adjusted-working-day (调休) schedule for the years it was released with. A year it does not know
yet falls back to Monday–Friday, with one logged warning per year, so the bot keeps counting (a bit
wrong around that year's holidays) instead of failing until the package is upgraded.

Business hours default to Monday–Friday 09:00–17:30 Asia/Shanghai on working days; every function
takes the hours as a parameter. Instants go in and come out timezone-aware.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

logger = logging.getLogger(__name__)

# Years already warned about; module state because the warning is about the installed package.
_warned_years: set[int] = set()


@dataclass(frozen=True, slots=True)
class BusinessHours:
    opens: time = time(9, 0)
    closes: time = time(17, 30)
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))

    def __post_init__(self) -> None:
        if self.closes <= self.opens:
            raise ValueError("business hours must close after they open")

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The opening and closing instants of ``day`` (whether or not it is a working day)."""
        return (
            datetime.combine(day, self.opens, tzinfo=self.tz),
            datetime.combine(day, self.closes, tzinfo=self.tz),
        )


DEFAULT_HOURS = BusinessHours()
# Every working week has working days; a gap longer than this means a bug, not a holiday.
_MAX_SCAN_DAYS = 366


def is_working_day(day: date) -> bool:
    """Whether ``day`` is a working day in mainland China (adjusted Saturdays included)."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            logger.warning(
                "chinese-calendar has no holiday data for %d; counting Monday-Friday as working "
                "days (upgrade chinese-calendar when the State Council publishes the schedule)",
                day.year,
            )
        return day.weekday() < 5


def _check_aware(when: datetime) -> None:
    if when.tzinfo is None:
        raise ValueError("business-hours arithmetic needs aware datetimes")


def is_business_time(when: datetime, hours: BusinessHours = DEFAULT_HOURS) -> bool:
    _check_aware(when)
    local = when.astimezone(hours.tz)
    opens, closes = hours.window(local.date())
    return is_working_day(local.date()) and opens <= local < closes


def business_minutes_between(
    start: datetime, end: datetime, hours: BusinessHours = DEFAULT_HOURS
) -> float:
    """Business minutes in [start, end); 0 when end is not after start."""
    _check_aware(start)
    _check_aware(end)
    if end <= start:
        return 0.0
    total = timedelta()
    day = start.astimezone(hours.tz).date()
    last = end.astimezone(hours.tz).date()
    while day <= last:
        if is_working_day(day):
            opens, closes = hours.window(day)
            overlap = min(end, closes) - max(start, opens)
            if overlap > timedelta():
                total += overlap
        day += timedelta(days=1)
    return total.total_seconds() / 60


def add_business_minutes(
    start: datetime, minutes: float, hours: BusinessHours = DEFAULT_HOURS
) -> datetime:
    """The instant ``minutes`` business minutes after ``start`` (in the business time zone)."""
    _check_aware(start)
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    left = timedelta(minutes=minutes)
    cursor = start.astimezone(hours.tz)
    for _ in range(_MAX_SCAN_DAYS * 50):  # 50 years of days: the loop always ends long before
        day = cursor.date()
        if is_working_day(day):
            opens, closes = hours.window(day)
            begin = max(cursor, opens)
            if begin < closes:
                available = closes - begin
                if left <= available:
                    return begin + left
                left -= available
        cursor = datetime.combine(day + timedelta(days=1), time(0), tzinfo=hours.tz)
    raise RuntimeError("no working days found")  # pragma: no cover


def next_opening(when: datetime, hours: BusinessHours = DEFAULT_HOURS) -> datetime:
    """``when`` itself during business hours, else the next instant business hours begin."""
    _check_aware(when)
    local = when.astimezone(hours.tz)
    if is_business_time(local, hours):
        return local
    day = local.date()
    for _ in range(_MAX_SCAN_DAYS):
        opens, _closes = hours.window(day)
        if is_working_day(day) and local < opens:
            return opens
        day += timedelta(days=1)
    raise RuntimeError("no working day within a year")  # pragma: no cover
