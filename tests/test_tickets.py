"""The ticket domain (bot/tickets.py): states, ownership, ratings, bans, reminders, figures."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import Session

from bot import tickets
from bot.db import Database
from bot.tickets import Ticket

from .conftest import NOW, SHANGHAI

ALICE, BOB, STAFF_ID, STAFF_CHAT = 1001, 1002, 501, -100777


def open_for(session: Session, user_id: int, question: str = "附件传不上去", **kw) -> Ticket:
    opened = tickets.open_ticket(
        session,
        user_id=user_id,
        chat_id=user_id,
        lang="zh",
        question=question,
        source=kw.pop("source", "human"),
        question_id=None,
        reopen_days=7,
        now=kw.pop("now", NOW),
    )
    return opened.ticket


def staff_says(session: Session, ticket_id: int, text: str, message_id: int, now=NOW, **kw):
    return tickets.record_staff_message(
        session,
        ticket_id=ticket_id,
        staff_id=STAFF_ID,
        kind="text",
        text=text,
        file_id=None,
        note=kw.get("note", False),
        source_chat_id=STAFF_CHAT,
        source_message_id=message_id,
        now=now,
    )


def test_one_open_ticket_per_user_and_messages_append(db: Database):
    with db.session() as s:
        first = open_for(s, ALICE)
        again = tickets.open_ticket(
            s,
            user_id=ALICE,
            chat_id=ALICE,
            lang="zh",
            question="还有一个问题",
            source="contact",
            question_id=None,
            reopen_days=7,
            now=NOW,
        )
        assert again.ticket.id == first.id and not again.created
        appended = tickets.append_user_message(
            s,
            user_id=ALICE,
            kind="photo",
            text="截图",
            file_id="f1",
            source_chat_id=ALICE,
            source_message_id=7,
            now=NOW,
        )
        assert appended.tell_forwarded
        repeat = tickets.append_user_message(
            s,
            user_id=ALICE,
            kind="photo",
            text="截图",
            file_id="f1",
            source_chat_id=ALICE,
            source_message_id=7,
            now=NOW,
        )
        assert repeat.duplicate and not repeat.tell_forwarded
        texts = [m.text for m in tickets.ticket_messages(s, ticket_id=first.id)]
        assert texts == ["附件传不上去", "还有一个问题", "截图"]


def test_states_open_answered_open_closed_and_reopen_within_seven_days(db: Database):
    with db.session() as s:
        ticket = open_for(s, ALICE)
        assert ticket.status == "open"
        staff_says(s, ticket.id, "请压缩后再传", 10)
        assert ticket.status == "answered" and ticket.first_response_at == NOW
        tickets.append_user_message(
            s,
            user_id=ALICE,
            kind="text",
            text="还是不行",
            file_id=None,
            source_chat_id=ALICE,
            source_message_id=8,
            now=NOW,
        )
        assert ticket.status == "open"
        tickets.close(s, ticket_id=ticket.id, staff_id=STAFF_ID, now=NOW)
        assert tickets.active_ticket(s, user_id=ALICE) is None
        with pytest.raises(tickets.TicketClosed):
            tickets.close(s, ticket_id=ticket.id, staff_id=STAFF_ID, now=NOW)
        with pytest.raises(tickets.TicketClosed):
            staff_says(s, ticket.id, "补充", 11)

        reopened = tickets.open_ticket(
            s,
            user_id=ALICE,
            chat_id=ALICE,
            lang="zh",
            question="又出错了",
            source="human",
            question_id=None,
            reopen_days=7,
            now=NOW + timedelta(days=6),
        )
        assert reopened.reopened and reopened.ticket.id == ticket.id
        assert reopened.ticket.status == "open"
        tickets.close(s, ticket_id=ticket.id, staff_id=STAFF_ID, now=NOW + timedelta(days=6))

        later = open_for(s, ALICE, "新问题", now=NOW + timedelta(days=14))
        assert later.id != ticket.id


def test_a_note_is_internal_and_does_not_answer(db: Database):
    with db.session() as s:
        ticket = open_for(s, ALICE)
        staff_says(s, ticket.id, "#note 先查一下日志", 12, note=True)
        assert ticket.status == "open" and ticket.first_response_at is None
        assert [m.direction for m in tickets.ticket_messages(s, ticket_id=ticket.id)] == [
            "in",
            "note",
        ]


def test_rating_only_by_the_owner_once_and_after_closing(db: Database):
    with db.session() as s:
        ticket = open_for(s, ALICE)
        with pytest.raises(tickets.TicketNotClosed):
            tickets.rate(s, ticket_id=ticket.id, user_id=ALICE, stars=5, now=NOW)
        tickets.close(s, ticket_id=ticket.id, staff_id=STAFF_ID, now=NOW)
        with pytest.raises(tickets.NotYourTicket):
            tickets.rate(s, ticket_id=ticket.id, user_id=BOB, stars=5, now=NOW)
        with pytest.raises(tickets.BadRating):
            tickets.rate(s, ticket_id=ticket.id, user_id=ALICE, stars=6, now=NOW)
        tickets.rate(s, ticket_id=ticket.id, user_id=ALICE, stars=4, now=NOW)
        with pytest.raises(tickets.AlreadyRated):
            tickets.rate(s, ticket_id=ticket.id, user_id=ALICE, stars=1, now=NOW)
        assert ticket.rating == 4
        with pytest.raises(tickets.UnknownTicket):
            tickets.rate(s, ticket_id=999, user_id=ALICE, stars=1, now=NOW)


def test_users_see_only_their_own_tickets(db: Database):
    with db.session() as s:
        mine = open_for(s, ALICE)
        open_for(s, BOB, "Bob 的问题")
        assert [t.id for t in tickets.my_tickets(s, user_id=ALICE)] == [mine.id]
        with pytest.raises(tickets.NotYourTicket):
            tickets.own_ticket(s, ticket_id=mine.id, user_id=BOB)


def test_a_banned_user_cannot_open_or_append(db: Database):
    with db.session() as s:
        open_for(s, ALICE)
        assert tickets.ban(s, user_id=ALICE, banned_by=STAFF_ID, now=NOW)
        assert not tickets.ban(s, user_id=ALICE, banned_by=STAFF_ID, now=NOW)
        with pytest.raises(tickets.UserBanned):
            open_for(s, ALICE)
        with pytest.raises(tickets.UserBanned):
            tickets.append_user_message(
                s,
                user_id=ALICE,
                kind="text",
                text="x",
                file_id=None,
                source_chat_id=ALICE,
                source_message_id=9,
                now=NOW,
            )
        assert tickets.unban(s, user_id=ALICE)
        assert not tickets.unban(s, user_id=ALICE)
        open_for(s, ALICE)


def test_first_response_reminders_count_business_minutes(db: Database):
    friday_evening = datetime(2026, 11, 27, 17, 10, tzinfo=SHANGHAI)
    with db.session() as s:
        ticket = open_for(s, ALICE, now=friday_evening)
        # 20 business minutes on Friday; the weekend does not count.
        monday = datetime(2026, 11, 30, 9, 9, tzinfo=SHANGHAI)
        assert tickets.first_response_due(s, now=monday, minutes=30) == []
        due = tickets.first_response_due(s, now=monday + timedelta(minutes=1), minutes=30)
        assert due == [(ticket, 1)]
        tickets.mark_reminded(s, ticket_id=ticket.id, level=1)
        assert tickets.first_response_due(s, now=monday + timedelta(minutes=5), minutes=30) == []
        at_2n = monday + timedelta(minutes=31)
        assert tickets.first_response_due(s, now=at_2n, minutes=30) == [(ticket, 2)]
        tickets.mark_reminded(s, ticket_id=ticket.id, level=2)
        assert tickets.first_response_due(s, now=at_2n + timedelta(hours=5), minutes=30) == []


def test_a_staff_reply_stops_the_reminders(db: Database):
    with db.session() as s:
        ticket = open_for(s, ALICE)
        staff_says(s, ticket.id, "收到", 13)
        assert tickets.first_response_due(s, now=NOW + timedelta(hours=3), minutes=30) == []


def test_figures_for_stats_and_reports(db: Database):
    with db.session() as s:
        a = open_for(s, ALICE)
        b = open_for(s, BOB, "Bob 的问题")
        staff_says(s, a.id, "答复", 14, now=NOW + timedelta(minutes=20))
        staff_says(s, b.id, "答复", 15, now=NOW + timedelta(minutes=40))
        tickets.close(s, ticket_id=a.id, staff_id=STAFF_ID, now=NOW + timedelta(hours=1))
        tickets.rate(s, ticket_id=a.id, user_id=ALICE, stars=4, now=NOW + timedelta(hours=1))
        tickets.report_upward(s, ticket_id=b.id, staff_id=STAFF_ID, now=NOW)
        stats = tickets.ticket_stats(
            s, since=NOW - timedelta(days=1), until=NOW + timedelta(days=1)
        )
        assert (stats.opened, stats.closed, stats.ratings) == (2, 1, 1)
        assert stats.median_first_response_minutes == 30
        assert stats.average_rating == 4
        assert [r.id for r in tickets.unresolved_tickets(s)] == [b.id]
        assert [r.id for r in tickets.reported_tickets(s)] == [b.id]
