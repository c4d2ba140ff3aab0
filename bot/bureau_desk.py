"""Bureau reminders at the Telegram edge: the tick's jobs, the 初审通过 / 退回 buttons, the return
reason, and the staff's ``/bureaus`` view. Thin: every decision is in :mod:`reminders.engine`.

Callback data (ids only; anyone can send any callback data, so each press is re-checked):

=================  ==========================================================================
``rv:ok:<ref>``    初审通过 on review item ``<ref>``
``rv:rt:<ref>``    退回 on review item ``<ref>``: the bot asks for the reason
=================  ==========================================================================

A press counts only if the presser is an active reviewer bound to *that item's* bureau and the
item still awaits review; anything else (forged data, another bureau's item, already decided) is
answered "no longer valid" and changes nothing.

退回 stores a :class:`reminders.engine.ReturnPrompt` (in the database, so a restart in between
loses nothing); the reviewer's reply to the prompt, or their next text within 30 minutes, is the
reason. That handler runs in group -3, after remember_user (-5: it reads whether a prompt is
open, bot/chat_users.py's Talking), before the ticket relay (-1) and the FAQ (0), and lets every
other message through untouched.

Jobs: the tick every minute (``reminders-tick``), plus a daily run at 09:00 local time so the
digest and the overdue mornings go out on the minute (``reminders-morning``). Every day, not
Monday–Friday: adjusted working Saturdays and Sundays need their digest too, and the tick itself
knows which days are working days. (PTB numbers ``days`` from 0 = Sunday; all seven are used.)
A tick also runs at start-up, so what fell due while the bot was down goes out at once (only the
most urgent stage per item). All messages go through the escalation desk's outbox sender.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Sequence
from datetime import time

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from telegram import CallbackQuery, ForceReply, InlineKeyboardMarkup, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import metrics
from bot.clock import Clock
from bot.context import HelpdeskContext
from bot.db import Database
from bot.desk import Desk
from bot.roles import Roles
from bot.settings import Settings
from bot.texts import t
from faq.io import neutralise_cell, worksheet_text
from reminders import engine
from reminders.engine import BureauStats, ReminderConfig, ReviewRefused
from reminders.stages import MORNING

logger = logging.getLogger(__name__)

REVIEW_PATTERN = r"^rv:(ok|rt):(.+)$"
_REVIEW = re.compile(REVIEW_PATTERN, re.DOTALL)
REASON_GROUP = -3  # after remember_user (-5), before the desk's relay (-1) and the FAQ (0)
BUTTON_GROUP = -1
TICK_SECONDS = 60
BUREAUS_SHOWN = 30  # in the chat; the workbook has all of them
TEXT_LIMIT = 4000
EVERY_DAY = tuple(range(7))  # PTB: 0 = Sunday … 6 = Saturday


class ReminderDesk:
    """The reminder engine's long-lived parts for one application: its configuration and the
    jobs. Sends through the escalation desk's outbox sender (one sender per process keeps the
    messages to one chat in order)."""

    def __init__(
        self, *, settings: Settings, db: Database, clock: Clock, roles: Roles, desk: Desk
    ) -> None:
        self.db = db
        self.clock = clock
        self.roles = roles
        self.desk = desk
        self.config: ReminderConfig = engine.config_from_settings(settings)

    async def start(self, application: Application) -> None:  # type: ignore[type-arg]
        """Catch up on what fell due while the bot was down, then schedule the jobs."""
        await self.tick()
        jobs = application.job_queue
        if jobs is None:  # pragma: no cover - the job-queue extra is a dependency
            logger.warning("no JobQueue: reminders are sent only at start-up")
            return
        jobs.run_repeating(
            self._tick_job, interval=TICK_SECONDS, first=TICK_SECONDS, name="reminders-tick"
        )
        jobs.run_daily(
            self._tick_job,
            time=time(MORNING.hour, MORNING.minute, tzinfo=self.config.tz),
            days=EVERY_DAY,
            name="reminders-morning",
        )

    async def tick(self) -> engine.TickResult:
        """Decide and queue (one transaction), then kick the outbox sender without waiting for
        it: 3,000 bureau messages take ~100 s at Telegram's rate, and neither start-up (updates
        are not polled until post_init returns) nor the next tick should wait for them."""
        result = await self.db.run(engine.tick, config=self.config, now=self.clock.now())
        metrics.reminder_tick()
        if result.queued:
            self.desk.sender.kick()
        return result

    async def _tick_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.tick()


def reminder_desk_of(context: HelpdeskContext) -> ReminderDesk:
    return context.bot_data.reminders  # type: ignore[attr-defined,no-any-return]


# --- the buttons ----------------------------------------------------------------------------------


async def review_press(update: Update, context: HelpdeskContext) -> None:
    """初审通过 / 退回: re-checked in the engine against the presser and the item."""
    query = update.callback_query
    if query is None:
        return
    found = _REVIEW.match(query.data or "")
    reminders, services = reminder_desk_of(context), context.services
    lang = reminders.config.lang
    if found is None:
        raise ApplicationHandlerStop
    action, ref = found.groups()
    user_id = query.from_user.id
    try:
        if action == "ok":
            item = await services.db.run(
                engine.approve, ref=ref, user_id=user_id, now=services.now()
            )
            await query.answer(t(lang, "rv_approved", institution=item.institution, ref=ref))
            await _drop_decided_buttons(query, context)
        else:
            item = await services.db.run(
                engine.ask_return_reason, ref=ref, user_id=user_id, now=services.now()
            )
            await query.answer()
            prompt = await context.bot.send_message(
                user_id,
                t(lang, "rv_ask_reason", institution=item.institution, ref=ref),
                parse_mode=ParseMode.HTML,
                reply_markup=ForceReply(selective=True),
            )
            await services.db.run(
                engine.set_prompt_message, user_id=user_id, message_id=prompt.message_id
            )
    except ReviewRefused as refused:
        logger.info("refused review button %r from %s: %s", query.data, user_id, refused)
        await query.answer(t(lang, "rv_refused"), show_alert=True)
    raise ApplicationHandlerStop


async def _drop_decided_buttons(query: CallbackQuery, context: HelpdeskContext) -> None:
    """Remove the buttons of items no longer awaiting review from the pressed message (a
    convenience: a stale button is refused anyway)."""
    message = query.message
    markup = getattr(message, "reply_markup", None)
    if markup is None:
        return
    refs = [
        found.group(2)
        for row in markup.inline_keyboard
        for button in row
        if isinstance(button.callback_data, str)
        and (found := _REVIEW.match(button.callback_data)) is not None
    ]
    decided = await context.services.db.run(engine.decided_refs, refs=refs)
    rows = [
        row
        for row in markup.inline_keyboard
        if not any(
            isinstance(b.callback_data, str) and b.callback_data.split(":", 2)[-1] in decided
            for b in row
        )
    ]
    try:
        await query.edit_message_reply_markup(InlineKeyboardMarkup(rows) if rows else None)
    except TelegramError as exc:
        logger.info("could not update the review buttons: %s", exc)


# --- the return reason ----------------------------------------------------------------------------


async def reason_message(update: Update, context: HelpdeskContext) -> None:
    """A reviewer's text while a 退回 waits for its reason; anything else passes through."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    services, reminders = context.services, reminder_desk_of(context)
    lang = reminders.config.lang
    reply_to = message.reply_to_message.message_id if message.reply_to_message else None
    talking, now = context.talking, services.now()
    if talking is not None:  # read with the ChatUser (remember_user): no query of its own
        prompt = engine.answered_prompt(talking.return_prompt, reply_to=reply_to, now=now)
    else:
        prompt = await services.db.run(
            engine.open_prompt, user_id=user.id, reply_to=reply_to, now=now
        )
    if prompt is None:
        return  # not answering a 退回: the desk and the FAQ handle it
    # return_item below re-reads the prompt in its own transaction (ReviewRefused if it is gone).
    reason = (message.text or "").strip()
    if not reason:
        await message.reply_html(t(lang, "rv_reason_empty"))
        raise ApplicationHandlerStop
    try:
        item = await services.db.run(
            engine.return_item,
            config=reminders.config,
            user_id=user.id,
            reason=reason,
            now=services.now(),
        )
    except ReviewRefused as refused:
        logger.info("refused return reason from %s: %s", user.id, refused)
        await services.db.run(engine.cancel_prompt, user_id=user.id)
        forget_prompt(context)
        await message.reply_html(t(lang, "rv_refused"))
        raise ApplicationHandlerStop from None
    forget_prompt(context)
    await message.reply_html(
        t(
            lang,
            "rv_returned",
            institution=item.institution,
            ref=item.ref,
            reason=item.return_reason or "",
        )
    )
    reminders.desk.sender.kick()
    raise ApplicationHandlerStop


async def cancel_return(update: Update, context: HelpdeskContext) -> None:
    """``/cancel`` while a 退回 waits for its reason; otherwise /cancel means what it did before."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    talking = context.talking
    if talking is not None and talking.return_prompt is None:
        return  # none open when the update arrived (remember_user read it): /cancel as before
    if await context.services.db.run(engine.cancel_prompt, user_id=user.id):
        forget_prompt(context)
        await message.reply_html(t(reminder_desk_of(context).config.lang, "rv_cancelled"))
        raise ApplicationHandlerStop


def forget_prompt(context: HelpdeskContext) -> None:
    """The prompt is gone: what this update's later handlers see too."""
    if context.talking is not None:
        context.talking.return_prompt = None


# --- /bureaus -------------------------------------------------------------------------------------


def _rate(stats: BureauStats, lang: str) -> str:
    rate = stats.on_time_rate
    return t(lang, "bureaus_no_value") if rate is None else f"{rate * 100:.0f}%"


def _hours(stats: BureauStats, lang: str) -> str:
    if stats.median_hours is None:
        return t(lang, "bureaus_no_value")
    return f"{stats.median_hours:.1f} h" if lang == "en" else f"{stats.median_hours:.1f} 小时"


def bureaus_text(stats: Sequence[BureauStats], lang: str) -> list[str]:
    """The chat view, worst first, in messages within Telegram's limit."""
    if not stats:
        return [t(lang, "bureaus_none")]
    blocks = [
        t(
            lang,
            "bureaus_line",
            name=s.name or s.code,
            code=s.code,
            pending=s.pending,
            overdue=s.overdue,
            rate=_rate(s, lang),
            hours=_hours(s, lang),
        )
        for s in stats[:BUREAUS_SHOWN]
    ]
    if len(stats) > BUREAUS_SHOWN:
        blocks.append(t(lang, "bureaus_more", count=len(stats) - BUREAUS_SHOWN))
    messages, current = [], t(lang, "bureaus_header", days=engine.STATS_DAYS)
    for block in blocks:
        if len(current) + len(block) + 2 > TEXT_LIMIT:
            messages.append(current)
            current = block
        else:
            current += "\n\n" + block
    messages.append(current)
    return messages


def bureaus_workbook(stats: Sequence[BureauStats], lang: str) -> bytes:
    """The same figures as a workbook; every text cell neutralised (bureau names come from an
    imported file and must never run as a formula)."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new workbook always has one sheet
    sheet.title = t(lang, "bureaus_sheet")
    headers = t(lang, "bureaus_columns").split("|")
    bold = Font(bold=True)
    for column, header in enumerate(headers, start=1):
        cell = sheet.cell(row=1, column=column, value=neutralise_cell(header))
        cell.font = bold
        sheet.column_dimensions[get_column_letter(column)].width = 28 if column == 2 else 14
    for number, s in enumerate(stats, start=2):
        rate = None if s.on_time_rate is None else round(s.on_time_rate * 100, 1)
        hours = None if s.median_hours is None else round(s.median_hours, 1)
        values: list[object] = [
            s.code,
            s.name,
            s.pending,
            s.overdue,
            s.decided,
            s.on_time,
            rate,
            hours,
        ]
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(row=number, column=column)
            if isinstance(value, str):
                cell.value = worksheet_text(value)  # a bureau name may hold any character
                cell.data_type = "s"  # never a formula, whatever openpyxl guesses
            else:
                cell.value = value
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def bureaus_command(update: Update, context: HelpdeskContext) -> None:
    """``/bureaus`` (and ``/bureaus xlsx``): staff only, in the staff group or a staff member's
    private chat."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    services, reminders = context.services, reminder_desk_of(context)
    lang = reminders.config.lang
    in_place = message.chat_id == services.settings.staff_chat_id or (
        message.chat.type == ChatType.PRIVATE
    )
    if not in_place or not await services.roles.is_staff(context.bot, user.id):
        await message.reply_html(t(lang, "staff_only"))
        raise ApplicationHandlerStop
    now = services.now()
    stats = await services.db.run(engine.bureau_stats, now=now)
    thread = message.message_thread_id if message.is_topic_message else None
    if context.args and context.args[0].lower() in ("xlsx", "excel"):
        data = await asyncio.to_thread(bureaus_workbook, stats, lang)
        day = now.astimezone(reminders.config.tz)
        await context.bot.send_document(
            chat_id=message.chat_id,
            document=data,
            filename=f"bureaus-{day:%Y-%m-%d}.xlsx",
            caption=t(lang, "bureaus_caption", days=engine.STATS_DAYS, day=f"{day:%Y-%m-%d}"),
            parse_mode=ParseMode.HTML,
            message_thread_id=thread,
        )
    else:
        for text in bureaus_text(stats, lang):
            await context.bot.send_message(
                message.chat_id, text, parse_mode=ParseMode.HTML, message_thread_id=thread
            )
    raise ApplicationHandlerStop


# --- wiring ---------------------------------------------------------------------------------------


def register(application: Application, reminders: ReminderDesk) -> None:  # type: ignore[type-arg]
    application.bot_data.reminders = reminders  # type: ignore[attr-defined]
    private = filters.ChatType.PRIVATE
    new = filters.UpdateType.MESSAGE
    add = application.add_handler
    add(CommandHandler("cancel", cancel_return, filters=new & private), group=REASON_GROUP)
    add(
        MessageHandler(
            new & private & ~filters.COMMAND & ~filters.StatusUpdate.ALL, reason_message
        ),
        group=REASON_GROUP,
    )
    add(CallbackQueryHandler(review_press, pattern=REVIEW_PATTERN), group=BUTTON_GROUP)
    add(CommandHandler("bureaus", bureaus_command, filters=new), group=BUTTON_GROUP)
