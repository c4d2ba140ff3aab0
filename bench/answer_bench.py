"""End-to-end answering: the real bot process answering questions through the fake Bot API.

    .venv/bin/python bench/answer_bench.py                  # SQLite, polling, production limits
    .venv/bin/python bench/answer_bench.py --unthrottled    # without the 29 messages/s limiter
    .venv/bin/python bench/answer_bench.py --postgres       # a throwaway PostgreSQL 15 cluster
    .venv/bin/python bench/answer_bench.py --database-url postgresql+psycopg://u@host/postgres
    .venv/bin/python bench/answer_bench.py --webhook        # updates POSTed to the bot's webhook
    .venv/bin/python bench/answer_bench.py --quick          # a short smoke run

What runs where. The fake Bot API server (bench/harness.py's ``RecordingTelegram``) runs in this
process, on 127.0.0.1; the bot is ``bot.cli.main(["run"])`` in its own process, exactly as
``python -m bot.cli run`` (polling by default; ``--webhook`` = webhook mode, the updates POSTed to
the bot's HTTP server with the secret header, at most 40 at a time like Telegram's default
``max_connections``). The database is a fresh SQLite file in a temp dir unless told otherwise;
with a PostgreSQL URL a fresh database is created on that server for the run and dropped after.

What is measured. Questions are the FAQ catalogue's questions and alternatives plus typo'd
variants of them (dropped, swapped, doubled characters), only those the matcher answers outright,
asked by ``--users`` distinct users (ids from 7,000,001). Latency is from the moment an update is
created at the fake (and queued for getUpdates, or handed to the webhook poster) to the moment the
bot's sendMessage reply to that chat arrives at the fake; replies are matched to questions in
order per chat (the bot keeps each chat's order). Phases, one after another, each drained before
the next:

* open loop at a fixed rate (``--rates``, default 20/s for 15 s and 100/s for 10 s): questions are
  injected on schedule whether or not the bot keeps up;
* saturation: ``--backlog`` questions (default 3,000) injected at once; answered/s = answered /
  (last reply - injection).

"answered" counts replies that are FAQ answers (they carry the 👍/👎 buttons); "errors" counts
failed Bot API calls, replies that are not answers (an apology, a suggestion) and questions with
no reply within ``--drain-timeout`` seconds of silence. The CPU columns are the share of one core
used by the bot process and by this process (fake server + load generator) during the phase: when
this process is near 100 % the fake is the limit, not the bot. ``cpu_ms/q`` is the bot's CPU time
per answered question (all its threads): unlike the rates it hardly depends on what else runs on
the machine, and 1000 / cpu_ms/q is what one core could answer per second. ``--fake-capacity``
also measures how many sendMessage calls per second the fake alone serves to a separate client
process, and the fake's CPU time per call.

The bot's production rate limiter sends at most 29 messages/s overall (bot/outbox_sender.py, to
stay under Telegram's 30/s), handler replies included, so with production settings no rate above
29/s can be answered. ``--unthrottled`` starts the bot with that limiter lifted (via the harness
launcher; nothing in the bot changes) to measure the bot's own capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import (  # noqa: E402
    BotProcess,
    RecordingTelegram,
    bot_env,
    create_database,
    drop_database,
    free_port,
    rss_mb,
    start_postgres,
)

from bot.fakeapi import CallRecord  # noqa: E402
from bot.settings import BUNDLED_FAQ  # noqa: E402

TOKEN = "424242:ANSWER-BENCH"
FIRST_USER = 7_000_001
WEBHOOK_CONNECTIONS = 40  # Telegram's default max_connections for a webhook


# --- questions -----------------------------------------------------------------------------------


def _typos(text: str, rng: random.Random, count: int) -> list[str]:
    """Variants of ``text`` as people mistype it: a character dropped, two swapped, one doubled,
    the question mark left off."""
    out: list[str] = []
    stripped = text.rstrip("？?。.! ")
    if stripped != text:
        out.append(stripped)
    body = stripped
    for _ in range(count * 3):
        if len(out) >= count + 1 or len(body) < 4:
            break
        i = rng.randrange(1, len(body) - 1)
        kind = rng.choice(("drop", "swap", "double"))
        if kind == "drop":
            variant = body[:i] + body[i + 1 :]
        elif kind == "swap":
            variant = body[:i] + body[i + 1] + body[i] + body[i + 2 :]
        else:
            variant = body[:i] + body[i] + body[i:]
        if variant != body and variant not in out:
            out.append(variant)
    return out


def question_pool(catalogue: Path, *, seed: int = 5) -> list[tuple[str, str]]:
    """(text, language) of every catalogue question, alternative and typo'd variant that the
    matcher answers outright with its own entry (the bot's default thresholds)."""
    from bot.cli import index_from_file
    from bot.settings import Settings
    from faq.io import read_rows, validate
    from faq.models import split_alternatives

    rng = random.Random(seed)
    rows = validate(read_rows(catalogue))
    index = index_from_file(Settings(_env_file=None), catalogue)  # type: ignore[call-arg]
    pool: list[tuple[str, str]] = []
    for row in rows:
        phrasings = [row.question, *split_alternatives(row.alternatives)]
        for phrasing in phrasings:
            for text in [phrasing, *_typos(phrasing, rng, 2)]:
                match = index.match(text)
                if match.decision == "answer" and match.entry_id == row.id:
                    pool.append((text, row.lang))
    return pool


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    offered: str
    sent: int = 0
    answered: int = 0
    not_answers: int = 0
    failed_calls: int = 0
    lost: int = 0
    latencies: list[float] = field(default_factory=list)
    started: float = 0.0
    last_injected: float = 0.0
    last_reply: float = 0.0
    bot_cpu: float = 0.0  # share of one core
    own_cpu: float = 0.0
    bot_cpu_seconds: float = 0.0

    @property
    def errors(self) -> int:
        return self.not_answers + self.failed_calls + self.lost

    @property
    def span(self) -> float:
        return max(self.last_reply, self.last_injected) - self.started

    @property
    def rate(self) -> float:
        return self.answered / self.span if self.span > 0 else 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) and of its live child processes
    (HELPDESK_WORKERS' workers), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(child) for child in children(pid))


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


def rss_text(bot: BotProcess) -> str:
    """The bot's resident memory; with workers, each worker's (their pages of the memory-mapped
    word tables are shared, so the sum overstates what they take together)."""
    workers = children(bot.pid)
    if not workers:
        return f"{bot.rss_mb():.0f} MB"
    each = ", ".join(f"{rss_mb(pid):.0f}" for pid in workers)
    return f"{bot.rss_mb():.0f} MB supervisor; workers {each} MB"


async def wait_for_workers(port: int, count: int, timeout: float = 120) -> None:
    """Until worker k (1..count) answers /healthz on its own port (bot/workers.py): only then
    does the shared port spread connections over all of them."""
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        for k in range(1, count + 1):
            while True:
                try:
                    async with http.get(f"http://127.0.0.1:{port + k}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"worker {k} did not start within {timeout}s")
                await asyncio.sleep(0.1)


def _is_answer(record: CallRecord) -> bool:
    markup = (record.message or {}).get("reply_markup") or {}
    buttons = [b for row in markup.get("inline_keyboard", []) for b in row]
    return any(str(b.get("callback_data", "")).startswith("fb:") for b in buttons)


class Driver:
    """Injects questions as users and matches the bot's replies to them."""

    def __init__(
        self,
        fake: RecordingTelegram,
        bot: BotProcess,
        pool: list[tuple[str, str]],
        users: list[int],
        *,
        seed: int,
        webhook: bool,
    ) -> None:
        self.fake = fake
        self.bot = bot
        self.pool = pool
        self.users = users
        self.rng = random.Random(seed)
        self.pending: dict[int, deque[tuple[float, Phase]]] = {}
        self.outstanding = 0
        self.changed = asyncio.Event()
        self.phase: Phase | None = None
        self.webhook = webhook
        self._posts: set[asyncio.Task[None]] = set()
        self._session: Any = None
        self._slots = asyncio.Semaphore(WEBHOOK_CONNECTIONS)
        fake.on_call = self.on_call
        if webhook:
            fake.deliver = self._deliver

    async def __aenter__(self) -> Driver:
        if self.webhook:
            import aiohttp

            connector = aiohttp.TCPConnector(limit=WEBHOOK_CONNECTIONS)
            self._session = aiohttp.ClientSession(connector=connector)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._posts:
            await asyncio.gather(*self._posts, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def on_call(self, record: CallRecord, at: float) -> None:
        if record.method != "sendMessage" or not isinstance(record.chat_id, int):
            return
        queue = self.pending.get(record.chat_id)
        if not queue:
            return
        _injected, phase = queue.popleft()
        self.outstanding -= 1
        phase.last_reply = at
        if not record.ok:
            phase.failed_calls += 1
        elif _is_answer(record):
            phase.answered += 1
            phase.latencies.append(at - _injected)
        else:
            phase.not_answers += 1
        self.changed.set()

    def _deliver(self, update: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._post(update))
        self._posts.add(task)
        task.add_done_callback(self._posts.discard)

    async def _post(self, update: dict[str, Any]) -> None:
        async with self._slots:
            try:
                status = await self.bot.post_update(self._session, update)
            except Exception:  # a refused connection is an error like a 5xx
                status = 0
        if status != 200 and self.phase is not None:
            self.phase.failed_calls += 1

    def ask(self, phase: Phase, user: int | None = None) -> None:
        text, _lang = self.rng.choice(self.pool)
        user = user if user is not None else self.rng.choice(self.users)
        now = time.perf_counter()
        self.pending.setdefault(user, deque()).append((now, phase))
        self.outstanding += 1
        phase.sent += 1
        phase.last_injected = now
        self.fake.user_sends_text(user, text)

    async def drain(self, phase: Phase, idle_timeout: float) -> None:
        """Wait until every question has its reply, or nothing arrived for idle_timeout s."""
        while self.outstanding > 0:
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), idle_timeout)
            except TimeoutError:
                break
        for queue in self.pending.values():
            while queue:
                _t, lost_phase = queue.popleft()
                lost_phase.lost += 1
                self.outstanding -= 1

    async def run(self, phase: Phase, action: Any, idle_timeout: float) -> Phase:
        self.phase = phase
        bot_cpu, own_cpu = cpu_seconds(self.bot.pid), time.process_time()
        phase.started = time.perf_counter()
        await action()
        await self.drain(phase, idle_timeout)
        wall = time.perf_counter() - phase.started
        phase.bot_cpu_seconds = cpu_seconds(self.bot.pid) - bot_cpu
        phase.bot_cpu = phase.bot_cpu_seconds / wall
        phase.own_cpu = (time.process_time() - own_cpu) / wall
        return phase

    async def open_loop(self, phase: Phase, rate: float, duration: float) -> None:
        total = round(rate * duration)
        start = time.perf_counter()
        for n in range(total):
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            self.ask(phase)

    async def backlog(self, phase: Phase, count: int) -> None:
        for n in range(count):
            self.ask(phase, self.users[n % len(self.users)])
            if n % 500 == 499:
                await asyncio.sleep(0)  # let the webhook poster start meanwhile


# --- the fake's own capacity ---------------------------------------------------------------------

_CLIENT = """
import asyncio, json, sys, time
import httpx
url, chats, total, conc = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
markup = {"inline_keyboard": [[{"text": "有帮助", "callback_data": "fb:1:u"},
                               {"text": "没帮助", "callback_data": "fb:1:d"}]]}
text = "<b>附件大小有什么限制？</b>\\n\\n" + "单个附件不超过10MB，每个栏目最多上传20个文件。" * 4
async def main():
    limits = httpx.Limits(max_connections=conc)
    async with httpx.AsyncClient(limits=limits) as client:
        done = 0
        async def worker(k):
            nonlocal done
            while done < total:
                done += 1
                data = {"chat_id": chats[done % len(chats)], "text": text, "parse_mode": "HTML",
                        "reply_markup": json.dumps(markup)}
                r = await client.post(url, data=data)
                r.raise_for_status()
        start = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(conc)))
        print(total / (time.perf_counter() - start))
asyncio.run(main())
"""


async def fake_capacity(
    fake: RecordingTelegram, users: list[int], total: int
) -> tuple[float, float]:
    """sendMessage calls per second the fake serves to a PTB-like client (httpx, form-encoded,
    16 connections) in another process, and the fake's CPU milliseconds per call."""
    cpu = time.process_time()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CLIENT,
        f"{fake.api_url}{fake.token}/sendMessage",
        json.dumps(users[:50]),
        str(total),
        "16",
        stdout=subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError("the fake-capacity client failed")
    cpu_ms = (time.process_time() - cpu) * 1000 / total
    return float(out.decode().strip()), cpu_ms


# --- the run -------------------------------------------------------------------------------------


def parse_rates(text: str) -> list[tuple[float, float]]:
    """Parse "20:15,100:10" -> [(20.0, 15.0), (100.0, 10.0)] (rate per second : seconds)."""
    rates = []
    for part in text.split(","):
        rate, _, seconds = part.partition(":")
        rates.append((float(rate), float(seconds or 10)))
    return rates


def report(args: argparse.Namespace, phases: list[Phase], info: dict[str, Any]) -> None:
    print()
    for key, value in info.items():
        print(f"{key}: {value}")
    print()
    header = (
        f"{'phase':<11} {'offered':>9} {'sent':>6} {'answered':>8} {'ans/s':>7} "
        f"{'p50_ms':>8} {'p99_ms':>8} {'max_ms':>8} {'errors':>6} {'bot_cpu':>7} {'fake_cpu':>8} "
        f"{'cpu_ms/q':>8}"
    )
    print(header)
    for p in phases:
        lat = [x * 1000 for x in p.latencies]
        worst = max(lat) if lat else float("nan")
        print(
            f"{p.name:<11} {p.offered:>9} {p.sent:>6} {p.answered:>8} {p.rate:>7.1f} "
            f"{percentile(lat, 50):>8.1f} {percentile(lat, 99):>8.1f} {worst:>8.1f} "
            f"{p.errors:>6} {p.bot_cpu:>6.0%} {p.own_cpu:>7.0%} "
            f"{p.bot_cpu_seconds * 1000 / max(p.answered, 1):>8.1f}"
        )
        if p.errors:
            print(
                f"{'':<11} errors: {p.failed_calls} failed calls, {p.not_answers} replies that "
                f"were not answers, {p.lost} without a reply"
            )


async def bench(args: argparse.Namespace, database_url: str, workdir: Path) -> None:
    pool = question_pool(args.catalogue)
    users = [FIRST_USER + n for n in range(args.users)]
    info: dict[str, Any] = {
        "database": database_url.split("://", 1)[0],
        "mode": "webhook" if args.webhook else "polling",
        "workers": str(args.workers),
        "outgoing limit": "off (--unthrottled)" if args.unthrottled else "production (29 msg/s)",
        "questions": f"{len(pool)} distinct answerable texts, {len(users)} users",
    }
    latency = args.api_latency_ms / 1000
    if latency:
        info["Bot API latency"] = f"{args.api_latency_ms:g} ms added to every call"
    async with RecordingTelegram(TOKEN, keep_log=False, latency=latency) as fake:
        for n, user in enumerate(users):
            fake.add_user(user, f"User {n}", language_code="en" if n % 5 == 0 else "zh-hans")
        webhook_port = free_port() if args.webhook else None
        env = bot_env(fake, database_url, webhook_port=webhook_port)
        env["HELPDESK_WORKERS"] = str(args.workers)
        t0 = time.perf_counter()
        bot = BotProcess.spawn(
            env, workdir=workdir, unthrottled=args.unthrottled, profile_path=args.profile
        )
        try:
            await bot.wait_ready(fake, timeout=120)
            if args.workers > 1 and webhook_port is not None:
                await wait_for_workers(webhook_port, args.workers)
            async with Driver(
                fake, bot, pool, users, seed=args.seed, webhook=args.webhook
            ) as driver:
                warm = await driver.run(Phase("warm-up", "1"), _one(driver), args.drain_timeout)
                if warm.answered != 1:
                    raise RuntimeError(f"the bot did not answer the first question:\n"
                                       f"{bot.log_tail()}")  # fmt: skip
                info["ready + first answer"] = f"{time.perf_counter() - t0:.1f} s after spawn"
                info["bot RSS after start"] = rss_text(bot)
                phases = []
                for rate, seconds in parse_rates(args.rates):
                    phase = Phase(f"{rate:g}/s", f"{rate:g}/s")
                    phases.append(
                        await driver.run(
                            phase, _open(driver, phase, rate, seconds), args.drain_timeout
                        )
                    )
                if args.backlog:
                    phase = Phase("saturation", f"{args.backlog} now")
                    phases.append(
                        await driver.run(
                            phase, _backlog(driver, phase, args.backlog), args.drain_timeout
                        )
                    )
                info["bot RSS after the load"] = rss_text(bot)
                if args.fake_capacity:
                    fake.on_call = None
                    rate, cpu_ms = await fake_capacity(fake, users, args.fake_capacity)
                    info["fake server alone"] = (
                        f"{rate:.0f} sendMessage calls/s to one httpx client process; "
                        f"{cpu_ms:.2f} ms CPU per call (= {1000 / cpu_ms:.0f}/s on one core)"
                    )
        finally:
            code = await bot.stop()
        if code != 0:
            print(f"warning: the bot exited with {code}; its log: {bot.log}", file=sys.stderr)
        log_lines = bot.log.read_text(errors="replace").splitlines()
        problems = [line for line in log_lines if " ERROR " in line or "Traceback" in line]
        info["bot log"] = f"{len(problems)} ERROR/Traceback lines ({bot.log})"
    report(args, phases, info)


def _one(driver: Driver) -> Any:
    async def action() -> None:
        assert driver.phase is not None
        driver.ask(driver.phase, driver.users[0])

    return action


def _open(driver: Driver, phase: Phase, rate: float, seconds: float) -> Any:
    return lambda: driver.open_loop(phase, rate, seconds)


def _backlog(driver: Driver, phase: Phase, count: int) -> Any:
    return lambda: driver.backlog(phase, count)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="End-to-end answering through the fake Bot API (see the module docstring)."
    )
    db = parser.add_mutually_exclusive_group()
    db.add_argument(
        "--database-url",
        help="SQLAlchemy URL; a postgresql+psycopg URL names a server (a fresh database is "
        "created on it for the run). Default: a fresh SQLite file in a temp dir",
    )
    db.add_argument(
        "--postgres",
        action="store_true",
        help="start a throwaway PostgreSQL cluster (initdb, port --pg-port) for the run",
    )
    parser.add_argument("--pg-port", type=int, default=54351)
    parser.add_argument("--webhook", action="store_true", help="webhook mode instead of polling")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="HELPDESK_WORKERS: bot processes sharing the webhook port (implies --webhook)",
    )
    parser.add_argument(
        "--unthrottled",
        action="store_true",
        help="lift the bot's 29 messages/s outgoing limit (measures the bot's own capacity)",
    )
    parser.add_argument(
        "--api-latency-ms",
        type=float,
        default=0.0,
        help="delay every Bot API answer this long, like the round trip to the real Telegram",
    )
    parser.add_argument("--rates", default="20:15,100:10", help="RATE:SECONDS,... (open loop)")
    parser.add_argument("--backlog", type=int, default=3000, help="saturation backlog (0 = skip)")
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--drain-timeout", type=float, default=15.0, metavar="SECONDS")
    parser.add_argument(
        "--fake-capacity",
        type=int,
        default=3000,
        metavar="N",
        help="also time N sendMessage calls against the fake alone (0 = skip)",
    )
    parser.add_argument("--catalogue", type=Path, default=BUNDLED_FAQ)
    parser.add_argument("--profile", type=Path, help="run the bot under cProfile, stats here")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (bot log, db)")
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.rates, args.backlog, args.users = "20:3,100:2", 300, 50
        args.fake_capacity = min(args.fake_capacity, 500)
    if args.profile:
        args.profile = args.profile.resolve()
    if args.workers > 1:
        args.webhook = True
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="answer-bench-"))
    pg = None
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    created = None
    try:
        if args.postgres:
            pg = start_postgres(args.pg_port)
            database_url = pg.url
        if database_url.startswith("postgresql"):
            created = database_url = create_database(database_url)
        asyncio.run(bench(args, database_url, workdir))
        if args.profile and args.profile.exists():
            import pstats

            print(f"\nthe bot's profile ({args.profile}), top functions by own time:")
            pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(25)
    finally:
        if created is not None:
            drop_database(created)
        if pg is not None:
            pg.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
