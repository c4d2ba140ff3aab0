"""Reminder benchmark: one tick over 20,000 pending items of 3,000 bureaus, then the sends.

    .venv/bin/python bench/reminders_bench.py [--items 20000] [--bureaus 3000] [--repeats 5]

1. **Decide.** A SQLite file (WAL, ``BEGIN IMMEDIATE``, as in production) holds the bureaus, one
   bound reviewer each, and the pending items: submitted over the last 46 hours (so the stages
   due are a mix of ``new``, ``24h`` and ``4h``) plus 1 % overdue (``due``, escalated to the staff
   group). The clock is a working day at 08:45, so the 09:00 digest is not mixed in. One tick
   (``reminders.engine.tick``: load, decide, claim, compose and queue the outbox rows, commit) is
   timed ``--repeats`` times on the same file, each tick's claims and messages deleted before
   the next; the median is reported (target ≤ 1 s), the first (cold) tick is the max.
2. **Send.** The queued rows are sent by the production outbox sender (``bot.outbox``) through
   real PTB with the production rate limiter (``bot.outbox_sender.smooth_rate_limiter``) to the fake
   Bot API server. The fake here enforces Telegram's flood limit like Telegram does — more than 30
   messages in a second overall answers 429 with ``retry_after`` — so "zero 429s" means the bot
   stayed under the limit rather than that nobody was counting. Reported: messages sent, their
   rate (target ≥ 25/s), 429s (target 0), the busiest second, median gap between sends.

Timing figures are medians; the send phase runs once (it takes ~100 s for 3,000 messages at
Telegram's 30/s).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import deque
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, text  # noqa: E402
from sqlmodel import select  # noqa: E402
from telegram.ext import ExtBot  # noqa: E402

from bot.clock import FrozenClock  # noqa: E402
from bot.db import Database  # noqa: E402
from bot.fakeapi import ApiError, FakeTelegram, _Fault  # noqa: E402
from bot.outbox import OutboxMessage  # noqa: E402
from bot.outbox_sender import OutboxSender, smooth_rate_limiter  # noqa: E402
from reminders import engine  # noqa: E402
from reminders.models import Bureau, BureauReviewer, ReviewItem  # noqa: E402
from reminders.stages import DEFAULT_QUIET_HOURS  # noqa: E402

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 8, 45, tzinfo=SH)  # a Tuesday (working day), after quiet hours
TOKEN = "123456:BENCH"
STAFF = -100999
FIRST_REVIEWER = 10_000_000
TELEGRAM_PER_SECOND = 30


class FloodControlledTelegram(FakeTelegram):
    """The fake Bot API with Telegram's overall flood limit: a send that would be the 31st
    within one second is answered 429 (retry after 1 s) and not performed."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.accepted: deque[float] = deque()
        self.send_times: list[float] = []
        self.too_many = 0

    def _next_fault(self, method: str) -> _Fault | None:
        fault = super()._next_fault(method)
        if fault is not None or method not in ("sendMessage", "copyMessage"):
            return fault
        now = time.monotonic()
        while self.accepted and now - self.accepted[0] >= 1.0:
            self.accepted.popleft()
        if len(self.accepted) >= TELEGRAM_PER_SECOND:
            self.too_many += 1
            return _Fault(ApiError(429, "Too Many Requests: retry after 1", retry_after=1))
        self.accepted.append(now)
        self.send_times.append(now)
        return None


def populate(db: Database, *, items: int, bureaus: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    codes = [f"B{n:05d}" for n in range(bureaus)]
    with db.session() as session:
        session.execute(
            insert(Bureau),
            [
                {
                    "code": code,
                    "name": f"第{n}财政局",
                    "level": "county",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for n, code in enumerate(codes)
            ],
        )
        session.execute(
            insert(BureauReviewer),
            [
                {"user_id": FIRST_REVIEWER + n, "bureau_code": code, "bound_at": NOW}
                for n, code in enumerate(codes)
            ],
        )
        rows = []
        for n in range(items):
            # Every bureau has at least one item; the rest are spread at random.
            bureau = codes[n] if n < bureaus else rng.choice(codes)
            if rng.random() < 0.01:
                submitted = NOW - timedelta(hours=rng.uniform(49, 60))  # overdue
            else:
                submitted = NOW - timedelta(hours=rng.uniform(0, 46))
            rows.append(
                {
                    "ref": f"R{n:07d}",
                    "institution": f"第{n}号会计师事务所有限公司",
                    "credit_code": f"91330000{n:010d}",
                    "contact_phone": "",
                    "bureau_code": bureau,
                    "stage": "preliminary",
                    "submitted_at": submitted,
                    "due_at": submitted + timedelta(hours=48),
                    "status": "pending",
                    "last_event_at": submitted,
                    "created_at": submitted,
                    "updated_at": submitted,
                }
            )
        session.execute(insert(ReviewItem), rows)


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy (SQLite's backup API: the WAL's contents included)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def timed_ticks(path: Path, config: engine.ReminderConfig, repeats: int) -> list[float]:
    """Tick ``repeats`` times on one database, undoing each tick's claims and messages before
    the next: the bot ticks every minute in one long-lived process, so after the first tick its
    statements are compiled and its caches warm (the median says what a tick costs then; the
    first, cold one is the max)."""
    db = Database(f"sqlite:///{path}")
    durations, deciding = [], []
    try:
        for _ in range(repeats):
            with db.session() as session:
                for table in ("reminder_sent", "outbox_message", "reminder_day_mark"):
                    session.execute(text(f"DELETE FROM {table}"))
            start = time.perf_counter()
            result = db.call(engine.tick, config=config, now=NOW)
            durations.append(time.perf_counter() - start)
            deciding.append(result.decide_seconds)
        print(
            f"tick: median {statistics.median(durations):.3f} s "
            f"(min {min(durations):.3f}, max {max(durations):.3f}, {repeats} runs) — "
            f"{result.claimed} stages claimed, {result.bureau_messages} bureau messages, "
            f"{result.escalated} overdue items escalated"
        )
        print(
            "  of which deciding (load, decide, claim): "
            f"median {statistics.median(deciding):.3f} s; the rest composes the messages and "
            "writes the outbox rows"
        )
        return durations
    finally:
        db.dispose()


async def send_all(path: Path, *, bureaus: int) -> dict[str, float]:
    fake = FloodControlledTelegram(token=TOKEN, bot_username="bench_bot")
    for n in range(bureaus):
        fake.add_user(FIRST_REVIEWER + n, f"审核员{n}")
    fake.add_group(STAFF, "客服组", members={})
    await fake.start()
    db = Database(f"sqlite:///{path}")
    bot = ExtBot(token=TOKEN, base_url=fake.api_url, rate_limiter=smooth_rate_limiter())
    try:
        await bot.initialize()
        sender = OutboxSender(bot=bot, db=db, clock=FrozenClock(NOW))
        with db.session() as session:
            queued = session.exec(select(func.count()).select_from(OutboxMessage)).one()
        start = time.perf_counter()
        sent = await sender.flush()
        # A row a 429 rescheduled would wait for retry_after, which a frozen clock never reaches:
        # it then counts as not sent, so "all sent" fails loudly instead of hiding it.
        elapsed = time.perf_counter() - start
        gaps = [b - a for a, b in zip(fake.send_times, fake.send_times[1:], strict=False)]
        per_second: dict[int, int] = {}
        for moment in fake.send_times:
            second = int(moment - fake.send_times[0])
            per_second[second] = per_second.get(second, 0) + 1
        return {
            "queued": queued,
            "sent": sent,
            "seconds": elapsed,
            "rate": sent / elapsed if elapsed else 0.0,
            "too_many": fake.too_many,
            "busiest_second": max(per_second.values(), default=0),
            "median_gap_ms": statistics.median(gaps) * 1000 if gaps else 0.0,
        }
    finally:
        await bot.shutdown()
        db.dispose()
        await fake.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--bureaus", type=int, default=3_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-send", action="store_true", help="time the tick only")
    args = parser.parse_args()

    config = engine.ReminderConfig(staff_chat_id=STAFF, tz=SH, quiet_hours=DEFAULT_QUIET_HOURS)
    with tempfile.TemporaryDirectory() as tmp:
        seed_path = Path(tmp) / "seed.db"
        seed_db = Database(f"sqlite:///{seed_path}")
        seed_db.create_all()
        started = time.perf_counter()
        populate(seed_db, items=args.items, bureaus=args.bureaus)
        seed_db.dispose()
        print(
            f"populated {args.items} pending items over {args.bureaus} bureaus "
            f"in {time.perf_counter() - started:.1f} s"
        )

        run_path = Path(tmp) / "run.db"
        copy_database(seed_path, run_path)
        durations = timed_ticks(run_path, config, args.repeats)
        if args.no_send:
            return 0 if statistics.median(durations) <= 1.0 else 1
        figures = asyncio.run(send_all(run_path, bureaus=args.bureaus))
        print(
            f"send: {figures['sent']:.0f} of {figures['queued']:.0f} queued messages in "
            f"{figures['seconds']:.1f} s = {figures['rate']:.1f} msg/s; "
            f"429s: {figures['too_many']:.0f}; busiest second: {figures['busiest_second']:.0f}; "
            f"median gap {figures['median_gap_ms']:.1f} ms"
        )
        ok = (
            statistics.median(durations) <= 1.0
            and figures["rate"] >= 25
            and figures["too_many"] == 0
            and figures["sent"] == figures["queued"]
        )
        print("targets (tick ≤ 1 s, ≥ 25 msg/s, zero 429s, all sent):", "met" if ok else "MISSED")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
