"""The outbox (bot/outbox.py) against the fake Bot API server: every row is sent exactly once,
429/5xx/network errors are retried on the injected clock, 400 fails, 403 marks the user blocked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select
from telegram.ext import ExtBot

from bot import outbox
from bot.clock import FrozenClock
from bot.db import Database
from bot.fakeapi import FakeTelegram
from bot.outbox import OutboxMessage
from bot.outbox_sender import HelpdeskRateLimiter, OutboxSender

from .conftest import TOKEN

ALICE, BOB = 1001, 1002


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[ExtBot]:
    fake.add_user(ALICE, "Alice")
    fake.add_user(BOB, "Bob")
    extbot = ExtBot(
        TOKEN,
        base_url=fake.api_url,
        base_file_url=fake.file_url,
        rate_limiter=HelpdeskRateLimiter(max_retries=3),
    )
    await extbot.initialize()
    try:
        yield extbot
    finally:
        await extbot.shutdown()


@pytest.fixture
def blocked_rows() -> list[int]:
    return []


@pytest.fixture
def sender(bot: ExtBot, db: Database, clock: FrozenClock, blocked_rows: list[int]) -> OutboxSender:
    def on_blocked(session: Session, row: OutboxMessage, now) -> None:
        assert row.id is not None
        blocked_rows.append(row.id)

    # jitter 0: the backoff is exactly half its nominal value, so tests know when to come back
    return OutboxSender(bot=bot, db=db, clock=clock, on_blocked=on_blocked, jitter=lambda: 0.0)


def queue(db: Database, clock: FrozenClock, key: str, chat_id: int = ALICE, text: str = "hi"):
    return db.call(
        outbox.enqueue,
        key=key,
        chat_id=chat_id,
        method="sendMessage",
        payload={"text": text, "parse_mode": "HTML"},
        now=clock.now(),
    )


def row(db: Database, key: str) -> OutboxMessage:
    with db.session() as session:
        found = session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == key)).one()
        return found


def texts(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [m["text"] for m in fake.messages(chat_id)]


async def test_a_row_is_sent_once_and_the_same_key_is_never_queued_twice(
    db: Database, clock: FrozenClock, sender: OutboxSender, fake: FakeTelegram
):
    queue(db, clock, "k1")
    queue(db, clock, "k1", text="a second copy")
    assert await sender.flush() == 1
    assert await sender.flush() == 0
    assert texts(fake, ALICE) == ["hi"]
    sent = row(db, "k1")
    assert sent.status == "sent" and sent.attempts == 1 and sent.sent_message_id is not None


async def test_429_then_502_then_delivered_exactly_once(
    db: Database, clock: FrozenClock, sender: OutboxSender, fake: FakeTelegram
):
    queue(db, clock, "k1")
    fake.fail_next("sendMessage", status=429, retry_after=7)
    # The rate limiter does not retry (and sleep) on top of the outbox: one call, then pending.
    assert await sender.flush() == 0
    assert [m for m, _ in fake.calls].count("sendMessage") == 1
    waiting = row(db, "k1")
    assert waiting.status == "pending"
    assert waiting.next_attempt_at == clock.now() + timedelta(seconds=7)
    assert "429" in (waiting.last_error or "")

    clock.advance(seconds=6)
    assert await sender.flush() == 0  # not yet due
    clock.advance(seconds=1)
    fake.fail_next("sendMessage", status=502)
    assert await sender.flush() == 0
    backing_off = row(db, "k1")
    assert backing_off.next_attempt_at == clock.now() + outbox.backoff(2, jitter=0.0)

    clock.advance(minutes=1)
    assert await sender.flush() == 1
    assert await sender.flush() == 0
    assert texts(fake, ALICE) == ["hi"]
    assert row(db, "k1").attempts == 3


async def test_a_dropped_connection_is_retried(
    db: Database, clock: FrozenClock, sender: OutboxSender, fake: FakeTelegram
):
    queue(db, clock, "k1")
    fake.drop_next("sendMessage")  # lost before Telegram acted
    assert await sender.flush() == 0
    clock.advance(minutes=1)
    assert await sender.flush() == 1
    assert texts(fake, ALICE) == ["hi"]


async def test_a_bad_request_fails_for_good_and_is_not_retried(
    db: Database, clock: FrozenClock, sender: OutboxSender, fake: FakeTelegram
):
    queue(db, clock, "bad", text="<b>unclosed")
    assert await sender.flush() == 0
    failed = row(db, "bad")
    assert failed.status == "failed" and "parse" in (failed.last_error or "")
    clock.advance(hours=1)
    assert await sender.flush() == 0


async def test_a_user_who_blocked_the_bot_is_reported_to_the_hook(
    db: Database, clock: FrozenClock, sender: OutboxSender, fake: FakeTelegram, blocked_rows
):
    fake.block(ALICE, notify=False)
    queued = queue(db, clock, "k1")
    queue(db, clock, "k2", chat_id=BOB)
    assert await sender.flush() == 1
    assert row(db, "k1").status == "blocked"
    assert blocked_rows == [queued.id]
    assert texts(fake, BOB) == ["hi"]


async def test_rows_to_one_chat_keep_their_order(
    db: Database, clock: FrozenClock, sender: OutboxSender, fake: FakeTelegram
):
    queue(db, clock, "first", text="1")
    queue(db, clock, "second", text="2")
    queue(db, clock, "other", chat_id=BOB, text="b")
    fake.fail_next("sendMessage", status=500)
    assert await sender.flush() == 1  # Bob's; "2" waits behind "1"
    assert texts(fake, ALICE) == []
    queue(db, clock, "third", text="3")
    assert await sender.flush() == 0  # still behind "1"
    clock.advance(minutes=1)
    assert await sender.flush() == 3
    assert texts(fake, ALICE) == ["1", "2", "3"]


async def test_start_up_sends_rows_in_backoff_at_once(
    db: Database, clock: FrozenClock, sender: OutboxSender, fake: FakeTelegram
):
    queue(db, clock, "k1")
    fake.fail_next("sendMessage", status=503)
    await sender.flush()
    assert await sender.flush() == 0
    assert await sender.flush(ignore_backoff=True) == 1
    assert texts(fake, ALICE) == ["hi"]


async def test_a_row_is_given_up_after_the_last_attempt(
    db: Database, clock: FrozenClock, sender: OutboxSender, fake: FakeTelegram
):
    queue(db, clock, "k1")
    fake.fail_next("sendMessage", status=502, times=outbox.MAX_ATTEMPTS)
    for _ in range(outbox.MAX_ATTEMPTS):
        await sender.flush()
        clock.advance(seconds=outbox.BACKOFF_CAP_SECONDS)
    given_up = row(db, "k1")
    assert given_up.status == "failed" and given_up.attempts == outbox.MAX_ATTEMPTS
    assert await sender.flush() == 0


async def test_a_claimed_row_is_not_claimed_again_until_its_lease_expires(
    db: Database, clock: FrozenClock
):
    queue(db, clock, "k1")
    claimed = db.call(outbox.claim_due, now=clock.now(), limit=1)
    assert [r.dedupe_key for r in claimed] == ["k1"]
    queue(db, clock, "k2")  # the same chat: waits while k1 is being sent (order per chat)
    queue(db, clock, "bob", chat_id=BOB)
    assert [r.dedupe_key for r in db.call(outbox.claim_due, now=clock.now())] == ["bob"]
    assert db.call(outbox.claim_due, now=clock.now()) == []
    assert db.call(outbox.claim_due, now=clock.now(), ignore_backoff=True) == []
    clock.advance(seconds=outbox.LEASE.total_seconds())
    again = db.call(outbox.claim_due, now=clock.now())
    assert [r.dedupe_key for r in again] == ["k1", "k2", "bob"]


def test_a_restarted_instance_takes_back_its_own_claims_but_not_another_ones(
    db: Database, clock: FrozenClock
):
    queue(db, clock, "mine")
    queue(db, clock, "theirs", chat_id=BOB)
    db.call(outbox.claim_due, now=clock.now(), limit=1, owner="host-a")  # then host-a died
    db.call(outbox.claim_due, now=clock.now(), owner="host-b")  # alive, still sending

    assert db.call(outbox.release_own, owner="host-a") == 1
    assert [r.dedupe_key for r in db.call(outbox.claim_due, now=clock.now())] == ["mine"]
    assert row(db, "mine").attempts == 2  # the unknown first attempt counts


def test_backoff_grows_and_is_capped():
    assert outbox.backoff(1, jitter=0.999) < timedelta(seconds=outbox.BACKOFF_BASE_SECONDS)
    assert outbox.backoff(3, jitter=0.0) == timedelta(seconds=outbox.BACKOFF_BASE_SECONDS * 2)
    assert outbox.backoff(50, jitter=0.999) < timedelta(seconds=outbox.BACKOFF_CAP_SECONDS)


def test_the_claim_skips_rows_locked_by_another_sender_on_postgresql(clock: FrozenClock):
    query = outbox.due_rows(now=clock.now(), limit=10, ignore_backoff=False)
    assert "FOR UPDATE SKIP LOCKED" in str(query.compile(dialect=postgresql.dialect()))
    assert "FOR UPDATE" not in str(query.compile(dialect=sqlite.dialect()))
