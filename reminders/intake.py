"""Review items in: one validation and one upsert for all three channels (CLI file, a file staff
upload in the staff group, ``POST /api/v1/review-events``).

Fields of a file row and of a JSON event (the department's scripts depend on these names):

==================  ==========================================================================
``ref``             platform reference, the key: letters, digits, ``_ . -``, at most 48
``institution``     institution name (第三方机构)
``credit_code``     统一社会信用代码: 18 characters, GB 32100 alphabet (no I, O, S, V, Z)
``contact_phone``   optional; stored normalised (digits only, ``+86``/``0086`` dropped)
``bureau_code``     a bureau already imported (``helpdesk bureaus import``)
``stage``           ``preliminary`` (default when empty) or ``provincial``
``submitted_at``    ISO 8601 date and time; without a zone it is Asia/Shanghai
``status``          ``pending`` (default when empty), ``approved``, ``returned``,
                    ``resubmitted``, ``withdrawn``; ``returned`` needs ``return_reason``
``return_reason``   why it was returned (text)
``event_at``        when the platform made this change (ISO 8601); empty = ``submitted_at``
==================  ==========================================================================

**Newest event wins.** Each item remembers the ``event_at`` of the newest event applied. An event
older than that is ignored and reported as stale (a late retry of an old webhook must not undo a
return); an event with the same time is applied (re-importing the same export changes nothing,
a corrected export with the same times wins). Events of one request or file are applied in
``event_at`` order, so their order inside the request does not matter.

**Nothing partial.** A file or request with any invalid row or event imports nothing and says
why for each one (``row N: reason`` for files, per event index for JSON).

**Deadline.** ``due_at`` = ``submitted_at`` + ``HELPDESK_REVIEW_DAYS`` (default 2), see
:func:`due_at`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from reminders.bureaus import (
    BUREAU_COLUMNS,
    FIRST_DATA_ROW,
    BureauReport,
    ImportRejected,
    clean_cell,
    import_bureau_rows,
    read_sheet,
    read_sheet_file,
)
from reminders.calendar import is_working_day
from reminders.models import (
    OPEN_STATUSES,
    REF_MAX_LENGTH,
    REVIEW_STAGES,
    REVIEW_STATUSES,
    Bureau,
    ReviewItem,
)

logger = logging.getLogger(__name__)

REVIEW_COLUMNS: tuple[str, ...] = (
    "ref",
    "institution",
    "credit_code",
    "contact_phone",
    "bureau_code",
    "stage",
    "submitted_at",
    "status",
    "return_reason",
    "event_at",
)
REQUIRED = ("ref", "institution", "credit_code", "bureau_code", "submitted_at")
DECIDED_STATUSES = frozenset({"approved", "returned", "withdrawn"})
MAX_INSTITUTION_CHARS = 200
MAX_REASON_CHARS = 1000
MIN_YEAR, MAX_YEAR = 2000, 2099  # review times of the platform; anything else is a typo
DayKind = Literal["calendar", "working"]

_REF = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{REF_MAX_LENGTH - 1}}}")
# GB 32100-2015: registration authority, type, 6-digit division code, 9-char organisation code,
# check character; letters exclude I, O, S, V, Z.
_CREDIT_CODE = re.compile(r"[0-9A-HJ-NP-RTUWXY]{2}[0-9]{6}[0-9A-HJ-NP-RTUWXY]{10}")
_PHONE_JUNK = re.compile(r"[\s()\-.]")
# NUL (PostgreSQL text refuses it) and lone surrogates (a JSON "\ud800" escape; not UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


# --- values -------------------------------------------------------------------------------------


def normalize_phone(raw: str) -> str:
    """Digits only, without the China country code: ``+86 138-0013-8000``, ``008613800138000``
    and ``13800138000`` are one number. Telegram reports contacts as ``8613800138000`` or
    ``+8613800138000``, so binding compares these forms."""
    text = _PHONE_JUNK.sub("", raw.strip())
    text = text.removeprefix("+")
    if text.startswith("0086"):
        text = text[4:]
    elif text.startswith("86") and len(text) == 13:  # 86 + an 11-digit mobile number
        text = text[2:]
    return text


def phone_problem(phone: str) -> str | None:
    if not phone.isdigit() or not 5 <= len(phone) <= 15:
        return "must be a phone number (5 to 15 digits, optionally +86 and separators)"
    return None


def parse_time(value: str, tz: ZoneInfo) -> datetime:
    """ISO 8601 with a time of day; a time without a zone is ``tz`` (Asia/Shanghai)."""
    text = value.strip()
    if len(text) <= 10:  # a date alone: a deadline needs the time of day
        raise ValueError("needs a date and a time, e.g. 2026-11-23T10:00:00+08:00")
    parsed = datetime.fromisoformat(text)
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        # Years near 1 or 9999 overflow when converted to UTC or when the deadline is added.
        raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


@dataclass(frozen=True, slots=True)
class DuePolicy:
    """How ``due_at`` follows from ``submitted_at`` (HELPDESK_REVIEW_DAYS / _DAY_KIND)."""

    days: int = 2
    kind: DayKind = "working"
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))


def due_at(submitted_at: datetime, policy: DuePolicy) -> datetime:
    """The review deadline.

    ``calendar``: exactly ``days`` × 24 hours after submission.

    ``working``: after ``days`` × 24 hours of *working-day time* have passed, counting only the
    time that falls on Chinese working days (``reminders.calendar.is_working_day``: weekends and
    public holidays do not count, adjusted working Saturdays do). So:

    * submitted on a working day at 10:00 → 10:00 on the ``days``-th working day after it
      (Friday 10:00 + 2 → Tuesday 10:00);
    * submitted on a weekend or holiday → the clock starts at 00:00 of the next working day and
      the deadline is the end (24:00) of the ``days``-th working day, i.e. 00:00 of the day after
      (Saturday + 2 → Wednesday 00:00);
    * submitted at exactly 00:00 of a working day → likewise the end of the ``days``-th working
      day counting that day as the first.
    """
    if policy.kind == "calendar":
        return submitted_at + timedelta(days=policy.days)
    local = submitted_at.astimezone(policy.tz)
    day, clock = local.date(), local.timetz().replace(tzinfo=None)
    if not is_working_day(day):
        day, clock = _next_working_day(day), time(0)
    if clock == time(0):
        # Whole days from midnight: the deadline is the midnight ending the last counted day,
        # which may fall on a holiday (it is an instant, not a day).
        last = day
        for _ in range(policy.days - 1):
            last = _next_working_day(last)
        return datetime.combine(last + timedelta(days=1), time(0), tzinfo=policy.tz)
    for _ in range(policy.days):
        day = _next_working_day(day)
    return datetime.combine(day, clock, tzinfo=policy.tz)


def _next_working_day(day: date) -> date:
    day += timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


# --- validation ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewEvent:
    """One valid row or JSON event."""

    ref: str
    institution: str
    credit_code: str
    contact_phone: str
    bureau_code: str
    stage: str
    submitted_at: datetime
    status: str
    return_reason: str | None
    event_at: datetime


def event_problems(
    cells: Mapping[str, str], known_bureaus: Iterable[str], tz: ZoneInfo
) -> tuple[ReviewEvent | None, list[str]]:
    """A cleaned row (strings, "" for empty) → the event, or the reasons it is invalid."""
    problems = [f"{name} is empty" for name in REQUIRED if not cells.get(name)]
    problems += [
        f"{name} contains the character U+{ord(bad[0]):04X}, which cannot be stored"
        for name, value in cells.items()
        if (bad := _UNSTORABLE.search(value))
    ]
    get = cells.get
    ref = get("ref", "")
    if ref and not _REF.fullmatch(ref):
        problems.append(
            f"ref {ref!r} is not valid: letters, digits, '_', '.', '-', at most {REF_MAX_LENGTH}"
        )
    institution = get("institution", "")
    if len(institution) > MAX_INSTITUTION_CHARS:
        problems.append(f"institution has more than {MAX_INSTITUTION_CHARS} characters")
    credit_code = get("credit_code", "").upper()
    if credit_code and not _CREDIT_CODE.fullmatch(credit_code):
        problems.append(
            f"credit_code {credit_code!r} is not an 18-character 统一社会信用代码 "
            "(digits and capital letters except I, O, S, V, Z)"
        )
    phone = normalize_phone(get("contact_phone", ""))
    if phone and (reason := phone_problem(phone)):
        problems.append(f"contact_phone {get('contact_phone')!r} {reason}")
    bureau = get("bureau_code", "")
    if bureau and bureau not in known_bureaus:
        problems.append(f"bureau_code {bureau!r} is not a known bureau (import bureaus first)")
    stage = get("stage", "") or "preliminary"
    if stage not in REVIEW_STAGES:
        problems.append(f"stage {stage!r} must be {' or '.join(REVIEW_STAGES)}")
    status = (get("status", "") or "pending").lower()
    if status not in REVIEW_STATUSES:
        problems.append(f"status {status!r} must be one of {', '.join(REVIEW_STATUSES)}")
    reason = get("return_reason", "") or None
    if status == "returned" and reason is None:
        problems.append("status returned needs a return_reason")
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        problems.append(f"return_reason has more than {MAX_REASON_CHARS} characters")
    times: dict[str, datetime] = {}
    for name in ("submitted_at", "event_at"):
        if value := get(name, ""):
            try:
                times[name] = parse_time(value, tz)
            except ValueError as exc:
                problems.append(f"{name} {value!r} is not an ISO 8601 time: {exc}")
    if problems:
        return None, problems
    submitted = times["submitted_at"]
    return (
        ReviewEvent(
            ref=ref,
            institution=institution,
            credit_code=credit_code,
            contact_phone=phone,
            bureau_code=bureau,
            stage=stage,
            submitted_at=submitted,
            status=status,
            # A reason only means something on a returned item.
            return_reason=reason if status == "returned" else None,
            event_at=times.get("event_at", submitted),
        ),
        [],
    )


def known_bureau_codes(session: Session) -> set[str]:
    return set(session.exec(select(Bureau.code)).all())


def validate_rows(
    session: Session, rows: Sequence[Mapping[str, str]], *, tz: ZoneInfo
) -> list[ReviewEvent]:
    """File rows → events; every problem as ``row N: reason`` in one :class:`ImportRejected`."""
    known = known_bureau_codes(session)
    problems: list[str] = []
    events: list[ReviewEvent] = []
    for index, raw in enumerate(rows):
        number = index + FIRST_DATA_ROW
        cells = {name: clean_cell(raw.get(name, "")) for name in REVIEW_COLUMNS}
        if not any(cells.values()):
            continue
        strays = sorted(key for key in raw if key not in REVIEW_COLUMNS and raw[key].strip())
        event, row_problems = event_problems(cells, known, tz)
        row_problems = [f"a value in {key}, which has no header" for key in strays] + row_problems
        if row_problems:
            problems += [f"row {number}: {problem}" for problem in row_problems]
        elif event is not None:
            events.append(event)
    if problems:
        raise ImportRejected(problems)
    return events


@dataclass(frozen=True, slots=True)
class EventProblems:
    index: int
    problems: list[str]


class EventsRejected(Exception):
    """A JSON request with invalid events; nothing was applied."""

    def __init__(self, rejected: list[EventProblems]) -> None:
        super().__init__("; ".join(f"event {r.index}: {', '.join(r.problems)}" for r in rejected))
        self.rejected = rejected


def validate_json_events(session: Session, payload: Any, *, tz: ZoneInfo) -> list[ReviewEvent]:
    """A decoded JSON body (one object or a list of objects) → events, or :class:`EventsRejected`
    naming each bad event by its index (0 for a single object)."""
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise EventsRejected([EventProblems(0, ["the list of events is empty"])])
    known = known_bureau_codes(session)
    rejected: list[EventProblems] = []
    events: list[ReviewEvent] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            rejected.append(EventProblems(index, ["an event must be a JSON object"]))
            continue
        problems = [f"unknown field {key!r}" for key in item if key not in REVIEW_COLUMNS]
        cells: dict[str, str] = {}
        for name in REVIEW_COLUMNS:
            value = item.get(name)
            if value is None:
                cells[name] = ""
            elif isinstance(value, str) or (name == "contact_phone" and type(value) is int):
                cells[name] = str(value).strip()
            else:
                problems.append(f"{name} must be a string")
        event, more = event_problems(cells, known, tz)
        problems += more
        if problems:
            rejected.append(EventProblems(index, problems))
        elif event is not None:
            events.append(event)
    if rejected:
        raise EventsRejected(rejected)
    return events


# --- applying -----------------------------------------------------------------------------------


@dataclass
class IntakeChanges:
    """What an intake changed, for its reply and for the reminder engine (``on_intake``).

    ``new_by_bureau``: refs that now wait for that bureau's review and did not before (created
    open, or reopened: resubmitted after a return, moved to another bureau); ``returned``: refs
    that became ``returned`` (the bound institution must hear why); ``stale``: refs of events
    older than what the item already has, ignored."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    new_by_bureau: dict[str, list[str]] = field(default_factory=dict)
    returned: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[str]:
        """The refs this intake created or changed (what ``reminders.engine.on_intake`` reads)."""
        return iter([*self.created, *self.updated])

    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "stale": len(self.stale),
            "returned": len(self.returned),
        }


def apply_events(
    session: Session,
    events: Sequence[ReviewEvent],
    *,
    now: datetime,
    policy: DuePolicy,
    engine_config: object | None = None,
) -> IntakeChanges:
    """Upsert by ref, newest event wins; then tell the reminder engine (same transaction)."""
    changes = IntakeChanges()
    refs = sorted({event.ref for event in events})
    items = {
        item.ref: item
        for item in session.exec(select(ReviewItem).where(col(ReviewItem.ref).in_(refs))).all()
    }
    was: dict[str, tuple[str, str] | None] = {
        ref: (item.status, item.bureau_code) for ref, item in items.items()
    }
    touched: dict[str, str] = {}  # ref → created | updated | unchanged | stale (the last event's)
    # Oldest first, so the newest of several events for one ref ends up applied.
    for event in sorted(events, key=lambda e: e.event_at):
        item = items.get(event.ref)
        if item is None:
            item = ReviewItem(
                ref=event.ref,
                created_at=now,
                **_fields(event, policy),
                last_event_at=event.event_at,
            )
            item.updated_at = now
            session.add(item)
            items[event.ref] = item
            touched[event.ref] = "created"
            continue
        if event.event_at < item.last_event_at:
            touched.setdefault(event.ref, "stale")
            continue
        fields = _fields(event, policy)
        if item.status == event.status and event.status in DECIDED_STATUSES:
            fields["decided_at"] = item.decided_at  # the same decision again: keep when it was
            fields["decided_by"] = item.decided_by
        differs = any(getattr(item, name) != value for name, value in fields.items())
        item.last_event_at = event.event_at
        if differs:
            for name, value in fields.items():
                setattr(item, name, value)
            item.updated_at = now
            if touched.get(event.ref) != "created":
                touched[event.ref] = "updated"
        else:
            touched.setdefault(event.ref, "unchanged")
            if touched[event.ref] == "stale":
                touched[event.ref] = "unchanged"
        session.add(item)
    for ref in refs:
        outcome = touched[ref]
        getattr(changes, outcome).append(ref)
        item = items[ref]
        before = was.get(ref)
        if item.status in OPEN_STATUSES and (
            before is None or before[0] not in OPEN_STATUSES or before[1] != item.bureau_code
        ):
            changes.new_by_bureau.setdefault(item.bureau_code, []).append(ref)
        if item.status == "returned" and (before is None or before[0] != "returned"):
            changes.returned.append(ref)
    session.flush()
    notify_engine(session, changes, now, config=engine_config)
    return changes


def _fields(event: ReviewEvent, policy: DuePolicy) -> dict[str, Any]:
    decided = event.status in DECIDED_STATUSES
    return {
        "institution": event.institution,
        "credit_code": event.credit_code,
        "contact_phone": event.contact_phone,
        "bureau_code": event.bureau_code,
        "stage": event.stage,
        "submitted_at": event.submitted_at,
        "due_at": due_at(event.submitted_at, policy),
        "status": event.status,
        "return_reason": event.return_reason,
        "decided_at": event.event_at if decided else None,
        "decided_by": None,  # the platform decided (the bot's own decisions set a user id)
    }


def notify_engine(
    session: Session, changes: IntakeChanges, now: datetime, *, config: object | None = None
) -> None:
    """The reminder engine's reaction to an intake (new-item reminders, return notices), in the
    same transaction so its outbox rows commit with the items. Looked up at call time because
    reminders/engine.py is optional for intake: without it, items are stored and the engine's
    periodic tick (when there is one) picks them up from the database."""
    try:
        from reminders import engine
    except ModuleNotFoundError as exc:
        if exc.name != "reminders.engine":
            raise  # the engine exists but is broken: say so
        return
    hook = getattr(engine, "on_intake", None)
    if hook is not None:
        # config: the engine's ReminderConfig (engine_config_for); None → the engine's defaults.
        hook(session, changes, now, config=config)


def engine_config_for(settings: Any) -> object | None:
    """The reminder engine's configuration from the settings, if the engine has one."""
    try:
        from reminders import engine
    except ModuleNotFoundError as exc:
        if exc.name != "reminders.engine":
            raise
        return None
    make = getattr(engine, "config_from_settings", None)
    return make(settings) if make is not None else None


# --- the channels' entry points -----------------------------------------------------------------


def import_review_rows(
    session: Session,
    rows: Sequence[Mapping[str, str]],
    *,
    now: datetime,
    policy: DuePolicy,
    engine_config: object | None = None,
) -> IntakeChanges:
    events = validate_rows(session, rows, tz=policy.tz)
    return apply_events(session, events, now=now, policy=policy, engine_config=engine_config)


def import_review_file(
    session: Session,
    path: Path,
    *,
    now: datetime,
    policy: DuePolicy,
    engine_config: object | None = None,
) -> IntakeChanges:
    """``helpdesk reviews import FILE``."""
    rows = read_sheet_file(path, REVIEW_COLUMNS)
    return import_review_rows(session, rows, now=now, policy=policy, engine_config=engine_config)


def import_events_json(
    session: Session,
    payload: Any,
    *,
    now: datetime,
    policy: DuePolicy,
    engine_config: object | None = None,
) -> IntakeChanges:
    """``POST /api/v1/review-events``."""
    events = validate_json_events(session, payload, tz=policy.tz)
    return apply_events(session, events, now=now, policy=policy, engine_config=engine_config)


SheetKind = Literal["bureaus", "reviews"]


@dataclass(frozen=True, slots=True)
class SheetImport:
    kind: SheetKind
    bureaus: BureauReport | None = None
    reviews: IntakeChanges | None = None


def import_upload(
    session: Session,
    data: bytes,
    name: str,
    *,
    now: datetime,
    policy: DuePolicy,
    engine_config: object | None = None,
) -> SheetImport:
    """A file staff uploaded: bureaus or review items, told apart by the header row."""
    try:
        rows = read_sheet(data, name, REVIEW_COLUMNS)
    except ImportRejected as review_error:
        if not _header_only(review_error):
            raise
        try:
            bureau_rows = read_sheet(data, name, BUREAU_COLUMNS)
        except ImportRejected as bureau_error:
            if not _header_only(bureau_error):
                raise
            raise ImportRejected(
                [
                    "row 1: the header is neither the review-item header "
                    f"({','.join(REVIEW_COLUMNS)}) nor the bureau header "
                    f"({','.join(BUREAU_COLUMNS)})"
                ]
            ) from None
        return SheetImport("bureaus", bureaus=import_bureau_rows(session, bureau_rows, now=now))
    changes = import_review_rows(session, rows, now=now, policy=policy, engine_config=engine_config)
    return SheetImport("reviews", reviews=changes)


def _header_only(error: ImportRejected) -> bool:
    return all(problem.startswith("row 1:") for problem in error.problems)
