"""The bot's one HTTP server (aiohttp): the Telegram webhook, review events, health and metrics.

* ``POST <webhook path>`` (webhook mode only): Telegram's updates. A request without the right
  ``X-Telegram-Bot-Api-Secret-Token`` (compared in constant time) is ``403`` and goes nowhere. The
  update is parsed with ``Update.de_json`` and put on ``application.update_queue`` — PTB's way for
  custom webhook servers (its ``customwebhookbot`` example) — and answered ``200`` at once; the
  Application processes it like a polled one.
* ``POST /api/v1/review-events``: reminders/http.py's handler, unchanged (``503`` without a token).
* ``GET /healthz``: ``200`` ``{"database_reachable": true, "faq_entries": n, "mode": ...}``, or
  ``503`` with ``false`` when the database does not answer ``SELECT 1`` within a few seconds.
* ``GET /metrics``: Prometheus text format (bot/metrics.py).

Built and started by the composition root (bot/app.py) in both modes.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from dataclasses import dataclass

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot import metrics
from bot.db import Database
from bot.inbox_queue import InboxQueue
from faq.service import FaqIndex
from reminders.http import MAX_BODY_BYTES, Listener, ReviewEventsApi

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
HEALTH_TIMEOUT_SECONDS = 5.0  # a database slower than this is as good as down for a probe
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Webhook:
    path: str
    secret: str


class WebServer(Listener):
    """One aiohttp application and its listener, started in post_init and stopped in
    post_shutdown."""

    def __init__(
        self,
        *,
        application: Application,  # type: ignore[type-arg]
        db: Database,
        faq: FaqIndex,
        review_api: ReviewEventsApi,
        host: str,
        port: int,
        webhook: Webhook | None = None,
        reuse_port: bool = False,
        own_port: int | None = None,
    ) -> None:
        self.application = application
        self.db = db
        self.faq = faq
        self.review_api = review_api
        super().__init__(host=host, port=port, reuse_port=reuse_port, own_port=own_port)
        self.webhook = webhook
        self._secret = webhook.secret.encode() if webhook else b""

    def make_app(self) -> web.Application:
        # The review-events limit bounds every body; a Telegram update is far smaller.
        app = web.Application(client_max_size=max(self.review_api.max_body_bytes, MAX_BODY_BYTES))
        if self.webhook is not None:
            app.router.add_post(self.webhook.path, self.handle_update)
        self.review_api.add_routes(app)
        app.router.add_get(HEALTH_PATH, self.serve_health)
        app.router.add_get(METRICS_PATH, self.serve_metrics)
        return app

    # --- handlers ---------------------------------------------------------------------------

    async def handle_update(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            metrics.webhook_request("forbidden")
            return web.json_response({"error": "missing or wrong secret token"}, status=403)
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise TypeError(f"expected a JSON object, got {type(data).__name__}")
            update = Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # Telegram never sends this; a 400 says so to whoever did, without a traceback.
            metrics.webhook_request("invalid")
            logger.warning("webhook request with an unusable update: %s", exc)
            return web.json_response({"error": "not a Telegram update"}, status=400)
        self.application.bot.insert_callback_data(update)  # as PTB's own webhook server does
        queue = self.application.update_queue
        try:
            # Stored before the 200 (bot/inbox_queue.py): after it Telegram forgets the update.
            if isinstance(queue, InboxQueue):
                await queue.put_once(update)
            else:
                await queue.put(update)
        except Exception as exc:
            # Telegram sends it again later; meanwhile the log says why.
            metrics.webhook_request("unavailable")
            logger.warning("webhook update %s not stored: %s", update.update_id, exc)
            return web.json_response({"error": "try again later"}, status=503)
        metrics.webhook_request("accepted")
        return web.Response(status=200)  # at once: Telegram waits for this before the next one

    async def serve_health(self, request: web.Request) -> web.Response:
        reachable = await self._database_reachable()
        body = {
            "database_reachable": reachable,
            "faq_entries": len(self.faq),
            "mode": "webhook" if self.webhook else "polling",
        }
        return web.json_response(body, status=200 if reachable else 503, dumps=json.dumps)

    async def serve_metrics(self, request: web.Request) -> web.Response:
        text = metrics.render(faq_entries=len(self.faq))
        return web.Response(body=text.encode(), headers={"Content-Type": METRICS_CONTENT_TYPE})

    async def _database_reachable(self) -> bool:
        try:
            await asyncio.wait_for(asyncio.to_thread(self.db.ping), HEALTH_TIMEOUT_SECONDS)
        except Exception as exc:  # any failure is "unreachable"; the log says which
            logger.warning("health check: the database is unreachable: %s", exc)
            return False
        return True
