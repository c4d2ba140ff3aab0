"""Inline keyboards and their callback data.

Callback data is short text (Telegram allows 64 bytes) naming what was pressed, never what to do
with it: anyone can send any callback data, so every press is re-checked on the server (the
question must be the presser's own, the entry must exist and be active).

Formats (``<qid>`` is a ``QuestionLog`` id, ``<entry>`` an FAQ entry id):

=================  ===========================================================
``fb:<qid>:u|d``   👍 / 👎 on the answer a question got
``sg:<qid>:<entry>`` a suggestion or related entry ``<entry>`` offered for question ``<qid>``
``ex:<entry>``     an example question on the welcome screen
``lg:zh|en``       the language chosen after /lang
``cs`` ``cs:<qid>`` "contact staff" (opens a ticket), about question ``<qid>`` if any
``tk:c|x|r|f:<tid>`` staff buttons on ticket ``<tid>``: claim, close, report upward, add to FAQ
``rt:<tid>:<1-5>`` the user's rating of closed ticket ``<tid>``
=================  ===========================================================
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.texts import LANGS, t
from faq.matcher import FaqDoc

logger = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 64
SUGGESTION_LABEL_CHARS = 40  # a longer label is cut off by Telegram clients anyway
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}


@dataclass(frozen=True)
class FeedbackPress:
    question_id: int
    helpful: bool


@dataclass(frozen=True)
class SuggestionPress:
    question_id: int
    entry_id: str


@dataclass(frozen=True)
class ExamplePress:
    entry_id: str


@dataclass(frozen=True)
class LanguagePress:
    lang: str


@dataclass(frozen=True)
class ContactPress:
    question_id: int | None


Press = FeedbackPress | SuggestionPress | ExamplePress | LanguagePress | ContactPress

TICKET_ACTIONS = {"c": "claim", "x": "close", "r": "report", "f": "faq"}


@dataclass(frozen=True)
class TicketPress:
    """A staff button on a ticket's first post; ``action`` is a value of TICKET_ACTIONS."""

    action: str
    ticket_id: int


@dataclass(frozen=True)
class RatingPress:
    ticket_id: int
    stars: int


DeskPress = TicketPress | RatingPress
DESK_PATTERN = r"^(tk|rt):"  # the desk's buttons, routed to bot/desk.py

_QID = r"([1-9][0-9]{0,17})"  # ids fit the 64-bit integer columns
_ENTRY = r"([A-Za-z0-9][A-Za-z0-9_.-]{0,63})"  # the ids faq/io.py accepts
_FEEDBACK = re.compile(rf"fb:{_QID}:([ud])")
_SUGGESTION = re.compile(rf"sg:{_QID}:{_ENTRY}")
_EXAMPLE = re.compile(rf"ex:{_ENTRY}")
_LANGUAGE = re.compile(r"lg:(zh|en)")
_CONTACT = re.compile(rf"cs(?::{_QID})?")
_TICKET = re.compile(rf"tk:([cxrf]):{_QID}")
_RATING = re.compile(rf"rt:{_QID}:([1-5])")


class CallbackDataTooLong(ValueError):
    """The data would not fit Telegram's 64 bytes (an unusually long entry id)."""


# --- encoding ------------------------------------------------------------------------------------


def feedback_data(question_id: int, *, helpful: bool) -> str:
    return _fit(f"fb:{question_id}:{'u' if helpful else 'd'}")


def suggestion_data(question_id: int, entry_id: str) -> str:
    return _fit(f"sg:{question_id}:{entry_id}")


def example_data(entry_id: str) -> str:
    return _fit(f"ex:{entry_id}")


def language_data(lang: str) -> str:
    return _fit(f"lg:{lang}")


def contact_data(question_id: int | None = None) -> str:
    return "cs" if question_id is None else _fit(f"cs:{question_id}")


def ticket_data(action: str, ticket_id: int) -> str:
    code = next(code for code, name in TICKET_ACTIONS.items() if name == action)
    return _fit(f"tk:{code}:{ticket_id}")


def rating_data(ticket_id: int, stars: int) -> str:
    return _fit(f"rt:{ticket_id}:{stars}")


def _fit(data: str) -> str:
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise CallbackDataTooLong(data)
    return data


# --- parsing -------------------------------------------------------------------------------------


def parse_press(data: str | None) -> Press | None:
    """What a button press means, or ``None`` for data this bot never sends."""
    if not data or len(data.encode()) > MAX_CALLBACK_BYTES:
        return None
    if found := _FEEDBACK.fullmatch(data):
        return FeedbackPress(int(found[1]), helpful=found[2] == "u")
    if found := _SUGGESTION.fullmatch(data):
        return SuggestionPress(int(found[1]), found[2])
    if found := _EXAMPLE.fullmatch(data):
        return ExamplePress(found[1])
    if found := _LANGUAGE.fullmatch(data):
        return LanguagePress(found[1])
    if found := _CONTACT.fullmatch(data):
        return ContactPress(int(found[1]) if found[1] else None)
    return None


def parse_desk_press(data: str | None) -> DeskPress | None:
    """What a desk button press means, or ``None`` for data this bot never sends."""
    if not data or len(data.encode()) > MAX_CALLBACK_BYTES:
        return None
    if found := _TICKET.fullmatch(data):
        return TicketPress(TICKET_ACTIONS[found[1]], int(found[2]))
    if found := _RATING.fullmatch(data):
        return RatingPress(int(found[1]), int(found[2]))
    return None


# --- keyboards -----------------------------------------------------------------------------------


def feedback_keyboard(
    lang: str, question_id: int, related: Iterable[FaqDoc] = ()
) -> InlineKeyboardMarkup:
    """👍 / 👎 on an answer, then one row per related entry offered under it (if any)."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t(lang, "button_helpful"),
                    callback_data=feedback_data(question_id, helpful=True),
                ),
                InlineKeyboardButton(
                    t(lang, "button_unhelpful"),
                    callback_data=feedback_data(question_id, helpful=False),
                ),
            ],
            *_suggestion_rows(question_id, related),
        ]
    )


def has_feedback(markup: InlineKeyboardMarkup | None) -> bool:
    """Whether ``markup`` has a 👍 / 👎 row."""
    return markup is not None and any(map(_is_feedback_row, markup.inline_keyboard))


def without_feedback(markup: InlineKeyboardMarkup | None) -> InlineKeyboardMarkup | None:
    """``markup`` without its 👍 / 👎 row (``None`` when no other row is left)."""
    rows = [row for row in (markup.inline_keyboard if markup else ()) if not _is_feedback_row(row)]
    return InlineKeyboardMarkup(rows) if rows else None


def _is_feedback_row(row: Sequence[InlineKeyboardButton]) -> bool:
    return any(
        isinstance(button.callback_data, str)
        and isinstance(parse_press(button.callback_data), FeedbackPress)
        for button in row
    )


def suggestions_keyboard(
    lang: str, question_id: int, entries: Iterable[FaqDoc]
) -> InlineKeyboardMarkup:
    rows = _suggestion_rows(question_id, entries)
    rows.append(
        [
            InlineKeyboardButton(
                t(lang, "button_none_of_these"), callback_data=contact_data(question_id)
            )
        ]
    )
    return InlineKeyboardMarkup(rows)


def _suggestion_rows(
    question_id: int, entries: Iterable[FaqDoc]
) -> list[list[InlineKeyboardButton]]:
    return [
        [InlineKeyboardButton(shorten(doc.question), callback_data=data)]
        for doc in entries
        if (data := _or_skip(suggestion_data, question_id, doc.id)) is not None
    ]


def examples_keyboard(entries: Iterable[FaqDoc]) -> InlineKeyboardMarkup | None:
    rows = [
        [InlineKeyboardButton(shorten(doc.question), callback_data=data)]
        for doc in entries
        if (data := _or_skip(example_data, doc.id)) is not None
    ]
    return InlineKeyboardMarkup(rows) if rows else None


def contact_keyboard(lang: str, question_id: int | None = None) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup.from_button(
        InlineKeyboardButton(t(lang, "button_contact"), callback_data=contact_data(question_id))
    )


def ticket_keyboard(lang: str, ticket_id: int, *, add_to_faq: bool) -> InlineKeyboardMarkup:
    """The staff buttons on a ticket's first post."""
    actions = ["claim", "close", "report"] + (["faq"] if add_to_faq else [])
    labels = {"claim": "button_claim", "close": "button_close", "report": "button_report"}
    labels["faq"] = "button_add_faq"
    buttons = [
        InlineKeyboardButton(t(lang, labels[action]), callback_data=ticket_data(action, ticket_id))
        for action in actions
    ]
    return InlineKeyboardMarkup([buttons[:2], buttons[2:]])


def rating_keyboard(ticket_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup.from_row(
        [
            InlineKeyboardButton("⭐" * stars, callback_data=rating_data(ticket_id, stars))
            for stars in range(1, 6)
        ]
    )


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup.from_row(
        [
            InlineKeyboardButton(LANGUAGE_NAMES[lang], callback_data=language_data(lang))
            for lang in LANGS
        ]
    )


def shorten(text: str, limit: int = SUGGESTION_LABEL_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _or_skip(encode: Callable[..., str], *args: object) -> str | None:
    # Entry ids may be up to 64 characters; the rare one too long for a button is left out rather
    # than failing the whole reply.
    try:
        return encode(*args)
    except CallbackDataTooLong as exc:
        logger.warning("button left out, callback data too long: %s", exc)
        return None
