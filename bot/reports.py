"""The weekly report: an XLSX workbook for staff and the higher authority, sent to the staff group.

Sheets: tickets still unresolved, tickets reported upward, this period's common problems, and the
figures of this period against the one before. Every text cell goes through
:func:`faq.io.worksheet_text` and is stored as a string, because users' words end up in it: a cell
starting with ``=`` must never run as a formula, and control characters cannot be stored. Times are
shown in the configured zone (Asia/Shanghai), which staff read them in.

``/report`` sends this week so far; the Monday 09:00 job sends the week that just ended.
:func:`build_report` is plain (no Telegram), run in a worker thread; :func:`send_report` and the
job are the Telegram edge.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlmodel import Session
from telegram import Bot
from telegram.constants import ParseMode
from telegram.ext import Application, Job

from bot.context import HelpdeskContext, Services
from bot.texts import t
from bot.tickets import TicketRow, TicketStats, reported_tickets, ticket_stats, unresolved_tickets
from faq.common import common_problems, week_start
from faq.io import worksheet_text
from faq.stats import FaqFigures, faq_figures

logger = logging.getLogger(__name__)

WEEKLY_AT = time(9, 0)
# PTB counts weekdays from Sunday (0) since v20: Monday is 1.
MONDAY = 1
JOB_NAME = "weekly_report"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TIME_FORMAT = "yyyy-mm-dd hh:mm"
COMMON_ROWS = 50
WIDE = 60  # columns holding questions
NARROW = 12


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    filename: str
    data: bytes


def report_period(now: datetime, tz: Any, *, scheduled: bool) -> tuple[datetime, datetime]:
    """This week so far, or for the scheduled report the whole week that just ended."""
    start = week_start(now, tz)
    if scheduled:
        return start - timedelta(days=7), start
    return start, now + timedelta(seconds=1)


def build_report(
    session: Session, *, since: datetime, until: datetime, tz: Any, lang: str
) -> Report:
    """The workbook for ``[since, until)``, compared with the 7 days before ``since``."""
    workbook = Workbook()
    first = workbook.active
    assert first is not None  # a new workbook always has one sheet
    workbook.remove(first)

    def sheet(key: str, rows: Sequence[Sequence[object]], widths: Sequence[int]) -> None:
        _fill(workbook.create_sheet(t(lang, f"report_sheet_{key}")), lang, key, rows, widths, tz)

    sheet(
        "unresolved",
        [_unresolved_row(lang, row) for row in unresolved_tickets(session)],
        (NARROW, NARROW, NARROW, 14, 8, WIDE, 18, 18, 14, 18),
    )
    sheet(
        "reported",
        [_reported_row(lang, row) for row in reported_tickets(session)],
        (NARROW, NARROW, WIDE, 18, 18, 14, 18, 8),
    )
    problems = common_problems(session, since=since, until=until, limit=COMMON_ROWS)
    sheet(
        "common",
        [
            [
                number,
                p.count,
                p.typical,
                "\n".join(p.examples[1:]),
                ", ".join(p.tried_entry_ids),
                p.last_asked_at,
            ]
            for number, p in enumerate(problems, start=1)
        ],
        (8, 8, WIDE, WIDE, 30, 18),
    )
    before = since - timedelta(days=7)
    sheet(
        "figures",
        _figure_rows(
            lang,
            (
                faq_figures(session, since=since, until=until),
                ticket_stats(session, since=since, until=until),
            ),
            (
                faq_figures(session, since=before, until=since),
                ticket_stats(session, since=before, until=since),
            ),
        ),
        (36, 16, 16),
    )
    buffer = io.BytesIO()
    workbook.save(buffer)
    local_since = since.astimezone(tz)
    return Report(since, until, f"helpdesk-report-{local_since:%Y-%m-%d}.xlsx", buffer.getvalue())


def _unresolved_row(lang: str, row: TicketRow) -> list[object]:
    return [
        row.id,
        t(lang, f"status_{row.status}"),
        t(lang, f"source_{row.source}"),
        row.user_id,
        row.lang,
        row.question,
        row.created_at,
        row.first_response_at,
        row.claimed_by,
        row.reported_at,
    ]


def _reported_row(lang: str, row: TicketRow) -> list[object]:
    return [
        row.id,
        t(lang, f"status_{row.status}"),
        row.question,
        row.created_at,
        row.reported_at,
        row.reported_by,
        row.closed_at,
        row.rating,
    ]


def _figure_rows(
    lang: str, now: tuple[FaqFigures, TicketStats], before: tuple[FaqFigures, TicketStats]
) -> list[list[object]]:
    def pair(faq: FaqFigures, tickets: TicketStats) -> list[object]:
        share = faq.answered_share
        return [
            faq.questions,
            faq.answered,
            None if share is None else round(share * 100, 1),
            faq.helpful,
            faq.unhelpful,
            tickets.opened,
            tickets.closed,
            tickets.median_first_response_minutes,
            None if tickets.average_rating is None else round(tickets.average_rating, 2),
        ]

    names = t(lang, "report_figures_names").split("|")
    rows = [[name, a, b] for name, a, b in zip(names, pair(*now), pair(*before), strict=True)]
    top = now[0].top_entries
    if top:
        rows.append([])
        rows.append([t(lang, "report_top_entries")])
        rows += [[f"{e.entry_id} {e.question}", e.count] for e in top]
    return rows


def _fill(
    sheet: Worksheet,
    lang: str,
    key: str,
    rows: Sequence[Sequence[object]],
    widths: Sequence[int],
    tz: Any,
) -> None:
    headers = t(lang, f"report_columns_{key}").split("|")
    bold = Font(bold=True)
    for column, (header, width) in enumerate(zip(headers, widths, strict=True), start=1):
        _put(sheet.cell(row=1, column=column), header, tz).font = bold
        sheet.column_dimensions[get_column_letter(column)].width = width
    wrapped = Alignment(wrap_text=True, vertical="top")
    for number, values in enumerate(rows, start=2):
        for column, value in enumerate(values, start=1):
            _put(sheet.cell(row=number, column=column), value, tz).alignment = wrapped
    sheet.freeze_panes = "A2"


def _put(cell: Any, value: object, tz: Any) -> Any:
    if value is None:
        return cell
    if isinstance(value, datetime):
        # Excel has no time zones: the local wall-clock time, labelled in the header.
        cell.value = value.astimezone(tz).replace(tzinfo=None)
        cell.number_format = TIME_FORMAT
    elif isinstance(value, int | float) and not isinstance(value, bool):
        cell.value = value
    else:
        cell.value = worksheet_text(str(value))
        # openpyxl would guess a formula from a leading "="; a report cell is always text.
        cell.data_type = "s"
    return cell


# --- the Telegram edge ------------------------------------------------------------------------


async def send_report(
    bot: Bot,
    services: Services,
    *,
    chat_id: int,
    thread_id: int | None = None,
    lang: str,
    scheduled: bool,
) -> None:
    tz = services.settings.tz
    since, until = report_period(services.now(), tz, scheduled=scheduled)
    report = await services.db.run(build_report, since=since, until=until, tz=tz, lang=lang)
    last_day = (until - timedelta(seconds=1)).astimezone(tz)
    caption = t(
        lang,
        "report_caption_weekly" if scheduled else "report_caption",
        since=f"{since.astimezone(tz):%Y-%m-%d}",
        until=f"{last_day:%Y-%m-%d}",
    )
    await bot.send_document(
        chat_id=chat_id,
        document=report.data,
        filename=report.filename,
        caption=caption,
        parse_mode=ParseMode.HTML,
        message_thread_id=thread_id,
    )


async def weekly_report(context: HelpdeskContext) -> None:
    """The Monday 09:00 job: last week's report to the staff group."""
    services = context.services
    chat_id = services.settings.staff_chat_id
    if chat_id is None:
        logger.warning("no HELPDESK_STAFF_CHAT_ID: the weekly report is not sent")
        return
    await send_report(
        context.bot, services, chat_id=chat_id, lang=services.settings.default_lang, scheduled=True
    )


def schedule_weekly_report(application: Application) -> Job:  # type: ignore[type-arg]
    """Every Monday 09:00 in the configured zone (a zone-aware time, so the server's own zone and
    daylight saving elsewhere never move it)."""
    job_queue = application.job_queue
    if job_queue is None:
        raise RuntimeError("the weekly report needs PTB's job-queue extra")
    services = application.bot_data.services
    at = WEEKLY_AT.replace(tzinfo=services.settings.tz)
    return job_queue.run_daily(weekly_report, time=at, days=(MONDAY,), name=JOB_NAME)
