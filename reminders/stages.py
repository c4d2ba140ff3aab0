"""Which reminder is due now: a pure function of the clock and the rows (no database, no Telegram).

Stages of one preliminary review (初审) that a bureau still has to do, least to most urgent:

============================  ==================================================================
``new``                       the item arrived (its intake time)
``24h``                       24 hours before ``due_at``
``4h``                        4 hours before ``due_at``
``due``                       ``due_at`` passed: overdue
``overdue-YYYY-MM-DD``        09:00 of every Chinese working day after the day it fell due
============================  ==================================================================

Per item only the **most urgent** stage whose time has come is considered, and only if it has not
been sent: a bot that was down for a day sends the one reminder that matters now, not the five it
missed; and a stage is never sent after a more urgent one (never "24 hours left" after "overdue").
Quiet hours (default 21:00–08:30 local) send nothing; whatever fell due inside them is due at their
end, which the same rule gives for free because "due" means "its time is ≤ now".

Returned submissions follow the same rule for the institution: ``returned`` when the item was
returned, ``returned-3d`` three days later if it is still returned (not resubmitted).

Stage keys name one *cycle* of an item (a submission, or one return): the engine stores what was
sent per (item, cycle, stage), so a resubmitted item starts its reminders afresh.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from reminders.calendar import is_working_day

NEW, H24, H4, DUE = "new", "24h", "4h", "due"
OVERDUE_PREFIX = "overdue-"
RETURNED, RETURNED_AGAIN = "returned", "returned-3d"
MORNING = time(9, 0)
_H4, _H24 = timedelta(hours=4), timedelta(hours=24)
RETURN_FOLLOW_UP = timedelta(days=3)
# A bot down for longer than this still finds the right morning; the scan is only a bound.
_MAX_MORNING_SCAN_DAYS = 40

# The statuses that still wait for the bureau's preliminary review (reminders.models.OPEN_STATUSES;
# repeated here so this module stays free of the database).
AWAITING_REVIEW = frozenset({"pending", "resubmitted"})


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local times between which nothing is sent; ``start > end`` spans midnight."""

    start: time
    end: time

    def contains(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def end_after(self, when: datetime, tz: tzinfo) -> datetime:
        """The instant these quiet hours end, for a ``when`` inside them."""
        local = when.astimezone(tz)
        end = datetime.combine(local.date(), self.end, tzinfo=tz)
        return end if end > local else end + timedelta(days=1)


_QUIET = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_quiet_hours(value: str | None) -> QuietHours | None:
    """``"21:00-08:30"`` → quiet hours; empty or ``None`` → off. Raises ``ValueError``."""
    if value is None or not value.strip():
        return None
    found = _QUIET.match(value)
    if found is None:
        raise ValueError("expected HH:MM-HH:MM, e.g. 21:00-08:30, or empty for none")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError:
        raise ValueError("expected HH:MM-HH:MM with real times of day") from None
    if start == end:
        raise ValueError("quiet hours must not start and end at the same time")
    return QuietHours(start, end)


DEFAULT_QUIET_HOURS = QuietHours(time(21, 0), time(8, 30))


def is_quiet(now: datetime, quiet_hours: QuietHours | None, tz: tzinfo) -> bool:
    return quiet_hours is not None and quiet_hours.contains(now.astimezone(tz).time())


# --- the rows the decision reads (plain values; the engine fills them from the database) -------


# Not frozen: a frozen dataclass's __init__ goes through object.__setattr__ per field, which at
# 20,000 items per tick is a measurable part of the tick. Nothing mutates them.
@dataclass(slots=True)
class ItemView:
    """What the stage decision needs of a review item."""

    ref: str  # the platform reference (ReviewItem.ref)
    bureau: str  # bureau code
    credit_code: str
    status: str
    submitted_at: datetime
    due_at: datetime
    intake_at: datetime | None = None  # when the item reached us; ``new`` is due then
    decided_at: datetime | None = None  # when it was returned (for the returned stages)
    stage: str = "preliminary"

    @property
    def review_cycle(self) -> str:
        """One submission: a resubmission (new ``submitted_at``) restarts the reminders."""
        return "s" + _stamp(self.submitted_at)

    @property
    def return_cycle(self) -> str:
        """One return: returned again later, the institution hears about it again."""
        return "r" + _stamp(self.decided_at or self.submitted_at)


def _stamp(when: datetime) -> str:
    return str(int(when.timestamp()))


@dataclass(slots=True)
class Reminder:
    """One (item, stage) due now. ``waiting``: nobody can receive it yet (no bound reviewer, or no
    bound institution user); it is not sent and not marked, so it goes when someone binds."""

    ref: str  # the item's platform reference
    bureau: str
    cycle: str
    stage: str
    at: datetime  # when the stage fell due (before quiet hours deferred it)
    waiting: bool = False

    @property
    def overdue(self) -> bool:
        return self.stage == DUE or self.stage.startswith(OVERDUE_PREFIX)

    @property
    def urgency(self) -> tuple[int, str]:
        """Sort key, most urgent last."""
        return stage_rank(self.stage)


_RANK = {NEW: 0, H24: 1, H4: 2, DUE: 3, RETURNED: 0, RETURNED_AGAIN: 1}


def stage_rank(stage: str) -> tuple[int, str]:
    if stage.startswith(OVERDUE_PREFIX):
        return 4, stage  # ISO dates sort in time order
    return _RANK.get(stage, 0), ""


def overdue_stage(day: date) -> str:
    return f"{OVERDUE_PREFIX}{day.isoformat()}"


# --- the decision -------------------------------------------------------------------------------


def most_urgent_stage(
    item: ItemView, now: datetime, tz: tzinfo, morning: datetime | None = None
) -> tuple[str, datetime] | None:
    """The most urgent stage of the item's review whose time is ≤ ``now``, and that time.
    ``morning``: :func:`last_working_morning` of ``now``, if the caller has it already (it is
    the same for every item). Checked from the most urgent down, so the first that has passed
    is the answer (this runs for every pending item every minute)."""
    due = item.due_at
    morning = morning or last_working_morning(now, tz)
    # Mornings of the days after the one it fell overdue (local dates): an item due at 08:00 is
    # not told "overdue" twice in one morning.
    if morning is not None:
        local = morning.astimezone(tz)
        day_start = datetime.combine(local.date(), time(0), tzinfo=tz)
        if due < day_start:
            return overdue_stage(local.date()), morning
    if due <= now:
        return DUE, due
    if due - _H4 <= now:
        return H4, due - _H4
    if due - _H24 <= now:
        return H24, due - _H24
    intake = item.intake_at or item.submitted_at
    if intake <= now:
        return NEW, intake
    return None


def last_working_morning(now: datetime, tz: tzinfo) -> datetime | None:
    """The latest 09:00 on a working day that is ≤ ``now`` (local time)."""
    day = now.astimezone(tz).date()
    for _ in range(_MAX_MORNING_SCAN_DAYS):
        morning = datetime.combine(day, MORNING, tzinfo=tz)
        if morning <= now and is_working_day(day):
            return morning
        day -= timedelta(days=1)
    return None


def due_reminders(
    items: Iterable[ItemView],
    sent: Mapping[str, Collection[str]],
    bureaus_reachable: Collection[str],
    now: datetime,
    *,
    quiet_hours: QuietHours | None,
    tz: tzinfo,
) -> list[Reminder]:
    """The bureau reminders due at ``now``: per item awaiting its preliminary review, its most
    urgent stage whose time has come, unless already sent. ``sent`` maps an item's ref to the
    stages sent in its current cycle. Nothing during quiet hours. Items of bureaus not in
    ``bureaus_reachable`` come back with ``waiting=True``."""
    if is_quiet(now, quiet_hours, tz):
        return []
    morning = last_working_morning(now, tz)  # the same for every item: the calendar once
    due: list[Reminder] = []
    for item in items:
        if item.status not in AWAITING_REVIEW or item.stage != "preliminary":
            continue
        found = most_urgent_stage(item, now, tz, morning)
        if found is None:
            continue
        stage, at = found
        if stage in sent.get(item.ref, ()):
            continue
        due.append(
            Reminder(
                ref=item.ref,
                bureau=item.bureau,
                cycle=item.review_cycle,
                stage=stage,
                at=at,
                waiting=item.bureau not in bureaus_reachable,
            )
        )
    return due


def due_return_notices(
    items: Iterable[ItemView],
    sent: Mapping[str, Collection[str]],
    institutions_reachable: Collection[str],
    now: datetime,
    *,
    quiet_hours: QuietHours | None,
    tz: tzinfo,
) -> list[Reminder]:
    """The institution notices due at ``now`` for returned items: ``returned`` at once, and
    ``returned-3d`` if still not resubmitted three days later; only the most urgent unsent one.
    ``sent`` maps an item's ref to the stages sent in its current return cycle."""
    if is_quiet(now, quiet_hours, tz):
        return []
    due: list[Reminder] = []
    for item in items:
        if item.status != "returned":
            continue
        returned_at = item.decided_at or item.submitted_at
        stage, at = RETURNED, returned_at
        if returned_at + RETURN_FOLLOW_UP <= now:
            stage, at = RETURNED_AGAIN, returned_at + RETURN_FOLLOW_UP
        if stage in sent.get(item.ref, ()):
            continue
        due.append(
            Reminder(
                ref=item.ref,
                bureau=item.bureau,
                cycle=item.return_cycle,
                stage=stage,
                at=at,
                waiting=item.credit_code not in institutions_reachable,
            )
        )
    return due


def digest_due(now: datetime, last_digest_day: date | None, tz: tzinfo) -> date | None:
    """The working day whose 09:00 digest is due now (today's after 09:00 on a working day, if
    not sent yet), else ``None``. Catch-up after a restart is limited to the same day: yesterday's
    counts are stale by now."""
    local = now.astimezone(tz)
    today = local.date()
    if not is_working_day(today) or local.time() < MORNING:
        return None
    if last_digest_day is not None and last_digest_day >= today:
        return None
    return today


def relative_due(due_at: datetime, now: datetime, lang: str) -> str:
    """ "还剩 5 小时" / "已超期 3 小时" (rounded to what a person says: minutes, hours, days)."""
    seconds = (due_at - now).total_seconds()
    late = seconds < 0
    amount = _amount(abs(seconds), lang)
    if lang == "zh":
        return f"已超期 {amount}" if late else f"还剩 {amount}"
    return f"{amount} overdue" if late else f"{amount} left"


def _amount(seconds: float, lang: str) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        n, zh, en = max(minutes, 1), "分钟", "minute"
    elif minutes < 48 * 60:
        n, zh, en = minutes // 60, "小时", "hour"
    else:
        n, zh, en = minutes // (24 * 60), "天", "day"
    if lang == "zh":
        return f"{n} {zh}"
    return f"{n} {en}{'' if n == 1 else 's'}"
