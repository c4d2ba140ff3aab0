"""The escalation desk at the Telegram edge: tickets between users' private chats and staff.

User side (private chat): "contact staff" buttons, ``/human [question]`` and 👎-then-contact open a
ticket; while it is open or answered every further message (text, photo, document, voice) is
relayed to staff instead of being matched against the FAQ; ``/mytickets`` lists the user's own
tickets; closed tickets ask for a 1–5 rating.

Staff side (``HELPDESK_STAFF_CHAT_ID``): with forum topics each ticket gets a topic
``#<id> <first words>`` whose first post has the context and the buttons; without topics the bot
posts the ticket and staff reply to that post (or to any message of the ticket). Staff messages
are copied to the user signed with the staff title; ``#note`` messages stay internal. ``/close``
(or the button) closes, ``/ban``/``/unban`` (admins) stop a user's messages reaching staff.

Every staff command and button press is checked against :class:`bot.roles.Roles` when it arrives;
callback data carries only ids and every id is re-checked against the database. Handlers are
thin: they call a use case in :mod:`bot.relay` (one transaction: ticket change + outbox rows) and
kick the outbox sender. Handlers here run in group -1 and stop the update when they handled it,
so the FAQ handlers (group 0) never see a relayed message.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlmodel import Session
from telegram import Bot, CallbackQuery, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import outbox, relay, staff_faq, tickets
from bot.clock import Clock
from bot.context import HelpdeskContext
from bot.db import Database
from bot.keyboards import DESK_PATTERN, RatingPress, TicketPress, parse_desk_press, shorten
from bot.outbox import OutboxMessage
from bot.outbox_sender import OutboxSender, Postpone
from bot.relay import DeskConfig, UserRef
from bot.roles import Roles, parse_user_id
from bot.settings import Settings
from bot.texts import t
from bot.tickets import Ticket, TicketError, TicketSource
from faq.service import FaqIndex, own_question
from reminders.calendar import BusinessHours, is_business_time

logger = logging.getLogger(__name__)

DESK_GROUP = -1  # after remember_user (-5), before the FAQ handlers (0)
NEW_MESSAGE = filters.UpdateType.MESSAGE
REMINDER_INTERVAL_SECONDS = 60
MY_TICKETS_SHOWN = 10


class Desk:
    """The desk's long-lived parts for one application: its configuration, the outbox sender and
    where tickets live in the staff group."""

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        clock: Clock,
        roles: Roles,
        bot: Bot,
        owner: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.roles = roles
        self.bot = bot
        self.config = DeskConfig(
            staff_chat_id=settings.staff_chat_id,
            admin_ids=tuple(settings.admin_ids),
            staff_lang=settings.default_lang,
            titles={
                lang: title
                for lang, title in (("zh", settings.staff_title), ("en", settings.staff_title_en))
                if title
            },
            reopen_days=settings.reopen_days,
            first_response_minutes=settings.first_response_minutes,
            hours=BusinessHours(
                opens=settings.business_hours_start,
                closes=settings.business_hours_end,
                tz=settings.tz,
            ),
            tz=settings.tz,
            add_to_faq=True,  # the draft flow of bot/staff_faq.py
        )
        self.outbox_interval = settings.outbox_interval_seconds
        self._forum: bool | None = None  # asked of Telegram once (getChat)
        self.sender = OutboxSender(
            bot=bot,
            db=db,
            clock=clock,
            prepare=self.place,
            on_sent=relay.record_sent,
            on_blocked=self._record_blocked,
            owner=owner,
        )

    # --- start-up and jobs ----------------------------------------------------------------------

    async def start(self, application: Application) -> None:  # type: ignore[type-arg]
        """At start: learn whether the staff group has topics, send what a previous run left
        pending (backoff or not: a restart is a reason to try again), schedule the jobs."""
        await self.is_forum()
        if self.sender.owner is not None:
            # Rows this instance was sending when it died would wait for their lease otherwise,
            # and every later message to the same chats behind them.
            taken_back = await self.db.run(outbox.release_own, owner=self.sender.owner)
            if taken_back:
                logger.info("%d outbox messages claimed before a crash go again", taken_back)
        sent = await self.sender.flush(ignore_backoff=True)
        if sent:
            logger.info("sent %d outbox messages left pending by the previous run", sent)
        jobs = application.job_queue
        if jobs is None:  # pragma: no cover - the job-queue extra is a dependency
            logger.warning("no JobQueue: pending relays go out only when a handler kicks them")
            return
        jobs.run_repeating(
            self._flush_job,
            interval=self.outbox_interval,
            first=self.outbox_interval,
            name="outbox",
        )
        jobs.run_repeating(
            self.remind_job,
            interval=REMINDER_INTERVAL_SECONDS,
            first=REMINDER_INTERVAL_SECONDS,
            name="first-response-reminders",
        )

    async def _flush_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.sender.flush()

    async def remind_job(self, context: object = None) -> int:
        """Queue due first-response reminders and send them (the JobQueue's callback)."""
        count = await self.db.run(
            relay.remind_first_response, config=self.config, now=self.clock.now()
        )
        if count:
            await self.sender.flush()
        return count

    async def stop(self) -> None:
        await self.sender.idle()

    # --- where a ticket lives in the staff group ------------------------------------------------

    async def is_forum(self, *, strict: bool = False) -> bool:
        """Whether the staff group has forum topics (getChat, asked until it answers). With
        ``strict`` an unanswered question raises, so the outbox retries the row later instead
        of posting it in the wrong place."""
        if self._forum is None and self.config.staff_chat_id is not None:
            try:
                chat = await self.bot.get_chat(self.config.staff_chat_id)
            except TelegramError as exc:
                logger.warning("getChat of the staff group failed, asking again later: %s", exc)
                if strict:
                    raise
                return False
            self._set_forum(bool(chat.is_forum))
        return bool(self._forum)

    def _set_forum(self, forum: bool) -> None:
        self._forum = forum
        self.config = dataclasses.replace(self.config, forum=forum)

    async def place(self, row: OutboxMessage) -> dict[str, Any]:
        """The outbox's prepare hook: a staff-group row of a ticket goes into the ticket's topic
        (made on first use) or, without topics, as a reply to the ticket's first post."""
        staff_chat = self.config.staff_chat_id
        if row.ticket_id is None or row.chat_id != staff_chat:
            return {}
        ticket = await self.db.run(tickets.get_ticket, ticket_id=row.ticket_id)
        if await self.is_forum(strict=True):
            topic_id = ticket.topic_id or await self._make_topic(ticket)
            if topic_id is not None:
                return {"message_thread_id": topic_id}
        if row.kind == "card":
            return {}
        if ticket.staff_message_id is None:
            raise Postpone(f"ticket {ticket.id} has no first post yet")
        return {"reply_to_message_id": ticket.staff_message_id}

    async def _make_topic(self, ticket: Ticket) -> int | None:
        assert ticket.id is not None and self.config.staff_chat_id is not None
        name = relay.topic_name(ticket, fallback=t(self.config.staff_lang, "no_question_yet"))
        try:
            topic = await self.bot.create_forum_topic(self.config.staff_chat_id, name)
        except BadRequest as exc:
            # No right to manage topics (or topics switched off): reply threads still work.
            logger.error("cannot create forum topics, falling back to reply threads: %s", exc)
            self._set_forum(False)
            return None
        await self.db.run(tickets.set_topic, ticket_id=ticket.id, topic_id=topic.message_thread_id)
        return topic.message_thread_id

    async def rename_topic(self, ticket: Ticket) -> None:
        """Name the topic after the question once a ticket opened without words gets one."""
        if ticket.topic_id is None or self.config.staff_chat_id is None:
            return  # no topic yet: it will be named after the question when it is made
        name = relay.topic_name(ticket, fallback="")
        try:
            await self.bot.edit_forum_topic(self.config.staff_chat_id, ticket.topic_id, name=name)
        except TelegramError as exc:  # a convenience: the ticket works under any name
            logger.info("could not rename topic %s: %s", ticket.topic_id, exc)

    def _record_blocked(self, session: Session, row: OutboxMessage, now: Any) -> None:
        relay.record_blocked(session, row, now, config=self.config)


def ticket_of_staff_message(context: HelpdeskContext, message: Message) -> Awaitable[Ticket | None]:
    """The ticket a staff-group message belongs to: by its forum topic, or by the message it
    replies to (the ticket's first post, a relayed message, a staff message)."""
    topic_id = message.message_thread_id if message.is_topic_message else None
    replied = message.reply_to_message
    # In a forum every topic message "replies" to the topic's creation message: not a reply.
    replied_id = (
        replied.message_id if replied is not None and replied.message_id != topic_id else None
    )
    return context.services.db.run(
        relay.ticket_in_staff_chat,
        chat_id=message.chat_id,
        topic_id=topic_id,
        replied_id=replied_id,
    )


def desk_of(context: HelpdeskContext) -> Desk:
    return context.bot_data.desk  # type: ignore[attr-defined]


def content_of(message: Message) -> tuple[tickets.MessageKind, str, str | None]:
    """What a message carries: its kind, its text or caption, its file id."""
    caption = message.caption or ""
    if message.text is not None:
        return "text", message.text, None
    if message.photo:
        return "photo", caption, message.photo[-1].file_id
    if message.document is not None:
        return "document", caption, message.document.file_id
    if message.voice is not None:
        return "voice", caption, message.voice.file_id
    return "other", caption, None


def handled(
    callback: Callable[[Update, HelpdeskContext], Awaitable[None]],
) -> Callable[[Update, HelpdeskContext], Awaitable[None]]:
    """Stop the update after the desk handled it, so no FAQ handler answers it too."""

    async def wrapper(update: Update, context: HelpdeskContext) -> None:
        await callback(update, context)
        raise ApplicationHandlerStop

    wrapper.__name__ = callback.__name__
    wrapper.__doc__ = callback.__doc__
    return wrapper


# --- the user side --------------------------------------------------------------------------------


async def escalate(
    context: HelpdeskContext,
    *,
    user_id: int,
    chat_id: int,
    name: str,
    lang: str,
    question: str,
    source: TicketSource,
    question_id: int | None = None,
    source_message_id: int | None = None,
) -> str:
    """Open (or add to) the user's ticket; the reply to give them. A banned user gets a neutral
    reply and nothing reaches staff."""
    desk, services = desk_of(context), context.services
    try:
        escalated = await services.db.run(
            relay.escalate,
            config=desk.config,
            user=UserRef(id=user_id, chat_id=chat_id, name=name, lang=lang),
            question=question,
            source=source,
            question_id=question_id,
            source_message_id=source_message_id,
            now=services.now(),
        )
    except tickets.UserBanned:
        return t(lang, "ticket_received")
    if context.talking is not None:  # about this update's user, the one escalating
        context.talking.active_ticket = True  # what this update's later handlers see too
    topic_id = escalated.ticket.topic_id
    if escalated.reopened and topic_id is not None and desk.config.staff_chat_id is not None:
        try:
            await context.bot.reopen_forum_topic(desk.config.staff_chat_id, topic_id)
        except TelegramError as exc:  # already open, or no rights: posting still works
            logger.info("could not reopen topic %s: %s", topic_id, exc)
    desk.sender.kick()
    return escalated.reply


def render_contact(lang: str, faq: FaqIndex) -> str:
    """How to reach people when no staff group is configured (so no ticket can be answered)."""
    text = t(lang, "contact_info")
    doc = faq.contact_entry(lang)
    if doc is not None:
        text += "\n\n" + t(lang, "contact_faq", question=doc.question, answer=doc.answer)
    return text


@handled
async def human(update: Update, context: HelpdeskContext) -> None:
    """``/human [question]``: talk to staff."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    if desk_of(context).config.staff_chat_id is None:
        # No staff group configured: nobody would see a ticket, so say how to reach people.
        await message.reply_html(render_contact(context.lang, context.services.faq))
        return
    reply = await escalate(
        context,
        user_id=user.id,
        chat_id=message.chat_id,
        name=user.full_name,
        lang=context.lang,
        question=" ".join(context.args or []),
        source="human",
        source_message_id=message.message_id if context.args else None,
    )
    await message.reply_html(reply)


async def contact_pressed(
    query: CallbackQuery, context: HelpdeskContext, question_id: int | None
) -> None:
    """The "contact staff" button (``cs`` / ``cs:<qid>``): the question must be the presser's own
    (re-checked), and becomes the ticket's question with what the FAQ found for it."""
    services = context.services
    user = query.from_user
    lang, question, source = context.lang, "", "contact"
    if question_id is not None:
        log = await services.db.run(own_question, question_id=question_id, user_id=user.id)
        lang = context.chosen_lang or log.lang
        question = log.text
        source = "thumbs_down" if log.feedback == "down" else "contact"
    assert query.message is not None
    reply = await escalate(
        context,
        user_id=user.id,
        # The private chat even when the button was pressed in a group: staff answers must not
        # be relayed into a group (the user's id is their private chat's id).
        chat_id=user.id,
        name=user.full_name,
        lang=lang,
        question=question,
        source=source,  # type: ignore[arg-type]
        question_id=question_id,
    )
    await query.answer()
    await context.bot.send_message(query.message.chat.id, reply, parse_mode=ParseMode.HTML)


async def relay_from_user(update: Update, context: HelpdeskContext) -> None:
    """A private message while the user has an active ticket goes to staff; otherwise it falls
    through to the FAQ handlers."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    desk, services = desk_of(context), context.services
    talking = context.talking
    if talking is not None and not talking.active_ticket:
        # No active ticket when the update arrived (remember_user read it): the FAQ answers. A
        # ticket opened meanwhile by another chat's update (a button pressed in a group) is as if
        # it had been opened just after this message, as could always happen.
        return
    kind, text, file_id = content_of(message)
    try:
        relayed = await services.db.run(
            relay.relay_user_message,
            config=desk.config,
            user_id=user.id,
            chat_id=message.chat_id,
            message_id=message.message_id,
            kind=kind,
            text=text,
            file_id=file_id,
            now=services.now(),
        )
    except tickets.UserBanned:
        await message.reply_html(context.text("ticket_received"))
        raise ApplicationHandlerStop from None
    if relayed is None:
        return  # no active ticket: the FAQ answers
    desk.sender.kick()
    if relayed.gave_question:
        await desk.rename_topic(relayed.ticket)
    if relayed.tell_forwarded:
        lang = relayed.ticket.lang
        reply = t(lang, "ticket_forwarded", id=relayed.ticket.id)
        if not is_business_time(services.now(), desk.config.hours):
            reply += "\n\n" + relay.after_hours_line(lang, services.now(), desk.config)
        await message.reply_html(reply)
    raise ApplicationHandlerStop


@handled
async def my_tickets(update: Update, context: HelpdeskContext) -> None:
    """``/mytickets``: the user's own tickets, never anybody else's."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    services, desk = context.services, desk_of(context)
    own = await services.db.run(tickets.my_tickets, user_id=user.id, limit=MY_TICKETS_SHOWN)
    if not own:
        await message.reply_html(context.text("mytickets_none"))
        return
    lines = [context.text("mytickets_header")]
    for ticket in own:
        lines.append(
            context.text(
                "mytickets_line",
                id=ticket.id,
                status=context.text(f"status_{ticket.status}"),
                date=ticket.created_at.astimezone(desk.config.tz).strftime("%Y-%m-%d %H:%M"),
                question=shorten(ticket.question, 80)
                if ticket.question
                else context.text("no_question_yet"),
            )
        )
    await message.reply_html("\n\n".join(lines))


# --- the staff side -------------------------------------------------------------------------------


async def staff_message(update: Update, context: HelpdeskContext) -> None:
    """A message in the staff group: if it belongs to a ticket, a reply or a note."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or user.is_bot:
        return
    desk, services = desk_of(context), context.services
    ticket = await ticket_of_staff_message(context, message)
    if ticket is None:
        return  # not about a ticket: the group's ordinary handlers decide
    assert ticket.id is not None
    staff_lang = desk.config.staff_lang
    if not await desk.roles.is_staff(context.bot, user.id):
        await message.reply_html(t(staff_lang, "staff_only"))
        raise ApplicationHandlerStop
    kind, text, file_id = content_of(message)
    try:
        await services.db.run(
            relay.relay_staff_message,
            config=desk.config,
            ticket_id=ticket.id,
            staff_id=user.id,
            chat_id=message.chat_id,
            message_id=message.message_id,
            kind=kind,
            text=text,
            file_id=file_id,
            now=services.now(),
        )
    except tickets.TicketClosed:
        await message.reply_html(t(staff_lang, "staff_ticket_closed", id=ticket.id))
        raise ApplicationHandlerStop from None
    desk.sender.kick()
    raise ApplicationHandlerStop


@handled
async def close_command(update: Update, context: HelpdeskContext) -> None:
    """``/close`` in a ticket's topic or as a reply to one of its messages."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    desk = desk_of(context)
    lang = desk.config.staff_lang
    if not await desk.roles.is_staff(context.bot, user.id):
        await message.reply_html(t(lang, "staff_only"))
        return
    ticket = None
    if message.chat_id == desk.config.staff_chat_id:
        ticket = await ticket_of_staff_message(context, message)
    if ticket is None or ticket.id is None:
        await message.reply_html(t(lang, "staff_where"))
        return
    try:
        await _close(context, ticket.id, user.id, user.full_name)
    except tickets.TicketClosed:
        await message.reply_html(t(lang, "staff_already_closed", id=ticket.id))


async def _close(context: HelpdeskContext, ticket_id: int, staff_id: int, name: str) -> None:
    desk, services = desk_of(context), context.services
    ticket = await services.db.run(
        relay.close_ticket,
        config=desk.config,
        ticket_id=ticket_id,
        staff_id=staff_id,
        staff_name=name,
        now=services.now(),
    )
    await desk.sender.flush()  # the closing notice goes into the topic before it is closed
    if ticket.topic_id is not None and desk.config.staff_chat_id is not None:
        try:
            await context.bot.close_forum_topic(desk.config.staff_chat_id, ticket.topic_id)
        except TelegramError as exc:  # closed by hand already, or no rights: the ticket is closed
            logger.info("could not close topic %s: %s", ticket.topic_id, exc)


@handled
async def ban_command(update: Update, context: HelpdeskContext) -> None:
    """``/ban <user_id>`` / ``/unban <user_id>`` (admins), or as a reply to a ticket message."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    desk, services = desk_of(context), context.services
    lang = desk.config.staff_lang
    if not desk.roles.is_admin(user.id):
        await message.reply_html(t(lang, "admin_only"))
        return
    target: int | None = None
    if context.args and (typed := parse_user_id(context.args[0])) is not None:
        target = typed
    elif message.chat_id == desk.config.staff_chat_id:
        ticket = await ticket_of_staff_message(context, message)
        target = ticket.user_id if ticket is not None else None
    if target is None:
        await message.reply_html(t(lang, "ban_usage"))
        return
    banning = (message.text or "").lstrip("/").lower().startswith("ban")
    if banning:
        done = await services.db.run(
            tickets.ban, user_id=target, banned_by=user.id, now=services.now()
        )
        await message.reply_html(t(lang, "banned" if done else "already_banned", user=target))
    else:
        done = await services.db.run(tickets.unban, user_id=target)
        await message.reply_html(t(lang, "unbanned" if done else "not_banned", user=target))


# --- buttons --------------------------------------------------------------------------------------


@handled
async def press(update: Update, context: HelpdeskContext) -> None:
    """A desk button: staff buttons need staff, a rating needs the ticket's own user; every id is
    re-checked against the database."""
    query = update.callback_query
    if query is None:
        return
    desk = desk_of(context)
    pressed = parse_desk_press(query.data)
    try:
        match pressed:
            case TicketPress(action=action, ticket_id=ticket_id):
                if not await desk.roles.is_staff(context.bot, query.from_user.id):
                    logger.info("non-staff %s pressed %r", query.from_user.id, query.data)
                    await query.answer(t(desk.config.staff_lang, "staff_only"), show_alert=True)
                    return
                await _staff_press(query, context, action, ticket_id)
            case RatingPress(ticket_id=ticket_id, stars=stars):
                await _rate(query, context, ticket_id, stars)
            case _:
                raise TicketError(query.data)
    except TicketError as refused:
        logger.info("refused desk button %r from %s: %r", query.data, query.from_user.id, refused)
        await query.answer(context.text("button_invalid"), show_alert=True)


async def _staff_press(
    query: CallbackQuery, context: HelpdeskContext, action: str, ticket_id: int
) -> None:
    desk, services = desk_of(context), context.services
    staff = query.from_user
    lang = desk.config.staff_lang
    if action == "close":
        await _close(context, ticket_id, staff.id, staff.full_name)
        await query.answer(t(lang, "staff_done"))
        return
    if action == "faq":
        await _add_to_faq(query, context, ticket_id)
        return
    use_case = relay.claim_ticket if action == "claim" else relay.report_ticket
    await services.db.run(
        use_case,
        config=desk.config,
        ticket_id=ticket_id,
        staff_id=staff.id,
        staff_name=staff.full_name,
        now=services.now(),
    )
    desk.sender.kick()
    await query.answer(t(lang, "staff_done"))


async def _add_to_faq(query: CallbackQuery, context: HelpdeskContext, ticket_id: int) -> None:
    """Hand over to the staff FAQ flow: a draft from the user's words and the last staff reply.
    The draft is posted outside the ticket's topic, so editing it never relays to the user."""
    desk, services = desk_of(context), context.services

    def words(session: Session) -> tuple[Ticket, str]:
        ticket = tickets.get_ticket(session, ticket_id=ticket_id)
        reply = tickets.last_staff_reply(session, ticket_id=ticket_id)
        return ticket, reply.text if reply is not None else ""

    ticket, answer = await services.db.run(words)
    if not ticket.question or desk.config.staff_chat_id is None:
        raise TicketError(f"nothing to draft from ticket {ticket_id}")
    await query.answer()
    await staff_faq.begin_draft(
        context,
        question=ticket.question,
        answer=answer,
        source="ticket",
        source_ticket_id=ticket_id,
        staff_id=query.from_user.id,
        chat_id=desk.config.staff_chat_id,
        lang=desk.config.staff_lang,
    )


async def _rate(query: CallbackQuery, context: HelpdeskContext, ticket_id: int, stars: int) -> None:
    services = context.services
    ticket = await services.db.run(
        tickets.rate,
        ticket_id=ticket_id,
        user_id=query.from_user.id,
        stars=stars,
        now=services.now(),
    )
    text = t(ticket.lang, "rating_thanks", stars=stars)
    await query.answer()
    try:
        await query.edit_message_text(text, parse_mode=ParseMode.HTML)
    except BadRequest:  # too old to edit: say it as a new message
        assert query.message is not None
        await context.bot.send_message(query.message.chat.id, text, parse_mode=ParseMode.HTML)


# --- wiring ---------------------------------------------------------------------------------------


def register(application: Application, desk: Desk) -> None:  # type: ignore[type-arg]
    """Add the desk's handlers in group -1 (see the module docstring)."""
    application.bot_data.desk = desk  # type: ignore[attr-defined]
    private = filters.ChatType.PRIVATE
    add = application.add_handler
    add(CommandHandler("human", human, filters=NEW_MESSAGE & private), group=DESK_GROUP)
    add(CommandHandler("mytickets", my_tickets, filters=NEW_MESSAGE & private), group=DESK_GROUP)
    add(CommandHandler("close", close_command, filters=NEW_MESSAGE), group=DESK_GROUP)
    add(CommandHandler(["ban", "unban"], ban_command, filters=NEW_MESSAGE), group=DESK_GROUP)
    add(CallbackQueryHandler(press, pattern=DESK_PATTERN), group=DESK_GROUP)
    add(
        MessageHandler(
            NEW_MESSAGE & private & ~filters.COMMAND & ~filters.StatusUpdate.ALL, relay_from_user
        ),
        group=DESK_GROUP,
    )
    staff_chat = desk.config.staff_chat_id
    if staff_chat is not None:
        add(
            MessageHandler(
                NEW_MESSAGE
                & filters.Chat(staff_chat)
                & ~filters.COMMAND
                & ~filters.StatusUpdate.ALL,
                staff_message,
            ),
            group=DESK_GROUP,
        )
