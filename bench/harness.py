"""Reusable parts of the end-to-end benchmarks and drills: the fake Bot API server, the real bot as
a separate process, its memory, and a throwaway PostgreSQL server.

Everything runs on 127.0.0.1. Typical use (inside one asyncio event loop, which also serves the
fake)::

    async with RecordingTelegram(TOKEN) as fake:         # the fake Bot API, in this process
        fake.on_call = lambda record, at: ...             # every Bot API call the bot makes
        env = bot_env(fake, database_url)                 # HELPDESK_* for `python -m bot.cli run`
        bot = BotProcess.spawn(env, workdir=tmp)          # log in tmp/bot.log
        await bot.wait_ready(fake)                        # polling (or webhook) has begun
        ...                                               # fake.user_sends_text(...) etc.
        print(bot.rss_mb())                               # VmRSS of the bot process
        await bot.stop()                                  # SIGTERM, then SIGKILL after a timeout

``bot.kill()`` is SIGKILL at once (a crash). For PostgreSQL::

    with start_postgres(port=54351) as pg:                # initdb + pg_ctl in a temp dir
        url = create_database(pg.url)                     # a fresh database on it
        ...
        drop_database(url)                                # or: with temporary_database(pg.url)

The bot process is started through a tiny launcher (``python -c``) that calls ``bot.cli.main``
exactly like ``python -m bot.cli run`` does; it only exists so a benchmark can profile it
(``profile_path=...``). ``unthrottled=True`` lifts the bot's overall outgoing rate limit with
its own setting, HELPDESK_MAX_MESSAGES_PER_SECOND=0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.fakeapi import CallRecord, FakeTelegram  # noqa: E402

__all__ = [
    "BotProcess",
    "Postgres",
    "RecordingTelegram",
    "bot_env",
    "create_database",
    "drop_database",
    "free_port",
    "rss_mb",
    "start_postgres",
    "temporary_database",
]

WEBHOOK_SECRET = "bench-webhook-secret"
WEBHOOK_PUBLIC_URL = "https://bench.invalid/telegram"  # never called: the harness delivers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """VmRSS of a process in MiB, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


# --- the fake Bot API ----------------------------------------------------------------------------


class RecordingTelegram(FakeTelegram):
    """:class:`bot.fakeapi.FakeTelegram` with two hooks for load tests.

    * ``on_call(record, at)``: called for every Bot API call the bot makes (not getUpdates) as the
      fake records it, with ``at`` = ``time.perf_counter()`` of that moment.
    * ``deliver(update)``: when set, updates the fake creates (``user_sends_text`` and friends)
      are handed to it instead of being queued for getUpdates — for webhook mode, where the
      harness POSTs them to the bot (see :meth:`BotProcess.post_update`).

    ``keep_log=False`` stops the fake from keeping every call in ``log`` (a long load test would
    otherwise hold all of them); ``wait_for``/``next_reply`` then see nothing. ``latency``
    (seconds) delays every Bot API answer, like the round trip to the real Telegram.
    """

    def __init__(
        self, *args: Any, keep_log: bool = True, latency: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.on_call: Callable[[CallRecord, float], None] | None = None
        self.deliver: Callable[[dict[str, Any]], None] | None = None
        self.keep_log = keep_log
        self.latency = latency

    async def _handle_api(self, request: Any) -> Any:
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        return await super()._handle_api(request)

    def _record(self, method: str, params: dict[str, Any], **kwargs: Any) -> None:
        before = len(self.log)
        super()._record(method, params, **kwargs)
        if len(self.log) == before:
            return  # getUpdates
        record = self.log[-1]
        if not self.keep_log:
            self.log.pop()
        if self.on_call is not None:
            self.on_call(record, time.perf_counter())

    def push_update(self, update: Mapping[str, Any]) -> dict[str, Any]:
        if self.deliver is None:
            return super().push_update(update)
        self._last_update_id += 1
        delivered = dict(update) | {"update_id": self._last_update_id}
        self.deliver(delivered)
        return delivered


def bot_env(
    fake: FakeTelegram,
    database_url: str,
    *,
    webhook_port: int | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for ``python -m bot.cli run`` against ``fake``: polling, or with
    ``webhook_port`` webhook mode served on 127.0.0.1:webhook_port at ``/telegram`` with the
    secret :data:`WEBHOOK_SECRET`. Inherits os.environ minus other HELPDESK_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(
        {
            "HELPDESK_BOT_TOKEN": fake.token,
            "HELPDESK_TELEGRAM_API_URL": fake.api_url,
            "HELPDESK_DATABASE_URL": database_url,
            "HELPDESK_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    if webhook_port is not None:
        env.update(
            {
                "HELPDESK_WEBHOOK_URL": WEBHOOK_PUBLIC_URL,
                "HELPDESK_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "HELPDESK_HTTP_HOST": "127.0.0.1",
                "HELPDESK_HTTP_PORT": str(webhook_port),
            }
        )
    env.update(extra or {})
    return env


# --- the bot process -----------------------------------------------------------------------------

_LAUNCHER = """
import sys
from bot.cli import main
if not {profile!r}:
    sys.exit(main(["run"]))
try:
    import yappi  # every thread (the database runs in worker threads), CPU time
except ImportError:
    yappi = None
if yappi is None:
    import cProfile
    profiler = cProfile.Profile()
    code = profiler.runcall(main, ["run"])
    profiler.dump_stats({profile!r})
else:
    yappi.set_clock_type("cpu")
    yappi.start(builtins=True)
    code = main(["run"])
    yappi.stop()
    yappi.get_func_stats().save({profile!r}, type="pstat")
sys.exit(code)
"""


@dataclass
class BotProcess:
    """The real bot, ``bot.cli.main(["run"])``, as a child process; its output goes to ``log``."""

    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]

    @classmethod
    def spawn(
        cls,
        env: Mapping[str, str],
        *,
        workdir: Path,
        unthrottled: bool = False,
        profile_path: Path | None = None,
    ) -> BotProcess:
        """Start the bot in ``workdir`` (its log: ``workdir/bot.log``, appended).

        ``unthrottled``: without the bot's overall outgoing rate limit (29 messages/s, see
        bot/outbox_sender.py), to measure what the bot itself can do. ``profile_path``: profile
        the bot and write pstats there on a clean stop — with yappi (CPU time, every thread) when
        it is installed (``pip install yappi``, not a project dependency), else cProfile (the
        event-loop thread only).
        """
        workdir.mkdir(parents=True, exist_ok=True)
        log = workdir / "bot.log"
        code = _LAUNCHER.format(profile=str(profile_path) if profile_path else "")
        env = dict(env)
        if unthrottled:
            env["HELPDESK_MAX_MESSAGES_PER_SECOND"] = "0"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", code],
                cwd=workdir,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return cls(proc, log, dict(env))

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def webhook_url(self) -> str | None:
        """Where the bot serves its webhook (webhook mode), else None."""
        port = self.env.get("HELPDESK_HTTP_PORT")
        if "HELPDESK_WEBHOOK_URL" not in self.env or not port:
            return None
        return f"http://127.0.0.1:{port}/telegram"

    def rss_mb(self) -> float:
        return rss_mb(self.pid)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    async def wait_ready(self, fake: FakeTelegram, timeout: float = 60.0) -> None:
        """Wait until the bot takes updates: it long-polls the fake (polling mode) or has
        registered its webhook (webhook mode: its HTTP server is listening by then).
        Raises RuntimeError if it exits first, TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        webhook = self.webhook_url is not None
        while not (fake.webhook_url if webhook else fake.poll_count > 0):
            if not self.alive:
                raise RuntimeError(
                    f"the bot exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"the bot was not ready within {timeout}s:\n{self.log_tail()}")
            await asyncio.sleep(0.05)

    async def post_update(self, session: Any, update: Mapping[str, Any]) -> int:
        """POST one update to the bot's webhook as Telegram does (``session``: an
        aiohttp.ClientSession); returns the HTTP status."""
        url = self.webhook_url
        if url is None:
            raise RuntimeError("the bot is not in webhook mode")
        headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
        async with session.post(url, json=update, headers=headers) as response:
            await response.read()
            return int(response.status)

    async def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (the bot's clean stop), SIGKILL if it is still running after ``timeout``.
        Async so that an in-process fake keeps answering the bot's last calls."""
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.alive and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.alive:
            self.kill()
        return self.proc.wait()

    def kill(self) -> int:
        """SIGKILL: the bot dies without any clean-up (a crash)."""
        if self.alive:
            self.proc.kill()
        return self.proc.wait()


# --- PostgreSQL ----------------------------------------------------------------------------------


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster (see :func:`start_postgres`); ``url`` is its admin URL."""

    url: str
    data_dir: Path
    bin_dir: Path
    _tmp: Path
    _as_postgres: bool

    def stop(self) -> None:
        """Stop the server at once and delete its files."""
        with contextlib.suppress(subprocess.CalledProcessError):
            _pg_run(self, "pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "stop")
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Postgres:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _pg_bin() -> Path:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError("PostgreSQL (initdb, pg_ctl) not found: apt-get install postgresql")


def _pg_run(pg: Postgres, tool: str, *args: str) -> None:
    cmd = [str(pg.bin_dir / tool), *args]
    if pg._as_postgres:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def start_postgres(port: int = 54351, *, max_connections: int = 200) -> Postgres:
    """initdb + pg_ctl start in a temp dir, on 127.0.0.1:port, trust auth, no fsync (throwaway
    data), as .ci/test-postgres does; as root the cluster belongs to the ``postgres`` user.
    Stop it with :meth:`Postgres.stop` (or use it as a context manager)."""
    bin_dir = _pg_bin()
    tmp = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    as_postgres = os.geteuid() == 0
    if as_postgres:
        shutil.chown(tmp, "postgres")
    pg = Postgres(
        url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
        data_dir=tmp / "data",
        bin_dir=bin_dir,
        _tmp=tmp,
        _as_postgres=as_postgres,
    )
    options = (
        f"-p {port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off "
        f"-c synchronous_commit=off -c full_page_writes=off -c max_connections={max_connections}"
    )
    try:
        _pg_run(pg, "initdb", "-D", str(pg.data_dir), "-U", "postgres", "-A", "trust",
                "--no-sync", "-E", "UTF8", "--locale=C.UTF-8")  # fmt: skip
        _pg_run(pg, "pg_ctl", "-D", str(pg.data_dir), "-l", str(tmp / "server.log"), "-w",
                "-o", options, "start")  # fmt: skip
    except subprocess.CalledProcessError as exc:
        log = tmp / "server.log"
        detail = log.read_text() if log.exists() else exc.stderr.decode(errors="replace")
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL on port {port}:\n{detail}") from None
    return pg


def create_database(server_url: str, name: str | None = None) -> str:
    """Create a fresh database on the server of ``server_url`` (a postgresql+psycopg URL);
    returns the URL of the new database."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    url = make_url(server_url)
    database = name or f"helpdesk_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
    finally:
        admin.dispose()
    return url.set(database=database).render_as_string(hide_password=False)


def drop_database(database_url: str) -> None:
    """Drop the database of ``database_url`` (connections to it are terminated)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    url = make_url(database_url)
    admin = create_engine(
        url.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextlib.contextmanager
def temporary_database(server_url: str) -> Iterator[str]:
    """A fresh database on the server for the duration of the block, dropped after it."""
    url = create_database(server_url)
    try:
        yield url
    finally:
        drop_database(url)
