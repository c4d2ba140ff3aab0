"""The inbox: updates are stored before they are acknowledged and handled again after a crash,
without a second answer."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select
from telegram import Update
from telegram.error import NetworkError
from telegram.ext import Application

from bot import inbox
from bot.clock import FrozenClock
from bot.db import Database
from bot.fakeapi import FakeTelegram
from bot.inbox import InboxUpdate
from bot.inbox_queue import InboxQueue, InboxRequest, _apply
from faq.matcher import Match
from faq.models import QuestionLog
from faq.service import log_question, mark_replied

ALICE = 1001


def text_update(update_id: int, message_id: int, text: str, *, date: int = 1_795_000_000) -> dict:
    user = {"id": ALICE, "is_bot": False, "first_name": "Alice", "language_code": "zh-hans"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "date": date,
            "chat": {"id": ALICE, "type": "private", "first_name": "Alice"},
            "from": user,
            "text": text,
        },
    }


def rows(db: Database) -> dict[int, InboxUpdate]:
    with db.session() as session:
        return {row.update_id: row for row in session.exec(select(InboxUpdate)).all()}


def statements_like(db: Database, start: str) -> list[str]:
    """From now on (for the rest of the test), the statements sent that begin with ``start``."""
    seen: list[str] = []

    def on_execute(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith(start.upper()):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", on_execute)
    return seen


def left_by_a_dead_process(db: Database, clock: FrozenClock, payload: dict, attempts: int = 1):
    """A row as a process leaves it when it is killed after storing the update."""
    with db.session() as session:
        session.add(
            InboxUpdate(
                update_id=payload["update_id"],
                payload=json.dumps(payload),
                received_at=clock.now() - timedelta(minutes=1),
                lease_until=clock.now() - timedelta(seconds=1),
                attempts=attempts,
            )
        )


def queue_of(app: Application) -> InboxQueue:  # type: ignore[type-arg]
    queue = app.update_queue
    assert isinstance(queue, InboxQueue)
    return queue


async def handle_queued(app: Application) -> int:  # type: ignore[type-arg]
    """What PTB's update fetcher does, one update at a time, until the queue is empty."""
    handled = 0
    while not app.update_queue.empty():
        await app.process_update(app.update_queue.get_nowait())
        handled += 1
    await queue_of(app).flush()  # the done marks are written in the background
    return handled


@pytest.fixture
def alice(fake: FakeTelegram) -> None:
    fake.add_user(ALICE, "Alice", language_code="zh-hans")


# --- the store --------------------------------------------------------------------------------


def test_an_update_is_recorded_once_and_a_redelivery_is_refused(db: Database, clock: FrozenClock):
    payload = json.dumps(text_update(10, 1, "你好"))
    assert db.call(inbox.record, update_id=10, payload=payload, now=clock.now()) is True
    assert db.call(inbox.record, update_id=10, payload=payload, now=clock.now()) is False
    [row] = rows(db).values()
    assert (row.status, row.lease_until) == ("pending", clock.now() + inbox.LEASE)


def test_the_records_of_a_round_are_one_insert_that_tells_which_are_new(
    db: Database, clock: FrozenClock
):
    now = clock.now()
    db.call(inbox.record, update_id=1, payload="{}", now=now, owner="host-b")  # known already
    inserts = statements_like(db, "INSERT INTO inbox_update")
    fresh = db.call(
        inbox.record_many,
        [
            {"update_id": n, "payload": f'{{"n": {n}}}', "now": now, "owner": "host-a"}
            for n in (1, 2, 3, 2)  # the second 2: a webhook retry within the same round
        ],
    )

    assert fresh == [False, True, True, False]
    assert len(inserts) == 1
    stored = rows(db)
    assert stored[1].owner == "host-b"  # the first record is left alone
    assert (stored[2].payload, stored[2].owner) == ('{"n": 2}', "host-a")
    assert stored[2].status == "pending"
    assert (stored[3].attempts, stored[3].lease_until) == (1, now + inbox.LEASE)


def test_a_writer_round_groups_its_writes_and_answers_each_in_order(
    db: Database, clock: FrozenClock
):
    now = clock.now()
    db.call(inbox.record, update_id=1, payload="{}", now=now)
    log = db.call(
        log_question,
        chat_id=ALICE,
        message_id=1,
        user_id=ALICE,
        lang="zh",
        text="你好",
        match=Match("none", "zh", ()),
        now=now,
    )
    updates = statements_like(db, "UPDATE")
    later = now + timedelta(seconds=3)
    results = db.call(
        _apply,
        [
            (inbox.record, {"update_id": 2, "payload": "{}", "now": later}),
            (inbox.mark_done, {"update_ids": [1], "now": later}),
            (mark_replied, {"question_id": log.id, "now": later}),
            (inbox.record, {"update_id": 1, "payload": "{}", "now": later}),  # known: refused
            (inbox.mark_done, {"update_ids": [2], "now": later}),
            (inbox.record, {"update_id": 3, "payload": "{}", "now": later}),
        ],
    )

    assert results == [True, None, None, False, None, True]
    assert len(updates) == 2  # one executemany of done marks, one of replied marks
    assert {i: (row.status, row.done_at) for i, row in rows(db).items()} == {
        1: ("done", later),
        2: ("done", later),
        3: ("pending", None),
    }
    [stored] = db.call(lambda s: list(s.exec(select(QuestionLog)).all()))
    assert stored.replied_at == later


def test_only_updates_whose_lease_ran_out_are_taken_over(db: Database, clock: FrozenClock):
    now = clock.now()
    db.call(inbox.record, update_id=1, payload="{}", now=now - timedelta(minutes=5))
    db.call(inbox.record, update_id=2, payload="{}", now=now)  # its process is alive
    db.call(inbox.record, update_id=3, payload="{}", now=now - timedelta(minutes=5))
    db.call(inbox.mark_done, update_ids=[3], now=now)

    claimed = db.call(inbox.claim_abandoned, now=now)
    assert [row.update_id for row in claimed] == [1]
    assert db.call(inbox.claim_abandoned, now=now) == []  # leased again, to the claimer
    assert rows(db)[1].attempts == 2


def test_renewed_leases_are_not_taken_over(db: Database, clock: FrozenClock):
    start = clock.now()
    db.call(inbox.record, update_id=1, payload="{}", now=start)
    db.call(inbox.renew, update_ids=[1], now=start + timedelta(seconds=20))
    assert db.call(inbox.claim_abandoned, now=start + timedelta(seconds=40)) == []
    assert len(db.call(inbox.claim_abandoned, now=start + timedelta(seconds=51))) == 1


def test_a_restarted_instance_takes_back_its_own_updates_without_waiting_for_the_lease(
    db: Database, clock: FrozenClock
):
    now = clock.now()
    db.call(inbox.record, update_id=1, payload="{}", now=now, owner="host-a")
    db.call(inbox.record, update_id=2, payload="{}", now=now, owner="host-b")  # alive elsewhere
    db.call(inbox.record, update_id=3, payload="{}", now=now, owner="host-a")
    db.call(inbox.mark_done, update_ids=[3], now=now)

    assert [row.update_id for row in db.call(inbox.claim_own, owner="host-a", now=now)] == [1]
    assert db.call(inbox.claim_abandoned, owner="host-a", now=now) == []


def test_an_update_that_keeps_killing_its_process_is_set_aside(db: Database, clock: FrozenClock):
    left_by_a_dead_process(db, clock, text_update(5, 1, "x"), attempts=inbox.MAX_ATTEMPTS)
    assert db.call(inbox.claim_abandoned, now=clock.now()) == []
    assert rows(db)[5].status == "failed"


def test_handled_updates_are_purged_after_a_week(db: Database, clock: FrozenClock):
    now = clock.now()
    for update_id, done_at in ((1, now - timedelta(days=8)), (2, now - timedelta(days=6))):
        db.call(inbox.record, update_id=update_id, payload="{}", now=done_at)
        db.call(inbox.mark_done, update_ids=[update_id], now=done_at)
    assert db.call(inbox.purge_done, now=now) == 1
    assert set(rows(db)) == {2}


# --- the application --------------------------------------------------------------------------


async def test_a_polled_question_is_stored_answered_and_marked_done(
    polling_app: Application,  # type: ignore[type-arg]
    fake: FakeTelegram,
    alice: None,
    db: Database,
):
    fake.user_sends_text(ALICE, "附件大小有什么限制？")
    reply = await fake.next_reply(ALICE)
    assert reply["text"].startswith("附件大小有什么限制？")
    for _ in range(50):  # marked done just after the handler's reply
        if [row.status for row in rows(db).values()] == ["done"]:
            break
        await asyncio.sleep(0.05)
    [row] = rows(db).values()
    assert row.status == "done"
    assert json.loads(row.payload)["message"]["text"] == "附件大小有什么限制？"
    [log] = db.call(lambda s: list(s.exec(select(QuestionLog)).all()))
    assert log.replied_at is not None


async def test_a_question_left_unfinished_by_a_crash_is_answered_after_restart(
    app: Application,  # type: ignore[type-arg]
    fake: FakeTelegram,
    alice: None,
    db: Database,
    clock: FrozenClock,
):
    left_by_a_dead_process(db, clock, text_update(77, 5, "附件大小有什么限制？"))

    assert await queue_of(app).maintain(app.bot) == 1
    assert await handle_queued(app) == 1

    [reply] = fake.messages(ALICE)
    assert reply["text"].startswith("附件大小有什么限制？")
    assert rows(db)[77].status == "done"


async def test_at_start_this_instances_unfinished_updates_are_queued_before_anything_new(
    app: Application,  # type: ignore[type-arg]
    fake: FakeTelegram,
    alice: None,
    db: Database,
    clock: FrozenClock,
):
    queue = queue_of(app)
    for update_id, text in ((80, "附件大小有什么限制？"), (81, "忘记密码怎么办")):
        payload = json.dumps(text_update(update_id, update_id, text))
        db.call(inbox.record, update_id=update_id, payload=payload, now=clock.now(),
                owner=queue.owner)  # fmt: skip
    assert await queue.recover(app.bot) == 2
    assert [queue.get_nowait().update_id for _ in range(2)] == [80, 81]


async def test_a_question_answered_just_before_the_crash_is_not_answered_again(
    app: Application,  # type: ignore[type-arg]
    fake: FakeTelegram,
    alice: None,
    db: Database,
    clock: FrozenClock,
):
    # The process answered (the reply is recorded) and died before marking the update done.
    payload = text_update(78, 6, "附件大小有什么限制？")
    await app.process_update(Update.de_json(payload, app.bot))
    assert len(fake.messages(ALICE)) == 1
    # Its done mark (buffered) goes nowhere first: the row below is what the dead process left.
    await queue_of(app).flush()
    left_by_a_dead_process(db, clock, payload)

    assert await queue_of(app).maintain(app.bot) == 1
    await handle_queued(app)

    assert len(fake.messages(ALICE)) == 1
    assert len(db.call(lambda s: list(s.exec(select(QuestionLog)).all()))) == 1
    assert rows(db)[78].status == "done"


async def test_a_webhook_redelivery_is_not_handled_twice(
    app: Application,  # type: ignore[type-arg]
    alice: None,
    db: Database,
):
    queue = queue_of(app)
    update = Update.de_json(text_update(90, 9, "你好"), app.bot)
    assert await queue.put_once(update) is True
    assert await queue.put_once(update) is False
    assert queue.qsize() == 1


async def test_polling_waits_while_the_database_cannot_store_updates(
    app: Application,  # type: ignore[type-arg]
    clock: FrozenClock,
):
    broken = Database("sqlite://")  # no tables at all: every write fails, as with a lost disk
    queue = InboxQueue(db=broken, clock=clock)
    update = Update.de_json(text_update(91, 10, "你好"), app.bot)
    await queue.put(update)  # buffered: PTB's loop goes on to getUpdates, which waits (below)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.flush(), timeout=1.2)
    assert queue.qsize() == 0  # not queued: not stored
    await queue.close(timeout=0.1)
    broken.dispose()


async def test_an_update_is_committed_before_the_next_getupdates_acknowledges_it(
    app: Application,  # type: ignore[type-arg]
    alice: None,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
):
    queue = queue_of(app)
    await queue.put(Update.de_json(text_update(92, 11, "你好"), app.bot))
    seen: list[list[int]] = []

    async def telegram(self: object, *args: object, **kwargs: object) -> tuple[int, bytes]:
        seen.append(sorted(rows(db)))  # what is stored when the acknowledging call goes out
        return 200, b'{"ok": true, "result": []}'

    # The transport InboxRequest is built on (what sends the call to Telegram), whichever it is.
    monkeypatch.setattr(InboxRequest.__bases__[0], "do_request", telegram)
    assert await app.bot.get_updates(offset=93, timeout=0) == ()
    assert seen == [[92]]
    assert queue.get_nowait().update_id == 92  # queued for its handlers once stored


async def test_getupdates_is_not_sent_while_the_updates_cannot_be_stored(
    app: Application,  # type: ignore[type-arg]
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
):
    broken = Database("sqlite://")
    queue = InboxQueue(db=broken, clock=clock)
    request = InboxRequest(queue, ack_wait=0.3)
    sent: list[object] = []

    async def telegram(self: object, *args: object, **kwargs: object) -> tuple[int, bytes]:
        sent.append(args)
        return 200, b'{"ok": true, "result": []}'

    monkeypatch.setattr(InboxRequest.__bases__[0], "do_request", telegram)
    await queue.put(Update.de_json(text_update(94, 12, "你好"), app.bot))
    with pytest.raises(NetworkError):  # PTB's polling loop retries; Telegram keeps the update
        await request.do_request("https://api.telegram.org/bot1:x/getUpdates", "POST")
    assert sent == []
    await queue.close(timeout=0.1)
    broken.dispose()


async def test_writes_wait_for_their_commit_together_and_in_order(
    app: Application,  # type: ignore[type-arg]
    alice: None,
    db: Database,
):
    queue = queue_of(app)
    updates = [Update.de_json(text_update(i, i, "你好"), app.bot) for i in (95, 96, 97)]
    results = await asyncio.gather(*(queue.put_once(u) for u in updates))  # webhook requests
    assert results == [True, True, True]
    assert [queue.get_nowait().update_id for _ in range(3)] == [95, 96, 97]
    await queue.done(updates[0])  # not awaited: written with the next round
    await queue.flush()
    assert {i: row.status for i, row in rows(db).items()} == {
        95: "done",
        96: "pending",
        97: "pending",
    }


async def test_a_webhook_update_that_cannot_be_stored_is_refused_not_retried(
    app: Application,  # type: ignore[type-arg]
    clock: FrozenClock,
):
    broken = Database("sqlite://")
    queue = InboxQueue(db=broken, clock=clock)
    with pytest.raises(Exception, match="inbox_update"):  # the webhook answers 503
        await queue.put_once(Update.de_json(text_update(98, 13, "你好"), app.bot))
    await asyncio.wait_for(queue.flush(), timeout=1)  # dropped: Telegram sends it again
    await queue.close(timeout=0.1)
    broken.dispose()
