"""The composition root: the one place that builds the Telegram application and wires the services.

``post_init`` prepares what the bot needs before its first update (schema migrations, the bundled
FAQ on first start, the FAQ index, the command menu, the HTTP server of bot/web.py and, in webhook
mode, the webhook); ``post_shutdown`` stops the server and releases the database. PTB calls both
from ``run_polling`` (polling mode); :func:`serve_webhook` (webhook mode), the tests and the sandbox
drive ``initialize``/``start`` themselves and call ``application.post_init(application)`` after
``initialize``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import Session
from telegram import BotCommand, BotCommandScope, BotCommandScopeChat, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder

from bot import bureau_bind, handlers, inbox_queue, reports, staff_faq
from bot.bureau_desk import ReminderDesk
from bot.bureau_desk import register as register_reminders
from bot.clock import Clock
from bot.context import CONTEXT_TYPES, HelpdeskContext, Services
from bot.db import Database
from bot.desk import Desk
from bot.desk import register as register_desk
from bot.migrations import lock_for_migrations
from bot.outbox_sender import smooth_rate_limiter
from bot.roles import Roles
from bot.settings import Settings, SettingsError
from bot.telegram_request import AiohttpRequest
from bot.texts import t
from bot.update_processor import ChatOrderedProcessor
from bot.web import Webhook, WebServer
from faq.io import load_bundled_if_empty
from faq.service import FaqIndex
from reminders.http import ReviewEventsApi
from reminders.intake import engine_config_for

logger = logging.getLogger(__name__)

COMMANDS = ("start", "help", "human", "mytickets", "bind", "whoami", "lang")
STAFF_COMMANDS = ("common", "stats", "report", "phrasings", "faqdraft", "bureaus", "invite")
STAFF_NOTICE_CHARS = 300  # the staff chat gets a line, the log keeps the traceback


async def serve_webhook(application: Application) -> None:  # type: ignore[type-arg]
    """Webhook mode: run the Application without its Updater until SIGTERM or SIGINT.

    post_init starts the HTTP server and registers the webhook. On the way out the webhook is
    deliberately not deleted: another instance may still be serving it, and Telegram keeps the
    updates for whichever instance answers next.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await application.initialize()
    try:
        await application.post_init(application)  # type: ignore[misc]
        await application.start()
        await stop.wait()
        logger.info("stop signal received, shutting down")
    finally:
        web_server: WebServer | None = application.bot_data.web  # type: ignore[attr-defined]
        if web_server is not None:
            # Close the door first: an update answered 200 now would never be processed, and
            # Telegram does not send it again. Queued ones are still processed by stop().
            await web_server.stop()
        if application.running:  # post_stop only after a stop, as in PTB's run_polling
            await application.stop()
            await application.post_stop(application)  # type: ignore[misc]
        await application.shutdown()
        await application.post_shutdown(application)  # type: ignore[misc]
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def build_application(
    settings: Settings,
    *,
    db: Database,
    clock: Clock,
    faq_index: FaqIndex,
    worker: int | None = None,
) -> Application:  # type: ignore[type-arg]
    """The bot: ``worker`` is k for worker k of ``HELPDESK_WORKERS`` (bot/workers.py)."""
    if settings.bot_token is None:
        raise SettingsError("HELPDESK_BOT_TOKEN: required to run the bot")
    roles = Roles(staff_chat_id=settings.staff_chat_id, admin_ids=settings.admin_ids)
    services = Services(settings=settings, db=db, clock=clock, faq=faq_index, roles=roles)

    # The review-events handler (reminders/http.py); served by the one HTTP server below.
    review_api = ReviewEventsApi(
        db=db,
        clock=clock,
        policy=settings.due_policy,
        token=settings.api_token.get_secret_value() if settings.api_token else None,
        after_intake=lambda _changes: desk.sender.kick(),
        engine_config=engine_config_for(settings),
    )
    webhook: Webhook | None = None
    if settings.webhook_url is not None:
        secret, derived = settings.webhook_secret_value()
        if derived:  # never the value: the log may be read by more people than the token
            logger.info("HELPDESK_WEBHOOK_SECRET unset: using a secret derived from the bot token")
        webhook = Webhook(path=settings.webhook_path, secret=secret)

    async def post_init(application: Application) -> None:  # type: ignore[type-arg]
        # Migrations to the newest schema (bot/migrations); instances starting together take turns.
        await asyncio.to_thread(db.upgrade)
        created = await db.run(load_bundled_faq, settings.faq_file, now=clock.now())
        if created:
            logger.info("loaded %d FAQ entries from %s", created, settings.faq_file)
        entries = await db.run(faq_index.rebuild)
        logger.info("FAQ index holds %d active entries", entries)
        await register_commands(application)
        # Pending relays of a previous run go out now; then the outbox and reminder jobs.
        await desk.start(application)
        # Reminders that fell due while the bot was down go out now (most urgent stage only),
        # then the reminder tick and the 09:00 job (bot/bureau_desk.py).
        await reminder_desk.start(application)
        # Updates this instance received before a crash and did not finish: first in the queue.
        await inbox_queue.start(application)
        if web_server is not None:
            await web_server.start()  # a taken port stops start-up: better than a silent gap
        else:
            logger.info("HTTP server off (no webhook, HELPDESK_API_TOKEN or HELPDESK_HTTP_PORT)")
        if webhook is not None:
            # Only once the server listens: Telegram starts calling right away. Updates queued
            # at Telegram while no instance listened are kept (drop_pending_updates=False).
            await application.bot.set_webhook(
                settings.webhook_public_url,
                secret_token=webhook.secret,
                allowed_updates=Update.ALL_TYPES,
                drop_pending_updates=False,
            )
            logger.info("webhook registered: %s", settings.webhook_public_url)

    async def post_stop(application: Application) -> None:  # type: ignore[type-arg]
        await desk.stop()

    async def post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
        if web_server is not None:
            await web_server.stop()
        # The handlers are finished: their last done marks go out before the database closes.
        await updates.close()
        await asyncio.to_thread(db.dispose)

    # Every update is stored before Telegram is told we have it (bot/inbox_queue.py).
    owner = instance_name(settings, worker=worker)
    updates = inbox_queue.InboxQueue(
        db=db, clock=clock, owner=owner, lease=timedelta(seconds=settings.inbox_lease_seconds)
    )
    application = (
        ApplicationBuilder()
        .application_class(inbox_queue.InboxApplication)
        .update_queue(updates)
        # Each getUpdates (which acknowledges what was fetched before) first waits until the
        # updates put on the queue are committed: they are stored in batches.
        .get_updates_request(inbox_queue.InboxRequest(updates, connection_pool_size=1))
        # aiohttp instead of PTB's httpx: a fraction of the CPU per call (bot/telegram_request.py).
        # 64 connections: the handlers (32 updates at once), the outbox and jobs, with room.
        .request(AiohttpRequest(connection_pool_size=64))
        .token(settings.bot_token.get_secret_value())
        .base_url(settings.telegram_api_url)
        .base_file_url(settings.telegram_file_url)
        .context_types(CONTEXT_TYPES)
        # Different chats' updates side by side, each chat's in order (bot/update_processor.py).
        .concurrent_updates(ChatOrderedProcessor())
        # Handler replies retry a 429 after Telegram's retry_after instead of losing the message;
        # outbox sends are not retried here (the outbox reschedules them, see bot/outbox.py).
        # A steady HELPDESK_MAX_MESSAGES_PER_SECOND overall (bot/outbox.py: PTB's default bucket
        # bursts past 30/s). Workers of one bot share it (bot/workers.py): each sends its share.
        .rate_limiter(
            smooth_rate_limiter(
                max_retries=3,
                per_second=settings.max_messages_per_second / (settings.workers if worker else 1),
            )
        )
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .build()
    )
    application.bot_data.services = services
    web_server: WebServer | None = None
    if settings.http_server_wanted:
        web_server = WebServer(
            application=application,
            db=db,
            faq=faq_index,
            review_api=review_api,
            host=settings.http_host,
            port=settings.http_port,
            webhook=webhook,
            # Workers share the port; each also has one of its own, for its /metrics.
            reuse_port=worker is not None,
            own_port=settings.http_port + worker if worker is not None else None,
        )
    application.bot_data.web = web_server  # type: ignore[attr-defined]  # tests read its port
    desk = Desk(
        settings=settings, db=db, clock=clock, roles=roles, bot=application.bot, owner=owner
    )
    # Binding people and review-item uploads (bot/bureau_bind.py): before the desk, whose group -1
    # relays every private message (a shared contact is not for staff), and before the FAQ's
    # catch-alls in group 0.
    bureau_bind.register(application, staff_chat_id=settings.staff_chat_id)
    # The escalation desk's handlers run in group -1, before the FAQ's (see bot/desk.py).
    register_desk(application, desk)
    # --- bureau reminders (bot/bureau_desk.py): the tick and 09:00 jobs, the 初审通过 / 退回
    # buttons (group -1), the return reason (group -3: before the desk relays a reviewer's text
    # to staff, and letting every other message through), /bureaus. Sends reuse the desk's
    # outbox sender, so 429s, retries and per-chat order are handled in one place.
    reminder_desk = ReminderDesk(settings=settings, db=db, clock=clock, roles=roles, desk=desk)
    register_reminders(application, reminder_desk)
    # ---
    # --- staff FAQ work: drafts, phrasings, /common, /stats, /report (bot/staff_faq.py) ---
    # Registered first: in handler group 0 the first match wins, and the private-chat catch-alls
    # of handlers.register (unknown command, any text, any button) would take these updates.
    staff_faq.register(application)
    reports.schedule_weekly_report(application)  # Monday 09:00 in the configured zone
    # ---
    handlers.register(application)
    application.add_error_handler(report_error)
    return application


def instance_name(settings: Settings, *, worker: int | None = None) -> str:
    """Who claims inbox and outbox rows: stable across restarts, so a restarted process takes
    back at once what it held when it died. Polling allows one process per bot (the host name);
    webhook instances on one host differ by their port, and workers of one by their number."""
    if settings.instance_name:
        name = settings.instance_name
    else:
        host = socket.gethostname()
        name = f"{host}:{settings.http_port}" if settings.webhook_url is not None else host
    return name if worker is None else f"{name}/w{worker}"


def load_bundled_faq(session: Session, path: Path, *, now: datetime) -> int:
    """The bundled catalogue on first start. Several instances starting together on an empty
    database take turns (the migrations' lock, held until this transaction ends): only the first
    finds the table empty."""
    lock_for_migrations(session.connection())
    return load_bundled_if_empty(session, path, now=now)


async def register_commands(application: Application) -> None:  # type: ignore[type-arg]
    """The command menu in Chinese for Chinese clients, English for English ones and by default."""
    bot = application.bot
    staff_chat_id = application.bot_data.services.settings.staff_chat_id
    for language_code in ("zh", "en", None):
        lang = language_code or "en"
        menus: list[tuple[tuple[str, ...], BotCommandScope | None]] = [(COMMANDS, None)]
        if staff_chat_id is not None:
            # Staff see their own commands in the staff group (still checked on every use).
            menus.append((STAFF_COMMANDS, BotCommandScopeChat(staff_chat_id)))
        for names, scope in menus:
            commands = [BotCommand(name, t(lang, f"command_{name}")) for name in names]
            try:
                await bot.set_my_commands(commands, scope=scope, language_code=language_code)
            except TelegramError as exc:
                # The menu is a convenience: the bot works without it, so start anyway.
                logger.warning("could not set the %s command menu: %s", lang, exc)


async def report_error(update: object, context: HelpdeskContext) -> None:
    """Log the error with its traceback, apologise in a private chat, tell the staff chat.

    Never raises: an error handler that fails hides the original error.
    """
    try:
        logger.error("error while handling an update", exc_info=context.error)
        services = context.services
        if isinstance(update, Update):
            await _apologise(update, context)
        if services.settings.staff_chat_id is not None:
            await context.bot.send_message(
                chat_id=services.settings.staff_chat_id,
                text=_staff_notice(update, context.error, services.settings.default_lang),
                parse_mode=ParseMode.HTML,
            )
    except Exception:
        logger.exception("the error handler failed too")


async def _apologise(update: Update, context: HelpdeskContext) -> None:
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:
        return  # in a group an apology nobody asked for is noise
    try:
        await context.bot.send_message(chat.id, context.text("error"), parse_mode=ParseMode.HTML)
    except Exception as exc:  # the failure may be Telegram itself; the log has the original
        logger.warning("could not apologise to chat %s: %s", chat.id, exc)


def _staff_notice(update: object, error: BaseException | None, lang: str) -> str:
    what = f"{type(error).__name__}: {error}" if error else "unknown error"
    if len(what) > STAFF_NOTICE_CHARS:
        what = what[: STAFF_NOTICE_CHARS - 1] + "…"
    where = ""
    if isinstance(update, Update):
        chat, user = update.effective_chat, update.effective_user
        where = f"update {update.update_id}"
        where += f", chat {chat.id}" if chat else ""
        where += f", user {user.id}" if user else ""
    return t(lang, "staff_error", error=what, where=where)
