"""Crash drill: the real bot under load, killed with SIGKILL in the middle, restarted, checked.

    .venv/bin/python bench/crash_drill.py                       # SQLite in a temp dir
    .venv/bin/python bench/crash_drill.py --database-url postgresql+psycopg://postgres@127.0.0.1:54361/postgres
    .venv/bin/python bench/crash_drill.py --seed 7 --kill-after 4 --in-flight --allow-loss

What it does
------------
1. A fresh database: a SQLite file in a temp dir, or with a ``postgresql+psycopg`` server URL a new
   database on that server (dropped at the end). ``helpdesk bureaus import`` (the CLI) loads the
   bureaus; one invite per reviewer is made with ``reminders.bindings.create_invite`` (what staff
   get from ``/invite``). Both run with the bot's own code, in subprocesses.
2. The fake Bot API server (bot/fakeapi.py) runs in this process with the users, the reviewers and
   a staff supergroup with forum topics; the bot is a child process in polling mode
   (``bot.cli.main(["run"])``) with a staff chat, an API token and its HTTP port, quiet hours
   off and deadlines of 2 calendar days.
3. Setup run: every reviewer opens their invite (``/start inv_…``) and is bound; the review items
   are posted to ``POST /api/v1/review-events`` with the API token, each ``submitted_at`` chosen
   so that the item's most urgent reminder stage is due now (``new``, ``24h``, ``4h`` or overdue).
   Then a clean stop (SIGTERM): nothing is claimed yet (the reminder tick runs every 60 s).
4. Load run: the bot starts again; its start-up tick claims every reminder and the batched
   per-bureau messages go out while the load begins. For ``LOAD_WINDOW`` seconds users ask FAQ
   questions (some several); ticket users ask theirs first, then ``/human [Tnnn] …``; once the
   ticket's card is in its forum topic a staff member answers there (``[Rnnna]``), the user
   follows up (``[Fnnn]``) and staff answer again (``[Rnnnb]``). At the kill moment
   (``--kill-after``, else a moment of the load window chosen by ``--seed``; with ``--in-flight``
   the first send the fake performs from then on, before the bot gets the answer) the bot gets
   SIGKILL and is started again on the same database at once; the load goes on meanwhile
   (updates wait at the fake server, as at Telegram).
5. Settle: until the fake holds no unconfirmed update, the outbox (and the inbox, if the bot has
   one) has no pending row, every review item has its reminder claimed, no ticket flow is in the
   middle of sending, and no Bot API call came for a few seconds — or the settle timeout.
6. Check, from the fake server's records (the database where needed), per category:

   ==========================  ================================================================
   FAQ answers                 each question (user, text) got exactly one reply: a bot message
                               in the user's chat whose buttons carry a question id
                               (``fb:``/``sg:``/``cs:<qid>``); ``question_log`` maps the id to
                               the question's chat and text (texts are unique per user)
   tickets: user told          each ``/human`` got exactly one "ticket #n opened" reply
   tickets: forum topic        each ticket got exactly one forum topic (``createForumTopic``)
   tickets: staff card         each ticket's first post (buttons ``tk:…``) reached the group once
   staff replies -> user       each staff message ``[Rnnnx]`` reached the user exactly once
   follow-ups -> staff         each user follow-up ``[Fnnn]`` reached the staff group exactly once
   reminders                   a reminder is a ``reminder_sent`` row (item, review cycle, stage)
                               the engine claimed; it is delivered as one item of the batched
                               per-bureau message to *each* active reviewer of the item's
                               bureau. Counted per (reviewer chat, item, stage) inside the
                               delivered messages (the stage from the item's mark: new, 24h, 4h,
                               overdue); an item that never got a row counts as lost too
   overdue -> staff            each claimed overdue stage is listed once in the staff group
   ==========================  ================================================================

   ``delivered`` counts messages (duplicates included), ``lost`` the expected ones never
   delivered, ``duplicated`` the extra copies (and anything delivered that was not expected).
   Notes under the table say where lost things got stuck. The last line is
   ``N lost, N duplicated``; the exit code is 0 only when both are 0 and the bot settled
   (``--allow-loss``: always 0, for measuring).

Rate limits: the bot keeps its own outgoing pace (29 messages/s overall), but PTB's per-group limit
(20 messages a minute in the staff group) is lifted in the bot process by the launcher: with it
50 tickets (topic + card + follow-up each) alone take over 6 minutes, far beyond the drill's
budget. ``--group-limit`` keeps it. The fake server rate-limits nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, inspect, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from bench.harness import (  # noqa: E402
    BotProcess,
    RecordingTelegram,
    bot_env,
    create_database,
    drop_database,
    free_port,
)
from bot.fakeapi import CallRecord  # noqa: E402
from bot.texts import t  # noqa: E402

TOKEN = "424242:CRASH-DRILL-TOKEN"
API_TOKEN = "crash-drill-api-token-0123456789"
STAFF_CHAT = -1001000000001
STAFF_ID = 900001
USER_BASE = 100000
REVIEWER_BASE = 200000
LANG = "zh"
REF_RE = re.compile(r"RV\d{5}")
# A message the killed bot sent this shortly before SIGKILL may be unrecorded (its outcome unknown):
# the same message sent again after the restart is reported apart (see Drill._resent_in_flight).
IN_FLIGHT_SECONDS = 2.0
QID_RE = re.compile(r"^(?:fb|sg|cs):(\d+)")
TICKET_RE = re.compile(r"\[(T\d{3})\]")
REPLY_RE = re.compile(r"\[(R\d{3}[ab])\]")
FOLLOW_RE = re.compile(r"\[(F\d{3})\]")
OPENED_RE = re.compile(re.escape(t(LANG, "ticket_opened", id=0).split("#")[0]) + r"#(\d+)")
MARKS = {
    t(LANG, "rm_mark_new"): "new",
    t(LANG, "rm_mark_24h"): "24h",
    t(LANG, "rm_mark_4h"): "4h",
    t(LANG, "rm_mark_overdue"): "overdue",
}
HUMAN_TEXTS = [
    "附件上传一直失败，提示格式不对怎么办",
    "评价报告提交后能不能撤回修改",
    "我们机构的信用评分好像算错了",
    "平台上找不到去年的项目记录",
    "绑定的手机号停用了，收不到验证码",
    "初审被退回了但没看到退回原因",
]
REPLY_TEXTS = ["请清除浏览器缓存后重新上传试试。", "已经帮您核实，请刷新页面后再看一下。"]
FOLLOW_TEXTS = ["还是不行，截图发您看看", "好的，我再试一下，另外想确认一下时间", "收到，谢谢"]


@dataclass(frozen=True)
class Scale:
    users: int
    tickets: int
    items: int
    bureaus: int  # at most 15 items each, so one reminder tick takes all of them
    window: float  # seconds of load
    settle_timeout: float


FULL = Scale(users=200, tickets=50, items=1000, bureaus=80, window=32.0, settle_timeout=100.0)
QUICK = Scale(users=40, tickets=10, items=150, bureaus=12, window=20.0, settle_timeout=90.0)


def elapsed(start: float) -> str:
    return f"{time.monotonic() - start:6.1f}s"


# --- inputs -------------------------------------------------------------------------------------


def question_pool() -> list[str]:
    """Questions people really ask (the dev set, small talk left out) and the catalogue's own."""
    pool: list[str] = []
    with (ROOT / "tests" / "data" / "dev_queries.csv").open(encoding="utf-8-sig") as f:
        pool += [r["query"] for r in csv.DictReader(f) if r["expected_id"] != "__smalltalk__"]
    with (ROOT / "faq" / "data" / "catalogue.csv").open(encoding="utf-8-sig") as f:
        pool += [r["question"] for r in csv.DictReader(f)]
    seen: set[str] = set()
    return [
        q for q in pool if q.strip() and not q.startswith("/") and not (q in seen or seen.add(q))
    ]


def bureau_rows(count: int) -> list[dict[str, str]]:
    cities = max(1, count // 8)
    rows = [
        {"code": f"C{c:02d}", "name": f"第{c}市财政局", "level": "city", "parent_code": ""}
        for c in range(1, cities + 1)
    ]
    for k in range(count - cities):
        city = k % cities + 1
        rows.append(
            {
                "code": f"C{city:02d}-K{k + 1:03d}",
                "name": f"第{city}市第{k + 1}县财政局",
                "level": "county",
                "parent_code": f"C{city:02d}",
            }
        )
    return rows


def review_events(
    count: int, bureaus: list[str], now: datetime, rng: random.Random
) -> list[dict[str, Any]]:
    """Items whose most urgent stage is due now, with 2 calendar days to review:
    ``new`` (submitted 1-20 h ago), ``24h`` (26-40 h), ``4h`` (45-47 h), overdue (49-53 h)."""
    windows = [((1, 20), 0.4), ((26, 40), 0.3), ((45, 47), 0.25), ((49, 53), 0.05)]
    events = []
    for i in range(count):
        (low, high), _ = rng.choices(windows, weights=[w for _, w in windows])[0]
        submitted = now - timedelta(hours=rng.uniform(low, high))
        events.append(
            {
                "ref": f"RV{i + 1:05d}",
                "institution": f"第{i + 1}号绩效评价咨询有限公司",
                "credit_code": f"91{330100 + i % 90:06d}{i + 1:09d}X",
                "bureau_code": bureaus[i % len(bureaus)],
                "stage": "preliminary",
                "submitted_at": submitted.isoformat(timespec="seconds"),
                "status": "pending",
            }
        )
    return events


@dataclass
class TicketPlan:
    index: int
    user_id: int
    at: float
    text: str


@dataclass
class Plan:
    questions: list[tuple[float, int, str]]  # (offset, user, text), sorted
    tickets: list[TicketPlan]


def make_plan(scale: Scale, rng: random.Random) -> Plan:
    pool = question_pool()
    window = scale.window
    questions: list[tuple[float, int, str]] = []
    tickets: list[TicketPlan] = []
    ticket_users = set(rng.sample(range(scale.users), scale.tickets))
    for n in range(scale.users):
        user = USER_BASE + n + 1
        count = rng.choices([1, 2, 3, 4], weights=[35, 35, 20, 10])[0]
        texts = rng.sample(pool, count)
        end = window * 0.9
        if n in ticket_users:
            index = len(tickets) + 1
            human_at = rng.uniform(window * 0.15, window * 0.7)
            human = f"[T{index:03d}] {rng.choice(HUMAN_TEXTS)}"
            tickets.append(TicketPlan(index, user, human_at, human))
            end = human_at - 1.0  # the questions come first: later messages go to staff
        times = sorted(rng.uniform(0, max(end, 0.5)) for _ in texts)
        questions += [(when, user, q) for when, q in zip(times, texts, strict=True)]
    questions.sort()
    return Plan(questions, tickets)


# --- the bot process ----------------------------------------------------------------------------

# bot.cli.main(["run"]), as `python -m bot.cli run`; with lift_group_limit every AIORateLimiter the
# bot builds gets group_max_rate=0 (PTB: no per-group limit), the overall pace is untouched.
LAUNCHER = """
import sys
if {lift!r}:
    from telegram.ext import AIORateLimiter
    original = AIORateLimiter.__init__
    def init(self, *args, **kwargs):
        kwargs["group_max_rate"] = 0
        original(self, *args, **kwargs)
    AIORateLimiter.__init__ = init
from bot.cli import main
sys.exit(main(["run"]))
"""


def spawn_bot(env: dict[str, str], workdir: Path, *, lift_group_limit: bool) -> BotProcess:
    log = workdir / "bot.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER.format(lift=lift_group_limit)],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return BotProcess(proc, log, env)


async def wait_polling(
    bot: BotProcess, fake: RecordingTelegram, polls_before: int, timeout: float = 90.0
) -> None:
    """Until the bot (started after ``polls_before`` getUpdates) polls: post_init is done."""
    deadline = time.monotonic() + timeout
    while fake.poll_count <= polls_before:
        if not bot.alive:
            raise RuntimeError(f"the bot exited with {bot.proc.returncode}:\n{bot.log_tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the bot did not poll within {timeout}s:\n{bot.log_tail()}")
        await asyncio.sleep(0.05)


def run_cli(args: list[str], env: dict[str, str], workdir: Path) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=workdir, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


INVITES = """
import json, sys
from datetime import UTC, datetime
from bot.db import Database
from reminders.bindings import create_invite
db = Database(sys.argv[1])
staff, now = int(sys.argv[3]), datetime.now(UTC)
with db.session() as session:
    codes = [
        create_invite(session, bureau_code=b, created_by=staff, now=now)[0].code
        for b in json.loads(sys.argv[2])
    ]
db.dispose()
print(json.dumps(codes))
"""


# --- the database, read by the drill ------------------------------------------------------------


class Db:
    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url, poolclass=NullPool)
        self._tables: set[str] | None = None

    def tables(self) -> set[str]:
        if self._tables is None or "outbox_message" not in self._tables:
            self._tables = set(inspect(self.engine).get_table_names())
        return self._tables

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())

    def scalar(self, sql: str, **params: Any) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(sql), params).scalar() or 0)

    def backlog(self) -> dict[str, int]:
        """Work the bot still has: pending outbox rows (leased ones too) and inbox rows."""
        found = {"outbox pending": 0, "outbox leased": 0, "inbox pending": 0}
        if "outbox_message" in self.tables():
            for _status, leased, count in self.rows(
                "SELECT status, claimed_until IS NOT NULL, count(*) FROM outbox_message "
                "WHERE status = 'pending' GROUP BY status, claimed_until IS NOT NULL"
            ):
                found["outbox pending"] += count
                if leased:
                    found["outbox leased"] += count
        if "inbox_update" in self.tables():
            found["inbox pending"] = self.scalar(
                "SELECT count(*) FROM inbox_update WHERE status = 'pending'"
            )
        return found

    def claimed_items(self) -> int:
        if "reminder_sent" not in self.tables():
            return 0
        return self.scalar(
            "SELECT count(DISTINCT item_ref) FROM reminder_sent WHERE cycle LIKE 's%'"
        )

    def dispose(self) -> None:
        self.engine.dispose()


# --- the drill ----------------------------------------------------------------------------------


@dataclass
class Sent:
    """What the drill made happen: the expected deliveries."""

    questions: list[tuple[int, str]] = field(default_factory=list)
    # ticket marker / reply token / follow-up token -> (user, Telegram message id)
    humans: dict[str, tuple[int, int]] = field(default_factory=dict)
    replies: dict[str, tuple[int, int]] = field(default_factory=dict)
    follow_ups: dict[str, tuple[int, int]] = field(default_factory=dict)
    stalled_tickets: list[str] = field(default_factory=list)  # no card: nothing more sent


class Drill:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.scale = QUICK if args.quick else FULL
        self.rng = random.Random(args.seed)
        self.started = time.monotonic()
        self.sent = Sent()
        self.cards: dict[str, asyncio.Event] = {}
        self.card_thread: dict[str, int] = {}
        self.last_call = time.monotonic()
        self.events: list[str] = []
        self.bot: BotProcess | None = None
        self.fake: RecordingTelegram | None = None
        self.killed = False
        self.load_start = 0.0
        self.chains: dict[str, str] = {}  # ticket marker -> planned | waiting | busy | done
        self.reminder_times: list[float] = []
        self.reviewers: set[int] = set()
        self.kill_armed = False
        self.killed_in_flight = asyncio.Event()
        self.in_flight_call = ""
        self.call_at: dict[int, float] = {}  # fake's record index -> perf_counter when received
        self.kill_at: float | None = None  # perf_counter of the SIGKILL

    def note(self, line: str) -> None:
        stamp = elapsed(self.started)
        self.events.append(f"{stamp}  {line}")
        if not self.args.quiet:
            print(f"[{stamp}] {line}", file=sys.stderr, flush=True)

    # --- hooks --------------------------------------------------------------------------------

    def on_call(self, record: CallRecord, at: float) -> None:
        self.last_call = time.monotonic()
        self.call_at[record.index] = at
        message = record.message
        if self.kill_armed and record.ok and record.method in ("sendMessage", "copyMessage"):
            assert self.bot is not None
            self.bot.proc.kill()  # before the fake answers: this call's reply never arrives
            self.kill_at = time.perf_counter()
            self.kill_armed = False
            self.in_flight_call = f"{record.method} to chat {record.chat_id}"
            self.killed_in_flight.set()
        if record.ok and record.chat_id in self.reviewers and _callbacks(message, "rv:"):
            self.reminder_times.append(self.last_call)
        if not record.ok or message is None or record.chat_id != STAFF_CHAT:
            return
        if record.method != "sendMessage" or not _callbacks(message, "tk:"):
            return
        found = TICKET_RE.search(message.get("text") or "")
        if found and found.group(1) in self.cards:
            self.card_thread.setdefault(found.group(1), message.get("message_thread_id") or 0)
            self.cards[found.group(1)].set()

    # --- phases -------------------------------------------------------------------------------

    async def run(self) -> int:
        workdir = Path(tempfile.mkdtemp(prefix="crash-drill-"))
        url, server_url = self.args.database_url, None
        if url is None:
            url = f"sqlite:///{workdir / 'helpdesk.db'}"
        elif url.startswith("postgresql"):
            server_url, url = url, create_database(url)
        elif url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///")).resolve()  # the bot runs in workdir
            if path.exists():
                raise SystemExit(f"--database-url: {path} exists; the drill needs a fresh database")
            url = f"sqlite:///{path}"
        else:
            raise SystemExit("--database-url: a sqlite:///FILE or postgresql+psycopg:// URL")
        db = Db(url)
        if self.args.keep:
            self.note(f"work dir {workdir} is kept (bot.log: the bot's output)")
        try:
            return await self._run(workdir, url, db)
        finally:
            db.dispose()
            if server_url is not None and not self.args.keep:
                drop_database(url)
            elif server_url is not None:
                print(f"kept database {url}", file=sys.stderr)
            if not self.args.keep:
                shutil.rmtree(workdir, ignore_errors=True)

    async def _run(self, workdir: Path, url: str, db: Db) -> int:
        scale, args = self.scale, self.args
        bot_root = Path(args.bot_root).resolve() if args.bot_root else ROOT
        shown = url.split("@")[-1] if "@" in url else url
        print(
            f"crash drill: seed {args.seed}, {scale.users} users, {scale.tickets} tickets, "
            f"{scale.items} review items, {scale.bureaus} bureaus; database {shown}; "
            f"per-group rate limit {'kept' if args.group_limit else 'lifted'}",
            flush=True,
        )
        plan = make_plan(scale, self.rng)
        bureaus = bureau_rows(scale.bureaus)
        codes = [b["code"] for b in bureaus]
        reviewer_bureaus = codes + codes[::2]  # every 2nd bureau has a second reviewer
        reviewers = {REVIEWER_BASE + i + 1: b for i, b in enumerate(reviewer_bureaus)}
        self.reviewers = set(reviewers)

        base_env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
        cli_env = base_env | {"HELPDESK_DATABASE_URL": url, "PYTHONPATH": str(bot_root)}
        bureau_csv = workdir / "bureaus.csv"
        with bureau_csv.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["code", "name", "level", "parent_code"])
            writer.writeheader()
            writer.writerows(bureaus)
        out = run_cli(["-m", "bot.cli", "bureaus", "import", str(bureau_csv)], cli_env, workdir)
        self.note(f"helpdesk bureaus import: {out.strip()}")
        # The invites are made while the setup run starts (they are needed at the first /start).
        invites = asyncio.create_task(
            asyncio.to_thread(
                run_cli,
                ["-c", INVITES, url, json.dumps(list(reviewers.values())), str(STAFF_ID)],
                cli_env,
                workdir,
            )
        )

        fake = RecordingTelegram(TOKEN, bot_username="crash_drill_bot")
        self.fake = fake
        fake.on_call = self.on_call
        async with fake:
            for n in range(scale.users):
                fake.add_user(USER_BASE + n + 1, f"用户{n + 1}", language_code="zh-hans")
            for user_id in reviewers:
                fake.add_user(user_id, f"审核员{user_id - REVIEWER_BASE}", language_code="zh-hans")
            fake.add_user(STAFF_ID, "工作人员", language_code="zh-hans")
            fake.add_group(
                STAFF_CHAT, "平台工作人员", is_forum=True, members={STAFF_ID: "administrator"}
            )
            http_port = free_port()
            env = bot_env(
                fake,
                url,
                extra={
                    "PYTHONPATH": str(bot_root),
                    "HELPDESK_STAFF_CHAT_ID": str(STAFF_CHAT),
                    "HELPDESK_ADMIN_IDS": str(STAFF_ID),
                    "HELPDESK_API_TOKEN": API_TOKEN,
                    "HELPDESK_HTTP_HOST": "127.0.0.1",
                    "HELPDESK_HTTP_PORT": str(http_port),
                    "HELPDESK_QUIET_HOURS": "",
                    "HELPDESK_REVIEW_DAY_KIND": "calendar",
                    "HELPDESK_REVIEW_DAYS": "2",
                    "HELPDESK_OUTBOX_INTERVAL_SECONDS": "2",
                    "HELPDESK_LOG_LEVEL": args.bot_log_level,
                },
            )
            try:
                return await self._with_bot(
                    fake, env, workdir, db, plan, reviewers, invites, http_port
                )
            finally:
                if self.bot is not None:
                    await self.bot.stop(timeout=20)

    async def _with_bot(
        self,
        fake: RecordingTelegram,
        env: dict[str, str],
        workdir: Path,
        db: Db,
        plan: Plan,
        reviewers: dict[int, str],
        invites_made: asyncio.Task[str],
        http_port: int,
    ) -> int:
        scale, args = self.scale, self.args
        lift = not args.group_limit
        # Setup run: reviewers bind, review items arrive; then a clean stop (SIGTERM). Nothing
        # is claimed yet: the first reminder tick comes 60 s after start.
        self.bot = spawn_bot(env, workdir, lift_group_limit=lift)
        await wait_polling(self.bot, fake, 0)
        self.note(f"setup run: bot started (pid {self.bot.pid}), polling")
        invites = json.loads(await invites_made)
        self.note(f"{len(invites)} invites made (reminders.bindings.create_invite)")
        for user_id, code in zip(reviewers, invites, strict=True):
            fake.user_sends_text(user_id, f"/start {code}")
        await self._wait(
            lambda: all(_bot_messages(fake, uid) for uid in reviewers), 60, "reviewer bindings"
        )
        bound = db.scalar("SELECT count(*) FROM bureau_reviewer WHERE active")
        self.note(f"{bound} reviewers bound (/start inv_...)")
        events = review_events(
            scale.items, sorted(set(reviewers.values())), datetime.now(UTC), self.rng
        )
        await self._post_events(events, http_port)
        self.note(f"{len(events)} review items posted to /api/v1/review-events")
        await self.bot.stop(timeout=30)
        self.note("setup run stopped (SIGTERM)")

        # Load run: its start-up tick claims every reminder, whose messages go out while the
        # load begins; the crash comes somewhere in the load.
        polls = fake.poll_count
        self.bot = spawn_bot(env, workdir, lift_group_limit=lift)
        await wait_polling(self.bot, fake, polls)
        self.note(
            f"load run: bot started (pid {self.bot.pid}), {db.claimed_items()} items claimed "
            "by its start-up tick"
        )
        kill_after = args.kill_after
        if kill_after is None:
            kill_after = self.rng.uniform(scale.window * 0.05, scale.window * 0.85)
        load_start = self.load_start = time.monotonic()
        self.note(f"load starts; SIGKILL planned at +{kill_after:.1f}s of {scale.window:.0f}s")
        chains = [asyncio.create_task(self._ticket(load_start, plan_t)) for plan_t in plan.tickets]
        killer = asyncio.create_task(self._crash(load_start + kill_after, env, workdir, lift))
        await self._questions(load_start, plan.questions)
        await killer
        self.note("all questions sent")
        settled = await self._settle(db, scale.items, time.monotonic() + scale.settle_timeout)
        for chain in chains:
            chain.cancel()
        self.sent.stalled_tickets = sorted(m for m, s in self.chains.items() if s == "waiting")
        if self.reminder_times:
            first, last = min(self.reminder_times), max(self.reminder_times)
            self.note(
                f"reminder messages delivered between load {first - load_start:+.1f}s and "
                f"{last - load_start:+.1f}s"
            )
        self.note("settled" if settled else "NOT settled before the timeout")
        await self.bot.stop(timeout=20)
        self.note("bot stopped (SIGTERM)")
        resent = self._resent_in_flight(fake)
        return self._report(
            fake, db, reviewers, settled, time.monotonic() - self.started, resent=resent
        )

    async def _post_events(self, events: list[dict[str, Any]], port: int) -> None:
        import aiohttp

        url = f"http://127.0.0.1:{port}/api/v1/review-events"
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with aiohttp.ClientSession() as session:
            for start in range(0, len(events), 250):
                chunk = events[start : start + 250]
                async with session.post(url, json=chunk, headers=headers) as response:
                    body = await response.text()
                    if response.status != 200:
                        raise RuntimeError(f"review-events answered {response.status}: {body}")

    async def _questions(self, start: float, questions: list[tuple[float, int, str]]) -> None:
        assert self.fake is not None
        for at, user, question in questions:
            await _sleep_until(start + at)
            self.fake.user_sends_text(user, question)
            self.sent.questions.append((user, question))

    async def _ticket(self, start: float, plan: TicketPlan) -> None:
        assert self.fake is not None
        fake, rng = self.fake, random.Random(self.args.seed * 1000 + plan.index)
        marker = f"T{plan.index:03d}"
        self.cards[marker] = asyncio.Event()
        self.chains[marker] = "planned"
        await _sleep_until(start + plan.at)
        sent = fake.user_sends_text(plan.user_id, f"/human {plan.text}")
        self.sent.humans[marker] = (plan.user_id, sent["message_id"])
        self.chains[marker] = "waiting"  # for the card: without it staff have nowhere to answer
        await self.cards[marker].wait()
        self.chains[marker] = "busy"
        try:
            thread = self.card_thread[marker]
            number = f"{plan.index:03d}"
            await asyncio.sleep(rng.uniform(0.3, 2.0))
            token = f"R{number}a"
            sent = fake.user_sends_text(
                STAFF_ID, f"[{token}] {REPLY_TEXTS[0]}", chat_id=STAFF_CHAT, thread_id=thread
            )
            self.sent.replies[token] = (plan.user_id, sent["message_id"])
            await asyncio.sleep(rng.uniform(0.3, 2.0))
            token = f"F{number}"
            sent = fake.user_sends_text(plan.user_id, f"[{token}] {rng.choice(FOLLOW_TEXTS)}")
            self.sent.follow_ups[token] = (plan.user_id, sent["message_id"])
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            token = f"R{number}b"
            sent = fake.user_sends_text(
                STAFF_ID, f"[{token}] {REPLY_TEXTS[1]}", chat_id=STAFF_CHAT, thread_id=thread
            )
            self.sent.replies[token] = (plan.user_id, sent["message_id"])
        finally:
            self.chains[marker] = "done"

    async def _crash(self, at: float, env: dict[str, str], workdir: Path, lift: bool) -> None:
        assert self.fake is not None and self.bot is not None
        await _sleep_until(at)
        fake = self.fake
        what = ""
        if self.args.in_flight:
            # on_call kills the bot while the fake handles its next send: the message exists
            # at "Telegram", the bot never hears back.
            self.kill_armed = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.killed_in_flight.wait(), 10.0)
            self.kill_armed = False
            what = f" (in flight: {self.in_flight_call})" if self.in_flight_call else ""
        unconfirmed = len(fake.pending_updates)
        self.bot.kill()
        if self.kill_at is None:
            self.kill_at = time.perf_counter()
        self.killed = True
        self.note(f"SIGKILL at load +{time.monotonic() - self.load_start:.1f}s{what}")
        db = Db(env["HELPDESK_DATABASE_URL"])
        try:
            backlog = db.backlog()
        finally:
            db.dispose()
        self.note(
            f"at the kill: {unconfirmed} updates unconfirmed at the fake server, "
            + ", ".join(f"{v} {k}" for k, v in backlog.items())
        )
        await asyncio.sleep(0.5)
        with self.bot.log.open("a") as log:
            log.write("\n===== crash drill: SIGKILL, restarting =====\n\n")
        polls = fake.poll_count
        self.bot = spawn_bot(env, workdir, lift_group_limit=lift)
        restarted = time.monotonic()
        await wait_polling(self.bot, fake, polls)
        self.note(
            f"bot restarted (pid {self.bot.pid}), polling after {time.monotonic() - restarted:.1f}s"
        )

    async def _wait(self, done: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if self.bot is not None and not self.bot.alive:
                raise RuntimeError(
                    f"the bot exited while waiting for {what}:\n{self.bot.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not done within {timeout}s")
            await asyncio.sleep(0.1)

    async def _settle(self, db: Db, items: int, deadline: float) -> bool:
        """Until nothing is left to do and no Bot API call came for QUIET seconds."""
        assert self.fake is not None and self.bot is not None
        quiet = 3.0
        while time.monotonic() < deadline:
            if not self.bot.alive:
                self.note(f"the bot exited:\n{self.bot.log_tail()}")
                return False
            idle = time.monotonic() - self.last_call >= quiet
            sending = any(state in ("planned", "busy") for state in self.chains.values())
            if idle and not sending and not self.fake.pending_updates:
                backlog = await asyncio.to_thread(db.backlog)
                claimed = await asyncio.to_thread(db.claimed_items)
                if not any(backlog.values()) and claimed >= items:
                    return True
            await asyncio.sleep(0.5)
        backlog = await asyncio.to_thread(db.backlog)
        self.note(
            f"settle timeout: {len(self.fake.pending_updates)} updates unconfirmed, "
            + ", ".join(f"{v} {k}" for k, v in backlog.items())
            + f", {await asyncio.to_thread(db.claimed_items)}/{items} items claimed"
        )
        return False

    # --- the check ----------------------------------------------------------------------------

    def _resent_in_flight(self, fake: RecordingTelegram) -> set[int]:
        """Record indexes of messages sent again after the restart that the killed process had
        sent in its last :data:`IN_FLIGHT_SECONDS`: Telegram (the fake) took them, the process
        died before it recorded that, so its successor sent them again. No Bot API method lets a
        bot ask whether a message went out, so this is the price of never losing one; the drill
        reports these copies apart from duplicates with any other cause."""
        if self.kill_at is None:
            return set()
        kill_at = self.kill_at

        def content(record: CallRecord) -> tuple[Any, str, str]:
            message = record.message or {}
            body = message.get("text") or message.get("caption") or ""
            return (record.chat_id, body, json.dumps(message.get("reply_markup"), sort_keys=True))

        sends = [r for r in fake.log if r.ok and r.message is not None and r.index in self.call_at]
        in_flight = {
            content(r)
            for r in sends
            if kill_at - IN_FLIGHT_SECONDS <= self.call_at[r.index] <= kill_at
        }
        resent: set[int] = set()
        for record in sends:
            if self.call_at[record.index] > kill_at and content(record) in in_flight:
                in_flight.discard(content(record))  # one resend per in-flight message
                resent.add(record.index)
        return resent

    def _report(
        self,
        fake: RecordingTelegram,
        db: Db,
        reviewers: dict[int, str],
        settled: bool,
        seconds: float,
        *,
        resent: set[int],
    ) -> int:
        """The table over every delivery; the exit code over deliveries minus ``resent``."""
        print("timeline:")
        for line in self.events:
            print(f"  {line}")
        print()
        rows, notes = self._tally(fake, db, reviewers, skip=set())
        total_lost, total_dup = self._print_table(rows)
        if resent:
            rows_without, _ = self._tally(fake, db, reviewers, skip=resent)
            lost_without, dup_without = _totals(rows_without)
            explained = total_dup - dup_without
            notes.append(
                f"{explained} of the {total_dup} duplicated deliveries are in {len(resent)} "
                "message(s) the killed bot had just sent (Telegram took them, the bot died before "
                "recording it) and its restart sent again: at-least-once by design, never lost"
            )
        else:
            lost_without, dup_without = total_lost, total_dup
        for line in notes:
            print(f"note: {line}")
        if not settled:
            print("note: the bot did NOT settle before the timeout: late deliveries count as lost")
        if not self.killed:
            print("note: the bot was never killed (the kill moment fell after the load)")
        print(f"run time {seconds:.0f}s")
        print(f"{total_lost} lost, {total_dup} duplicated", flush=True)
        if self.args.allow_loss:
            return 0
        return 0 if lost_without == 0 and dup_without == 0 and settled else 1

    def _tally(
        self, fake: RecordingTelegram, db: Db, reviewers: dict[int, str], *, skip: set[int]
    ) -> tuple[list[tuple[str, Counter[Any], Counter[Any]]], list[str]]:
        """Expected and delivered per category, over the fake's log without ``skip``."""
        log = [r for r in fake.log if r.index not in skip]
        sent = self.sent
        messages = [r for r in log if r.ok and r.message is not None]
        users = {USER_BASE + n + 1 for n in range(self.scale.users)}
        rows: list[tuple[str, Counter[Any], Counter[Any]]] = []
        notes: list[str] = []

        # FAQ answers: the question id on the reply's buttons, mapped to (chat, text).
        logged = {
            qid: (chat, question, decision)
            for qid, chat, question, decision in db.rows(
                "SELECT id, chat_id, text, decision FROM question_log"
            )
        }
        got: Counter[Any] = Counter()
        for record in messages:
            if record.chat_id in users and record.method == "sendMessage":
                for data in _callbacks(record.message, ""):
                    found = QID_RE.match(data)
                    if found and int(found.group(1)) in logged:
                        chat, question, _ = logged[int(found.group(1))]
                        got[(chat, question)] += 1
                        break
        expected = Counter(sent.questions)
        rows.append(("FAQ answers", expected, got))
        lost = [key for key in expected if not got[key]]
        if lost:
            keys = {(chat, q) for chat, q, _ in logged.values()}
            relayed = {
                (user, body)
                for user, body in db.rows(
                    "SELECT t.user_id, m.text FROM ticket_message m JOIN ticket t "
                    "ON t.id = m.ticket_id WHERE m.direction = 'in'"
                )
            }
            to_staff = [key for key in lost if key in relayed]
            logged_only = [key for key in lost if key in keys and key not in relayed]
            unseen = len(lost) - len(to_staff) - len(logged_only)
            notes.append(
                f"FAQ answers lost: {unseen} never reached the bot's handlers (no question_log "
                f"row), {len(logged_only)} were logged but no reply went out, {len(to_staff)} "
                "were (also) handled after the same user's /human and relayed to staff instead"
            )
        talk = sum(
            1 for chat, q, d in logged.values() if d == "smalltalk" and (chat, q) in expected
        )
        if talk:
            notes.append(f"{talk} questions were taken as small talk (replies carry no id)")

        # Tickets.
        humans = Counter(sent.humans.keys())
        marker_of_user = {user: marker for marker, (user, _) in sent.humans.items()}
        told: Counter[Any] = Counter()
        cards: Counter[Any] = Counter()
        topics: Counter[Any] = Counter()
        replies: Counter[Any] = Counter()
        follow_ups: Counter[Any] = Counter()
        reminded: Counter[Any] = Counter()
        escalated: Counter[Any] = Counter()
        for record in log:
            if not record.ok:
                continue
            if record.method == "createForumTopic" and record.chat_id == STAFF_CHAT:
                for marker in TICKET_RE.findall(str(record.params.get("name", ""))):
                    topics[marker] += 1
            message = record.message
            if message is None:
                continue
            body = message.get("text") or message.get("caption") or ""
            if record.chat_id == STAFF_CHAT:
                if record.method == "sendMessage" and _callbacks(message, "tk:"):
                    cards.update(TICKET_RE.findall(body)[:1])
                follow_ups.update(FOLLOW_RE.findall(body))
                if not _callbacks(message, "tk:"):
                    escalated.update(REF_RE.findall(body))
            elif record.chat_id in users:
                replies.update(REPLY_RE.findall(body))
                if OPENED_RE.search(body) and record.chat_id in marker_of_user:
                    told[marker_of_user[record.chat_id]] += 1
            elif record.chat_id in reviewers and _callbacks(message, "rv:"):
                for block in body.split("\n\n"):
                    refs = REF_RE.findall(block)
                    stage = next((s for mark, s in MARKS.items() if mark in block), "?")
                    for ref in refs[:1]:
                        reminded[(record.chat_id, ref, stage)] += 1
        rows.append(("tickets: user told", humans, told))
        rows.append(("tickets: forum topic", humans, topics))
        rows.append(("tickets: staff card", humans, cards))
        rows.append(("staff replies -> user", Counter(sent.replies.keys()), replies))
        rows.append(("follow-ups -> staff", Counter(sent.follow_ups.keys()), follow_ups))
        outbox = {
            key: status for key, status in db.rows("SELECT dedupe_key, status FROM outbox_message")
        }
        ticket_users = {user for (user,) in db.rows("SELECT user_id FROM ticket")}
        lost_humans = [m for m in humans if not told[m] and not cards[m]]
        if lost_humans:
            without = sum(1 for m in lost_humans if sent.humans[m][0] not in ticket_users)
            notes.append(
                f"tickets lost: {without} of {len(lost_humans)} /human never reached the bot's "
                "handlers (the user has no ticket row)"
            )
        for name, tokens, got_, key in (
            ("staff replies", sent.replies, replies, "out:{chat}:{mid}"),
            ("follow-ups", sent.follow_ups, follow_ups, "in:{chat}:{mid}"),
        ):
            missing = [tok for tok in tokens if not got_[tok]]
            if missing:
                states = Counter(
                    outbox.get(
                        key.format(
                            chat=STAFF_CHAT if name == "staff replies" else tokens[tok][0],
                            mid=tokens[tok][1],
                        ),
                        "no outbox row (update never handled)",
                    )
                    for tok in missing
                )
                notes.append(
                    f"{name} lost: " + ", ".join(f"{n} {state}" for state, n in states.items())
                )
        first_seen: dict[str, int] = {}
        for record in messages:
            if record.chat_id in users:
                body = record.message.get("text") or "" if record.message else ""
                for token in REPLY_RE.findall(body):
                    first_seen.setdefault(token, record.index)
        swapped = sum(
            1
            for marker in humans
            if f"R{marker[1:]}a" in first_seen
            and f"R{marker[1:]}b" in first_seen
            and first_seen[f"R{marker[1:]}b"] < first_seen[f"R{marker[1:]}a"]
        )
        if swapped:
            notes.append(f"{swapped} tickets: the user got the second staff reply before the first")
        if sent.stalled_tickets:
            notes.append(
                f"{len(sent.stalled_tickets)} tickets never showed a card in the staff group: "
                "no staff reply or follow-up was sent for them"
            )

        # Reminders: reminder_sent rows x active reviewers of the item's bureau.
        bureau_of = dict(db.rows("SELECT ref, bureau_code FROM review_item"))
        active: dict[str, list[int]] = {}
        for user_id, code in db.rows(
            "SELECT user_id, bureau_code FROM bureau_reviewer WHERE active"
        ):
            active.setdefault(code, []).append(user_id)
        want: Counter[Any] = Counter()
        want_escalated: Counter[Any] = Counter()
        claimed_refs: set[str] = set()
        for ref, cycle, stage in db.rows("SELECT item_ref, cycle, stage FROM reminder_sent"):
            if not cycle.startswith("s"):
                continue  # a return notice to an institution, not a bureau reminder
            claimed_refs.add(ref)
            family = _family(stage)
            for user_id in active.get(bureau_of.get(ref, ""), []):
                want[(user_id, ref, family)] += 1
            if family == "overdue":
                want_escalated[ref] += 1
        unclaimed = sorted(set(bureau_of) - claimed_refs)
        for ref in unclaimed:
            for user_id in active.get(bureau_of[ref], []):
                want[(user_id, ref, "unclaimed")] += 1
        if unclaimed:
            notes.append(f"{len(unclaimed)} review items never got a reminder_sent row")
        rows.append(("reminders (reviewer,item,stage)", want, reminded))
        rows.append(("overdue -> staff (item,stage)", want_escalated, escalated))

        failed = db.rows(
            "SELECT status, count(*) FROM outbox_message WHERE status NOT IN ('sent', 'pending') "
            "GROUP BY status"
        )
        if failed:
            notes.append("outbox rows given up: " + ", ".join(f"{n} {s}" for s, n in failed))
        return rows, notes

    def _print_table(self, rows: list[tuple[str, Counter[Any], Counter[Any]]]) -> tuple[int, int]:
        header = f"{'category':<34} {'expected':>8} {'delivered':>9} {'lost':>6} {'duplicated':>10}"
        print(header)
        print("-" * len(header))
        for name, expected, got in rows:
            lost, dup = _row_counts(expected, got)
            delivered = sum(got.values())
            print(f"{name:<34} {sum(expected.values()):>8} {delivered:>9} {lost:>6} {dup:>10}")
        print("-" * len(header))
        return _totals(rows)


def _row_counts(expected: Counter[Any], got: Counter[Any]) -> tuple[int, int]:
    lost = sum(1 for key in expected if got[key] == 0)
    dup = sum(max(0, got[key] - 1) for key in expected)
    dup += sum(n for key, n in got.items() if key not in expected)
    return lost, dup


def _totals(rows: list[tuple[str, Counter[Any], Counter[Any]]]) -> tuple[int, int]:
    counts = [_row_counts(expected, got) for _, expected, got in rows]
    return sum(lost for lost, _ in counts), sum(dup for _, dup in counts)


def _family(stage: str) -> str:
    return "overdue" if stage == "due" or stage.startswith("overdue-") else stage


def _callbacks(message: dict[str, Any] | None, prefix: str) -> list[str]:
    if not message:
        return []
    markup = message.get("reply_markup") or {}
    return [
        button["callback_data"]
        for row in markup.get("inline_keyboard") or []
        for button in row
        if isinstance(button, dict)
        and isinstance(button.get("callback_data"), str)
        and button["callback_data"].startswith(prefix)
    ]


def _bot_messages(fake: RecordingTelegram, chat_id: int) -> list[Any]:
    with contextlib.suppress(ValueError):
        return fake.messages(chat_id)
    return []


async def _sleep_until(at: float) -> None:
    delay = at - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Kill the bot with SIGKILL under load, restart it, count what was lost or "
        "sent twice.",
    )
    parser.add_argument(
        "--database-url",
        help="sqlite:///FILE (a new file), or a postgresql+psycopg:// server URL (a fresh "
        "database is created on it and dropped at the end); default: SQLite in a temp dir",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--kill-after",
        type=float,
        metavar="SECONDS",
        help="SIGKILL this long after the load starts (default: a moment of the load window "
        "chosen by the seed)",
    )
    parser.add_argument(
        "--in-flight",
        action="store_true",
        help="kill while a send is in flight: at the first sendMessage/copyMessage the fake "
        "performs after the kill moment, before the bot gets the answer",
    )
    parser.add_argument("--quick", action="store_true", help="smaller numbers for a CI smoke run")
    parser.add_argument(
        "--allow-loss", action="store_true", help="exit 0 whatever was lost (for measuring)"
    )
    parser.add_argument(
        "--group-limit",
        action="store_true",
        help="keep PTB's 20 messages/minute per group in the bot (the run then takes minutes)",
    )
    parser.add_argument(
        "--bot-root",
        help="run the bot's code from this directory (e.g. an exported older version)",
    )
    parser.add_argument("--bot-log-level", default="INFO", help="HELPDESK_LOG_LEVEL of the bot")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temp dir, the bot log, the PG database"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines, no timeline")
    return parser.parse_args(list(argv) if argv is not None else None)


def main(argv: Iterable[str] | None = None) -> int:
    args = parse_args(argv)
    return asyncio.run(Drill(args).run())


if __name__ == "__main__":
    raise SystemExit(main())
