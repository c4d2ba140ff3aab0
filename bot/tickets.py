"""Tickets: a question the FAQ could not answer, handled by staff (the escalation desk's domain).

No Telegram here: the edge (``bot/desk.py``) turns updates into calls of these functions and their
refusals (:class:`TicketError`) into polite replies. Functions take a ``Session`` first, everything
else by keyword, and the time as ``now``.

Life of a ticket: ``open`` (waiting for staff) → ``answered`` (staff replied, waiting for the user)
→ ``closed``. A user message on an answered ticket makes it ``open`` again. One open or answered
ticket per user; a user asking for staff again within ``reopen_days`` of the last activity of
their latest closed ticket reopens it instead of starting a new one, so staff keep the history.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, func, select

from faq.models import utc_column
from reminders.calendar import DEFAULT_HOURS, BusinessHours, business_minutes_between

TicketStatus = Literal["open", "answered", "closed"]
TicketSource = Literal["contact", "human", "thumbs_down"]
Direction = Literal["in", "out", "note"]
MessageKind = Literal["text", "photo", "document", "voice", "other"]
ACTIVE: tuple[TicketStatus, ...] = ("open", "answered")
RATINGS = range(1, 6)


class Ticket(SQLModel, table=True):
    __tablename__ = "ticket"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(index=True, sa_type=BigInteger)
    chat_id: int = Field(sa_type=BigInteger)  # the user's private chat
    lang: str = Field(max_length=8)
    status: str = Field(default="open", max_length=16, index=True)
    question: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    source: str = Field(default="contact", max_length=16)
    question_id: int | None = Field(default=None, index=True)  # the QuestionLog it came from
    created_at: datetime = utc_column(index=True)
    updated_at: datetime = utc_column()  # last activity of either side
    first_response_at: datetime | None = utc_column(nullable=True)
    answered_at: datetime | None = utc_column(nullable=True)
    closed_at: datetime | None = utc_column(nullable=True)
    closed_by: int | None = Field(default=None, sa_type=BigInteger)
    rating: int | None = None
    rated_at: datetime | None = utc_column(nullable=True)
    # Where the ticket lives in the staff group: its forum topic, or (without topics) the bot's
    # first post that staff reply to.
    topic_id: int | None = Field(default=None, index=True, sa_type=BigInteger)
    staff_message_id: int | None = Field(default=None, index=True, sa_type=BigInteger)
    claimed_by: int | None = Field(default=None, sa_type=BigInteger)
    claimed_at: datetime | None = utc_column(nullable=True)
    reported_at: datetime | None = utc_column(nullable=True)
    reported_by: int | None = Field(default=None, sa_type=BigInteger)
    reminder_level: int = 0  # first-response reminders sent: 0, 1 (staff group), 2 (admins)
    user_blocked: bool = False  # a relay to the user met "bot was blocked by the user"
    # The user was told once that further messages are forwarded; reset by each staff reply.
    forward_notice_sent: bool = False


class TicketMessage(SQLModel, table=True):
    """Every message of a ticket: the user's (in), staff replies (out) and internal notes."""

    __tablename__ = "ticket_message"
    __table_args__ = (UniqueConstraint("source_chat_id", "source_message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    direction: str = Field(max_length=8)
    author_id: int = Field(sa_type=BigInteger)
    kind: str = Field(default="text", max_length=16)
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    file_id: str | None = None
    source_chat_id: int | None = Field(default=None, sa_type=BigInteger)
    source_message_id: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = utc_column()


class BannedUser(SQLModel, table=True):
    __tablename__ = "banned_user"

    user_id: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    banned_by: int = Field(sa_type=BigInteger)
    banned_at: datetime = utc_column()


# --- refusals -------------------------------------------------------------------------------------


class TicketError(Exception):
    """A ticket action that is refused; the edge answers politely and nothing changes."""


class UnknownTicket(TicketError):
    pass


class NotYourTicket(TicketError):
    pass


class TicketClosed(TicketError):
    pass


class TicketNotClosed(TicketError):
    pass


class AlreadyRated(TicketError):
    pass


class BadRating(TicketError):
    pass


class UserBanned(TicketError):
    pass


class NoActiveTicket(TicketError):
    pass


# --- opening and appending ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Opened:
    ticket: Ticket
    created: bool  # a new ticket
    reopened: bool  # a closed ticket taken up again
    message: TicketMessage | None  # the question stored as the ticket's first (or next) message


def is_banned(session: Session, *, user_id: int) -> bool:
    return session.get(BannedUser, user_id) is not None


def active_ticket(session: Session, *, user_id: int) -> Ticket | None:
    """The user's open or answered ticket, if any."""
    return session.exec(
        select(Ticket)
        .where(Ticket.user_id == user_id, col(Ticket.status).in_(ACTIVE))
        .order_by(col(Ticket.id).desc())
    ).first()


def open_ticket(
    session: Session,
    *,
    user_id: int,
    chat_id: int,
    lang: str,
    question: str,
    source: TicketSource,
    question_id: int | None,
    source_message_id: int | None = None,
    reopen_days: int,
    now: datetime,
) -> Opened:
    """Open a ticket for the user, or add the question to the one they have."""
    if is_banned(session, user_id=user_id):
        raise UserBanned(user_id)
    question = question.strip()
    ticket = active_ticket(session, user_id=user_id)
    created = reopened = False
    if ticket is None:
        ticket = _recently_closed(session, user_id=user_id, since=now - timedelta(days=reopen_days))
        if ticket is not None:
            ticket.status = "open"
            ticket.closed_at = None
            ticket.closed_by = None
            reopened = True
    if ticket is None:
        ticket = Ticket(
            user_id=user_id,
            chat_id=chat_id,
            lang=lang,
            question=question,
            source=source,
            question_id=question_id,
            created_at=now,
            updated_at=now,
        )
        created = True
    else:
        if not ticket.question:
            ticket.question = question
        ticket.status = "open"
    ticket.updated_at = now
    session.add(ticket)
    session.flush()  # the id the message and the buttons carry
    assert ticket.id is not None
    message = None
    if question:
        message = _add_message(
            session,
            ticket_id=ticket.id,
            direction="in",
            author_id=user_id,
            kind="text",
            text=question,
            source_chat_id=chat_id if source_message_id else None,
            source_message_id=source_message_id,
            now=now,
        )
    return Opened(ticket, created=created, reopened=reopened, message=message)


def _recently_closed(session: Session, *, user_id: int, since: datetime) -> Ticket | None:
    return session.exec(
        select(Ticket)
        .where(Ticket.user_id == user_id, Ticket.status == "closed", Ticket.updated_at >= since)
        .order_by(col(Ticket.id).desc())
    ).first()


@dataclass(frozen=True, slots=True)
class Appended:
    ticket: Ticket
    message: TicketMessage
    duplicate: bool  # the same Telegram message seen before (a redelivered update)
    tell_forwarded: bool  # first follow-up since the last staff reply: tell the user once
    gave_question: bool = False  # the ticket was opened without words; these are its question


def append_user_message(
    session: Session,
    *,
    user_id: int,
    kind: MessageKind,
    text: str,
    file_id: str | None,
    source_chat_id: int,
    source_message_id: int,
    now: datetime,
) -> Appended:
    """A further message of the user on their active ticket."""
    ticket = active_ticket(session, user_id=user_id)
    if ticket is None:
        raise NoActiveTicket(user_id)
    if is_banned(session, user_id=user_id):
        raise UserBanned(user_id)
    assert ticket.id is not None
    seen = _message_from(session, chat_id=source_chat_id, message_id=source_message_id)
    if seen is not None:
        return Appended(ticket, seen, duplicate=True, tell_forwarded=False)
    message = _add_message(
        session,
        ticket_id=ticket.id,
        direction="in",
        author_id=user_id,
        kind=kind,
        text=text,
        file_id=file_id,
        source_chat_id=source_chat_id,
        source_message_id=source_message_id,
        now=now,
    )
    gave_question = not ticket.question and bool(text.strip())
    if gave_question:
        ticket.question = text.strip()
    tell = not ticket.forward_notice_sent
    ticket.forward_notice_sent = True
    ticket.status = "open"
    ticket.updated_at = now
    ticket.user_blocked = False  # they are writing to us, so not blocking us any more
    session.add(ticket)
    return Appended(
        ticket, message, duplicate=False, tell_forwarded=tell, gave_question=gave_question
    )


# --- staff side -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaffPost:
    ticket: Ticket
    message: TicketMessage
    duplicate: bool


def record_staff_message(
    session: Session,
    *,
    ticket_id: int,
    staff_id: int,
    kind: MessageKind,
    text: str,
    file_id: str | None,
    note: bool,
    source_chat_id: int,
    source_message_id: int,
    now: datetime,
) -> StaffPost:
    """A staff reply (relayed to the user) or an internal note (never leaves the staff group)."""
    ticket = get_ticket(session, ticket_id=ticket_id)
    seen = _message_from(session, chat_id=source_chat_id, message_id=source_message_id)
    if seen is not None:
        return StaffPost(ticket, seen, duplicate=True)
    if ticket.status == "closed" and not note:
        raise TicketClosed(ticket_id)
    message = _add_message(
        session,
        ticket_id=ticket_id,
        direction="note" if note else "out",
        author_id=staff_id,
        kind=kind,
        text=text,
        file_id=file_id,
        source_chat_id=source_chat_id,
        source_message_id=source_message_id,
        now=now,
    )
    if not note:
        ticket.status = "answered"
        ticket.answered_at = now
        ticket.first_response_at = ticket.first_response_at or now
        ticket.forward_notice_sent = False
        ticket.updated_at = now
        session.add(ticket)
    return StaffPost(ticket, message, duplicate=False)


def set_topic(session: Session, *, ticket_id: int, topic_id: int) -> Ticket:
    """Remember the forum topic made for the ticket."""
    ticket = get_ticket(session, ticket_id=ticket_id)
    ticket.topic_id = topic_id
    session.add(ticket)
    return ticket


def set_staff_message(session: Session, *, ticket_id: int, message_id: int) -> Ticket:
    """Remember the ticket's first post in the staff group (what staff reply to without topics)."""
    ticket = get_ticket(session, ticket_id=ticket_id)
    ticket.staff_message_id = message_id
    session.add(ticket)
    return ticket


def get_ticket(session: Session, *, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise UnknownTicket(ticket_id)
    return ticket


def ticket_by_topic(session: Session, *, topic_id: int) -> Ticket | None:
    return session.exec(select(Ticket).where(Ticket.topic_id == topic_id)).first()


def ticket_by_staff_message(session: Session, *, chat_id: int, message_id: int) -> Ticket | None:
    """The ticket a message in the staff group belongs to: its first post or a staff message."""
    ticket = session.exec(select(Ticket).where(Ticket.staff_message_id == message_id)).first()
    if ticket is not None:
        return ticket
    message = _message_from(session, chat_id=chat_id, message_id=message_id)
    return session.get(Ticket, message.ticket_id) if message is not None else None


def claim(session: Session, *, ticket_id: int, staff_id: int, now: datetime) -> Ticket:
    """A staff member takes the ticket; claiming again (or someone else's) moves it to them."""
    ticket = get_ticket(session, ticket_id=ticket_id)
    if ticket.status == "closed":
        raise TicketClosed(ticket_id)
    ticket.claimed_by = staff_id
    ticket.claimed_at = now
    session.add(ticket)
    return ticket


def close(session: Session, *, ticket_id: int, staff_id: int, now: datetime) -> Ticket:
    ticket = get_ticket(session, ticket_id=ticket_id)
    if ticket.status == "closed":
        raise TicketClosed(ticket_id)
    ticket.status = "closed"
    ticket.closed_at = now
    ticket.closed_by = staff_id
    ticket.updated_at = now
    session.add(ticket)
    return ticket


def rate(session: Session, *, ticket_id: int, user_id: int, stars: int, now: datetime) -> Ticket:
    """The ticket's own user rates it 1–5, once, after it was closed."""
    ticket = own_ticket(session, ticket_id=ticket_id, user_id=user_id)
    if stars not in RATINGS:
        raise BadRating(stars)
    if ticket.status != "closed":
        raise TicketNotClosed(ticket_id)
    if ticket.rating is not None:
        raise AlreadyRated(ticket_id)
    ticket.rating = stars
    ticket.rated_at = now
    session.add(ticket)
    return ticket


def report_upward(session: Session, *, ticket_id: int, staff_id: int, now: datetime) -> Ticket:
    """Mark the ticket as reported to the higher authority (once; the first report counts)."""
    ticket = get_ticket(session, ticket_id=ticket_id)
    if ticket.reported_at is None:
        ticket.reported_at = now
        ticket.reported_by = staff_id
        session.add(ticket)
    return ticket


def own_ticket(session: Session, *, ticket_id: int, user_id: int) -> Ticket:
    ticket = get_ticket(session, ticket_id=ticket_id)
    if ticket.user_id != user_id:
        raise NotYourTicket(ticket_id)
    return ticket


def my_tickets(session: Session, *, user_id: int, limit: int = 10) -> list[Ticket]:
    """The user's own tickets, newest first."""
    return list(
        session.exec(
            select(Ticket)
            .where(Ticket.user_id == user_id)
            .order_by(col(Ticket.id).desc())
            .limit(limit)
        ).all()
    )


def earlier_tickets(
    session: Session, *, user_id: int, before_id: int, limit: int = 5
) -> list[Ticket]:
    return list(
        session.exec(
            select(Ticket)
            .where(Ticket.user_id == user_id, col(Ticket.id) < before_id)
            .order_by(col(Ticket.id).desc())
            .limit(limit)
        ).all()
    )


def last_staff_reply(session: Session, *, ticket_id: int) -> TicketMessage | None:
    return session.exec(
        select(TicketMessage)
        .where(TicketMessage.ticket_id == ticket_id, TicketMessage.direction == "out")
        .order_by(col(TicketMessage.id).desc())
    ).first()


def ticket_messages(session: Session, *, ticket_id: int) -> list[TicketMessage]:
    return list(
        session.exec(
            select(TicketMessage)
            .where(TicketMessage.ticket_id == ticket_id)
            .order_by(col(TicketMessage.id))
        ).all()
    )


# --- bans and blocked users -----------------------------------------------------------------------


def ban(session: Session, *, user_id: int, banned_by: int, now: datetime) -> bool:
    """Stop the user's messages from reaching staff; False if they were banned already."""
    if is_banned(session, user_id=user_id):
        return False
    session.add(BannedUser(user_id=user_id, banned_by=banned_by, banned_at=now))
    session.flush()
    return True


def unban(session: Session, *, user_id: int) -> bool:
    banned = session.get(BannedUser, user_id)
    if banned is None:
        return False
    session.delete(banned)
    session.flush()  # so the same session sees the user as not banned any more
    return True


def mark_user_blocked(session: Session, *, user_id: int) -> list[Ticket]:
    """A relay met "bot was blocked by the user": mark their active tickets; returns those newly
    marked (so staff are told once)."""
    newly = []
    for ticket in session.exec(
        select(Ticket).where(Ticket.user_id == user_id, col(Ticket.status).in_(ACTIVE))
    ).all():
        if not ticket.user_blocked:
            ticket.user_blocked = True
            session.add(ticket)
            newly.append(ticket)
    return newly


# --- first-response deadline ----------------------------------------------------------------------


def first_response_due(
    session: Session,
    *,
    now: datetime,
    minutes: float,
    hours: BusinessHours = DEFAULT_HOURS,
) -> list[tuple[Ticket, int]]:
    """Open tickets without a staff reply whose next reminder is due, with its level: 1 after
    ``minutes`` business minutes (the staff group), 2 after twice that (the admins). Only the
    highest due level is returned, so a ticket found late does not get both at once."""
    due = []
    for ticket in session.exec(
        select(Ticket)
        .where(
            Ticket.status == "open",
            col(Ticket.first_response_at).is_(None),
            Ticket.reminder_level < 2,
        )
        .order_by(col(Ticket.id))
    ).all():
        waited = business_minutes_between(ticket.created_at, now, hours)
        level = 2 if waited >= 2 * minutes else 1 if waited >= minutes else 0
        if level > ticket.reminder_level:
            due.append((ticket, level))
    return due


def mark_reminded(session: Session, *, ticket_id: int, level: int) -> None:
    ticket = get_ticket(session, ticket_id=ticket_id)
    ticket.reminder_level = max(ticket.reminder_level, level)
    session.add(ticket)


# --- figures for /stats and /report ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TicketStats:
    opened: int
    closed: int
    median_first_response_minutes: float | None  # business minutes
    average_rating: float | None
    ratings: int


@dataclass(frozen=True, slots=True)
class TicketRow:
    """A ticket as a plain row for reports."""

    id: int
    user_id: int
    lang: str
    status: str
    source: str
    question: str
    created_at: datetime
    first_response_at: datetime | None
    closed_at: datetime | None
    claimed_by: int | None
    reported_at: datetime | None
    reported_by: int | None
    rating: int | None


def ticket_stats(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    hours: BusinessHours = DEFAULT_HOURS,
) -> TicketStats:
    """Tickets opened and closed in [since, until), the median business minutes to the first
    staff reply of the tickets opened then, and the average rating given then."""
    opened = list(
        session.exec(
            select(Ticket).where(Ticket.created_at >= since, Ticket.created_at < until)
        ).all()
    )
    closed = session.exec(
        select(func.count())
        .select_from(Ticket)
        .where(col(Ticket.closed_at) >= since, col(Ticket.closed_at) < until)
    ).one()
    waits = [
        business_minutes_between(t.created_at, t.first_response_at, hours)
        for t in opened
        if t.first_response_at is not None
    ]
    ratings = [
        t.rating
        for t in session.exec(
            select(Ticket).where(col(Ticket.rated_at) >= since, col(Ticket.rated_at) < until)
        ).all()
        if t.rating is not None
    ]
    return TicketStats(
        opened=len(opened),
        closed=int(closed),
        median_first_response_minutes=statistics.median(waits) if waits else None,
        average_rating=statistics.fmean(ratings) if ratings else None,
        ratings=len(ratings),
    )


def unresolved_tickets(session: Session) -> list[TicketRow]:
    """Tickets still open or answered, oldest first."""
    return _rows(
        session.exec(
            select(Ticket).where(col(Ticket.status).in_(ACTIVE)).order_by(col(Ticket.id))
        ).all()
    )


def reported_tickets(session: Session) -> list[TicketRow]:
    return _rows(
        session.exec(
            select(Ticket).where(col(Ticket.reported_at).is_not(None)).order_by(col(Ticket.id))
        ).all()
    )


def _rows(tickets: Sequence[Ticket]) -> list[TicketRow]:
    return [
        TicketRow(
            id=t.id or 0,
            user_id=t.user_id,
            lang=t.lang,
            status=t.status,
            source=t.source,
            question=t.question,
            created_at=t.created_at,
            first_response_at=t.first_response_at,
            closed_at=t.closed_at,
            claimed_by=t.claimed_by,
            reported_at=t.reported_at,
            reported_by=t.reported_by,
            rating=t.rating,
        )
        for t in tickets
    ]


# --- helpers --------------------------------------------------------------------------------------


def _message_from(session: Session, *, chat_id: int, message_id: int) -> TicketMessage | None:
    return session.exec(
        select(TicketMessage).where(
            TicketMessage.source_chat_id == chat_id, TicketMessage.source_message_id == message_id
        )
    ).first()


def _add_message(
    session: Session,
    *,
    ticket_id: int,
    direction: Direction,
    author_id: int,
    kind: MessageKind,
    text: str,
    now: datetime,
    file_id: str | None = None,
    source_chat_id: int | None = None,
    source_message_id: int | None = None,
) -> TicketMessage:
    message = TicketMessage(
        ticket_id=ticket_id,
        direction=direction,
        author_id=author_id,
        kind=kind,
        text=text,
        file_id=file_id,
        source_chat_id=source_chat_id,
        source_message_id=source_message_id,
        created_at=now,
    )
    session.add(message)
    session.flush()
    return message
