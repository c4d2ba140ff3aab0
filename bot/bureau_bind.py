"""Binding people and taking in review items, at the Telegram edge (thin: the work is in
reminders/bindings.py and reminders/intake.py).

Commands:

* ``/invite <bureau code>`` — staff, in the staff group: a one-time deep link
  ``https://t.me/<bot>?start=inv_…`` valid 7 days; the reviewer who opens it is bound
  (:func:`start_payload`, called by ``/start`` in bot/handlers.py).
* ``/whoami`` — anyone: their own bindings; staff may add a user id to see someone else's.
* ``/unbind <user id> [bureau code | credit code]`` — staff: one binding, or all of them.
* ``/bind`` — private chat: a keyboard with Telegram's "share my phone number" button; the contact
  that comes back is handled by :func:`contact_shared`.
* A ``.csv``/``.xlsx`` document posted by staff in the staff group is imported: bureaus or review
  items, told apart by the header row. The reply gives the counts, or every ``row N: reason``.

Staff checks (``Roles.is_staff``) run on every command and upload; nothing trusts who a message
claims to be beyond Telegram's ``from``.
"""

from __future__ import annotations

import logging
from datetime import datetime

from telegram import KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.context import HelpdeskContext
from bot.desk import relay_from_user
from bot.roles import parse_user_id
from bot.texts import t
from reminders import bindings
from reminders.bureaus import ImportRejected
from reminders.intake import (
    IntakeChanges,
    SheetImport,
    engine_config_for,
    import_upload,
)

logger = logging.getLogger(__name__)

NEW_MESSAGE = filters.UpdateType.MESSAGE
BIND_GROUP = -1  # the contact handler must run before the desk relays private messages
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # a province's export is far smaller; bigger is a mistake
MAX_PROBLEM_LINES = 30  # a reply lists this many ``row N: reason`` lines, then "… and N more"
BIND_ASKED = "bind_asked"  # user_data key: /bind was pressed, a refused contact gets told why


def _staff_lang(context: HelpdeskContext) -> str:
    return context.services.settings.default_lang


def _local(context: HelpdeskContext, when: datetime) -> str:
    return when.astimezone(context.services.settings.tz).strftime("%Y-%m-%d %H:%M")


async def _is_staff(context: HelpdeskContext, user_id: int) -> bool:
    return await context.services.roles.is_staff(context.bot, user_id)


def _kick_outbox(context: HelpdeskContext) -> None:
    """Intake may have queued messages (return notices): send them now, not at the next flush."""
    desk = getattr(context.bot_data, "desk", None)
    if desk is not None:
        desk.sender.kick()


# --- invites ------------------------------------------------------------------------------------


async def invite(update: Update, context: HelpdeskContext) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    services, lang = context.services, _staff_lang(context)
    if message.chat_id != services.settings.staff_chat_id:
        await message.reply_html(t(lang, "bind_staff_group_only"))
        return
    if not await _is_staff(context, user.id):
        await message.reply_html(t(lang, "staff_only"))
        return
    if len(context.args or []) != 1:
        await message.reply_html(t(lang, "bind_invite_usage"))
        return
    try:
        created, bureau = await services.db.run(
            bindings.create_invite,
            bureau_code=context.args[0],
            created_by=user.id,
            now=services.now(),
        )
    except bindings.UnknownBureau:
        await message.reply_html(t(lang, "bind_unknown_bureau", code=context.args[0]))
        return
    link = f"https://t.me/{context.bot.username}?start={created.code}"
    await message.reply_html(
        t(
            lang,
            "bind_invite_created",
            bureau=bureau.name,
            code=bureau.code,
            link=link,
            expires=_local(context, created.expires_at),
        )
    )


async def start_payload(update: Update, context: HelpdeskContext, payload: str) -> bool:
    """``/start <payload>`` in a private chat: redeem an invite. ``False`` when the payload is not
    an invite, so ``/start`` goes on with the normal welcome."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or message.chat.type != ChatType.PRIVATE:
        return False
    if not bindings.is_invite_payload(payload):
        return False
    services = context.services
    try:
        _reviewer, bureau = await services.db.run(
            bindings.redeem_invite, code=payload, user_id=user.id, now=services.now()
        )
    except bindings.InviteUsed:
        await message.reply_html(context.text("bind_invite_used"))
    except bindings.InviteExpired:
        await message.reply_html(context.text("bind_invite_expired"))
    except bindings.InviteUnknown:
        await message.reply_html(context.text("bind_invite_unknown"))
    else:
        logger.info("user %s bound to bureau %s", user.id, bureau.code)
        await message.reply_html(
            context.text("bind_reviewer_bound", bureau=bureau.name, code=bureau.code)
        )
        _kick_outbox(context)
    return True


# --- who is who ---------------------------------------------------------------------------------


async def whoami(update: Update, context: HelpdeskContext) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    target, lang = user.id, context.lang
    if context.args:
        if not await _is_staff(context, user.id):
            await message.reply_html(context.text("staff_only"))
            return
        found_id = parse_user_id(context.args[0])
        if found_id is None:
            await message.reply_html(t(lang, "bind_whoami_usage"))
            return
        target = found_id
    found = await context.services.db.run(bindings.bindings_of, user_id=target)
    lines = [t(lang, "bind_whoami_header", user_id=target)]
    lines += [t(lang, "bind_whoami_bureau", name=name, code=code) for code, name in found.bureaus]
    lines += [
        t(lang, "bind_whoami_institution", name=inst.name or "—", code=inst.credit_code)
        for inst in found.institutions
    ]
    if found.empty:
        lines.append(t(lang, "bind_whoami_none"))
    await message.reply_html("\n".join(lines))


async def unbind(update: Update, context: HelpdeskContext) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    lang = _staff_lang(context)
    if not await _is_staff(context, user.id):
        await message.reply_html(t(lang, "staff_only"))
        return
    args = context.args or []
    target_user = parse_user_id(args[0]) if args else None
    if target_user is None:
        await message.reply_html(t(lang, "bind_unbind_usage"))
        return
    if len(args) > 2:
        await message.reply_html(t(lang, "bind_unbind_usage"))
        return
    services = context.services
    try:
        done = await services.db.run(
            bindings.unbind,
            user_id=target_user,
            target=args[1] if len(args) == 2 else None,
            by=user.id,
            now=services.now(),
        )
    except bindings.NothingToUnbind:
        await message.reply_html(t(lang, "bind_unbind_nothing", user_id=target_user))
        return
    await message.reply_html(t(lang, "bind_unbind_done", user_id=target_user, what="、".join(done)))


# --- institutions -------------------------------------------------------------------------------


async def offer_contact(update: Update, context: HelpdeskContext) -> None:
    message = update.effective_message
    if message is None:
        return
    keyboard = ReplyKeyboardMarkup(
        [[KeyboardButton(context.text("bind_share_button"), request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    if context.user_data is not None:
        context.user_data[BIND_ASKED] = True
    await message.reply_html(context.text("bind_offer"), reply_markup=keyboard)


async def contact_shared(update: Update, context: HelpdeskContext) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or message.contact is None:
        return
    services, contact = context.services, message.contact
    # Whether the user pressed /bind in this run (in memory: after a restart a refused contact
    # just gets the generic reply below, and /bind again explains).
    asked = context.user_data is not None and context.user_data.pop(BIND_ASKED, False)
    try:
        found = await services.db.run(
            bindings.bind_institution,
            user_id=user.id,
            contact_user_id=contact.user_id,
            phone_number=contact.phone_number,
            now=services.now(),
        )
    except bindings.BindingError as refusal:
        if not asked:
            # A contact card sent out of the blue is a message like any other: the desk relays
            # it to an open ticket, else the FAQ says it reads text only.
            await relay_from_user(update, context)
            return
        key = (
            "bind_not_own_contact"
            if isinstance(refusal, bindings.NotOwnContact)
            else "bind_phone_unknown"
        )
        await message.reply_html(context.text(key), reply_markup=ReplyKeyboardRemove())
    else:
        names = "、".join(f"{inst.name}（{inst.credit_code}）" for inst in found)
        await message.reply_html(
            context.text("bind_institution_bound", institutions=names),
            reply_markup=ReplyKeyboardRemove(),
        )
        _kick_outbox(context)  # a return notice waiting for this institution can go now
    # Handled: neither the desk's relay nor the FAQ's "text only" reply should see a contact.
    raise ApplicationHandlerStop


# --- files uploaded by staff --------------------------------------------------------------------


async def staff_upload(update: Update, context: HelpdeskContext) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or message.document is None or user.is_bot:
        return
    lang = _staff_lang(context)
    if not await _is_staff(context, user.id):
        await message.reply_html(t(lang, "staff_only"))
        return
    document = message.document
    name = document.file_name or "upload"
    if document.file_size is not None and document.file_size > MAX_UPLOAD_BYTES:
        await message.reply_html(t(lang, "intake_too_big", name=name))
        return
    try:
        file = await document.get_file()
        data = bytes(await file.download_as_bytearray())
    except TelegramError as exc:
        logger.warning("could not download %s: %s", name, exc)
        await message.reply_html(t(lang, "intake_download_failed", name=name))
        return
    services = context.services
    settings = services.settings
    try:
        result = await services.db.run(
            import_upload,
            data,
            name,
            now=services.now(),
            policy=settings.due_policy,
            engine_config=engine_config_for(settings),
        )
    except ImportRejected as exc:
        await message.reply_html(_rejected_text(lang, name, exc.problems))
        return
    _kick_outbox(context)
    await message.reply_html(upload_report(lang, name, result))


def _rejected_text(lang: str, name: str, problems: list[str]) -> str:
    shown = problems[:MAX_PROBLEM_LINES]
    lines = [t(lang, "intake_rejected", name=name, count=len(problems))]
    lines += [t(lang, "intake_problem", problem=problem) for problem in shown]
    if len(problems) > len(shown):
        lines.append(t(lang, "intake_more_problems", count=len(problems) - len(shown)))
    return "\n".join(lines)


def upload_report(lang: str, name: str, result: SheetImport) -> str:
    if result.bureaus is not None:
        report = result.bureaus
        return t(
            lang,
            "intake_bureaus_done",
            name=name,
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
        )
    changes = result.reviews or IntakeChanges()
    text = t(
        lang,
        "intake_reviews_done",
        name=name,
        created=len(changes.created),
        updated=len(changes.updated),
        unchanged=len(changes.unchanged),
        returned=len(changes.returned),
    )
    if changes.stale:
        text += "\n" + t(
            lang, "intake_stale", count=len(changes.stale), refs=", ".join(changes.stale[:10])
        )
    return text


def register(application: Application, *, staff_chat_id: int | None) -> None:  # type: ignore[type-arg]
    """Commands in group 0 (call before bot.handlers.register, whose catch-alls come last); the
    contact handler in group -1 ahead of the desk (call before bot.desk.register); uploads in
    group 0, after the desk has taken the documents that belong to a ticket."""
    private = filters.ChatType.PRIVATE
    add = application.add_handler
    add(MessageHandler(NEW_MESSAGE & private & filters.CONTACT, contact_shared), group=BIND_GROUP)
    add(CommandHandler("invite", invite, filters=NEW_MESSAGE))
    add(CommandHandler("whoami", whoami, filters=NEW_MESSAGE))
    add(CommandHandler("unbind", unbind, filters=NEW_MESSAGE))
    add(CommandHandler("bind", offer_contact, filters=NEW_MESSAGE & private))
    if staff_chat_id is not None:
        sheets = filters.Document.FileExtension("csv") | filters.Document.FileExtension("xlsx")
        add(MessageHandler(NEW_MESSAGE & filters.Chat(staff_chat_id) & sheets, staff_upload))
