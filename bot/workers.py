"""Several bot processes on one host: ``HELPDESK_WORKERS`` > 1, webhook mode only.

Python runs one thread of Python code at a time per process, so one bot process uses one core
however many the machine has (bench/RESULTS.md: the bot is CPU-bound at one core at saturation).
With ``HELPDESK_WORKERS=N``, ``helpdesk run`` becomes a small supervisor that starts N workers,
``python -m bot.cli run --worker k`` for k = 1..N, each an ordinary webhook-mode bot:

* All of them listen on ``HELPDESK_HTTP_PORT`` with ``SO_REUSEPORT``: the kernel spreads incoming
  connections over them, so Telegram's webhook connections (up to its ``max_connections``, 40 by
  default) land on different workers, as behind a load balancer.
* Worker k also listens alone on ``HELPDESK_HTTP_PORT + k``: a scrape of the shared port reaches
  any one worker, so Prometheus scrapes each worker's ``/metrics`` at its own port.
* Worker k is an instance of its own, named ``<instance name>/w<k>`` (bot/app.py
  ``instance_name``): stable across its restarts, so a restarted worker takes back at once the
  updates it had stored and not finished. Everything several instances on one database must not
  do twice (reminders, relays, the outbox) is already claimed row by row (bot/outbox.py,
  bot/inbox.py), so workers need nothing else from each other.

Supervision. A worker that exits during its first :data:`START_GRACE` seconds shares its cause with
the others (port taken, database unreachable, bad data): the supervisor stops them all and exits 1,
with the worker's own log lines above saying why. A worker that dies later (killed, out of memory)
is started again after :data:`RESTART_DELAY` seconds, doubling up to :data:`MAX_RESTART_DELAY`
while it keeps dying within a minute; what it held is handed back to it by the inbox. SIGTERM or
SIGINT is passed on to every worker, which finishes the updates it has (as a single process does);
after :data:`STOP_TIMEOUT` seconds stragglers are killed (their stored updates wait in the inbox).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

logger = logging.getLogger(__name__)

START_GRACE = 30.0  # seconds a worker must run before its death counts as a crash, not a bad start
RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 60.0
STABLE_AFTER = 60.0  # a worker that ran this long starts again with the shortest delay
STOP_TIMEOUT = 30.0
POLL_SECONDS = 0.2


def worker_command(k: int) -> list[str]:
    """The command line of worker k: this Python, this code, the same environment and ``.env``."""
    return [sys.executable, "-m", "bot.cli", "run", "--worker", str(k)]


@dataclass
class Worker:
    k: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ever_stable: bool = False  # has run past START_GRACE once
    delay: float = RESTART_DELAY
    restart_at: float | None = None


class Supervisor:
    """Starts, watches and stops the workers (see the module docstring). ``spawn`` and ``clock``
    are parameters so tests can start cheap stand-ins and keep their own time."""

    def __init__(
        self,
        count: int,
        *,
        spawn: Callable[[int], subprocess.Popen[bytes]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.workers = [Worker(k) for k in range(1, count + 1)]
        self._spawn = spawn or (lambda k: subprocess.Popen(worker_command(k)))
        self._clock, self._sleep = clock, sleep
        self._stopping = False

    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        self._stopping = True

    def run(self) -> int:
        """Until a stop is requested (0) or a worker fails to start (1)."""
        for worker in self.workers:
            self._start(worker)
        code = 0
        while not self._stopping:
            code = self.check()
            if code:
                break
            self._sleep(POLL_SECONDS)
        self.stop_all()
        return code

    def check(self) -> int:
        """One look at the workers: restart the dead ones that are due; 1 if one failed to start."""
        now = self._clock()
        for worker in self.workers:
            if worker.process is None:
                if worker.restart_at is not None and now >= worker.restart_at:
                    self._start(worker)
                continue
            ran = now - worker.started_at
            if ran >= START_GRACE:
                worker.ever_stable = True
            code = worker.process.poll()
            if code is None:
                continue
            worker.process = None
            if not worker.ever_stable:
                logger.error(
                    "worker %d exited with %s %.0f s after it started: stopping all workers",
                    worker.k,
                    code,
                    ran,
                )
                return 1
            worker.delay = RESTART_DELAY if ran >= STABLE_AFTER else worker.delay * 2
            worker.delay = min(worker.delay, MAX_RESTART_DELAY)
            worker.restart_at = now + worker.delay
            logger.warning(
                "worker %d exited with %s after %.0f s: starting it again in %.0f s",
                worker.k,
                code,
                ran,
                worker.delay,
            )
        return 0

    def stop_all(self) -> None:
        running = [w.process for w in self.workers if w.process is not None]
        for process in running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = self._clock() + STOP_TIMEOUT
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - self._clock()))
            except subprocess.TimeoutExpired:
                logger.warning("worker pid %d did not stop in time: killing it", process.pid)
                process.kill()
                process.wait()
        for worker in self.workers:
            worker.process = None

    def _start(self, worker: Worker) -> None:
        worker.process = self._spawn(worker.k)
        worker.started_at = self._clock()
        worker.restart_at = None
        logger.info("worker %d started (pid %d)", worker.k, worker.process.pid)


def supervise(count: int, *, signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT)) -> int:
    """``helpdesk run`` with HELPDESK_WORKERS > 1."""
    supervisor = Supervisor(count)
    for signum in signals:
        signal.signal(signum, supervisor.request_stop)
    logger.info("starting %d workers", count)
    return supervisor.run()
