"""Staff improving the FAQ from Telegram: drafts, candidate phrasings, common problems, figures.

Used in the staff group (``HELPDESK_STAFF_CHAT_ID``) or in a staff member's private chat:

``/phrasings``           candidate phrasings from suggestion taps, ✅ confirm / ❌ reject each
``/faqdraft <question>`` start a draft by hand
``/common``              this week's most frequent unanswered questions, a draft button per group
``/stats``               this week against last week
``/report``              the XLSX report (also sent to the staff group every Monday 09:00)

Handlers stay thin: check the role, call a domain function (``faq.drafts``, ``faq.common``,
``faq.stats``, ``bot.reports``) through ``services.db.run``, render. Every command and every
button press checks on the server that the sender is staff (callback data can be forged); a draft
must still be open. After anything that changes the FAQ the matcher index is rebuilt at once.

Editing a draft's question, answer or category is a small conversation per user and chat: the
button asks, and that staff member's next text message in that chat (or a reply to the prompt)
becomes the new text; ``/cancel`` abandons it. It lives in memory: after a restart staff press
the edit button again. Draft cards, and so their prompts, are posted in the group's general area,
never in a ticket's forum topic: there the escalation desk (handler group -1) relays staff
messages to the user before these handlers see them, and a new answer typed for a draft would
reach the user.

Callback data (``<draft>``, ``<phrasing>``, ``<qid>`` are database ids, ``<entry>`` an entry id):

======================  =========================================================
``fd:<draft>:n``        save the draft as a new entry
``fd:<draft>:p:<entry>`` save the draft's question as a phrasing of ``<entry>``
``fd:<draft>:q|a|c``    edit the question, answer or category
``fd:<draft>:x``        discard the draft
``ph:<phrasing>:y|n``   confirm / reject a candidate phrasing
``cm:<qid>``            write an FAQ entry for the common problem led by question ``<qid>``
======================  =========================================================
"""

from __future__ import annotations

import functools
import logging
import re
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot import reports
from bot.context import HelpdeskContext
from bot.keyboards import MAX_CALLBACK_BYTES, shorten
from bot.roles import Roles
from bot.texts import t
from bot.tickets import ticket_stats
from faq.common import CommonProblem, common_problems, week_start
from faq.drafts import (
    DraftClosed,
    DraftError,
    DraftField,
    DraftInvalid,
    DraftSource,
    FaqDraft,
    PendingPhrasing,
    confirm_phrasing,
    discard_draft,
    edit_draft,
    open_draft,
    pending_phrasings,
    reject_phrasing,
    save_as_new_entry,
    save_as_phrasing,
    start_draft,
    start_draft_from_question,
)
from faq.stats import FaqFigures, faq_figures

logger = logging.getLogger(__name__)

NEW_MESSAGE = filters.UpdateType.MESSAGE
PHRASING_CANDIDATES = 3  # "save as a phrasing of ..." buttons on a draft
PHRASINGS_SHOWN = 10
COMMON_SHOWN = 5
ITEM_CHARS = 80  # a user's words or an entry's question in a list
EDIT_MINUTES = 15  # an unanswered edit prompt expires
EDITING = 1  # the conversation state: waiting for the new text

_FIELDS: dict[str, DraftField] = {"q": "question", "a": "answer", "c": "category"}
_ID = r"([1-9][0-9]{0,17})"  # ids fit the 64-bit integer columns
_ENTRY = r"([A-Za-z0-9][A-Za-z0-9_.-]{0,63})"
_DRAFT = re.compile(rf"fd:{_ID}:(n|x|q|a|c|p:{_ENTRY})")
_PHRASING = re.compile(rf"ph:{_ID}:([yn])")
_COMMON = re.compile(rf"cm:{_ID}")
_EDIT_PATTERN = r"^fd:[0-9]+:[qac]$"
_PRESS_PATTERN = r"^(fd|ph|cm):"


class NotStaff(Exception):
    """The sender is not staff, or not in a chat where staff commands work."""


# --- who may ------------------------------------------------------------------------------------


def staff_roles(context: HelpdeskContext) -> Roles:
    """The role checks the composition root built (their membership cache outlives a call)."""
    return context.services.roles


async def require_staff(update: Update, context: HelpdeskContext) -> int:
    """The staff member's user id; raises :class:`NotStaff` for anybody else, and for staff
    outside the staff group and their private chat (another group is no place for FAQ work)."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        raise NotStaff
    in_place = chat.type == ChatType.PRIVATE or chat.id == context.services.settings.staff_chat_id
    if not in_place or not await staff_roles(context).is_staff(context.bot, user.id):
        raise NotStaff
    return user.id


def staff_lang(update: Update, context: HelpdeskContext) -> str:
    """Their own language in a private chat; the configured language in the shared group."""
    chat = update.effective_chat
    if chat is not None and chat.type == ChatType.PRIVATE:
        return context.lang
    return context.services.settings.default_lang


async def _refuse(update: Update, context: HelpdeskContext) -> None:
    lang = staff_lang(update, context)
    user = update.effective_user
    logger.info("refused staff action from user %s", user.id if user else None)
    if update.callback_query is not None:
        await update.callback_query.answer(t(lang, "staff_only"), show_alert=True)
        return
    chat, message = update.effective_chat, update.effective_message
    # In a group that is not the staff group the bot stays quiet rather than explain itself.
    if message is not None and chat is not None and chat.type == ChatType.PRIVATE:
        await message.reply_html(t(lang, "staff_only"))


Handler = Callable[[Update, HelpdeskContext], Awaitable[None]]


def staff_command(handler: Handler) -> Handler:
    """A staff command: refused (and nothing done) unless a staff member sends it in the staff
    group or a private chat; checked on the server every time, whatever the menu shows."""

    @functools.wraps(handler)
    async def checked(update: Update, context: HelpdeskContext) -> None:
        if update.effective_message is None:
            return
        try:
            await require_staff(update, context)
        except NotStaff:
            await _refuse(update, context)
            return
        await handler(update, context)

    return checked


# --- presses ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DraftPress:
    draft_id: int
    action: str  # n | x | q | a | c | p
    entry_id: str | None = None


@dataclass(frozen=True)
class PhrasingPress:
    phrasing_id: int
    confirm: bool


@dataclass(frozen=True)
class CommonPress:
    question_id: int


StaffPress = DraftPress | PhrasingPress | CommonPress


def parse_staff_press(data: str | None) -> StaffPress | None:
    if not data or len(data.encode()) > MAX_CALLBACK_BYTES:
        return None
    if found := _DRAFT.fullmatch(data):
        action = found[2]
        if action.startswith("p:"):
            return DraftPress(int(found[1]), "p", found[3])
        return DraftPress(int(found[1]), action)
    if found := _PHRASING.fullmatch(data):
        return PhrasingPress(int(found[1]), confirm=found[2] == "y")
    if found := _COMMON.fullmatch(data):
        return CommonPress(int(found[1]))
    return None


def _button(label: str, data: str) -> InlineKeyboardButton | None:
    # An entry id near 64 characters would not fit Telegram's callback data: leave it out.
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        return None
    return InlineKeyboardButton(label, callback_data=data)


# --- drafts -------------------------------------------------------------------------------------


async def begin_draft(
    context: HelpdeskContext,
    *,
    question: str,
    answer: str = "",
    source: DraftSource,
    source_ticket_id: int | None = None,
    staff_id: int,
    chat_id: int,
    thread_id: int | None = None,
    lang: str = "zh",
) -> FaqDraft:
    """Start a draft and post it with its buttons (the ticket desk's "add to FAQ" calls this with
    the user's words and the last staff reply). The role check is the caller's."""
    services = context.services
    match = await services.match(question)
    draft = await services.db.run(
        start_draft,
        question=question,
        answer=answer,
        near_entry_ids=[c.entry_id for c in match.candidates],
        source=source,
        source_ticket_id=source_ticket_id,
        staff_id=staff_id,
        now=services.now(),
    )
    await show_draft(context, draft, chat_id=chat_id, thread_id=thread_id, lang=lang)
    return draft


async def show_draft(
    context: HelpdeskContext,
    draft: FaqDraft,
    *,
    chat_id: int,
    thread_id: int | None = None,
    lang: str = "zh",
) -> Message:
    """Post the draft with its buttons: save as new, save as a phrasing of one of the entries the
    matcher finds closest to the draft's question, edit, discard."""
    services = context.services
    match = await services.match(draft.question)
    near = [doc for c in match.candidates if (doc := services.faq.entry(c.entry_id)) is not None]
    assert draft.id is not None
    rows: list[list[InlineKeyboardButton | None]] = [
        [_button(t(lang, "draft_button_new"), f"fd:{draft.id}:n")],
        *[
            [
                _button(
                    t(lang, "draft_button_phrasing", question=shorten(doc.question, 30)),
                    f"fd:{draft.id}:p:{doc.id}",
                )
            ]
            for doc in near[:PHRASING_CANDIDATES]
        ],
        [
            _button(t(lang, "draft_button_edit_question"), f"fd:{draft.id}:q"),
            _button(t(lang, "draft_button_edit_answer"), f"fd:{draft.id}:a"),
        ],
        [
            _button(t(lang, "draft_button_edit_category"), f"fd:{draft.id}:c"),
            _button(t(lang, "draft_button_discard"), f"fd:{draft.id}:x"),
        ],
    ]
    keyboard = InlineKeyboardMarkup([[b for b in row if b] for row in rows if any(row)])
    return await context.bot.send_message(
        chat_id=chat_id,
        text=render_draft(lang, draft),
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard,
        message_thread_id=thread_id,
    )


def render_draft(lang: str, draft: FaqDraft) -> str:
    return t(
        lang,
        "draft_card",
        id=draft.id,
        source=t(lang, f"draft_source_{draft.source}"),
        question=draft.question,
        answer=draft.answer or t(lang, "draft_no_answer"),
        language=draft.lang,
        category=draft.category,
    )


@staff_command
async def faq_draft_command(update: Update, context: HelpdeskContext) -> None:
    """``/faqdraft <question>``: a draft written by hand."""
    message = update.effective_message
    assert message is not None  # staff_command checked
    staff_id = update.effective_user.id  # type: ignore[union-attr]
    lang = staff_lang(update, context)
    question = (message.text or "").partition(" ")[2].strip()
    if not question:
        await message.reply_html(t(lang, "draft_usage"))
        return
    await begin_draft(
        context,
        question=question,
        source="manual",
        staff_id=staff_id,
        chat_id=message.chat_id,
        thread_id=None,  # never in a ticket's topic (see the module docstring)
        lang=lang,
    )


async def _press_draft(
    press: DraftPress, query: CallbackQuery, context: HelpdeskContext, lang: str, staff_id: int
) -> None:
    services = context.services
    if press.action == "x":
        draft = await services.db.run(
            discard_draft, draft_id=press.draft_id, staff_id=staff_id, now=services.now()
        )
        await query.answer()
        await _replace(query, t(lang, "draft_discarded", id=draft.id))
        return
    try:
        if press.action == "n":
            entry = await services.db.run(
                save_as_new_entry, draft_id=press.draft_id, staff_id=staff_id, now=services.now()
            )
            done = t(lang, "draft_saved_new", id=entry.id, question=entry.question)
        elif press.action == "p" and press.entry_id is not None:
            entry = await services.db.run(
                save_as_phrasing,
                draft_id=press.draft_id,
                entry_id=press.entry_id,
                staff_id=staff_id,
                now=services.now(),
            )
            done = t(lang, "draft_saved_phrasing", id=entry.id, question=entry.question)
        else:  # the edit buttons belong to the edit conversation, which takes them first
            raise DraftError(f"unexpected draft action {press.action!r}")
    except DraftInvalid as invalid:
        # Not a forged button: the draft needs fixing first (most often: no answer yet).
        if invalid.problems == ["answer is empty"]:
            refusal = t(lang, "draft_needs_answer")
        else:
            refusal = t(lang, "draft_invalid", problems="; ".join(invalid.problems))
        await query.answer(refusal[:200], show_alert=True)  # Telegram's limit for an alert
        return
    # At once, so the very next question can get the new answer.
    await services.db.run(services.faq.rebuild)
    await query.answer()
    await _replace(query, done)


# --- editing a draft (a small conversation per staff member and chat) ----------------------------


def _edit_key(chat_id: int) -> str:
    return f"draft_edit:{chat_id}"


async def ask_for_edit(update: Update, context: HelpdeskContext) -> int:
    """An edit button: remember what to edit and ask for the text."""
    query = update.callback_query
    assert query is not None and query.data is not None
    press = parse_staff_press(query.data)
    lang = staff_lang(update, context)
    try:
        staff_id = await require_staff(update, context)
    except NotStaff:
        await _refuse(update, context)
        return ConversationHandler.END
    if not isinstance(press, DraftPress) or query.message is None:
        await query.answer(t(lang, "button_invalid"), show_alert=True)
        return ConversationHandler.END
    try:
        draft = await context.services.db.run(open_draft, draft_id=press.draft_id)
    except DraftError as refused:
        await _refuse_draft(query, lang, refused)
        return ConversationHandler.END
    field = _FIELDS[press.action]
    assert context.user_data is not None
    context.user_data[_edit_key(query.message.chat.id)] = (
        draft.id,
        field,
        query.message.message_id,
    )
    await query.answer()
    current = getattr(draft, field) or t(lang, "draft_no_answer")
    await _send(
        query.message,
        context,
        t(lang, f"draft_prompt_{field}", id=draft.id, current=shorten(current, 300)),
    )
    logger.info("staff %s edits the %s of draft %s", staff_id, field, draft.id)
    return EDITING


async def receive_edit(update: Update, context: HelpdeskContext) -> int:
    """The staff member's next message: the new text. Nothing else sees it (not the ticket relay),
    so the new answer is never sent to a user by mistake."""
    message = update.effective_message
    assert message is not None and context.user_data is not None
    lang = staff_lang(update, context)
    pending = context.user_data.pop(_edit_key(message.chat_id), None)
    try:
        await require_staff(update, context)
    except NotStaff:
        await _refuse(update, context)
        raise ApplicationHandlerStop(ConversationHandler.END) from None
    if pending is None:
        raise ApplicationHandlerStop(ConversationHandler.END)
    draft_id, field, card_id = pending
    services = context.services
    try:
        draft = await services.db.run(
            edit_draft, draft_id=draft_id, field=field, text=message.text or "", now=services.now()
        )
    except DraftError:
        await message.reply_html(t(lang, "draft_closed"))
        raise ApplicationHandlerStop(ConversationHandler.END) from None
    # The old card's buttons would now show stale text: the fresh card below replaces it.
    try:
        await context.bot.edit_message_reply_markup(chat_id=message.chat_id, message_id=card_id)
    except BadRequest as exc:
        logger.debug("could not remove the old draft buttons: %s", exc)
    await show_draft(
        context, draft, chat_id=message.chat_id, thread_id=_thread_of(message), lang=lang
    )
    raise ApplicationHandlerStop(ConversationHandler.END)


async def cancel_edit(update: Update, context: HelpdeskContext) -> int:
    message = update.effective_message
    if message is not None and context.user_data is not None:
        context.user_data.pop(_edit_key(message.chat_id), None)
        await message.reply_html(t(staff_lang(update, context), "draft_edit_cancelled"))
    return ConversationHandler.END


def edit_conversation() -> ConversationHandler:  # type: ignore[type-arg]
    with warnings.catch_warnings():
        # PTB warns that with per_message=False a callback query entry point is tracked per chat
        # and user, not per message: exactly what we want (the next message of that person).
        warnings.simplefilter("ignore", PTBUserWarning)
        return ConversationHandler(
            entry_points=[_StaffButtonHandler(ask_for_edit, pattern=_EDIT_PATTERN)],
            states={
                EDITING: [
                    MessageHandler(NEW_MESSAGE & filters.TEXT & ~filters.COMMAND, receive_edit)
                ]
            },
            fallbacks=[CommandHandler("cancel", cancel_edit)],
            allow_reentry=True,
            conversation_timeout=timedelta(minutes=EDIT_MINUTES),
            name="faq_draft_edit",
        )


# --- candidate phrasings -----------------------------------------------------------------------


def render_phrasings(
    lang: str, pending: list[PendingPhrasing]
) -> tuple[str, InlineKeyboardMarkup | None]:
    if not pending:
        return t(lang, "phrasings_none"), None
    shown = pending[:PHRASINGS_SHOWN]
    lines = [t(lang, "phrasings_head", count=len(pending))]
    rows = []
    for number, item in enumerate(shown, start=1):
        lines.append(
            t(
                lang,
                "phrasings_item",
                n=number,
                text=shorten(item.text, ITEM_CHARS),
                question=shorten(item.entry_question, ITEM_CHARS),
                entry=item.entry_id,
            )
        )
        rows.append(
            [
                InlineKeyboardButton(f"✅ {number}", callback_data=f"ph:{item.id}:y"),
                InlineKeyboardButton(f"❌ {number}", callback_data=f"ph:{item.id}:n"),
            ]
        )
    return "\n\n".join(lines), InlineKeyboardMarkup(rows)


@staff_command
async def phrasings_command(update: Update, context: HelpdeskContext) -> None:
    message = update.effective_message
    assert message is not None  # staff_command checked
    pending = await context.services.db.run(pending_phrasings, limit=100)
    text, keyboard = render_phrasings(staff_lang(update, context), pending)
    await message.reply_html(text, reply_markup=keyboard)


async def _press_phrasing(
    press: PhrasingPress, query: CallbackQuery, context: HelpdeskContext, lang: str, staff_id: int
) -> None:
    services = context.services
    decide = confirm_phrasing if press.confirm else reject_phrasing
    await services.db.run(
        decide, phrasing_id=press.phrasing_id, staff_id=staff_id, now=services.now()
    )
    if press.confirm:
        await services.db.run(services.faq.rebuild)
    await query.answer(t(lang, "phrasing_confirmed" if press.confirm else "phrasing_rejected"))
    pending = await services.db.run(pending_phrasings, limit=100)
    text, keyboard = render_phrasings(lang, pending)
    await _replace(query, text, keyboard)


# --- common problems --------------------------------------------------------------------------


def render_common(
    lang: str, problems: list[CommonProblem], titles: dict[str, str], since_text: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    if not problems:
        return t(lang, "common_none", since=since_text), None
    lines = [t(lang, "common_head", since=since_text)]
    rows = []
    for number, problem in enumerate(problems[:COMMON_SHOWN], start=1):
        others = [shorten(e, ITEM_CHARS) for e in problem.examples[1:]]
        tried = [titles.get(entry_id, entry_id) for entry_id in problem.tried_entry_ids]
        item = t(
            lang,
            "common_item",
            n=number,
            question=shorten(problem.typical, ITEM_CHARS),
            count=problem.count,
        )
        if others:
            item += "\n" + t(lang, "common_examples", examples="；".join(others))
        if tried:
            item += "\n" + t(lang, "common_tried", entries="；".join(tried))
        lines.append(item)
        rows.append(
            [
                InlineKeyboardButton(
                    t(lang, "common_button", n=number), callback_data=f"cm:{problem.question_id}"
                )
            ]
        )
    return "\n\n".join(lines), InlineKeyboardMarkup(rows)


@staff_command
async def common_command(update: Update, context: HelpdeskContext) -> None:
    message = update.effective_message
    assert message is not None  # staff_command checked
    services = context.services
    now = services.now()
    since = week_start(now, services.settings.tz)
    problems = await services.db.run(common_problems, since=since, until=now + timedelta(seconds=1))
    titles = {
        entry_id: shorten(doc.question, 30)
        for p in problems
        for entry_id in p.tried_entry_ids
        if (doc := services.faq.entry(entry_id)) is not None
    }
    lang = staff_lang(update, context)
    text, keyboard = render_common(lang, problems, titles, f"{since:%m-%d}")
    await message.reply_html(text, reply_markup=keyboard)


async def _press_common(
    press: CommonPress, query: CallbackQuery, context: HelpdeskContext, lang: str, staff_id: int
) -> None:
    services = context.services
    draft = await services.db.run(
        start_draft_from_question,
        question_id=press.question_id,
        staff_id=staff_id,
        now=services.now(),
    )
    await query.answer()
    assert query.message is not None
    await show_draft(
        context, draft, chat_id=query.message.chat.id, thread_id=None, lang=lang
    )  # never in a ticket's topic (see the module docstring)


# --- statistics and the report ----------------------------------------------------------------


def _share(figures: FaqFigures) -> str:
    share = figures.answered_share
    return "—" if share is None else f"{share:.0%}"


def _number(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


@staff_command
async def stats_command(update: Update, context: HelpdeskContext) -> None:
    message = update.effective_message
    assert message is not None  # staff_command checked
    services = context.services
    now = services.now()
    this_week = week_start(now, services.settings.tz)
    last_week = this_week - timedelta(days=7)
    until = now + timedelta(seconds=1)  # this very second's questions count too
    now_faq = await services.db.run(faq_figures, since=this_week, until=until)
    before_faq = await services.db.run(faq_figures, since=last_week, until=this_week)
    now_tickets = await services.db.run(ticket_stats, since=this_week, until=until)
    before_tickets = await services.db.run(ticket_stats, since=last_week, until=this_week)
    lang = staff_lang(update, context)
    text = t(
        lang,
        "stats",
        this_week=f"{this_week:%m-%d}",
        last_week=f"{last_week:%m-%d}",
        questions=now_faq.questions,
        questions_before=before_faq.questions,
        share=_share(now_faq),
        share_before=_share(before_faq),
        up=now_faq.helpful,
        down=now_faq.unhelpful,
        up_before=before_faq.helpful,
        down_before=before_faq.unhelpful,
        opened=now_tickets.opened,
        opened_before=before_tickets.opened,
        closed=now_tickets.closed,
        closed_before=before_tickets.closed,
        median=_number(now_tickets.median_first_response_minutes),
        median_before=_number(before_tickets.median_first_response_minutes),
        rating=_number(now_tickets.average_rating, 1),
        rating_before=_number(before_tickets.average_rating, 1),
    )
    if now_faq.top_entries:
        text += "\n\n" + t(lang, "stats_top_head")
        for number, top in enumerate(now_faq.top_entries, start=1):
            text += "\n" + t(
                lang,
                "stats_top_item",
                n=number,
                question=shorten(top.question, 40),
                count=top.count,
            )
    await message.reply_html(text)


@staff_command
async def report_command(update: Update, context: HelpdeskContext) -> None:
    message = update.effective_message
    assert message is not None  # staff_command checked
    await reports.send_report(
        context.bot,
        context.services,
        chat_id=message.chat_id,
        thread_id=_thread_of(message),
        lang=staff_lang(update, context),
        scheduled=False,
    )


# --- every staff button ---------------------------------------------------------------------------


async def press_staff_button(update: Update, context: HelpdeskContext) -> None:
    """Save / phrasing / discard / confirm / reject / common-problem presses, re-checked."""
    query = update.callback_query
    if query is None:
        return
    lang = staff_lang(update, context)
    try:
        staff_id = await require_staff(update, context)
    except NotStaff:
        await _refuse(update, context)
        return
    press = parse_staff_press(query.data)
    if press is None or query.message is None:
        logger.info("refused staff button %r from user %s", query.data, query.from_user.id)
        await query.answer(t(lang, "button_invalid"), show_alert=True)
        return
    try:
        match press:
            case DraftPress():
                await _press_draft(press, query, context, lang, staff_id)
            case PhrasingPress():
                await _press_phrasing(press, query, context, lang, staff_id)
            case CommonPress():
                await _press_common(press, query, context, lang, staff_id)
    except DraftError as refused:
        await _refuse_draft(query, lang, refused)


async def _refuse_draft(query: CallbackQuery, lang: str, refused: DraftError) -> None:
    logger.info("refused staff button %r: %r", query.data, refused)
    key = "draft_closed" if isinstance(refused, DraftClosed) else "button_invalid"
    await query.answer(t(lang, key), show_alert=True)


# --- helpers ----------------------------------------------------------------------------------


def _thread_of(message: object) -> int | None:
    """The forum topic of a message, so replies stay in it."""
    if isinstance(message, Message) and message.is_topic_message:
        return message.message_thread_id
    return None


async def _send(message: object, context: HelpdeskContext, text: str) -> None:
    assert isinstance(message, Message)
    await context.bot.send_message(
        chat_id=message.chat.id,
        text=text,
        parse_mode=ParseMode.HTML,
        message_thread_id=_thread_of(message),
    )


async def _replace(
    query: CallbackQuery, text: str, keyboard: InlineKeyboardMarkup | None = None
) -> None:
    """Show the outcome in place of the pressed message, so its buttons cannot be pressed again."""
    try:
        await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
    except BadRequest as exc:  # "message is not modified" after a double tap
        logger.debug("could not edit the staff message: %s", exc)


# --- wiring -----------------------------------------------------------------------------------


class _StaffButtonHandler(CallbackQueryHandler):  # type: ignore[type-arg]
    """A ``CallbackQueryHandler`` whose pattern also applies to empty data: PTB lets a press with
    no data through any pattern, and that press is the general button handler's to refuse."""

    def check_update(self, update: object) -> bool | object | None:
        if isinstance(update, Update) and update.callback_query and not update.callback_query.data:
            return None
        return super().check_update(update)


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Add the staff FAQ handlers. Call before ``bot.handlers.register``: in handler group 0 the
    first matching handler wins, and the private-chat catch-alls there (unknown command, any text
    is a question, any button press) would otherwise take these updates."""
    application.add_handler(edit_conversation())
    for name, callback in (
        ("phrasings", phrasings_command),
        ("faqdraft", faq_draft_command),
        ("common", common_command),
        ("stats", stats_command),
        ("report", report_command),
    ):
        application.add_handler(CommandHandler(name, callback, filters=NEW_MESSAGE))
    application.add_handler(_StaffButtonHandler(press_staff_button, pattern=_PRESS_PATTERN))
