"""The escalation desk's use cases: a ticket change and the messages it causes, in one transaction.

Each function here runs inside one ``services.db.run`` call: it changes tickets
(:mod:`bot.tickets`) and writes the messages that must follow into the outbox
(:mod:`bot.outbox`) in the same session, so a crash or a Telegram error between the two can
neither lose a relay nor send one twice. Nothing here calls Telegram; ``bot/desk.py`` (the
handlers) does, and kicks the outbox sender after each call.

Dedupe keys name what a row is about, so a redelivered update never queues a second copy:

==============================  ===============================================================
``in:<chat>:<message>``         a user message copied into the staff group
``out:<chat>:<message>``        a staff message relayed to the user
``t<id>:card``                  the ticket's first post (context and buttons)
``t<id>:<event>:<n>``           staff-group notices (claimed, closed, reopened, blocked, …)
``t<id>:remind:1``/``:2:<admin>`` first-response reminders
==============================  ===============================================================
"""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot import tickets
from bot.keyboards import rating_keyboard, shorten, ticket_keyboard
from bot.models import ChatUser
from bot.outbox import OutboxMessage, enqueue, sent_row_for
from bot.texts import t
from bot.tickets import Ticket, TicketSource
from faq.models import FaqEntry, QuestionLog
from reminders.calendar import BusinessHours, is_business_time, next_opening

NOTE_PREFIX = "#note"
TOPIC_NAME_CHARS = 128  # Telegram's limit for a forum topic name
CAPTION_CHARS = 1024
TEXT_CHARS = 4096
EARLIER_TICKETS = 5

# Extra sections of a ticket's first post, each (session, ticket, staff language) -> HTML text
# or None. The reminders issue adds the user's bound institution and its review status here;
# until then nothing is shown (staff never see a placeholder).
ContextSection = Callable[[Session, Ticket, str], str | None]
CONTEXT_SECTIONS: list[ContextSection] = []


@dataclass(frozen=True, slots=True)
class DeskConfig:
    """What the use cases need from the settings."""

    staff_chat_id: int | None
    admin_ids: tuple[int, ...]
    staff_lang: str
    titles: dict[str, str]  # language -> the signature on staff replies
    reopen_days: int
    first_response_minutes: int
    hours: BusinessHours
    tz: ZoneInfo
    add_to_faq: bool = False
    forum: bool = field(default=False)  # whether staff_chat_id has forum topics (asked at start)

    def title(self, lang: str) -> str:
        return self.titles.get(lang) or t(lang, "staff_title")


def is_note(text: str) -> bool:
    """Staff messages starting with ``#note`` stay internal."""
    return text.lstrip().lower().startswith(NOTE_PREFIX)


def topic_name(ticket: Ticket, fallback: str) -> str:
    """``#<id> <first words of the question>``, within Telegram's 128 characters."""
    head = f"#{ticket.id} "
    words = " ".join((ticket.question or fallback).split()) or "…"
    return head + shorten(words, TOPIC_NAME_CHARS - len(head))


# --- the user asks for staff ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserRef:
    id: int
    chat_id: int
    name: str
    lang: str


@dataclass(frozen=True, slots=True)
class Escalated:
    ticket: Ticket
    reply: str  # what to tell the user, in their language
    reopened: bool


def escalate(
    session: Session,
    *,
    config: DeskConfig,
    user: UserRef,
    question: str,
    source: TicketSource,
    question_id: int | None,
    source_message_id: int | None,
    now: datetime,
) -> Escalated:
    """Open (or add to, or reopen) the user's ticket and queue what staff must see."""
    opened = tickets.open_ticket(
        session,
        user_id=user.id,
        chat_id=user.chat_id,
        lang=user.lang,
        question=question,
        source=source,
        question_id=question_id,
        source_message_id=source_message_id,
        reopen_days=config.reopen_days,
        now=now,
    )
    ticket = opened.ticket
    assert ticket.id is not None
    lang = user.lang
    if opened.created:
        _queue_card(session, config, ticket, user.name, now)
        reply = t(lang, "ticket_opened" if ticket.question else "ticket_opened_ask", id=ticket.id)
    else:
        if opened.reopened:
            _notice(
                session,
                config,
                ticket,
                f"reopened:{now.timestamp():.0f}",  # a ticket may be reopened more than once
                t(config.staff_lang, "staff_reopened", id=ticket.id),
                now,
            )
        if opened.message is not None:
            _queue_text_to_staff(session, config, ticket, opened.message, now)
        if opened.reopened:
            key = "ticket_reopened"
        else:  # an active ticket: the question was added to it, or there was none to add
            key = "ticket_added" if opened.message is not None else "ticket_active"
        reply = t(lang, key, id=ticket.id)
    if not is_business_time(now, config.hours):
        reply += "\n\n" + after_hours_line(lang, now, config)
    return Escalated(ticket, reply, opened.reopened)


def after_hours_line(lang: str, now: datetime, config: DeskConfig) -> str:
    when = next_opening(now, config.hours).astimezone(config.tz)
    return t(
        lang,
        "ticket_after_hours",
        opens=config.hours.opens.strftime("%H:%M"),
        closes=config.hours.closes.strftime("%H:%M"),
        when=when.strftime("%Y-%m-%d %H:%M"),
    )


def _queue_card(
    session: Session, config: DeskConfig, ticket: Ticket, user_name: str, now: datetime
) -> None:
    if config.staff_chat_id is None:
        return
    assert ticket.id is not None
    lang = config.staff_lang
    text = staff_card(session, config, ticket, user_name)
    keyboard = ticket_keyboard(lang, ticket.id, add_to_faq=config.add_to_faq)
    enqueue(
        session,
        key=f"t{ticket.id}:card",
        chat_id=config.staff_chat_id,
        method="sendMessage",
        payload={"text": text, "parse_mode": "HTML", "reply_markup": keyboard.to_dict()},
        ticket_id=ticket.id,
        kind="card",
        now=now,
    )


def staff_card(session: Session, config: DeskConfig, ticket: Ticket, user_name: str) -> str:
    """The ticket's first post: the question, what the FAQ found, language, earlier tickets."""
    assert ticket.id is not None
    lang = config.staff_lang
    parts = [
        t(
            lang,
            "staff_card",
            id=ticket.id,
            source=t(lang, f"source_{ticket.source}"),
            user=user_name,
            user_id=ticket.user_id,
            language="中文" if ticket.lang == "zh" else "English",
            question=ticket.question or t(lang, "no_question_yet"),
        )
    ]
    candidates = faq_candidates(session, ticket.question_id)
    if ticket.question_id is not None:
        lines = [t(lang, "staff_card_candidates")]
        lines += [
            t(lang, "staff_card_candidate", question=q, entry=entry_id, score=f"{score:.0f}")
            for entry_id, q, score in candidates
        ] or [t(lang, "staff_card_no_candidates")]
        parts.append("\n".join(lines))
    earlier = tickets.earlier_tickets(
        session, user_id=ticket.user_id, before_id=ticket.id, limit=EARLIER_TICKETS
    )
    if earlier:
        lines = [t(lang, "staff_card_earlier")]
        lines += [
            t(
                lang,
                "staff_card_earlier_line",
                id=e.id,
                status=t(lang, f"status_{e.status}"),
                date=e.created_at.astimezone(config.tz).strftime("%Y-%m-%d"),
                question=shorten(e.question or "…", 60),
            )
            for e in earlier
        ]
        parts.append("\n".join(lines))
    for section in CONTEXT_SECTIONS:
        extra = section(session, ticket, lang)
        if extra:
            parts.append(extra)
    help_key = "staff_card_topic_help" if config.forum else "staff_card_reply_help"
    parts.append(t(lang, help_key, title=config.title(config.staff_lang)))
    return "\n\n".join(parts)


def faq_candidates(session: Session, question_id: int | None) -> list[tuple[str, str, float]]:
    """(entry id, its question, score) the bot found for the logged question, best first."""
    if question_id is None:
        return []
    log = session.get(QuestionLog, question_id)
    if log is None:
        return []
    found: list[tuple[str, float]] = []
    if log.entry_id is not None:
        found.append((log.entry_id, log.score))
    with contextlib.suppress(ValueError, TypeError, KeyError):
        found += [(str(c["id"]), float(c["score"])) for c in json.loads(log.suggestions)]
    result, seen = [], set()
    for entry_id, score in found:
        entry = session.get(FaqEntry, entry_id)
        if entry is not None and entry_id not in seen:
            seen.add(entry_id)
            result.append((entry_id, entry.question, score))
    return result


def _queue_text_to_staff(
    session: Session,
    config: DeskConfig,
    ticket: Ticket,
    message: tickets.TicketMessage,
    now: datetime,
) -> None:
    """A question added by a button (not a Telegram message to copy): sent as text."""
    if config.staff_chat_id is None:
        return
    text = message.text
    room = TEXT_CHARS - 4  # the mark and its space, counted as Telegram does (UTF-16)
    if len(text) > room:  # a user message of 4,096 characters plus the mark would be refused
        text = text[: room - 1] + "…"
    enqueue(
        session,
        key=f"t{ticket.id}:q:{message.id}",
        chat_id=config.staff_chat_id,
        method="sendMessage",
        payload={"text": f"💬 {_escape(text)}", "parse_mode": "HTML"},
        ticket_id=ticket.id,
        kind="relay",
        now=now,
    )


# --- messages both ways ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Relayed:
    ticket: Ticket
    tell_forwarded: bool
    gave_question: bool  # the ticket's topic can now be named after the question


def relay_user_message(
    session: Session,
    *,
    config: DeskConfig,
    user_id: int,
    chat_id: int,
    message_id: int,
    kind: tickets.MessageKind,
    text: str,
    file_id: str | None,
    now: datetime,
) -> Relayed | None:
    """A user's message while their ticket is active: stored and copied to the ticket's place in
    the staff group. ``None`` when the user has no active ticket (the FAQ answers instead)."""
    try:
        appended = tickets.append_user_message(
            session,
            user_id=user_id,
            kind=kind,
            text=text,
            file_id=file_id,
            source_chat_id=chat_id,
            source_message_id=message_id,
            now=now,
        )
    except tickets.NoActiveTicket:
        return None
    ticket = appended.ticket
    if config.staff_chat_id is not None and not appended.duplicate:
        enqueue(
            session,
            key=f"in:{chat_id}:{message_id}",
            chat_id=config.staff_chat_id,
            method="copyMessage",
            payload={"from_chat_id": chat_id, "message_id": message_id},
            ticket_id=ticket.id,
            kind="relay",
            now=now,
        )
    return Relayed(ticket, appended.tell_forwarded, appended.gave_question)


def relay_staff_message(
    session: Session,
    *,
    config: DeskConfig,
    ticket_id: int,
    staff_id: int,
    chat_id: int,
    message_id: int,
    kind: tickets.MessageKind,
    text: str,
    file_id: str | None,
    now: datetime,
) -> tickets.StaffPost:
    """A staff message in a ticket's place: an internal note, or a reply copied to the user and
    signed with the staff title (never the staff member's name)."""
    note = is_note(text)
    post = tickets.record_staff_message(
        session,
        ticket_id=ticket_id,
        staff_id=staff_id,
        kind=kind,
        text=text,
        file_id=file_id,
        note=note,
        source_chat_id=chat_id,
        source_message_id=message_id,
        now=now,
    )
    if note or post.duplicate:
        return post
    ticket = post.ticket
    title = config.title(ticket.lang)
    if kind == "text":
        method = "sendMessage"
        # Telegram's 4096 characters hold the reply and the signature; a longer reply is cut.
        room = TEXT_CHARS - len(t(ticket.lang, "staff_signature", title=title)) - 2
        text = text if len(text) <= room else text[: room - 1] + "…"
        payload = {"text": t(ticket.lang, "staff_reply", text=text, title=title)}
    else:
        method = "copyMessage"
        signature = t(ticket.lang, "staff_signature", title=title)
        room = CAPTION_CHARS - len(signature) - 2
        caption = text if len(text) <= room else text[: room - 1] + "…"
        payload = {"from_chat_id": chat_id, "message_id": message_id}
        if kind != "other":  # stickers and the like carry no caption
            payload["caption"] = (
                t(ticket.lang, "staff_caption", caption=caption, title=title)
                if caption
                else signature
            )
    enqueue(
        session,
        key=f"out:{chat_id}:{message_id}",
        chat_id=ticket.chat_id,
        method=method,  # type: ignore[arg-type]
        payload=payload | {"parse_mode": "HTML"},
        ticket_id=ticket.id,
        kind="relay",
        now=now,
    )
    return post


# --- staff actions --------------------------------------------------------------------------------


def claim_ticket(
    session: Session,
    *,
    config: DeskConfig,
    ticket_id: int,
    staff_id: int,
    staff_name: str,
    now: datetime,
) -> Ticket:
    ticket = tickets.claim(session, ticket_id=ticket_id, staff_id=staff_id, now=now)
    text = t(config.staff_lang, "staff_claimed", id=ticket_id, name=staff_name)
    _notice(session, config, ticket, f"claim:{staff_id}:{now.timestamp():.0f}", text, now)
    return ticket


def report_ticket(
    session: Session,
    *,
    config: DeskConfig,
    ticket_id: int,
    staff_id: int,
    staff_name: str,
    now: datetime,
) -> Ticket:
    first = tickets.get_ticket(session, ticket_id=ticket_id).reported_at is None
    ticket = tickets.report_upward(session, ticket_id=ticket_id, staff_id=staff_id, now=now)
    if first:
        text = t(config.staff_lang, "staff_reported", id=ticket_id, name=staff_name)
        _notice(session, config, ticket, "reported", text, now)
    return ticket


def close_ticket(
    session: Session,
    *,
    config: DeskConfig,
    ticket_id: int,
    staff_id: int,
    staff_name: str,
    now: datetime,
) -> Ticket:
    """Close; the user is told and asked for a rating, the staff group is told."""
    ticket = tickets.close(session, ticket_id=ticket_id, staff_id=staff_id, now=now)
    stamp = f"{now.timestamp():.0f}"  # a ticket may be closed again after a reopen
    enqueue(
        session,
        key=f"t{ticket_id}:closed-user:{stamp}",
        chat_id=ticket.chat_id,
        method="sendMessage",
        payload={
            "text": t(ticket.lang, "ticket_closed_user", id=ticket_id),
            "parse_mode": "HTML",
            "reply_markup": rating_keyboard(ticket_id).to_dict(),
        },
        ticket_id=ticket_id,
        kind="notice",
        now=now,
    )
    text = t(config.staff_lang, "staff_closed", id=ticket_id, name=staff_name)
    _notice(session, config, ticket, f"closed:{stamp}", text, now)
    return ticket


def _notice(
    session: Session, config: DeskConfig, ticket: Ticket, event: str, text: str, now: datetime
) -> OutboxMessage | None:
    """A line in the ticket's place in the staff group."""
    if config.staff_chat_id is None:
        return None
    return enqueue(
        session,
        key=f"t{ticket.id}:{event}",
        chat_id=config.staff_chat_id,
        method="sendMessage",
        payload={"text": text, "parse_mode": "HTML"},
        ticket_id=ticket.id,
        kind="notice",
        now=now,
    )


def ticket_in_staff_chat(
    session: Session, *, chat_id: int, topic_id: int | None, replied_id: int | None
) -> Ticket | None:
    """The ticket a staff-group message belongs to: its forum topic, else the message it replies
    to — the ticket's first post, a staff message of it, or a message the bot relayed for it."""
    if topic_id is not None:
        found = tickets.ticket_by_topic(session, topic_id=topic_id)
        if found is not None:
            return found
    if replied_id is None:
        return None
    found = tickets.ticket_by_staff_message(session, chat_id=chat_id, message_id=replied_id)
    if found is not None:
        return found
    row = sent_row_for(session, chat_id=chat_id, message_id=replied_id)
    if row is not None and row.ticket_id is not None:
        return session.get(Ticket, row.ticket_id)
    return None


# --- outbox hooks ---------------------------------------------------------------------------------


def record_sent(
    session: Session, row: OutboxMessage, message_id: int | None, now: datetime
) -> None:
    """A ticket's first post went out: remember it, staff reply to it without forum topics."""
    if row.kind == "card" and row.ticket_id is not None and message_id is not None:
        tickets.set_staff_message(session, ticket_id=row.ticket_id, message_id=message_id)


def record_blocked(
    session: Session, row: OutboxMessage, now: datetime, *, config: DeskConfig
) -> None:
    """A relay met "bot was blocked by the user": mark the user and their tickets, tell staff
    (once per ticket; the mark is cleared when the user writes again)."""
    if row.chat_id <= 0:
        return  # a group refused us; that is logged, not a user's doing
    user = session.get(ChatUser, row.chat_id)
    if user is not None:
        user.blocked_bot = True
        session.add(user)
    for ticket in tickets.mark_user_blocked(session, user_id=row.chat_id):
        text = t(config.staff_lang, "staff_user_blocked", id=ticket.id)
        _notice(session, config, ticket, f"blocked:{row.id}", text, now)


# --- first-response deadline ----------------------------------------------------------------------


def remind_first_response(session: Session, *, config: DeskConfig, now: datetime) -> int:
    """Queue the reminders that are due: level 1 in the ticket's place in the staff group, level
    2 to each admin privately. Each at most once (``Ticket.reminder_level``)."""
    count = 0
    minutes = config.first_response_minutes
    for ticket, level in tickets.first_response_due(
        session, now=now, minutes=minutes, hours=config.hours
    ):
        assert ticket.id is not None
        if level == 1:
            text = t(config.staff_lang, "staff_reminder", id=ticket.id, minutes=minutes)
            _notice(session, config, ticket, "remind:1", text, now)
        else:
            for admin in config.admin_ids:
                enqueue(
                    session,
                    key=f"t{ticket.id}:remind:2:{admin}",
                    chat_id=admin,
                    method="sendMessage",
                    payload={
                        "text": t(
                            config.staff_lang,
                            "admin_reminder",
                            id=ticket.id,
                            minutes=2 * minutes,
                            question=shorten(ticket.question or "…", 300),
                        ),
                        "parse_mode": "HTML",
                    },
                    ticket_id=ticket.id,
                    kind="reminder",
                    now=now,
                )
        tickets.mark_reminded(session, ticket_id=ticket.id, level=level)
        count += 1
    return count


def _escape(text: str) -> str:
    return html.escape(text)
