"""The bot in a chat: commands, questions and button presses.

Handlers stay thin: read the update, call a domain function through ``services.db.run`` (a worker
thread, so the event loop never waits on the database), render the result. Domain refusals
(:class:`faq.service.FaqError`) become a polite "this button is no longer valid".

In groups the bot speaks only when addressed: a mention of @its_username, a reply to one of its
messages, or a command (``/cmd`` or ``/cmd@its_username``; PTB ignores ``/cmd@other_bot``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import bureau_bind, metrics
from bot.chat_users import choose_lang, who_is_talking
from bot.context import HelpdeskContext
from bot.desk import contact_pressed, render_contact
from bot.inbox_queue import InboxQueue
from bot.keyboards import (
    ContactPress,
    ExamplePress,
    FeedbackPress,
    LanguagePress,
    Press,
    SuggestionPress,
    contact_keyboard,
    examples_keyboard,
    feedback_keyboard,
    has_feedback,
    language_keyboard,
    parse_press,
    suggestions_keyboard,
    without_feedback,
)
from bot.texts import LANGS, t
from faq.matcher import FaqDoc, Match
from faq.service import (
    FaqError,
    FaqIndex,
    UnknownEntry,
    choose_suggestion,
    log_example_question,
    log_question,
    mark_replied,
    own_question,
    record_feedback,
    related_ids,
)

logger = logging.getLogger(__name__)

EXAMPLE_COUNT = 4
SMALLTALK_KINDS = ("greeting", "thanks", "ack", "bye")
LANG_ALIASES = {"zh": "zh", "cn": "zh", "中文": "zh", "en": "en", "english": "en"}

# Only new messages: an edit of an old question is not a new question.
NEW_MESSAGE = filters.UpdateType.MESSAGE
# The update counter's own handler group, before every other: in a group only the first matching
# handler runs, so a catch-all TypeHandler must be alone in its group.
METRICS_GROUP = -10
# remember_user's: before bot/bureau_desk.py's return reason (-3), the desk (-1) and the FAQ (0),
# which all use what it reads.
USER_GROUP = -5
# --- who a message is for -------------------------------------------------------------------------


def addressed_text(message: Message, bot: Bot) -> str | None:
    """The text meant for the bot, without the @mention; ``None`` if a group message is not for
    the bot. Private messages are always for the bot."""
    text = message.text or message.caption or ""
    mention = re.compile(rf"(?<![\w@])@{re.escape(bot.username)}(?!\w)", re.IGNORECASE)
    mentioned = mention.search(text) is not None
    if mentioned:
        text = " ".join(mention.sub(" ", text).split())  # the mention is not part of the question
    if message.chat.type == ChatType.PRIVATE or mentioned or replies_to_bot(message, bot):
        return text
    return None


def replies_to_bot(message: Message, bot: Bot) -> bool:
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != bot.id:
        return False
    # In a forum every message of a topic "replies" to the topic's first service message; that
    # is not talking to the bot even when the bot opened the topic.
    return not (message.is_topic_message and replied.message_id == message.message_thread_id)


# --- rendering ------------------------------------------------------------------------------------

Reply = tuple[str, InlineKeyboardMarkup | None]


def render_answer(
    lang: str, doc: FaqDoc, question_id: int, related: Sequence[FaqDoc] = ()
) -> Reply:
    """An entry's answer with 👍 / 👎, and under it the related entries still plausible, if any."""
    text = t(lang, "answer", question=doc.question, answer=doc.answer)
    if related:
        text += "\n\n" + t(lang, "related")
    return text, feedback_keyboard(lang, question_id, related)


def render_match(lang: str, question_id: int, match: Match, faq: FaqIndex) -> Reply:
    """The reply to a question for the matcher's decision."""
    if match.decision == "answer" and match.entry_id is not None:
        doc = faq.entry(match.entry_id)
        if doc is not None:  # None only if a rebuild removed it in the meantime
            related = _active_docs(faq, (c.entry_id for c in match.related))
            return render_answer(lang, doc, question_id, related)
    elif match.decision == "suggest":
        docs = _active_docs(faq, (c.entry_id for c in match.suggestions))
        if docs:
            return t(lang, "suggest"), suggestions_keyboard(lang, question_id, docs)
    elif match.decision == "smalltalk":
        kind = match.smalltalk if match.smalltalk in SMALLTALK_KINDS else "greeting"
        return t(lang, f"smalltalk_{kind}"), None
    return t(lang, "none"), contact_keyboard(lang, question_id)


def reply_lang(context: HelpdeskContext, match: Match) -> str:
    """The /lang choice, else Chinese for a question written in Chinese (many Chinese users run
    Telegram in English), else the user's language."""
    if context.chosen_lang in LANGS:
        return context.chosen_lang
    return "zh" if match.lang == "zh" else context.lang


# --- every update ---------------------------------------------------------------------------------


async def count_update(update: Update, context: HelpdeskContext) -> None:
    """Count every update, polled or from the webhook (handler group METRICS_GROUP)."""
    metrics.update_received()


async def remember_user(update: Update, context: HelpdeskContext) -> None:
    """Refresh the ChatUser for every update from a person (handler group USER_GROUP), and for a
    private message read what the later groups need about its sender (context.talking)."""
    user = update.effective_user
    if user is None or user.is_bot:
        return
    services = context.services
    chat = update.effective_chat
    context.chat_user, context.talking = await services.db.run(
        who_is_talking,
        user_id=user.id,
        first_name=user.first_name,
        username=user.username,
        telegram_lang=user.language_code,
        blocked_bot=blocks_bot(update),
        # What bureau_desk's reason_message and the desk's relay_from_user are registered for.
        private_message=update.message is not None
        and chat is not None
        and chat.type == ChatType.PRIVATE,
        now=services.now(),
    )


def blocks_bot(update: Update) -> bool:
    """Whether this update says the user blocked the bot; any other update from them means they
    have not (or no longer)."""
    change = update.my_chat_member
    return (
        change is not None
        and change.chat.type == ChatType.PRIVATE
        and change.new_chat_member.status == ChatMemberStatus.BANNED
    )


# --- commands -------------------------------------------------------------------------------------


async def start(update: Update, context: HelpdeskContext) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    # A deep link's payload (t.me/<bot>?start=<payload>): a bureau invite binds its opener;
    # anything else gets the normal welcome.
    if context.args and await bureau_bind.start_payload(update, context, context.args[0]):
        return
    examples = context.services.faq.examples(context.lang, EXAMPLE_COUNT)
    await message.reply_html(
        context.text("welcome", name=user.first_name), reply_markup=examples_keyboard(examples)
    )


async def show_help(update: Update, context: HelpdeskContext) -> None:
    if update.effective_message is None:
        return
    await update.effective_message.reply_html(
        context.text("help"), reply_markup=contact_keyboard(context.lang)
    )


async def set_language(update: Update, context: HelpdeskContext) -> None:
    """``/lang zh|en`` switches at once; a bare or unknown ``/lang`` offers buttons."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    wanted = LANG_ALIASES.get(context.args[0].lower()) if context.args else None
    if wanted is None:
        await message.reply_html(context.text("lang_prompt"), reply_markup=language_keyboard())
        return
    services = context.services
    context.chat_user = await services.db.run(
        choose_lang, user_id=user.id, lang=wanted, now=services.now()
    )
    await message.reply_html(t(wanted, "lang_set"))


async def unknown_command(update: Update, context: HelpdeskContext) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_html(context.text("unknown_command"))


# --- messages -------------------------------------------------------------------------------------


async def ask(update: Update, context: HelpdeskContext) -> None:
    """A text question: match, log, then reply."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    question = addressed_text(message, context.bot)
    if question is None:
        return  # a group message not meant for the bot
    question = question.strip()
    services = context.services
    if not question:
        await message.reply_html(context.text("empty_text"))
        return
    limit = services.settings.max_message_chars
    if len(question) > limit:
        await message.reply_html(context.text("too_long", limit=limit))
        return

    match = await services.match(question)
    metrics.question(match.decision)
    lang = reply_lang(context, match)
    # Logged before replying: the log is the record even if Telegram then fails.
    log = await services.db.run(
        log_question,
        chat_id=message.chat_id,
        message_id=message.message_id,
        user_id=user.id,
        lang=lang,
        text=question,
        match=match,
        now=services.now(),
    )
    assert log.id is not None
    if log.replied_at is not None:
        return  # this update is handled a second time (after a crash): answered already
    text, keyboard = render_match(lang, log.id, match, services.faq)
    await message.reply_html(text, reply_markup=keyboard)
    queue = context.application.update_queue
    if isinstance(queue, InboxQueue):
        # Committed before this returns, as before, but together with other chats' marks and
        # inbox writes (the inbox's ordered writer).
        await queue.mark_replied(log.id)
    else:
        await services.db.run(mark_replied, question_id=log.id, now=services.now())


async def not_text(update: Update, context: HelpdeskContext) -> None:
    """Stickers, photos, voice, files, locations, polls...: the bot reads text only."""
    message = update.effective_message
    if message is None or addressed_text(message, context.bot) is None:
        return
    await message.reply_html(context.text("non_text"))


# --- buttons --------------------------------------------------------------------------------------


async def press_button(update: Update, context: HelpdeskContext) -> None:
    """Every button press: re-checked on the server, answered exactly once."""
    query = update.callback_query
    if query is None:
        return
    press = parse_press(query.data)
    try:
        if press is None or query.message is None:
            raise FaqError(query.data)
        await _handle_press(press, query, context)
    except FaqError as refused:
        logger.info("refused button %r from user %s: %r", query.data, query.from_user.id, refused)
        await query.answer(context.text("button_invalid"), show_alert=True)


async def _handle_press(press: Press, query: CallbackQuery, context: HelpdeskContext) -> None:
    services = context.services
    user_id = query.from_user.id
    match press:
        case FeedbackPress(question_id=question_id, helpful=helpful):
            log = await services.db.run(
                record_feedback,
                question_id=question_id,
                user_id=user_id,
                helpful=helpful,
                now=services.now(),
            )
            lang = context.chosen_lang or log.lang
            if helpful:
                await query.answer(t(lang, "feedback_thanks"))
                await _drop_buttons(query)
            else:
                await query.answer()
                await _drop_buttons(query)
                # Related entries under the answer, none chosen yet: offer them again, with
                # "none of these — contact staff" under them.
                related = _active_docs(services.faq, related_ids(log))
                keyboard = (
                    suggestions_keyboard(lang, question_id, related)
                    if related
                    else contact_keyboard(lang, question_id)
                )
                await _send(query, context, t(lang, "feedback_sorry"), keyboard)

        case SuggestionPress(question_id=question_id, entry_id=entry_id):
            doc = _active_doc(services.faq, entry_id)
            log = await services.db.run(
                choose_suggestion,
                question_id=question_id,
                user_id=user_id,
                entry_id=entry_id,
                now=services.now(),
            )
            lang = context.chosen_lang or log.lang
            await query.answer()
            # A related entry pressed under an answer: that message's 👍 / 👎 would now rate the
            # chosen entry (the log rates the entry shown last), so they go; the rows stay.
            await _drop_feedback(query)
            await _send(query, context, *render_answer(lang, doc, question_id))

        case ExamplePress(entry_id=entry_id):
            doc = _active_doc(services.faq, entry_id)
            assert query.message is not None
            log = await services.db.run(
                log_example_question,
                chat_id=query.message.chat.id,
                user_id=user_id,
                lang=context.lang,
                entry_id=entry_id,
                now=services.now(),
            )
            assert log.id is not None
            await query.answer()
            await _send(query, context, *render_answer(context.lang, doc, log.id))

        case LanguagePress(lang=lang):
            context.chat_user = await services.db.run(
                choose_lang, user_id=user_id, lang=lang, now=services.now()
            )
            await query.answer()
            try:
                await query.edit_message_text(t(lang, "lang_set"), parse_mode=ParseMode.HTML)
            except BadRequest:  # e.g. pressed twice: "message is not modified"
                await _send(query, context, t(lang, "lang_set"), None)

        case ContactPress(question_id=question_id) if services.settings.staff_chat_id is not None:
            # The escalation desk: the button opens (or adds to) the user's ticket.
            await contact_pressed(query, context, question_id)

        case ContactPress(question_id=question_id):
            # No staff group configured: nobody could answer a ticket, so say how to reach people.
            lang = context.lang
            if question_id is not None:
                log = await services.db.run(own_question, question_id=question_id, user_id=user_id)
                lang = context.chosen_lang or log.lang
            await query.answer()
            await _send(query, context, render_contact(lang, services.faq), None)


def _active_docs(faq: FaqIndex, entry_ids: Iterable[str]) -> list[FaqDoc]:
    """The entries still active, in order (a rebuild may have removed some in the meantime)."""
    return [doc for entry_id in entry_ids if (doc := faq.entry(entry_id)) is not None]


def _active_doc(faq: FaqIndex, entry_id: str) -> FaqDoc:
    doc = faq.entry(entry_id)
    if doc is None:
        raise UnknownEntry(entry_id)
    return doc


async def _send(
    query: CallbackQuery,
    context: HelpdeskContext,
    text: str,
    keyboard: InlineKeyboardMarkup | None,
) -> None:
    """A new message in the chat of the pressed button (and its forum topic, if any)."""
    message = query.message
    assert message is not None
    in_topic = isinstance(message, Message) and message.is_topic_message
    await context.bot.send_message(
        chat_id=message.chat.id,
        text=text,
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard,
        message_thread_id=message.message_thread_id if in_topic else None,  # type: ignore[union-attr]
    )


async def _drop_buttons(query: CallbackQuery, keep: InlineKeyboardMarkup | None = None) -> None:
    try:
        await query.edit_message_reply_markup(reply_markup=keep)
    except BadRequest as exc:
        # Already gone (a double tap) or the message is too old to edit: nothing to remove.
        logger.debug("could not remove buttons: %s", exc)


async def _drop_feedback(query: CallbackQuery) -> None:
    """Remove the 👍 / 👎 row of the pressed message, if it has one, and keep its other rows."""
    markup = query.message.reply_markup if isinstance(query.message, Message) else None
    if has_feedback(markup):
        await _drop_buttons(query, keep=without_feedback(markup))


# --- wiring ---------------------------------------------------------------------------------------


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Add the handlers; group USER_GROUP remembers the user before any reply is decided (group
    -1 is the escalation desk's, see bot/desk.py)."""
    application.add_handler(TypeHandler(Update, count_update), group=METRICS_GROUP)
    application.add_handler(TypeHandler(Update, remember_user), group=USER_GROUP)
    application.add_handler(CommandHandler("start", start, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("help", show_help, filters=NEW_MESSAGE))
    application.add_handler(CommandHandler("lang", set_language, filters=NEW_MESSAGE))
    application.add_handler(
        MessageHandler(NEW_MESSAGE & filters.COMMAND & filters.ChatType.PRIVATE, unknown_command)
    )
    application.add_handler(MessageHandler(NEW_MESSAGE & filters.TEXT & ~filters.COMMAND, ask))
    application.add_handler(
        MessageHandler(NEW_MESSAGE & ~filters.TEXT & ~filters.StatusUpdate.ALL, not_text)
    )
    application.add_handler(CallbackQueryHandler(press_button))
