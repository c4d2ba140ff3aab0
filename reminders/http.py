"""``POST /api/v1/review-events``: the platform pushes review-item events to the bot's process.

Contract (the department's scripts depend on it):

* ``Authorization: Bearer <HELPDESK_API_TOKEN>``, compared in constant time. Missing or wrong →
  ``401``. A server built without a token answers ``503`` to everything (the composition root
  does not even listen without a token, see bot/app.py).
* Body: one JSON event or a JSON list of events, UTF-8, at most :data:`MAX_BODY_BYTES`
  (``413`` beyond) and :data:`MAX_EVENTS` events. Fields as in :mod:`reminders.intake`.
* ``200`` ``{"created": n, "updated": n, "unchanged": n, "stale": n, "returned": n,
  "stale_refs": [...]}`` when applied. Applying is idempotent: sending the same events again
  changes nothing (``unchanged``), an event older than the item's newest is ``stale``.
* ``400`` ``{"error": "...", "events": [{"index": i, "problems": [...]}]}`` when the body is not
  JSON or any event is invalid; then nothing is applied.
* Other methods → ``405``; other paths → ``404`` (aiohttp's defaults).

The handler runs the database work in a worker thread like the bot's handlers do.
"""

from __future__ import annotations

import hmac
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.clock import Clock
from bot.db import Database
from reminders.intake import DuePolicy, EventsRejected, IntakeChanges, import_events_json

logger = logging.getLogger(__name__)

PATH = "/api/v1/review-events"
MAX_BODY_BYTES = 1024 * 1024  # ~2,000 events of typical size; exports go through files
MAX_EVENTS = 5000


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response(
        {"error": message, **extra},
        status=status,
        dumps=lambda value: json.dumps(value, ensure_ascii=False),
    )


class Listener(ABC):
    """An aiohttp application on its own TCP listener: subclasses provide :meth:`make_app`.
    Port 0 binds a free port; :attr:`port` then tells which. ``reuse_port`` lets several
    processes listen on one port (bot/workers.py); ``own_port`` is a second listener of this
    process alone."""

    def __init__(
        self, *, host: str, port: int, reuse_port: bool = False, own_port: int | None = None
    ) -> None:
        self.host, self._port = host, port
        self.reuse_port, self.own_port = reuse_port, own_port
        self._runner: web.AppRunner | None = None

    @abstractmethod
    def make_app(self) -> web.Application:
        """The application with this listener's routes."""

    async def start(self) -> None:
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(
            self._runner, self.host, self._port, reuse_port=self.reuse_port or None
        ).start()
        if self.own_port is not None:
            await web.TCPSite(self._runner, self.host, self.own_port).start()
        paths = ", ".join(dict.fromkeys(r.canonical for r in self._runner.app.router.resources()))
        logger.info("HTTP server listening on %s (%s)", self.base_url, paths)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        """The bound port (the real one when started with port 0)."""
        if self._runner is not None:
            for address in self._runner.addresses:
                return int(address[1])
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class ReviewEventsApi(Listener):
    """The endpoint as routes for an aiohttp application (:meth:`add_routes`), or as an
    application with its own listener (:meth:`start`/:meth:`stop`, used standalone and in tests)."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        policy: DuePolicy,
        token: str | None,
        host: str = "127.0.0.1",
        port: int = 8080,
        max_body_bytes: int = MAX_BODY_BYTES,
        after_intake: Callable[[IntakeChanges], None] | None = None,
        engine_config: object | None = None,
    ) -> None:
        self.engine_config = engine_config  # reminders.engine's config, passed to on_intake
        self.db, self.clock, self.policy = db, clock, policy
        self._token = token.encode() if token else None
        super().__init__(host=host, port=port)
        self.max_body_bytes = max_body_bytes
        self.after_intake = after_intake  # e.g. kick the outbox sender

    def make_app(self) -> web.Application:
        # client_max_size guards chunked bodies too; Content-Length is checked first for a
        # JSON answer without reading anything.
        app = web.Application(client_max_size=self.max_body_bytes)
        self.add_routes(app)
        return app

    def add_routes(self, app: web.Application) -> None:
        """Serve the endpoint from another aiohttp application (the bot's one HTTP server, see
        bot/web.py); that application's ``client_max_size`` should be ``max_body_bytes``."""
        app.router.add_post(PATH, self.handle)

    @property
    def url(self) -> str:
        return f"{self.base_url}{PATH}"

    def _authorised(self, request: web.Request) -> bool:
        assert self._token is not None
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), self._token)

    async def handle(self, request: web.Request) -> web.Response:
        if self._token is None:
            return _error(503, "disabled: HELPDESK_API_TOKEN is not set on the helpdesk")
        if not self._authorised(request):
            response = _error(401, "missing or wrong bearer token")
            response.headers["WWW-Authenticate"] = 'Bearer realm="helpdesk"'
            return response
        if request.content_length is not None and request.content_length > self.max_body_bytes:
            return _too_large(self.max_body_bytes)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _too_large(self.max_body_bytes)
        try:
            payload = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            return _error(400, "the body is not UTF-8")
        except json.JSONDecodeError as exc:
            return _error(400, f"malformed JSON: {exc}")
        except (ValueError, RecursionError):
            # Valid JSON beyond the decoder's limits: an integer of more than 4300 digits
            # (ValueError) or arrays/objects nested deeper than the recursion limit.
            return _error(400, "malformed JSON: a number or a nesting depth beyond the limits")
        if not isinstance(payload, dict | list):
            return _error(400, "expected one event (a JSON object) or a JSON list of events")
        if isinstance(payload, list) and len(payload) > MAX_EVENTS:
            return _error(400, f"at most {MAX_EVENTS} events per request")
        try:
            changes = await self.db.run(
                import_events_json,
                payload,
                now=self.clock.now(),
                policy=self.policy,
                engine_config=self.engine_config,
            )
        except EventsRejected as exc:
            events = [{"index": r.index, "problems": r.problems} for r in exc.rejected]
            return _error(400, "invalid events; nothing was applied", events=events)
        if self.after_intake is not None:
            self.after_intake(changes)
        return web.json_response({**changes.counts(), "stale_refs": changes.stale})


def _too_large(limit: int) -> web.Response:
    return _error(413, f"the body is larger than {limit} bytes; send fewer events per request")
