"""The reminder engine: one periodic tick that decides from the database alone, and the bureau's
review decisions. Domain code: no Telegram here; messages are outbox rows (bot/outbox.py).

Why one tick and not one scheduler job per reminder: APScheduler with thousands of jobs due at the
same moment misses them (DESIGN.md, measured). The tick reads the review items, asks the pure
:mod:`reminders.stages` which (item, stage) pairs are due, and in **one transaction** claims them
(a :class:`ReminderSent` row each; the UNIQUE constraint makes every (item, cycle, stage) go at
most once, even when two ticks race or the process dies between claim and send) and writes the
outbox rows that carry them. Either both are committed or neither: a crash before the commit sends
nothing and the next tick decides again; after the commit the outbox owns delivery (429 → retry
after ``retry_after``, 5xx → backoff, restart → sent on start).

What one tick writes (dedupe keys in brackets):

* per bureau **one message** per bound reviewer listing up to :data:`ITEMS_PER_MESSAGE` items, the
  four key review points and per item the buttons 初审通过 / 退回
  (``rm:<user>:<item>:<cycle>:<stage>`` of the message's first item); more items wait a minute;
* the staff group: overdue items grouped by bureau (``esc:…``), and once per day the bureaus that
  have reminders waiting because nobody is bound to them (``unreach:<day>``);
* the bound institution users of returned items: the reason and what to do, and a follow-up three
  days later if not resubmitted (``ret:<user>:<item>:<cycle>:<stage>``);
* on a working day's 09:00 (or the first tick after it that day) the daily digest per bureau:
  pending, due today, overdue (``dg:<day>:<bureau>:<user>``).

A bureau without a bound reviewer: its reminders are not claimed, so they go as soon as the first
reviewer binds. A missed stage is not replayed: only the most urgent one due now is sent.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import html
import logging
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, func
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, Session, SQLModel, col, select

from bot.outbox import enqueue_many
from bot.texts import CATALOGUES, t
from faq.models import utc_column
from reminders import models as rm
from reminders.models import ReminderSent
from reminders.stages import (
    AWAITING_REVIEW,
    DEFAULT_QUIET_HOURS,
    RETURN_FOLLOW_UP,
    RETURNED_AGAIN,
    ItemView,
    QuietHours,
    Reminder,
    digest_due,
    due_reminders,
    due_return_notices,
    is_quiet,
    parse_quiet_hours,
    relative_due,
    stage_rank,
)

logger = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 64
ITEMS_PER_MESSAGE = 15  # 15 items and 30 buttons stay well inside Telegram's 4096 characters
TEXT_BUDGET = 3800  # staff lists are cut into messages of at most this many characters
INSTITUTION_CHARS = 40
REASON_CHARS = 500
RETURN_PROMPT_TTL = timedelta(minutes=30)
STATS_DAYS = 30
RETURN_LOOKBACK = RETURN_FOLLOW_UP + timedelta(days=30)  # older returns are left alone
CLAIM_CHUNK = 500  # rows per INSERT: SQLite allows ~32k parameters per statement
PRELIMINARY = "preliminary"


# --- tables ---------------------------------------------------------------------------------------


class ReminderDayMark(SQLModel, table=True):
    """Once-a-day things done: ``digest`` and ``unreachable`` (the staff notice) per local day."""

    __tablename__ = "reminder_day_mark"

    kind: str = Field(primary_key=True, max_length=16)
    day: date = Field(primary_key=True)
    done_at: datetime = utc_column()


class ReturnPrompt(SQLModel, table=True):
    """A reviewer pressed 退回 and the bot asked for the reason: their next message (or a reply to
    the prompt) is it. In the database, so a restart in between loses nothing."""

    __tablename__ = "return_prompt"

    user_id: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    item_ref: str = Field(max_length=rm.REF_MAX_LENGTH)
    prompt_message_id: int | None = Field(default=None, sa_type=BigInteger)
    asked_at: datetime = utc_column()


# --- configuration and results --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReminderConfig:
    staff_chat_id: int | None
    tz: ZoneInfo
    quiet_hours: QuietHours | None
    lang: str = "zh"  # bureaus and staff read Chinese
    items_per_message: int = ITEMS_PER_MESSAGE


def config_from_settings(settings: Any) -> ReminderConfig:
    """The engine's configuration from bot.settings.Settings (``HELPDESK_QUIET_HOURS``: read with
    a default so the engine works before the setting exists; empty turns quiet hours off)."""
    quiet = getattr(settings, "quiet_hours", DEFAULT_QUIET_HOURS_TEXT)
    return ReminderConfig(
        staff_chat_id=settings.staff_chat_id,
        tz=settings.tz,
        quiet_hours=quiet if isinstance(quiet, QuietHours | None) else parse_quiet_hours(quiet),
        lang=settings.default_lang,
    )


@dataclass(slots=True)
class TickResult:
    claimed: int = 0  # (item, stage) pairs marked sent
    bureau_messages: int = 0
    waiting_bureaus: list[str] = field(default_factory=list)
    escalated: int = 0  # overdue items told to staff
    return_notices: int = 0
    digests: int = 0
    # Wall time to load, decide and claim (composing and queuing the messages comes after); a
    # measurement for the log and the benchmark, never an input to a decision.
    decide_seconds: float = 0.0

    @property
    def queued(self) -> bool:
        return bool(
            self.bureau_messages
            or self.escalated
            or self.return_notices
            or self.digests
            or self.waiting_bureaus
        )


DEFAULT_QUIET_HOURS_TEXT = "21:00-08:30"
DEFAULT_CONFIG = ReminderConfig(
    staff_chat_id=None, tz=ZoneInfo("Asia/Shanghai"), quiet_hours=DEFAULT_QUIET_HOURS
)


# Outbox rows to write (bot.outbox.enqueue_many's dicts), collected so a tick writes them at once.
Outgoing = list[dict[str, Any]]


class ReviewRefused(Exception):
    """A button press or reason that must change nothing: the presser is not a bound reviewer of
    the item's bureau, the item is no longer pending, or the item does not exist."""


# --- loading the rows the decision reads ----------------------------------------------------------


def _item_views(
    session: Session,
    now: datetime,
    display: dict[str, Any] | None = None,
    *,
    statuses: Sequence[str] = (*AWAITING_REVIEW, "returned"),
    refs: set[str] | None = None,
) -> list[ItemView]:
    """Items awaiting preliminary review, and recently returned ones, as plain values (columns
    only: building 20,000 ORM objects per minute would dominate the tick). ``display`` gets the
    row of each item by ref, with the columns messages show, so no second query is needed."""
    item = rm.ReviewItem
    query = select(
        item.ref,
        item.bureau_code,
        item.credit_code,
        item.status,
        item.submitted_at,
        item.due_at,
        item.created_at,
        item.decided_at,
        item.stage,
        item.institution,
        item.return_reason,
    ).where(item.stage == PRELIMINARY, col(item.status).in_(list(statuses)))
    if refs is not None and len(refs) <= CLAIM_CHUNK:
        query = query.where(col(item.ref).in_(sorted(refs)))  # an event or a button: a few rows
    rows = [row for row in session.exec(query).all() if refs is None or row[0] in refs]
    oldest_return = now - RETURN_LOOKBACK
    views = []
    for row in rows:
        view = ItemView(
            ref=row[0],
            bureau=row[1],
            credit_code=row[2],
            status=row[3],
            submitted_at=row[4],
            due_at=row[5],
            intake_at=row[6],
            decided_at=row[7],
            stage=row[8],
        )
        if view.status == "returned" and (view.decided_at or view.submitted_at) < oldest_return:
            continue
        views.append(view)
        if display is not None:
            display[view.ref] = row
    return views


def _sent_stages(session: Session, views: Sequence[ItemView]) -> dict[str, set[str]]:
    """Per item, the stages sent in its current cycle (review cycle, or return cycle)."""
    cycles = {v.ref: (v.return_cycle if v.status == "returned" else v.review_cycle) for v in views}
    sent: dict[str, set[str]] = defaultdict(set)
    item = rm.ReviewItem
    query = (
        select(ReminderSent.item_ref, ReminderSent.cycle, ReminderSent.stage)
        .join(item, col(item.ref) == ReminderSent.item_ref)
        .where(item.stage == PRELIMINARY, col(item.status).in_([*AWAITING_REVIEW, "returned"]))
    )
    if len(cycles) <= CLAIM_CHUNK:  # a few items (an event, a button): only their rows
        query = query.where(col(ReminderSent.item_ref).in_(sorted(cycles)))
    rows = session.exec(query).all()
    for ref, cycle, stage in rows:
        if cycles.get(ref) == cycle:
            sent[ref].add(stage)
    return sent


def reviewers_by_bureau(session: Session) -> dict[str, list[int]]:
    found: dict[str, list[int]] = defaultdict(list)
    binding = rm.BureauReviewer
    rows = session.exec(
        select(binding.bureau_code, binding.user_id)
        .where(col(binding.active).is_(True))
        .order_by(col(binding.id))
    ).all()
    for bureau, user_id in rows:
        found[bureau].append(user_id)
    return found


def institution_users(session: Session) -> dict[str, list[int]]:
    found: dict[str, list[int]] = defaultdict(list)
    binding = rm.InstitutionBinding
    for code, user_id in session.exec(select(binding.credit_code, binding.user_id)).all():
        found[code].append(user_id)
    return found


def bureau_names(session: Session) -> dict[str, str]:
    bureau = rm.Bureau
    return dict(session.exec(select(bureau.code, bureau.name)).all())


# --- claiming -------------------------------------------------------------------------------------


def claim(session: Session, reminders: Sequence[Reminder], now: datetime) -> list[Reminder]:
    """Insert a ReminderSent row per reminder; the ones actually inserted (a concurrent tick that
    got there first keeps its rows, and this one does not send them again)."""
    if not reminders:
        return []
    by_key = {(r.ref, r.cycle, r.stage): r for r in reminders}
    dialect = session.get_bind().dialect.name
    table: Any = ReminderSent.__table__  # type: ignore[attr-defined]
    claimed: list[Reminder] = []
    keys = list(by_key)
    for start in range(0, len(keys), CLAIM_CHUNK):
        chunk = keys[start : start + CLAIM_CHUNK]
        values = [{"item_ref": i, "cycle": c, "stage": s, "sent_at": now} for i, c, s in chunk]
        if dialect == "sqlite":
            # The tick's transaction began with BEGIN IMMEDIATE (bot/db.py): no other writer can
            # claim between our read of what was sent and this insert, so a plain insert is
            # exact — and were it not, the UNIQUE constraint fails the whole tick (nothing sent)
            # rather than sending twice. The driver's own executemany, with the one timestamp
            # converted once, is what keeps a 20,000-item tick under a second.
            stamp = table.c.sent_at.type.process_bind_param(now, session.get_bind().dialect)
            stored = table.c.sent_at.type.impl.bind_processor(session.get_bind().dialect)
            session.connection().exec_driver_sql(
                "INSERT INTO reminder_sent (item_ref, cycle, stage, sent_at) VALUES (?, ?, ?, ?)",
                [(i, c, st, stored(stamp) if stored else stamp) for i, c, st in chunk],
            )
            claimed += [by_key[key] for key in chunk]
        elif dialect == "postgresql":
            # Several ticks may run at once (FOR UPDATE SKIP LOCKED elsewhere, no table lock):
            # only the rows this one inserted are its to send.
            insert = postgresql.insert
            # One compiled statement for many rows (SQLAlchemy's "insertmanyvalues" still hands
            # back the RETURNING rows): only what was actually inserted is sent.
            statement = (
                insert(table)
                .on_conflict_do_nothing()
                .returning(table.c.item_ref, table.c.cycle, table.c.stage)
            )
            inserted = session.execute(statement, values).all()
            claimed += [by_key[(i, c, s)] for i, c, s in inserted]
        else:  # pragma: no cover - other databases: a race fails the transaction instead
            session.execute(table.insert(), values)
            claimed += [by_key[key] for key in chunk]
    return claimed


def _limit_per_bureau(reminders: Sequence[Reminder], limit: int) -> list[Reminder]:
    """The ``limit`` most urgent reminders of each bureau; the rest are left for the next tick
    (a minute later), so one message never outgrows Telegram's limits."""
    by_bureau: dict[str, list[Reminder]] = defaultdict(list)
    for reminder in reminders:
        by_bureau[reminder.bureau].append(reminder)
    kept: list[Reminder] = []
    for group in by_bureau.values():
        group.sort(key=lambda r: (stage_rank(r.stage), -r.at.timestamp()), reverse=True)
        kept += group[:limit]
    return kept


# --- the tick -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the tick: a big tick allocates some 100,000 small
    objects, which triggers collections that walk the whole heap again and again (measured:
    ~25 % of a 20,000-item tick). Reference counting still frees everything at once; the
    collector just runs after the tick instead of during it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def tick(session: Session, *, config: ReminderConfig, now: datetime) -> TickResult:
    """Decide and queue everything due at ``now`` (one transaction: the caller commits)."""
    with _gc_paused():
        return _tick(session, config=config, now=now)


def _tick(session: Session, *, config: ReminderConfig, now: datetime) -> TickResult:
    started = time.perf_counter()
    result = TickResult()
    out: Outgoing = []  # every message of this tick, queued in one statement at the end
    items: dict[str, Any] = {}
    views = _item_views(session, now, items)
    sent = _sent_stages(session, views)
    reviewers = reviewers_by_bureau(session)
    review_due = due_reminders(
        views, sent, set(reviewers), now, quiet_hours=config.quiet_hours, tz=config.tz
    )
    ready = [r for r in review_due if not r.waiting]
    waiting = sorted({r.bureau for r in review_due if r.waiting})
    claimed = claim(session, _limit_per_bureau(ready, config.items_per_message), now)
    result.claimed = len(claimed)
    result.decide_seconds = time.perf_counter() - started
    if claimed or waiting:
        names = bureau_names(session)
        result.bureau_messages = _queue_bureau_messages(
            out, config, claimed, items, reviewers, names, now
        )
        result.escalated = _queue_escalation(out, config, claimed, items, names, now)
        if waiting and _mark_once(session, "unreachable", now, config):
            result.waiting_bureaus = waiting
            _queue_unreachable(out, config, review_due, names, now)
    institutions = institution_users(session)
    result.return_notices = _queue_return_notices(
        session, out, config, views, sent, institutions, now, items
    )
    result.digests = queue_digest(session, config=config, now=now, reviewers=reviewers, out=out)
    enqueue_many(session, out, now=now)
    if result.queued:
        logger.info(
            "reminder tick: %d stages claimed, %d bureau messages, %d escalated, "
            "%d waiting bureaus, %d return notices, %d digests",
            result.claimed,
            result.bureau_messages,
            result.escalated,
            len(result.waiting_bureaus),
            result.return_notices,
            result.digests,
        )
    return result


def _items(session: Session, refs: set[str]) -> dict[str, Any]:
    """The columns messages show, as rows with attribute access (not ORM objects: thousands of
    them in the session would make every later flush walk them all)."""
    item = rm.ReviewItem
    columns = (
        item.ref,
        item.institution,
        item.credit_code,
        item.submitted_at,
        item.due_at,
        item.return_reason,
        item.decided_at,
    )
    found: dict[str, Any] = {}
    ref_list = sorted(refs)
    for start in range(0, len(ref_list), CLAIM_CHUNK):
        chunk = ref_list[start : start + CLAIM_CHUNK]
        for row in session.exec(select(*columns).where(col(item.ref).in_(chunk))).all():
            found[row.ref] = row
    return found


def _mark_once(session: Session, kind: str, now: datetime, config: ReminderConfig) -> bool:
    """Record that ``kind`` was done today (local day); False if it already was."""
    day = now.astimezone(config.tz).date()
    if session.get(ReminderDayMark, (kind, day)) is not None:
        return False
    session.add(ReminderDayMark(kind=kind, day=day, done_at=now))
    session.flush()
    return True


# --- composing the messages -----------------------------------------------------------------------


def _local(when: datetime, config: ReminderConfig, fmt: str | None = None) -> str:
    """``MM-DD HH:MM`` in the configured zone (or ``fmt``); formatted by hand because strftime
    is a noticeable part of a 20,000-item tick."""
    local = when.astimezone(config.tz)
    if fmt is not None:
        return local.strftime(fmt)
    return f"{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d}"


_HTML_SPECIAL = re.compile(r"[&<>\"']")


def _escape(text: str) -> str:
    """html.escape, skipped for the common text that has nothing to escape (it is cheap to
    look, and a tick escapes tens of thousands of names and refs)."""
    return html.escape(text) if _HTML_SPECIAL.search(text) else text


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def review_button_data(action: str, ref: str) -> str | None:
    """``rv:ok:<ref>`` (初审通过) / ``rv:rt:<ref>`` (退回): the item's platform reference, nothing
    else; who pressed and whether the item still awaits review are re-checked on every press.
    ``None`` if it would not fit Telegram's 64 bytes (refs are capped at 48 characters, but a
    non-ASCII one could still be too long): that item is listed without buttons."""
    data = f"rv:{action}:{ref}"
    return data if len(data.encode()) <= MAX_CALLBACK_BYTES else None


@functools.lru_cache(maxsize=256)
def _label(lang: str, key: str, number: int | None = None) -> str:
    """Marks and button labels repeat across thousands of items per tick: format each once."""
    return t(lang, key) if number is None else t(lang, key, n=number)


def _bureau_message(
    config: ReminderConfig,
    bureau: str,
    name: str,
    reminders: Sequence[Reminder],
    items: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    lang = config.lang
    lines = [t(lang, "rm_header", bureau=name or bureau, count=len(reminders))]
    item_template = CATALOGUES.get(lang, CATALOGUES["zh"])["rm_item"]
    buttons = []
    for number, reminder in enumerate(reminders, start=1):
        item = items[reminder.ref]
        stage = "overdue" if reminder.overdue else reminder.stage
        # The template filled directly (t() escapes every value; here only the two that come
        # from outside need it): 20,000 items per tick make this the tick's hottest line.
        lines.append(
            item_template.format(
                n=number,
                mark=_label(lang, f"rm_mark_{stage}"),
                institution=_escape(_short(item.institution, INSTITUTION_CHARS)),
                ref=_escape(item.ref),
                submitted=_local(item.submitted_at, config),
                due=_local(item.due_at, config),
                left=relative_due(item.due_at, now, lang),
            )
        )
        approve_data = review_button_data("ok", reminder.ref)
        return_data = review_button_data("rt", reminder.ref)
        if approve_data is None or return_data is None:
            logger.warning("review item %r: reference too long for buttons", reminder.ref)
            continue
        buttons.append(
            [
                {"text": _label(lang, "rm_button_approve", number), "callback_data": approve_data},
                {"text": _label(lang, "rm_button_return", number), "callback_data": return_data},
            ]
        )
    lines.append(t(lang, "rm_points"))
    return {
        "text": "\n\n".join(lines),
        "parse_mode": "HTML",
        "reply_markup": {"inline_keyboard": buttons},
    }


def _queue_bureau_messages(
    out: Outgoing,
    config: ReminderConfig,
    claimed: Sequence[Reminder],
    items: dict[str, Any],
    reviewers: dict[str, list[int]],
    names: dict[str, str],
    now: datetime,
) -> int:
    by_bureau: dict[str, list[Reminder]] = defaultdict(list)
    for reminder in claimed:
        by_bureau[reminder.bureau].append(reminder)
    count = 0
    for bureau, group in sorted(by_bureau.items()):
        group.sort(key=lambda r: (stage_rank(r.stage), items[r.ref].due_at), reverse=True)
        payload = _bureau_message(config, bureau, names.get(bureau, ""), group, items, now)
        first = group[0]
        for user_id in reviewers.get(bureau, []):
            out.append(
                dict(
                    key=f"rm:{user_id}:{first.ref}:{first.cycle}:{first.stage}",
                    chat_id=user_id,
                    method="sendMessage",
                    payload=payload,
                    kind="reminder",
                )
            )
            count += 1
    return count


def _chunks(header: str, blocks: Iterable[str]) -> Iterator[str]:
    """Join blocks under a header into messages of at most :data:`TEXT_BUDGET` characters."""
    current = header
    for block in blocks:
        if len(current) + len(block) + 2 > TEXT_BUDGET and current != header:
            yield current
            current = header
        current += "\n\n" + block
    if current != header:
        yield current


def _queue_escalation(
    out: Outgoing,
    config: ReminderConfig,
    claimed: Sequence[Reminder],
    items: dict[str, Any],
    names: dict[str, str],
    now: datetime,
) -> int:
    """Overdue items claimed this tick, grouped by bureau, in the staff group."""
    overdue = [r for r in claimed if r.overdue]
    if config.staff_chat_id is None or not overdue:
        return 0
    lang = config.lang
    by_bureau: dict[str, list[Reminder]] = defaultdict(list)
    for reminder in overdue:
        by_bureau[reminder.bureau].append(reminder)
    blocks = []
    for bureau, group in sorted(by_bureau.items(), key=lambda pair: -len(pair[1])):
        lines = [
            t(lang, "rm_escalate_bureau", bureau=names.get(bureau) or bureau, count=len(group))
        ]
        for reminder in sorted(group, key=lambda r: items[r.ref].due_at):
            item = items[reminder.ref]
            lines.append(
                t(
                    lang,
                    "rm_escalate_item",
                    institution=_short(item.institution, INSTITUTION_CHARS),
                    ref=item.ref,
                    left=relative_due(item.due_at, now, lang),
                )
            )
        blocks.append("\n".join(lines))
    header = t(lang, "rm_escalate_header", count=len(overdue))
    first = min(overdue, key=lambda r: (r.ref, r.stage))
    for number, text in enumerate(_chunks(header, blocks)):
        out.append(
            dict(
                key=f"esc:{first.ref}:{first.cycle}:{first.stage}:{number}",
                chat_id=config.staff_chat_id,
                method="sendMessage",
                payload={"text": text, "parse_mode": "HTML"},
                kind="reminder",
            )
        )
    return len(overdue)


def _queue_unreachable(
    out: Outgoing,
    config: ReminderConfig,
    review_due: Sequence[Reminder],
    names: dict[str, str],
    now: datetime,
) -> None:
    if config.staff_chat_id is None:
        return
    lang = config.lang
    counts: dict[str, int] = defaultdict(int)
    for reminder in review_due:
        if reminder.waiting:
            counts[reminder.bureau] += 1
    blocks = [
        t(lang, "rm_unreachable_line", bureau=names.get(code) or code, code=code, count=n)
        for code, n in sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
    ]
    day = now.astimezone(config.tz).date().isoformat()
    header = t(lang, "rm_unreachable_header", count=len(counts))
    for number, text in enumerate(_chunks(header, blocks)):
        out.append(
            dict(
                key=f"unreach:{day}:{number}",
                chat_id=config.staff_chat_id,
                method="sendMessage",
                payload={"text": text, "parse_mode": "HTML"},
                kind="reminder",
            )
        )


# --- returned submissions -------------------------------------------------------------------------


def _queue_return_notices(
    session: Session,
    out: Outgoing,
    config: ReminderConfig,
    views: Sequence[ItemView],
    sent: dict[str, set[str]],
    institutions: dict[str, list[int]],
    now: datetime,
    items: dict[str, Any] | None = None,
) -> int:
    due = due_return_notices(
        views, sent, set(institutions), now, quiet_hours=config.quiet_hours, tz=config.tz
    )
    claimed = claim(session, [r for r in due if not r.waiting], now)
    if not claimed:
        return 0
    if items is None:
        items = _items(session, {r.ref for r in claimed})
    count = 0
    for reminder in claimed:
        item = items[reminder.ref]
        for user_id in institutions.get(item.credit_code, []):
            out.append(
                dict(
                    key=f"ret:{user_id}:{item.ref}:{reminder.cycle}:{reminder.stage}",
                    chat_id=user_id,
                    method="sendMessage",
                    payload={
                        "text": _return_text(config, item, reminder.stage),
                        "parse_mode": "HTML",
                    },
                    kind="reminder",
                )
            )
            count += 1
    return count


def _return_text(config: ReminderConfig, item: Any, stage: str) -> str:
    key = "rm_returned_again" if stage == RETURNED_AGAIN else "rm_returned"
    return t(
        config.lang,
        key,
        institution=item.institution,
        ref=item.ref,
        reason=_short(item.return_reason or "", REASON_CHARS) or t(config.lang, "rm_no_reason"),
        returned=_local(item.decided_at or item.submitted_at, config, "%Y-%m-%d %H:%M"),
    )


def on_intake(
    session: Session, changes: Iterable[Any], now: datetime, *, config: ReminderConfig | None = None
) -> int:
    """Called by the intake (file import, HTTP events) in its own transaction after upserting.

    New items need nothing here: their ``new`` stage is due from their intake time and the next
    tick (within a minute) sends it. Items newly returned get the institution's notice queued now,
    in the same transaction as the status change, unless quiet hours defer it to the tick.
    ``changes`` are review items, their refs, or objects with an ``item``; returns notices
    queued. Without ``config`` the defaults apply (Asia/Shanghai, quiet 21:00–08:30): a notice
    then deferred by quiet hours is sent by the tick, which uses the configured ones.
    """
    refs = set()
    for change in changes:
        target = getattr(change, "item", change)
        ref = target if isinstance(target, str) else getattr(target, "ref", None)
        if ref is not None:
            refs.add(ref)
    if not refs:
        return 0
    config = config or DEFAULT_CONFIG
    return queue_return_notices_for(session, config=config, refs=refs, now=now)


def queue_return_notices_for(
    session: Session, *, config: ReminderConfig, refs: set[str], now: datetime
) -> int:
    """The returned notices due now for these items only (after a return in the bot or by an
    import): same decision and same claim as the tick, so nothing goes twice."""
    views = _item_views(session, now, statuses=("returned",), refs=refs)
    if not views:
        return 0
    sent = _sent_stages(session, views)
    out: Outgoing = []
    count = _queue_return_notices(
        session, out, config, views, sent, institution_users(session), now
    )
    enqueue_many(session, out, now=now)
    return count


# --- the daily digest -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigestLine:
    bureau: str
    pending: int
    due_today: int
    overdue: int


def digest_counts(session: Session, *, now: datetime, tz: ZoneInfo) -> list[DigestLine]:
    """Per bureau with pending preliminary reviews: pending, due today (local), overdue."""
    item = rm.ReviewItem
    local = now.astimezone(tz)
    end_of_day = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tz)
    rows = session.exec(
        select(item.bureau_code, item.due_at).where(
            item.stage == PRELIMINARY, col(item.status).in_(list(AWAITING_REVIEW))
        )
    ).all()
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for bureau, due_at in rows:
        entry = counts[bureau]
        entry[0] += 1
        if due_at < now:
            entry[2] += 1
        elif due_at < end_of_day:
            entry[1] += 1
    return [DigestLine(code, *values) for code, values in sorted(counts.items())]


def queue_digest(
    session: Session,
    *,
    config: ReminderConfig,
    now: datetime,
    reviewers: dict[str, list[int]] | None = None,
    out: Outgoing | None = None,
) -> int:
    """The 09:00 digest, once per working day (also the first tick after 09:00 when the bot was
    down then). Returns the messages queued (into ``out`` if given, else into the outbox)."""
    mark = session.exec(
        select(func.max(ReminderDayMark.day)).where(ReminderDayMark.kind == "digest")
    ).one()
    day = digest_due(now, mark, config.tz)
    if day is None or is_quiet(now, config.quiet_hours, config.tz):
        return 0
    _mark_once(session, "digest", now, config)
    reviewers = reviewers if reviewers is not None else reviewers_by_bureau(session)
    names = bureau_names(session)
    messages: Outgoing = [] if out is None else out
    count = 0
    for line in digest_counts(session, now=now, tz=config.tz):
        text = t(
            config.lang,
            "rm_digest",
            bureau=names.get(line.bureau) or line.bureau,
            day=day.isoformat(),
            pending=line.pending,
            due_today=line.due_today,
            overdue=line.overdue,
        )
        for user_id in reviewers.get(line.bureau, []):
            messages.append(
                dict(
                    key=f"dg:{day.isoformat()}:{line.bureau}:{user_id}",
                    chat_id=user_id,
                    method="sendMessage",
                    payload={"text": text, "parse_mode": "HTML"},
                    kind="reminder",
                )
            )
            count += 1
    if out is None:
        enqueue_many(session, messages, now=now)
    return count


# --- the bureau's decisions (the buttons) ---------------------------------------------------------


def _reviewable(session: Session, *, ref: str, user_id: int) -> rm.ReviewItem:
    """The item, if ``user_id`` is an active reviewer of its bureau and it still awaits review."""
    item = session.get(rm.ReviewItem, ref)
    if item is None:
        raise ReviewRefused(f"no review item {ref!r}")
    binding = rm.BureauReviewer
    bound = session.exec(
        select(binding.user_id).where(
            binding.user_id == user_id,
            binding.bureau_code == item.bureau_code,
            col(binding.active).is_(True),
        )
    ).first()
    if bound is None:
        raise ReviewRefused(f"user {user_id} is not a reviewer of bureau {item.bureau_code}")
    if item.stage != PRELIMINARY or item.status not in AWAITING_REVIEW:
        raise ReviewRefused(f"item {ref!r} is {item.status}, not pending")
    return item


def _decide(
    item: rm.ReviewItem, status: str, user_id: int, now: datetime, reason: str | None = None
) -> None:
    item.status = status
    item.decided_at = now
    item.decided_by = user_id
    if reason is not None:
        item.return_reason = reason
    # The decision is the newest event: an export taken before it and imported later must not
    # undo it (intake keeps the newest event by its time).
    item.last_event_at = max(item.last_event_at, now)
    item.updated_at = now


def approve(session: Session, *, ref: str, user_id: int, now: datetime) -> rm.ReviewItem:
    """初审通过 pressed by ``user_id``: re-checked, then recorded."""
    item = _reviewable(session, ref=ref, user_id=user_id)
    _decide(item, "approved", user_id, now)
    session.add(item)
    return item


def ask_return_reason(session: Session, *, ref: str, user_id: int, now: datetime) -> rm.ReviewItem:
    """退回 pressed: re-checked; the reviewer's next message becomes the reason."""
    item = _reviewable(session, ref=ref, user_id=user_id)
    prompt = session.get(ReturnPrompt, user_id) or ReturnPrompt(user_id=user_id, item_ref=ref)
    prompt.item_ref = ref
    prompt.prompt_message_id = None
    prompt.asked_at = now
    session.add(prompt)
    return item


def set_prompt_message(session: Session, *, user_id: int, message_id: int) -> None:
    prompt = session.get(ReturnPrompt, user_id)
    if prompt is not None:
        prompt.prompt_message_id = message_id
        session.add(prompt)


def open_prompt(
    session: Session, *, user_id: int, reply_to: int | None, now: datetime
) -> ReturnPrompt | None:
    """The reviewer's open request for a return reason, if this message answers it: a reply to
    the prompt, or any message within :data:`RETURN_PROMPT_TTL` (later, a question to the FAQ
    must not silently become a return reason)."""
    return answered_prompt(session.get(ReturnPrompt, user_id), reply_to=reply_to, now=now)


def answered_prompt(
    prompt: ReturnPrompt | None, *, reply_to: int | None, now: datetime
) -> ReturnPrompt | None:
    """:func:`open_prompt` on a prompt read already (bot/handlers.py's who_is_talking)."""
    if prompt is None:
        return None
    replied = reply_to is not None and reply_to == prompt.prompt_message_id
    if replied or now - prompt.asked_at <= RETURN_PROMPT_TTL:
        return prompt
    return None


def cancel_prompt(session: Session, *, user_id: int) -> bool:
    prompt = session.get(ReturnPrompt, user_id)
    if prompt is None:
        return False
    session.delete(prompt)
    return True


def return_item(
    session: Session, *, config: ReminderConfig, user_id: int, reason: str, now: datetime
) -> Any:
    """The reason arrived: re-checked again (the item may have been decided meanwhile), recorded,
    and the institution's notice queued in the same transaction."""
    prompt = session.get(ReturnPrompt, user_id)
    if prompt is None:
        raise ReviewRefused(f"user {user_id} has no return in progress")
    session.delete(prompt)
    item = _reviewable(session, ref=prompt.item_ref, user_id=user_id)
    _decide(item, "returned", user_id, now, reason=_short(reason, REASON_CHARS))
    session.add(item)
    session.flush()
    queue_return_notices_for(session, config=config, refs={item.ref}, now=now)
    return item


def decided_refs(session: Session, *, refs: Sequence[str]) -> set[str]:
    """Which of these items no longer await review (their buttons can go)."""
    if not refs:
        return set()
    item = rm.ReviewItem
    rows = session.exec(
        select(item.ref).where(
            col(item.ref).in_(list(refs)), col(item.status).not_in(list(AWAITING_REVIEW))
        )
    ).all()
    return set(rows)


# --- staff view -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BureauStats:
    code: str
    name: str
    pending: int
    overdue: int
    decided: int  # in the period
    on_time: int  # of those, decided by due_at
    median_hours: float | None

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.decided if self.decided else None


def bureau_stats(session: Session, *, now: datetime, days: int = STATS_DAYS) -> list[BureauStats]:
    """Per bureau: pending and overdue now; on-time rate and median review hours of the
    preliminary reviews decided in the last ``days`` days. Worst first: most overdue, then the
    lowest on-time rate, then most pending."""
    item = rm.ReviewItem
    since = now - timedelta(days=days)
    pending: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for bureau, due_at in session.exec(
        select(item.bureau_code, item.due_at).where(
            item.stage == PRELIMINARY, col(item.status).in_(list(AWAITING_REVIEW))
        )
    ).all():
        pending[bureau][0] += 1
        pending[bureau][1] += due_at < now
    hours: dict[str, list[float]] = defaultdict(list)
    on_time: dict[str, int] = defaultdict(int)
    for bureau, submitted, due_at, decided in session.exec(
        select(item.bureau_code, item.submitted_at, item.due_at, item.decided_at).where(
            item.stage == PRELIMINARY,
            col(item.status).in_(["approved", "returned", "resubmitted"]),
            col(item.decided_at).is_not(None),
            col(item.decided_at) >= since,
        )
    ).all():
        hours[bureau].append((decided - submitted).total_seconds() / 3600)
        on_time[bureau] += decided <= due_at
    names = bureau_names(session)
    stats = [
        BureauStats(
            code=code,
            name=names.get(code, ""),
            pending=pending[code][0] if code in pending else 0,
            overdue=pending[code][1] if code in pending else 0,
            decided=len(hours.get(code, [])),
            on_time=on_time.get(code, 0),
            median_hours=statistics.median(hours[code]) if hours.get(code) else None,
        )
        for code in sorted(set(names) | set(pending) | set(hours))
    ]
    stats.sort(
        key=lambda s: (
            -s.overdue,
            s.on_time_rate if s.on_time_rate is not None else 2.0,
            -s.pending,
            s.code,
        )
    )
    return stats
