"""A fake Telegram Bot API server: test double, local sandbox engine and crash-drill target.

Why it exists
-------------
The bot talks to Telegram only over HTTP through python-telegram-bot (PTB). Mocking PTB would test
our assumptions about Telegram instead of our code, so this module serves the Bot API itself, on
127.0.0.1, and the real, unmodified PTB ``Application`` runs against it. It is strict where our bugs
would hide: malformed HTML (unescaped user text), oversized texts and callback data, unknown chats,
blocked users, "message is not modified", forum topics in a chat that is not a forum.

Using it from tests (same event loop)::

    async with FakeTelegram() as fake:
        fake.add_user(1001, "Alice")
        app = (
            ApplicationBuilder().token(fake.token)
            .base_url(fake.api_url).base_file_url(fake.file_url).build()
        )
        ...  # app.initialize(); app.start(); app.updater.start_polling(poll_interval=0, timeout=1)
        fake.user_sends_text(1001, "/start")
        reply = await fake.next_reply(1001)  # Bot API message JSON + "raw_text" + "parse_mode"
        fake.user_presses(1001, reply, "faq:12")
        answer = await fake.wait_for(method="answerCallbackQuery")

Driving it from another process: ``python -m bot.fakeapi --port 8081`` prints the URL to put in
``HELPDESK_TELEGRAM_API_URL``; a script then uses the JSON control API under ``/_test/`` (users,
groups, send_text, press, messages, calls, fail, drop, block, update). It has no authentication:
it only listens on 127.0.0.1 and only ever holds fake data.

What the bot sees
-----------------
* ``POST|GET /bot<token>/<method>`` with a JSON, urlencoded or multipart body (PTB sends form
  fields whose nested values are JSON strings; they are decoded). Method names are
  case-insensitive. A wrong token answers 401, an unknown method 404 ``Not Found``, and a real Bot
  API method this fake does not implement answers 400 saying so (rather than PTB's misleading
  ``InvalidToken`` for a 404).
* ``GET /file/bot<token>/<file_path>`` downloads files (uploads by the bot or fake user files).
* Responses use Telegram's envelope ``{"ok": true, "result": ...}`` /
  ``{"ok": false, "error_code": N, "description": "...", "parameters": {"retry_after": N}}``.

Where it deliberately differs from Telegram
-------------------------------------------
* HTML: a stray ``&`` that does not start ``&lt;``, ``&gt;``, ``&amp;``, ``&quot;`` or a numeric
  entity is rejected (Telegram keeps it as text). Being stricter catches text we forgot to escape.
* MarkdownV2/Markdown are accepted without validation; the text is stored unchanged (markup
  included) and no entities are produced.
* Texts are not trimmed, URLs/hashtags in bot messages are not auto-detected, privacy mode is not
  emulated (the bot receives every group message), photos have a single fixed size, URL "uploads"
  are not fetched, inline messages (``inline_message_id``) are not supported.
* Like Telegram: editing a message without ``reply_markup`` removes its inline keyboard; messages
  in a forum topic carry ``reply_to_message`` = the topic's creation service message;
  ``getUpdates`` answers 409 when a newer ``getUpdates`` supersedes it (two bot instances) or a
  webhook is set.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import dataclasses
import functools
import inspect
import json
import logging
import mimetypes
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Self

from aiohttp import web

if TYPE_CHECKING:
    from bot.clock import Clock

__all__ = [
    "ApiError",
    "CallRecord",
    "FakeTelegram",
    "FakeUser",
    "HtmlParseError",
    "UploadedFile",
    "main",
    "parse_html",
]

_LOG = logging.getLogger(__name__)

JSON = dict[str, Any]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile refuses bigger files, like Telegram
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # aiohttp's default of 1 MB would refuse real documents
MEMBER_STATUSES = frozenset({"creator", "administrator", "member", "restricted", "left", "kicked"})
TOPIC_ICON_COLORS = frozenset({7322096, 16766590, 13338331, 9367192, 16749490, 16478047})
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Exactly one of these must accompany the text of an inline keyboard button.
BUTTON_ACTIONS = frozenset(
    {
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)
UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "message_reaction",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
# Telegram's default when allowed_updates is unset or empty.
DEFAULT_UPDATE_TYPES = UPDATE_TYPES - {"chat_member", "message_reaction", "message_reaction_count"}
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
_MENU_BUTTON_TYPES = ("default", "commands", "web_app")
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
# Telegram only accepts these emoji as reactions ("❤" without the variation selector, etc.).
try:
    from telegram.constants import ReactionEmoji

    REACTION_EMOJI = frozenset(e.value for e in ReactionEmoji)
except ImportError:  # pragma: no cover - PTB is a dependency; keep the fake importable without it
    REACTION_EMOJI = frozenset()


# --------------------------------------------------------------------------------------------
# Errors and small value types
# --------------------------------------------------------------------------------------------


class ApiError(Exception):
    """A Bot API error answer: HTTP status, Telegram's description, optional retry_after."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


def _forbidden(reason: str) -> ApiError:
    return ApiError(403, f"Forbidden: {reason}")


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request, as it appears in a call's params."""

    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)

    def to_json(self) -> JSON:
        size = len(self.data)
        return {"filename": self.filename, "content_type": self.content_type, "size": size}


@dataclass
class CallRecord:
    """One Bot API call the bot made (getUpdates excluded), with its outcome."""

    index: int
    method: str
    params: JSON
    ok: bool
    status: int
    result: Any = None
    description: str | None = None
    chat_id: int | str | None = None
    message: JSON | None = None  # snapshot of the sent/edited message (see FakeTelegram.message)
    injected: bool = False  # the outcome came from fail_next/drop_next
    dropped: bool = False  # the connection was closed without a response
    consumed: bool = field(default=False, repr=False)

    def to_json(self) -> JSON:
        # Not dataclasses.asdict: it would turn UploadedFile into a dict holding raw bytes.
        fields = dataclasses.fields(self)
        return {f.name: getattr(self, f.name) for f in fields if f.name != "consumed"}


@dataclass
class _Fault:
    error: ApiError | None  # None: drop the connection instead of answering
    after_effect: bool = False


@dataclass(eq=False)
class FakeUser:
    """A Telegram user known to the fake; returned by :meth:`FakeTelegram.add_user`."""

    id: int
    first_name: str
    language_code: str | None = None
    username: str | None = None
    last_name: str | None = None
    blocked: bool = False
    started: bool = True  # False: the bot may not write first (403 "can't initiate conversation")
    fake: FakeTelegram | None = field(default=None, repr=False)

    def to_api(self) -> JSON:
        return _drop_none(
            {
                "id": self.id,
                "is_bot": False,
                "first_name": self.first_name,
                "last_name": self.last_name,
                "username": self.username,
                "language_code": self.language_code,
            }
        )

    def sends_text(self, text: str, **kwargs: Any) -> JSON:
        return self._owner().user_sends_text(self.id, text, **kwargs)

    def presses(self, message: Mapping[str, Any], callback_data: str) -> JSON:
        return self._owner().user_presses(self.id, message, callback_data)

    def _owner(self) -> FakeTelegram:
        if self.fake is None:
            raise RuntimeError("this user is not attached to a FakeTelegram")
        return self.fake


@dataclass
class _Topic:
    id: int  # message_thread_id == id of the "forum_topic_created" service message
    name: str
    icon_color: int
    icon_custom_emoji_id: str | None = None
    closed: bool = False


@dataclass
class _Stored:
    """A message in a chat: the Bot API JSON plus what the fake knows about how it was sent."""

    api: JSON
    by_bot: bool
    raw_text: str | None = None
    parse_mode: str | None = None
    markup: JSON | None = None  # reply_markup as sent, including reply keyboards
    service: bool = False
    deleted: bool = False
    reactions: list[JSON] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.api["message_id"]

    def view(self) -> JSON:
        data = copy.deepcopy(self.api)
        data["raw_text"] = self.raw_text
        data["parse_mode"] = self.parse_mode
        if self.markup is not None:
            data["reply_markup"] = copy.deepcopy(self.markup)
        if self.reactions:
            data["reactions"] = copy.deepcopy(self.reactions)
        return data


@dataclass
class _Chat:
    id: int
    type: str  # "private", "group" or "supergroup"
    title: str | None = None
    user: FakeUser | None = None  # the other party of a private chat
    is_forum: bool = False
    bot_status: str = "member"
    members: dict[int, str] = field(default_factory=dict)
    topics: dict[int, _Topic] = field(default_factory=dict)
    messages: dict[int, _Stored] = field(default_factory=dict)
    last_message_id: int = 0

    def to_api(self) -> JSON:
        if self.user is not None:
            user = self.user
            return _drop_none(
                {
                    "id": self.id,
                    "type": "private",
                    "first_name": user.first_name,
                    "last_name": user.last_name,
                    "username": user.username,
                }
            )
        data: JSON = {"id": self.id, "type": self.type, "title": self.title}
        if self.is_forum:
            data["is_forum"] = True
        return data

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id


@dataclass
class _File:
    file_id: str
    file_unique_id: str
    kind: str  # photo, document, voice, sticker
    data: bytes = field(repr=False)
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None

    def to_api(self) -> JSON:
        """The object a message carries for this file (PhotoSize list for photos)."""
        base: JSON = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
        }
        if self.kind == "photo":
            return {"photo": [base | {"width": 800, "height": 600}]}
        if self.kind == "sticker":
            sticker = {"type": "regular", "width": 512, "height": 512}
            return {"sticker": base | sticker | {"is_animated": False, "is_video": False}}
        if self.kind == "voice":
            return {"voice": base | {"duration": 1, "mime_type": self.mime_type or "audio/ogg"}}
        extra = _drop_none({"file_name": self.file_name, "mime_type": self.mime_type})
        return {"document": base | extra}


class _Poll:
    """A waiting getUpdates request; a newer one supersedes it (Telegram answers it with 409)."""

    def __init__(self) -> None:
        self.wakeup = asyncio.Event()
        self.superseded = False


@dataclass
class _Sent:
    """What a message-producing handler returns: the API result and the message it touched."""

    result: Any
    stored: _Stored


def _drop_none(data: JSON) -> JSON:
    return {key: value for key, value in data.items() if value is not None}


def _utf16_len(text: str) -> int:
    # Telegram measures entity offsets in UTF-16 code units: astral characters count twice.
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _without_reply(message: JSON) -> JSON:
    # Telegram does not nest reply_to_message inside reply_to_message.
    data = copy.deepcopy(message)
    data.pop("reply_to_message", None)
    return data


# --------------------------------------------------------------------------------------------
# HTML parse mode
# --------------------------------------------------------------------------------------------


class HtmlParseError(ValueError):
    """Malformed Telegram HTML; the message becomes "Bad Request: can't parse entities: ..."."""


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ENTITY_RE = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8})|(lt|gt|amp|quot));")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
_ATTR_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_-]*")
_PLAIN_RUN_RE = re.compile(r"[^<&]+")
_SPACES_RE = re.compile(r"\s*")
_UNQUOTED_VALUE_RE = re.compile(r"[^\s>]+")


@dataclass
class _OpenTag:
    name: str
    offset: int  # UTF-16 offset of the entity start in the plain text
    attrs: dict[str, str]
    language: str | None = None  # for <pre>, from a nested <code class="language-...">


class _HtmlParser:
    """Telegram's HTML dialect: a small, strict subset (no implied closing, no unknown tags)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.pos = 0
        self.out: list[str] = []
        self.utf16 = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[JSON] = []

    def parse(self) -> tuple[str, list[JSON]]:
        while self.pos < len(self.source):
            char = self.source[self.pos]
            if char == "<":
                self._tag()
            elif char == "&":
                self._emit(self._entity(self.pos))
            else:
                run = _PLAIN_RUN_RE.match(self.source, self.pos)
                assert run is not None  # char is neither "<" nor "&"
                self._emit(run.group())
                self.pos = run.end()
        if self.stack:
            name = self.stack[-1].name
            raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{name}"')
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def _byte(self, pos: int) -> int:
        return len(self.source[:pos].encode("utf-8"))

    def _emit(self, text: str) -> None:
        self.out.append(text)
        self.utf16 += _utf16_len(text)

    def _entity(self, start: int) -> str:
        match = _HTML_ENTITY_RE.match(self.source, start)
        if match is None:
            raise HtmlParseError(
                f'Unsupported HTML entity at byte offset {self._byte(start)}; write "&" as "&amp;"'
            )
        self.pos = match.end()
        decimal, hexadecimal, named = match.groups()
        if named:
            return _NAMED_ENTITIES[named]
        code = int(decimal) if decimal else int(hexadecimal, 16)
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise HtmlParseError(f"Invalid numeric HTML entity at byte offset {self._byte(start)}")
        return chr(code)

    def _decode(self, raw: str, start: int) -> str:
        """Decode entities in an attribute value (same strictness as text)."""
        parser = _HtmlParser(raw)
        parts: list[str] = []
        while parser.pos < len(raw):
            if raw[parser.pos] == "&":
                try:
                    parts.append(parser._entity(parser.pos))
                except HtmlParseError:
                    offset = self._byte(start)
                    raise HtmlParseError(
                        f"Unsupported HTML entity in an attribute at byte offset {offset}"
                    ) from None
            else:
                parts.append(raw[parser.pos])
                parser.pos += 1
        return "".join(parts)

    def _tag(self) -> None:
        start = self.pos
        if self.source.startswith("</", start):
            self._end_tag(start)
            return
        match = _TAG_NAME_RE.match(self.source, start + 1)
        name = match.group().lower() if match else ""
        if match is None or name not in _HTML_TAGS:
            shown = re.match(r"[^\s<>]{0,20}", self.source[start + 1 :])
            shown_name = shown.group() if shown else ""
            raise HtmlParseError(
                f'Unsupported start tag "{shown_name}" at byte offset {self._byte(start)}'
            )
        self.pos = match.end()
        attrs = self._attributes(name, start)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise HtmlParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self._byte(start)}'
            )
        if name == "tg-emoji" and not attrs.get("emoji-id"):
            raise HtmlParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {self._byte(start)}'
            )
        self.stack.append(_OpenTag(name, self.utf16, attrs))

    def _attributes(self, tag: str, start: int) -> dict[str, str]:
        attrs: dict[str, str] = {}
        source = self.source
        while True:
            self.pos = _SPACES_RE.match(source, self.pos).end()  # type: ignore[union-attr]
            if self.pos >= len(source):
                raise HtmlParseError(f"Unclosed start tag at byte offset {self._byte(start)}")
            if source[self.pos] == ">":
                self.pos += 1
                return attrs
            match = _ATTR_NAME_RE.match(source, self.pos)
            if match is None:
                raise HtmlParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {self._byte(start)}'
                )
            name = match.group().lower()
            self.pos = _SPACES_RE.match(source, match.end()).end()  # type: ignore[union-attr]
            value = ""  # valueless attributes, e.g. <blockquote expandable>
            if self.pos < len(source) and source[self.pos] == "=":
                self.pos = _SPACES_RE.match(source, self.pos + 1).end()  # type: ignore[union-attr]
                value = self._attribute_value(tag, start)
            attrs[name] = value

    def _attribute_value(self, tag: str, start: int) -> str:
        source = self.source
        if self.pos < len(source) and source[self.pos] in "\"'":
            quote = source[self.pos]
            end = source.find(quote, self.pos + 1)
            if end == -1:
                raise HtmlParseError(
                    f'Unclosed end of an attribute value of the tag "{tag}" '
                    f"at byte offset {self._byte(start)}"
                )
            raw = source[self.pos + 1 : end]
            self.pos = end + 1
        else:
            match = _UNQUOTED_VALUE_RE.match(source, self.pos)
            if match is None:
                raise HtmlParseError(
                    f'Expected an attribute value in the tag "{tag}" at byte offset '
                    f"{self._byte(start)}"
                )
            raw = match.group()
            self.pos = match.end()
        return self._decode(raw, start)

    def _end_tag(self, start: int) -> None:
        close = self.source.find(">", start)
        if close == -1:
            raise HtmlParseError(f"Unclosed end tag at byte offset {self._byte(start)}")
        name = self.source[start + 2 : close].strip().lower()
        if not self.stack:
            raise HtmlParseError(f"Unexpected end tag at byte offset {self._byte(start)}")
        tag = self.stack.pop()
        if name != tag.name:
            raise HtmlParseError(
                f'Unmatched end tag at byte offset {self._byte(start)}, expected "</{tag.name}>", '
                f'found "</{name}>"'
            )
        self.pos = close + 1
        self._close(tag)

    def _close(self, tag: _OpenTag) -> None:
        length = self.utf16 - tag.offset
        parent = self.stack[-1] if self.stack else None
        if tag.name == "code" and parent is not None and parent.name == "pre":
            # <pre><code class="language-x"> is one pre entity with a language, as in Telegram.
            css = tag.attrs.get("class", "")
            if css.startswith("language-"):
                parent.language = css.removeprefix("language-")
            return
        entity: JSON = {"type": _HTML_TAGS[tag.name], "offset": tag.offset, "length": length}
        if tag.name == "a":
            href = tag.attrs.get("href", "")
            if not href:
                return  # Telegram keeps the text and drops a link without a target
            entity["url"] = href
        elif tag.name == "pre" and tag.language:
            entity["language"] = tag.language
        elif tag.name == "tg-emoji":
            entity["custom_emoji_id"] = tag.attrs["emoji-id"]
        elif tag.name == "blockquote" and "expandable" in tag.attrs:
            entity["type"] = "expandable_blockquote"
        if length > 0:
            self.entities.append(entity)


def parse_html(source: str) -> tuple[str, list[JSON]]:
    """Parse Telegram HTML into (plain text, entities with UTF-16 offsets).

    Raises HtmlParseError for markup Telegram would refuse (and for a stray "&", see above).
    """
    return _HtmlParser(source).parse()


def _apply_parse_mode(text: str, parse_mode: str | None) -> tuple[str, list[JSON]]:
    mode = (parse_mode or "").lower()
    if not mode:
        return text, []
    if mode == "html":
        try:
            return parse_html(text)
        except HtmlParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None
    if mode in ("markdown", "markdownv2"):
        return text, []  # accepted without validation (see the module docstring)
    raise bad_request("unsupported parse_mode")


# --------------------------------------------------------------------------------------------
# Request parsing and validation helpers
# --------------------------------------------------------------------------------------------

# Form fields arrive as strings; these stay strings even when they look like JSON ("123", "true").
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "url",
        "name",
        "title",
        "description",
        "action",
        "language_code",
        "secret_token",
        "icon_custom_emoji_id",
        "file_id",
        "photo",
        "document",
        "voice",
        "sticker",
        "emoji",
        "phone_number",
        "first_name",
        "last_name",
        "business_connection_id",
        "message_effect_id",
        "ip_address",
    }
)
# Nested values that may arrive as JSON strings even in a JSON body.
_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "reply_parameters",
        "link_preview_options",
        "allowed_updates",
        "commands",
        "scope",
        "menu_button",
        "reaction",
    }
)
_INT_PARAMS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "user_id",
        "message_thread_id",
        "reply_to_message_id",
        "offset",
        "limit",
        "cache_time",
        "icon_color",
        "duration",
    }
)
_INT_RE = re.compile(r"-?[0-9]+")
_BOT_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")
_MENTION_RE = re.compile(r"(?<![\w@/])@[A-Za-z][A-Za-z0-9_]{3,31}(?![A-Za-z0-9_])")
_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_LANGUAGE_RE = re.compile(r"[a-z]{2}")


def _coerce_form_value(name: str, value: str) -> Any:
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _normalise_params(params: JSON) -> JSON:
    for name in _JSON_PARAMS & params.keys():
        if isinstance(params[name], str):
            try:
                params[name] = json.loads(params[name])
            except ValueError:
                raise bad_request(f"can't parse {name} JSON object") from None
    for name in _INT_PARAMS & params.keys():
        value = params[name]
        numeric_text = isinstance(value, str) and _INT_RE.fullmatch(value)
        if numeric_text or (isinstance(value, float) and value.is_integer()):
            params[name] = int(value)
    return params


async def _read_params(request: web.Request) -> JSON:
    params: JSON = {key: _coerce_form_value(key, v) for key, v in request.query.items()}
    if request.method != "POST" or not request.can_read_body:
        return _normalise_params(params)
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON body") from None
        if not isinstance(body, dict):
            raise bad_request("JSON body must be an object")
        params.update(body)
    else:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                data = value.file.read()
                params[key] = UploadedFile(value.filename, value.content_type, data)
            else:
                params[key] = _coerce_form_value(key, value)
    return _normalise_params(params)


def _auto_entities(text: str) -> list[JSON]:
    """The entities Telegram's clients attach to a user's text: a leading command, @mentions."""
    entities: list[JSON] = []
    command_end = 0
    command = _BOT_COMMAND_RE.match(text)
    if command:
        entities.append({"type": "bot_command", "offset": 0, "length": _utf16_len(command[0])})
        command_end = command.end()
    for mention in _MENTION_RE.finditer(text, command_end):
        offset = _utf16_len(text[: mention.start()])
        entities.append({"type": "mention", "offset": offset, "length": _utf16_len(mention[0])})
    return entities


def _inline_keyboard(markup: JSON | None) -> JSON | None:
    """The markup as a Message carries it: only a non-empty inline keyboard is echoed back."""
    if markup and markup.get("inline_keyboard"):
        return markup
    return None


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise bad_request("can't parse inline keyboard button: button must be an Object")
    if not isinstance(button.get("text"), str) or not button["text"]:
        raise bad_request("can't parse inline keyboard button: Text must be non-empty")
    actions = BUTTON_ACTIONS & button.keys()
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if len(actions) > 1:
        raise bad_request(
            "can't parse inline keyboard button: exactly one of the optional fields must be used, "
            f"found {sorted(actions)}"
        )
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str) or not url.startswith(("http://", "https://", "tg://")):
            raise bad_request(
                f"inline keyboard button URL '{url}' is invalid: Unsupported URL protocol"
            )


def _check_markup(markup: Any, *, inline_only: bool = False) -> JSON | None:
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request("can't parse inline keyboard: inline_keyboard must be an Array")
        for row in rows:
            for button in row:
                _check_inline_button(button)
        return markup
    if inline_only:
        raise bad_request("inline keyboard expected")
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request("can't parse keyboard: keyboard must be an Array")
        for row in rows:
            for button in row:
                text = button.get("text") if isinstance(button, dict) else button
                if not isinstance(text, str) or not text:
                    raise bad_request("keyboard button text must be non-empty")
        return markup
    if "remove_keyboard" in markup or "force_reply" in markup:
        return markup
    raise bad_request("can't parse reply keyboard markup JSON object")


def _require(params: JSON, name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise bad_request(f"{name} is empty")
    return value


def _require_int(params: JSON, name: str) -> int:
    value = _require(params, name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request(f"invalid {name} specified")
    return value


def _format_text(
    text: Any, parse_mode: Any, entities: Any, *, caption: bool
) -> tuple[str, list[JSON]]:
    """Telegram's text pipeline: parse entities, then check emptiness and length."""
    text = "" if text is None else str(text)
    if entities is not None:
        if not isinstance(entities, list):
            raise bad_request("can't parse entities JSON object")
        plain, found = text, entities
    else:
        plain, found = _apply_parse_mode(text, parse_mode)
    if caption:
        if len(plain) > MAX_CAPTION_LENGTH:
            raise bad_request("message caption is too long")
    else:
        if not plain.strip():
            raise bad_request("message text is empty")
        if len(plain) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
    return plain, found


def _member_json(status: str, user: JSON) -> JSON:
    """A ChatMember object complete enough for PTB's de_json."""
    if status == "creator":
        return {"status": status, "user": user, "is_anonymous": False}
    if status == "administrator":
        rights = dict.fromkeys(
            (
                "can_manage_chat",
                "can_delete_messages",
                "can_manage_video_chats",
                "can_restrict_members",
                "can_change_info",
                "can_invite_users",
                "can_pin_messages",
                "can_manage_topics",
            ),
            True,
        )
        limited = dict.fromkeys(
            ("can_be_edited", "is_anonymous", "can_promote_members", "can_post_stories"), False
        )
        stories = dict.fromkeys(("can_edit_stories", "can_delete_stories"), False)
        return {"status": status, "user": user} | rights | limited | stories
    if status == "restricted":
        denied = dict.fromkeys(
            (
                "can_change_info",
                "can_invite_users",
                "can_pin_messages",
                "can_send_messages",
                "can_send_polls",
                "can_send_other_messages",
                "can_add_web_page_previews",
                "can_manage_topics",
                "can_send_audios",
                "can_send_documents",
                "can_send_photos",
                "can_send_videos",
                "can_send_video_notes",
                "can_send_voice_notes",
                "can_edit_tag",
                "can_react_to_messages",  # required by PTB 22.8's ChatMemberRestricted
            ),
            False,
        )
        return {"status": status, "user": user, "is_member": True, "until_date": 0} | denied
    if status == "kicked":
        return {"status": status, "user": user, "until_date": 0}
    return {"status": status, "user": user}


_CONTENT_KEYS = (
    "text",
    "entities",
    "caption",
    "caption_entities",
    "photo",
    "document",
    "voice",
    "sticker",
    "contact",
)


def _content_of(message: JSON) -> JSON:
    return {key: copy.deepcopy(message[key]) for key in _CONTENT_KEYS if key in message}


def _update_type(update: JSON) -> str | None:
    return next((key for key in update if key != "update_id"), None)


def _dumps(value: Any) -> str:
    def default(obj: Any) -> Any:
        if isinstance(obj, UploadedFile | CallRecord):
            return obj.to_json()
        raise TypeError(f"{type(obj).__name__} is not JSON serialisable")

    return json.dumps(value, ensure_ascii=False, default=default)


def _json_response(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=_dumps)


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------

_Handler = Callable[["FakeTelegram", JSON], Any]
_API: dict[str, _Handler] = {}


def _api(name: str) -> Callable[[_Handler], _Handler]:
    """Register a Bot API method implementation under its canonical (camelCase) name."""

    def register(func: _Handler) -> _Handler:
        _API[name] = func
        return func

    return register


@functools.cache
def _real_bot_api_methods() -> frozenset[str]:
    """Lower-cased names of every Bot API method PTB knows (its camelCase aliases)."""
    try:
        from telegram import Bot
    except ImportError:  # pragma: no cover
        return frozenset()
    return frozenset(
        name.lower()
        for name in dir(Bot)
        if name[:1].islower() and name != name.lower() and callable(getattr(Bot, name, None))
    )


class FakeTelegram:
    """An in-process fake of the Telegram Bot API (see the module docstring)."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        bot_username: str = "helpdesk_test_bot",
        bot_id: int | None = None,
        bot_first_name: str = "Helpdesk Test Bot",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        prefix = token.split(":", 1)[0]
        # A real bot's id is the numeric prefix of its token.
        self.bot_id = bot_id if bot_id is not None else int(prefix) if prefix.isdigit() else 123456
        self.bot_first_name = bot_first_name
        self.host = host
        self._port = port
        self._clock = clock
        self._runner: web.AppRunner | None = None
        self._closing = False

        self._users: dict[int, FakeUser] = {}
        self._chats: dict[int, _Chat] = {}
        self._files: dict[str, _File] = {}
        self._file_paths: dict[str, _File] = {}
        self._file_counter = 0

        self._updates: list[JSON] = []
        self._last_update_id = 0
        self._allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self._polls: list[_Poll] = []
        self.poll_count = 0  # getUpdates requests served (they are not in `calls`)

        self.log: list[CallRecord] = []
        self._scan_from = 0  # every record before this index is consumed
        self._calls_changed = asyncio.Event()
        self._faults: dict[str, deque[_Fault]] = {}
        self.callback_answers: list[JSON] = []
        self._open_queries: set[str] = set()
        self._query_counter = 0

        self.webhook_url = ""
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.menu_buttons: dict[int | None, JSON] = {}

        self._real_methods = _real_bot_api_methods()
        self._methods = {name.lower(): name for name in _API}

    # ---- lifecycle -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        if self._runner is None and self._port == 0:
            raise RuntimeError("FakeTelegram is not started")
        return f"http://{self.host}:{self._port}"

    @property
    def api_url(self) -> str:
        """What HELPDESK_TELEGRAM_API_URL / PTB's base_url should be (the token is appended)."""
        return f"{self.base_url}/bot"

    @property
    def file_url(self) -> str:
        """PTB's base_file_url."""
        return f"{self.base_url}/file/bot"

    async def start(self) -> None:
        """Serve on host:port; a restarted fake keeps its port and all its state."""
        if self._runner is not None:
            raise RuntimeError("FakeTelegram is already running")
        self._closing = False
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        self._add_control_routes(app)
        # handler_cancellation: a long poll whose client went away must not linger.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]
        _LOG.info("fake Telegram Bot API listening on %s", self.base_url)

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._closing = True
        self._wake_polls()  # pending long polls answer [] now instead of at their timeout
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _now(self) -> int:
        now = self._clock.now() if self._clock is not None else datetime.now(UTC)
        return int(now.timestamp())

    # ---- world model -----------------------------------------------------------------------

    @property
    def bot_user(self) -> JSON:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def add_user(
        self,
        user_id: int,
        first_name: str = "Test User",
        *,
        language_code: str | None = "zh-hans",
        username: str | None = None,
        last_name: str | None = None,
        started: bool = True,
    ) -> FakeUser:
        """Add (or replace) a user and their private chat with the bot (chat id == user id)."""
        if user_id <= 0:
            raise ValueError("user ids are positive; groups use negative ids")
        user = FakeUser(
            user_id, first_name, language_code, username, last_name, started=started, fake=self
        )
        self._users[user_id] = user
        chat = self._chats.get(user_id)
        if chat is None:
            self._chats[user_id] = _Chat(user_id, "private", user=user)
        else:
            chat.user = user
        return user

    def add_group(
        self,
        chat_id: int,
        title: str,
        *,
        is_forum: bool = False,
        members: Mapping[int, str] | None = None,
        bot_status: str = "administrator",
        chat_type: str | None = None,
    ) -> JSON:
        """Add a group; members maps user id -> status ("member", "administrator", ...).

        The bot is an administrator by default (needed for forum topics); users not in
        ``members`` become "member" when they first post in the group, else they are "left".
        """
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        statuses = dict(members or {})
        for status in [*statuses.values(), bot_status]:
            if status not in MEMBER_STATUSES:
                raise ValueError(f"unknown member status {status!r}")
        kind = chat_type or (
            "supergroup" if is_forum or str(chat_id).startswith("-100") else "group"
        )
        chat = _Chat(
            chat_id,
            kind,
            title=title,
            is_forum=is_forum,
            bot_status=bot_status,
            members={int(uid): s for uid, s in statuses.items()},
        )
        self._chats[chat_id] = chat
        return chat.to_api()

    def set_member(self, chat_id: int, user_id: int, status: str) -> None:
        if status not in MEMBER_STATUSES:
            raise ValueError(f"unknown member status {status!r}")
        chat = self._group(chat_id)
        if user_id == self.bot_id:
            chat.bot_status = status
        else:
            chat.members[user_id] = status

    def user(self, user_id: int) -> FakeUser:
        try:
            return self._users[user_id]
        except KeyError:
            raise ValueError(f"unknown user {user_id}; call add_user() first") from None

    def block(self, user_id: int, *, notify: bool = True) -> None:
        """The user blocks the bot: sends to them answer 403; a my_chat_member update follows."""
        self._set_blocked(user_id, blocked=True, notify=notify)

    def unblock(self, user_id: int, *, notify: bool = True) -> None:
        self._set_blocked(user_id, blocked=False, notify=notify)

    def _set_blocked(self, user_id: int, *, blocked: bool, notify: bool) -> None:
        user = self.user(user_id)
        if user.blocked == blocked:
            return
        user.blocked = blocked
        if not notify:
            return
        before, after = ("member", "kicked") if blocked else ("kicked", "member")
        self.push_update(
            {
                "my_chat_member": {
                    "chat": self._chats[user_id].to_api(),
                    "from": user.to_api(),
                    "date": self._now(),
                    "old_chat_member": _member_json(before, self.bot_user),
                    "new_chat_member": _member_json(after, self.bot_user),
                }
            }
        )

    def _group(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None or chat.user is not None:
            raise ValueError(f"unknown group {chat_id}; call add_group() first")
        return chat

    def _chat(self, chat_id: Any) -> _Chat:
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def _writable_chat(self, params: JSON) -> _Chat:
        """The target chat of a send/edit, refusing like Telegram when the bot may not write."""
        chat = self._chat(params.get("chat_id"))
        if chat.user is not None:
            if chat.user.blocked:
                raise _forbidden("bot was blocked by the user")
            if not chat.user.started:
                raise _forbidden("bot can't initiate conversation with a user")
        elif chat.bot_status == "left":
            raise _forbidden(f"bot is not a member of the {chat.type} chat")
        elif chat.bot_status == "kicked":
            raise _forbidden(f"bot was kicked from the {chat.type} chat")
        return chat

    def _member_status(self, chat: _Chat, user_id: int) -> str:
        if user_id == self.bot_id:
            return "member" if chat.user is not None else chat.bot_status
        if chat.user is not None:
            return "member" if user_id == chat.id else "left"
        return chat.members.get(user_id, "left")

    def _user_json(self, user_id: int) -> JSON:
        if user_id == self.bot_id:
            return self.bot_user
        user = self._users.get(user_id)
        if user is not None:
            return user.to_api()
        return {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}

    def _store_message(
        self,
        chat: _Chat,
        sender: JSON,
        content: JSON,
        *,
        by_bot: bool,
        thread: _Topic | None = None,
        reply_to: _Stored | None = None,
        markup: JSON | None = None,
        raw_text: str | None = None,
        parse_mode: str | None = None,
        service: bool = False,
    ) -> _Stored:
        api: JSON = {
            "message_id": chat.next_message_id(),
            "from": copy.deepcopy(sender),
            "chat": chat.to_api(),
            "date": self._now(),
        }
        if thread is not None:
            api["message_thread_id"] = thread.id
            api["is_topic_message"] = True
            # Telegram presents every topic message as a reply to the topic's creation message.
            reply_to = reply_to or chat.messages.get(thread.id)
        if reply_to is not None:
            api["reply_to_message"] = _without_reply(reply_to.api)
        api.update(content)
        inline = _inline_keyboard(markup)
        if inline is not None:
            api["reply_markup"] = copy.deepcopy(inline)
        stored = _Stored(
            api, by_bot, raw_text=raw_text, parse_mode=parse_mode, markup=markup, service=service
        )
        chat.messages[stored.id] = stored
        return stored

    # ---- files -----------------------------------------------------------------------------

    def _new_file(
        self, kind: str, data: bytes, *, file_name: str | None = None, mime_type: str | None = None
    ) -> _File:
        self._file_counter += 1
        number = self._file_counter
        folder, default_suffix = _FILE_DIRS[kind]
        suffix = PurePosixPath(file_name).suffix if file_name else default_suffix
        if mime_type is None and file_name:
            mime_type = mimetypes.guess_type(file_name, strict=False)[0]
        stored = _File(
            file_id=f"fake-{kind}-{number:06d}",
            file_unique_id=f"fakeuniq{number:06d}",
            kind=kind,
            data=data,
            file_path=f"{folder}/file_{number}{suffix or default_suffix}",
            file_name=file_name,
            mime_type=mime_type,
        )
        self._files[stored.file_id] = stored
        self._file_paths[stored.file_path] = stored
        return stored

    def file_content(self, file_id: str) -> bytes:
        """The bytes behind a file_id (e.g. a document the bot sent)."""
        return self._files[file_id].data

    def _input_file(self, params: JSON, kind: str) -> _File:
        """Resolve a file parameter: an upload, an attach:// reference, a file_id or a URL."""
        value = params.get(kind)
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value.removeprefix("attach://"))
        if isinstance(value, UploadedFile):
            mime = value.content_type
            if mime == "application/octet-stream":
                mime = None  # PTB's default when it could not guess; guess from the name instead
            return self._new_file(kind, value.data, file_name=value.filename, mime_type=mime)
        if isinstance(value, str) and value:
            if value.startswith(("http://", "https://")):
                name = PurePosixPath(value.split("?", 1)[0]).name or None
                return self._new_file(kind, b"", file_name=name)
            known = self._files.get(value)
            if known is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
            if known.kind != kind:
                raise bad_request(f"can't use file of type {known.kind.title()} as {kind.title()}")
            return known
        raise bad_request(f"there is no {kind} in the request")

    # ---- driving the bot: user actions -------------------------------------------------------

    def push_update(self, update: Mapping[str, Any]) -> JSON:
        """Queue any update (a fresh update_id is assigned) and wake a waiting getUpdates."""
        self._last_update_id += 1
        queued = copy.deepcopy(dict(update))
        queued["update_id"] = self._last_update_id
        self._updates.append(queued)
        self._wake_polls()
        return queued

    def user_sends_text(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        entities: list[JSON] | None = None,
        reply_to: int | Mapping[str, Any] | None = None,
        thread_id: int | None = None,
    ) -> JSON:
        """The user writes text (in their private chat unless chat_id names a group)."""
        if not text:
            raise ValueError("a Telegram message cannot be empty")
        found = _auto_entities(text) if entities is None else entities
        content: JSON = {"text": text}
        if found:
            content["entities"] = copy.deepcopy(found)
        return self._user_message(
            user_id, content, chat_id=chat_id, reply_to=reply_to, thread_id=thread_id
        )

    def user_sends_sticker(
        self, user_id: int, emoji: str = "👍", *, chat_id: int | None = None
    ) -> JSON:
        sticker = self._new_file("sticker", b"RIFF\x00\x00\x00\x00WEBPfake")
        content = sticker.to_api()
        content["sticker"]["emoji"] = emoji
        return self._user_message(user_id, content, chat_id=chat_id)

    def user_sends_photo(
        self,
        user_id: int,
        caption: str | None = None,
        *,
        chat_id: int | None = None,
        content: bytes = b"\xff\xd8\xff\xe0fake-jpeg",
        thread_id: int | None = None,
    ) -> JSON:
        photo = self._new_file("photo", content, mime_type="image/jpeg")
        message = photo.to_api() | self._caption_of(caption)
        return self._user_message(user_id, message, chat_id=chat_id, thread_id=thread_id)

    def user_sends_voice(
        self,
        user_id: int,
        *,
        duration: int = 3,
        content: bytes = b"OggSfake-voice",
        chat_id: int | None = None,
    ) -> JSON:
        voice = self._new_file("voice", content, mime_type="audio/ogg")
        message = voice.to_api()
        message["voice"]["duration"] = duration
        return self._user_message(user_id, message, chat_id=chat_id)

    def user_sends_document(
        self,
        user_id: int,
        file_name: str,
        content: bytes,
        mime_type: str = "application/octet-stream",
        *,
        caption: str | None = None,
        chat_id: int | None = None,
        thread_id: int | None = None,
    ) -> JSON:
        document = self._new_file("document", content, file_name=file_name, mime_type=mime_type)
        return self._user_message(
            user_id,
            document.to_api() | self._caption_of(caption),
            chat_id=chat_id,
            thread_id=thread_id,
        )

    def user_sends_contact(
        self,
        user_id: int,
        phone_number: str,
        *,
        first_name: str | None = None,
        chat_id: int | None = None,
    ) -> JSON:
        """The user shares their own contact (as the "share phone number" button does)."""
        user = self.user(user_id)
        contact = {
            "phone_number": phone_number,
            "first_name": first_name or user.first_name,
            "user_id": user_id,
        }
        return self._user_message(user_id, {"contact": contact}, chat_id=chat_id)

    def user_sends_location(
        self, user_id: int, latitude: float, longitude: float, *, chat_id: int | None = None
    ) -> JSON:
        location = {"latitude": latitude, "longitude": longitude}
        return self._user_message(user_id, {"location": location}, chat_id=chat_id)

    def user_presses(self, user_id: int, message: Mapping[str, Any], callback_data: str) -> JSON:
        """The user presses an inline button on `message`; callback_data is not checked against
        the keyboard, so forged data can be sent too."""
        user = self.user(user_id)
        chat_id = message["chat"]["id"]
        chat = self._chats.get(chat_id)
        stored = chat.messages.get(message["message_id"]) if chat else None
        if stored is not None:
            shown = copy.deepcopy(stored.api)
        else:
            shown = {k: copy.deepcopy(v) for k, v in message.items() if k not in _VIEW_ONLY_KEYS}
        self._query_counter += 1
        query_id = str(4_000_000_000_000 + self._query_counter)
        query = {
            "id": query_id,
            "from": user.to_api(),
            "message": shown,
            "chat_instance": f"fake-instance{chat_id}",
            "data": callback_data,
        }
        self._open_queries.add(query_id)
        self.push_update({"callback_query": query})
        return query

    def _caption_of(self, caption: str | None) -> JSON:
        if not caption:
            return {}
        entities = _auto_entities(caption)
        return {"caption": caption} | ({"caption_entities": entities} if entities else {})

    def _user_message(
        self,
        user_id: int,
        content: JSON,
        *,
        chat_id: int | None = None,
        reply_to: int | Mapping[str, Any] | None = None,
        thread_id: int | None = None,
    ) -> JSON:
        user = self.user(user_id)
        chat = self._chats[user_id] if chat_id is None else self._chats.get(chat_id)
        if chat is None or (chat.user is not None and chat.id != user_id):
            raise ValueError(f"user {user_id} cannot write in chat {chat_id}")
        if chat.user is not None:
            if user.blocked:
                raise ValueError(f"user {user_id} has blocked the bot; call unblock() first")
            user.started = True
        else:
            chat.members.setdefault(user_id, "member")
        thread = None
        if thread_id is not None:
            thread = chat.topics.get(thread_id)
            if thread is None:
                raise ValueError(f"chat {chat.id} has no forum topic {thread_id}")
        reply = None
        if reply_to is not None:
            reply_id = reply_to if isinstance(reply_to, int) else reply_to["message_id"]
            reply = chat.messages.get(reply_id)
            if reply is None:
                raise ValueError(f"chat {chat.id} has no message {reply_id}")
        stored = self._store_message(
            chat,
            user.to_api(),
            content,
            by_bot=False,
            thread=thread,
            reply_to=reply,
            raw_text=content.get("text", content.get("caption")),
        )
        message = copy.deepcopy(stored.api)
        self.push_update({"message": message})
        return message

    # ---- reading what the bot did ----------------------------------------------------------

    @property
    def calls(self) -> list[tuple[str, JSON]]:
        """Every Bot API call except getUpdates, in order, failed ones included."""
        return [(record.method, record.params) for record in self.log]

    def messages(self, chat_id: int) -> list[JSON]:
        """Messages the bot sent in a chat and has not deleted, as they are now (after edits).

        Each is the Bot API JSON plus "raw_text" and "parse_mode" (as the bot sent them);
        "reply_markup" is whatever markup was sent, reply keyboards included.
        """
        chat = self._chats.get(chat_id)
        if chat is None:
            raise ValueError(f"unknown chat {chat_id}")
        return [
            stored.view()
            for stored in chat.messages.values()
            if stored.by_bot and not stored.service and not stored.deleted
        ]

    def message(self, chat_id: int, message_id: int) -> JSON:
        """Any stored message (the user's too), with "deleted" and "reactions" if relevant."""
        stored = self._chats[chat_id].messages[message_id]
        view = stored.view()
        if stored.deleted:
            view["deleted"] = True
        return view

    async def wait_for(
        self,
        predicate: Callable[[CallRecord], bool] | None = None,
        *,
        chat_id: int | None = None,
        method: str | None = None,
        timeout: float = 5.0,
        include_failed: bool = False,
    ) -> CallRecord:
        """The first not-yet-consumed successful call matching all filters, waiting if needed.

        The call is marked consumed, so waiting again yields the next one. Raises TimeoutError.
        """
        wanted = self._canonical(method) if method else None

        def matches(record: CallRecord) -> bool:
            return (
                (record.ok or include_failed)
                and (wanted is None or record.method == wanted)
                and (chat_id is None or record.chat_id == chat_id)
                and (predicate is None or predicate(record))
            )

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._calls_changed  # taken before scanning so no call slips through
            record = self._take(matches)
            if record is not None:
                return record
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = ", ".join(r.method for r in self.log[-10:]) or "none"
                raise TimeoutError(
                    f"no matching Bot API call within {timeout}s "
                    f"(method={method}, chat_id={chat_id}); last calls: {recent}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def next_reply(self, chat_id: int, timeout: float = 5.0) -> JSON:
        """The next message the bot sent or edited in chat_id (a snapshot, see messages())."""
        record = await self.wait_for(
            lambda r: r.message is not None, chat_id=chat_id, timeout=timeout
        )
        assert record.message is not None
        return copy.deepcopy(record.message)

    def _take(self, matches: Callable[[CallRecord], bool]) -> CallRecord | None:
        while self._scan_from < len(self.log) and self.log[self._scan_from].consumed:
            self._scan_from += 1
        for record in self.log[self._scan_from :]:
            if not record.consumed and matches(record):
                record.consumed = True
                return record
        return None

    # ---- fault injection ---------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 500,
        retry_after: int | None = None,
        description: str | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls of `method` answer this error without doing anything."""
        if status == 429 and retry_after is None:
            retry_after = 1  # without it PTB raises NetworkError, not RetryAfter
        if description is None:
            if status == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = _DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")
        error = ApiError(status, description, retry_after=retry_after)
        self._queue_faults(method, _Fault(error), times)

    def drop_next(self, method: str, times: int = 1, *, after_effect: bool = False) -> None:
        """Close the connection of the next `times` calls of `method` without an answer;
        with after_effect the call takes effect first (a response lost on the way back)."""
        self._queue_faults(method, _Fault(None, after_effect=after_effect), times)

    def _queue_faults(self, method: str, fault: _Fault, times: int) -> None:
        queue = self._faults.setdefault(self._canonical(method), deque())
        queue.extend([fault] * times)

    def _canonical(self, method: str) -> str:
        try:
            return self._methods[method.lower()]
        except KeyError:
            raise ValueError(f"the fake does not implement Bot API method {method!r}") from None

    # ---- HTTP: Bot API -----------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _json_response(ApiError(401, "Unauthorized").payload(), 401)
        requested = request.match_info["method"]
        method = self._methods.get(requested.lower())
        if method is None:
            if requested.lower() in self._real_methods:
                error = bad_request(f"method {requested} is not implemented by bot/fakeapi.py")
            else:
                error = ApiError(404, "Not Found")
            return _json_response(error.payload(), error.status)
        try:
            params = await _read_params(request)
        except ApiError as error:
            return _json_response(error.payload(), error.status)

        fault = self._next_fault(method)
        if fault is not None and fault.error is not None:
            self._record(method, params, error=fault.error, injected=True)
            return _json_response(fault.error.payload(), fault.error.status)
        if fault is not None:
            if fault.after_effect:
                await self._perform(method, params, dropped=True)
            else:
                self._record(method, params, injected=True, dropped=True)
            return _drop_connection(request)

        status, payload = await self._perform(method, params)
        return _json_response(payload, status)

    def _next_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        return queue.popleft() if queue else None

    async def _perform(
        self, method: str, params: JSON, *, dropped: bool = False
    ) -> tuple[int, JSON]:
        try:
            outcome = _API[method](self, params)
            if inspect.isawaitable(outcome):
                outcome = await outcome
        except ApiError as error:
            self._record(method, params, error=error, dropped=dropped)
            return error.status, error.payload()
        stored = outcome.stored if isinstance(outcome, _Sent) else None
        result = outcome.result if isinstance(outcome, _Sent) else outcome
        self._record(method, params, result=result, stored=stored, dropped=dropped)
        return 200, {"ok": True, "result": result}

    def _record(
        self,
        method: str,
        params: JSON,
        *,
        result: Any = None,
        error: ApiError | None = None,
        stored: _Stored | None = None,
        injected: bool = False,
        dropped: bool = False,
    ) -> None:
        if method == "getUpdates":
            return  # polling would drown what the bot did; see poll_count instead
        chat_id = params.get("chat_id")
        if stored is not None:
            chat_id = stored.api["chat"]["id"]
        # A request dropped before it took effect (drop_next without after_effect) got no
        # status at all: 0. With after_effect it is recorded by _perform as a normal outcome.
        lost = injected and dropped
        status = error.status if error is not None else 0 if lost else 200
        record = CallRecord(
            index=len(self.log),
            method=method,
            params=params,
            ok=error is None and not lost,
            status=status,
            result=copy.deepcopy(result) if error is None else None,
            description=error.description if error is not None else None,
            chat_id=chat_id,
            message=stored.view() if stored is not None else None,
            injected=injected,
            dropped=dropped,
        )
        self.log.append(record)
        _LOG.debug("bot called %s -> %s", method, record.status)
        changed, self._calls_changed = self._calls_changed, asyncio.Event()
        changed.set()

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _json_response(ApiError(401, "Unauthorized").payload(), 401)
        stored = self._file_paths.get(request.match_info["file_path"])
        if stored is None:
            return _json_response(ApiError(404, "Not Found").payload(), 404)
        content_type = stored.mime_type or "application/octet-stream"
        return web.Response(body=stored.data, content_type=content_type)

    # ---- Bot API: updates and bot settings ----------------------------------------------------

    @_api("getMe")
    def _get_me(self, params: JSON) -> JSON:
        return self.bot_user | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    @_api("logOut")
    def _log_out(self, params: JSON) -> bool:
        return True

    @_api("close")
    def _close_instance(self, params: JSON) -> bool:
        return True

    @_api("getUpdates")
    async def _get_updates(self, params: JSON) -> list[JSON]:
        self.poll_count += 1
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset") or 0
        limit = params.get("limit") or 100
        timeout = params.get("timeout") or 0
        if not all(isinstance(v, int | float) for v in (offset, limit, timeout)):
            raise bad_request("wrong parameter in getUpdates request")
        limit = max(1, min(int(limit), 100))
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            # Telegram remembers the last list; an empty list means "the default set".
            self._allowed_updates = frozenset(allowed) & UPDATE_TYPES or DEFAULT_UPDATE_TYPES
        self._confirm(int(offset))

        # A newer getUpdates ends the older one with 409, as Telegram does for two instances.
        for older in self._polls:
            older.superseded = True
            older.wakeup.set()
        poll = _Poll()
        self._polls.append(poll)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(float(timeout), 50.0)
        try:
            while True:
                batch = self._deliverable(limit)
                remaining = deadline - loop.time()
                if batch or remaining <= 0 or self._closing:
                    return batch
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(poll.wakeup.wait(), remaining)
                poll.wakeup.clear()
                if poll.superseded:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that only "
                        "one bot instance is running",
                    )
        finally:
            self._polls.remove(poll)

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _deliverable(self, limit: int) -> list[JSON]:
        allowed = self._allowed_updates
        return [u for u in self._updates if _update_type(u) in allowed][:limit]

    def _wake_polls(self) -> None:
        for poll in self._polls:
            poll.wakeup.set()

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by the bot (offset)."""
        return copy.deepcopy(self._updates)

    @_api("setWebhook")
    def _set_webhook(self, params: JSON) -> bool:
        self.webhook_url = str(_require(params, "url"))
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    @_api("deleteWebhook")
    def _delete_webhook(self, params: JSON) -> bool:
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    @_api("getWebhookInfo")
    def _get_webhook_info(self, params: JSON) -> JSON:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _commands_key(self, params: JSON) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
            raise bad_request("can't parse BotCommandScope JSON object")
        if "chat_id" in scope:
            self._chat(scope["chat_id"])
        language = params.get("language_code") or ""
        if language and not _LANGUAGE_RE.fullmatch(language):
            # Telegram wants a two-letter ISO 639-1 code here, unlike User.language_code.
            raise bad_request("invalid language code specified")
        return json.dumps(scope, sort_keys=True), language

    @_api("setMyCommands")
    def _set_my_commands(self, params: JSON) -> bool:
        commands = _require(params, "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse BotCommand JSON object")
            if not _COMMAND_NAME_RE.fullmatch(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = copy.deepcopy(commands)
        return True

    @_api("getMyCommands")
    def _get_my_commands(self, params: JSON) -> list[JSON]:
        return copy.deepcopy(self.commands.get(self._commands_key(params), []))

    @_api("deleteMyCommands")
    def _delete_my_commands(self, params: JSON) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    @_api("setChatMenuButton")
    def _set_chat_menu_button(self, params: JSON) -> bool:
        chat_id = params.get("chat_id")
        if chat_id is not None:
            self._chat(chat_id)
        button = params.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in _MENU_BUTTON_TYPES:
            raise bad_request("can't parse menu button JSON object")
        self.menu_buttons[chat_id] = copy.deepcopy(button)
        return True

    @_api("getChatMenuButton")
    def _get_chat_menu_button(self, params: JSON) -> JSON:
        chat_id = params.get("chat_id")
        button = self.menu_buttons.get(chat_id) or self.menu_buttons.get(None)
        return copy.deepcopy(button or {"type": "commands"})

    # ---- Bot API: sending and editing messages -------------------------------------------------

    def _thread(self, chat: _Chat, params: JSON) -> _Topic | None:
        thread_id = params.get("message_thread_id")
        if not thread_id or not chat.is_forum:
            return None  # outside forums the id names a reply thread; nothing to check
        topic = chat.topics.get(thread_id)
        if topic is None:
            raise bad_request("message thread not found")
        if topic.closed and chat.bot_status not in ("administrator", "creator"):
            raise bad_request("TOPIC_CLOSED")
        return topic

    def _reply_target(self, chat: _Chat, params: JSON) -> _Stored | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply"))
            if reply.get("chat_id") not in (None, chat.id):
                return None  # a reply into another chat: not modelled, keep the message plain
        else:
            message_id = params.get("reply_to_message_id")
            allow_missing = bool(params.get("allow_sending_without_reply"))
        if message_id is None:
            return None
        target = chat.messages.get(message_id)
        if target is None or target.deleted:
            if allow_missing:
                return None
            raise bad_request("message to be replied not found")
        return target

    def _send(
        self,
        chat: _Chat,
        params: JSON,
        content: JSON,
        *,
        raw_text: str | None,
        parse_mode: str | None,
    ) -> _Stored:
        thread = self._thread(chat, params)
        reply_to = self._reply_target(chat, params)
        markup = _check_markup(params.get("reply_markup"))
        return self._store_message(
            chat,
            self.bot_user,
            content,
            by_bot=True,
            thread=thread,
            reply_to=reply_to,
            markup=copy.deepcopy(markup),
            raw_text=raw_text,
            parse_mode=parse_mode,
        )

    def _caption_content(self, params: JSON) -> JSON:
        caption = params.get("caption")
        if caption is None or caption == "":
            return {}
        plain, entities = _format_text(
            caption, params.get("parse_mode"), params.get("caption_entities"), caption=True
        )
        if not plain:
            return {}
        return {"caption": plain} | ({"caption_entities": entities} if entities else {})

    @_api("sendMessage")
    def _send_message(self, params: JSON) -> _Sent:
        chat = self._writable_chat(params)
        text, entities = _format_text(
            params.get("text"), params.get("parse_mode"), params.get("entities"), caption=False
        )
        content: JSON = {"text": text} | ({"entities": entities} if entities else {})
        stored = self._send(
            chat, params, content, raw_text=params.get("text"), parse_mode=params.get("parse_mode")
        )
        return _Sent(stored.api, stored)

    def _send_file(self, params: JSON, kind: str) -> _Sent:
        chat = self._writable_chat(params)
        caption = self._caption_content(params) if kind != "sticker" else {}
        sent = self._input_file(params, kind)
        content = sent.to_api() | caption
        if kind == "voice" and isinstance(params.get("duration"), int):
            content["voice"]["duration"] = params["duration"]
        if kind == "sticker" and isinstance(params.get("emoji"), str):
            content["sticker"]["emoji"] = params["emoji"]
        stored = self._send(
            chat,
            params,
            content,
            raw_text=params.get("caption"),
            parse_mode=params.get("parse_mode"),
        )
        return _Sent(stored.api, stored)

    @_api("sendPhoto")
    def _send_photo(self, params: JSON) -> _Sent:
        return self._send_file(params, "photo")

    @_api("sendDocument")
    def _send_document(self, params: JSON) -> _Sent:
        return self._send_file(params, "document")

    @_api("sendVoice")
    def _send_voice(self, params: JSON) -> _Sent:
        return self._send_file(params, "voice")

    @_api("sendSticker")
    def _send_sticker(self, params: JSON) -> _Sent:
        return self._send_file(params, "sticker")

    def _editable(self, params: JSON) -> _Stored:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID (inline messages are not supported by the fake)")
        chat = self._writable_chat(params)
        message_id = _require_int(params, "message_id")
        stored = chat.messages.get(message_id)
        if stored is None or stored.deleted:
            raise bad_request("message to edit not found")
        if not stored.by_bot or stored.service:
            raise bad_request("message can't be edited")
        return stored

    def _apply_edit(self, stored: _Stored, content: JSON, markup: JSON | None) -> None:
        """Replace content keys (None removes) and the inline keyboard, or refuse a no-op."""
        unchanged = all(stored.api.get(key) == value for key, value in content.items())
        if unchanged and _inline_keyboard(stored.api.get("reply_markup")) == _inline_keyboard(
            markup
        ):
            raise bad_request(NOT_MODIFIED)
        for key, value in content.items():
            if value is None:
                stored.api.pop(key, None)
            else:
                stored.api[key] = copy.deepcopy(value)
        # Telegram drops the inline keyboard when an edit does not repeat it.
        inline = _inline_keyboard(markup)
        if inline is None:
            stored.api.pop("reply_markup", None)
        else:
            stored.api["reply_markup"] = copy.deepcopy(inline)
        stored.markup = copy.deepcopy(markup)
        stored.api["edit_date"] = self._now()

    @_api("editMessageText")
    def _edit_message_text(self, params: JSON) -> _Sent:
        stored = self._editable(params)
        if "text" not in stored.api:
            raise bad_request("there is no text in the message to edit")
        text, entities = _format_text(
            params.get("text"), params.get("parse_mode"), params.get("entities"), caption=False
        )
        markup = _check_markup(params.get("reply_markup"), inline_only=True)
        self._apply_edit(stored, {"text": text, "entities": entities or None}, markup)
        stored.raw_text = params.get("text")
        stored.parse_mode = params.get("parse_mode")
        return _Sent(stored.api, stored)

    @_api("editMessageCaption")
    def _edit_message_caption(self, params: JSON) -> _Sent:
        stored = self._editable(params)
        if "text" in stored.api:
            raise bad_request("there is no caption in the message to edit")
        caption = self._caption_content(params)
        markup = _check_markup(params.get("reply_markup"), inline_only=True)
        content = {
            "caption": caption.get("caption"),
            "caption_entities": caption.get("caption_entities"),
        }
        self._apply_edit(stored, content, markup)
        stored.raw_text = params.get("caption")
        stored.parse_mode = params.get("parse_mode")
        return _Sent(stored.api, stored)

    @_api("editMessageReplyMarkup")
    def _edit_message_reply_markup(self, params: JSON) -> _Sent:
        stored = self._editable(params)
        markup = _check_markup(params.get("reply_markup"), inline_only=True)
        self._apply_edit(stored, {}, markup)
        return _Sent(stored.api, stored)

    @_api("deleteMessage")
    def _delete_message(self, params: JSON) -> bool:
        chat = self._writable_chat(params)
        message_id = _require_int(params, "message_id")
        stored = chat.messages.get(message_id)
        if stored is None or stored.deleted:
            raise bad_request("message to delete not found")
        may_delete_others = chat.user is not None or chat.bot_status in ("administrator", "creator")
        if not stored.by_bot and not may_delete_others:
            raise bad_request("message can't be deleted")
        stored.deleted = True
        return True

    def _source_message(self, params: JSON, what: str) -> _Stored:
        source_chat = self._chat(params.get("from_chat_id"))
        message_id = _require_int(params, "message_id")
        stored = source_chat.messages.get(message_id)
        if stored is None or stored.deleted:
            raise bad_request(f"message to {what} not found")
        if stored.service:
            raise bad_request(
                "message can't be forwarded" if what == "forward" else "message can't be copied"
            )
        return stored

    @_api("copyMessage")
    def _copy_message(self, params: JSON) -> _Sent:
        chat = self._writable_chat(params)
        source = self._source_message(params, "copy")
        content = _content_of(source.api)
        raw_text, parse_mode = source.raw_text, source.parse_mode
        if params.get("caption") is not None and "text" not in content:
            content.pop("caption_entities", None)
            content.pop("caption", None)
            content |= self._caption_content(params)
            raw_text, parse_mode = params.get("caption"), params.get("parse_mode")
        stored = self._send(chat, params, content, raw_text=raw_text, parse_mode=parse_mode)
        return _Sent({"message_id": stored.id}, stored)

    @_api("forwardMessage")
    def _forward_message(self, params: JSON) -> _Sent:
        chat = self._writable_chat(params)
        source = self._source_message(params, "forward")
        content = _content_of(source.api)
        content["forward_origin"] = {
            "type": "user",
            "sender_user": copy.deepcopy(source.api["from"]),
            "date": source.api["date"],
        }
        forwarded = {k: v for k, v in params.items() if k not in ("reply_markup",)}
        stored = self._send(
            chat, forwarded, content, raw_text=source.raw_text, parse_mode=source.parse_mode
        )
        return _Sent(stored.api, stored)

    @_api("answerCallbackQuery")
    def _answer_callback_query(self, params: JSON) -> bool:
        query_id = str(_require(params, "callback_query_id"))
        if query_id not in self._open_queries:
            raise bad_request(QUERY_INVALID)
        text = params.get("text")
        if isinstance(text, str) and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        self._open_queries.discard(query_id)
        self.callback_answers.append(copy.deepcopy(params))
        return True

    @_api("sendChatAction")
    def _send_chat_action(self, params: JSON) -> bool:
        chat = self._writable_chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self._thread(chat, params)
        return True

    @_api("setMessageReaction")
    def _set_message_reaction(self, params: JSON) -> bool:
        chat = self._writable_chat(params)
        stored = chat.messages.get(_require_int(params, "message_id"))
        if stored is None or stored.deleted or stored.service:
            raise bad_request("MESSAGE_ID_INVALID")
        reaction = params.get("reaction") or []
        if not isinstance(reaction, list):
            raise bad_request("can't parse reaction JSON object")
        if len(reaction) > 1:
            raise bad_request("REACTIONS_TOO_MANY")
        for item in reaction:
            if not isinstance(item, dict) or item.get("type") not in ("emoji", "custom_emoji"):
                raise bad_request("REACTION_INVALID")
            if item["type"] == "emoji" and item.get("emoji") not in REACTION_EMOJI:
                raise bad_request("REACTION_INVALID")
            # PTB turns any string that is not a known reaction emoji (say "❤️" with its
            # variation selector) into a custom emoji id; real ids are numeric.
            if item["type"] == "custom_emoji" and not str(item.get("custom_emoji_id")).isdigit():
                raise bad_request("REACTION_INVALID")
        stored.reactions = copy.deepcopy(reaction)
        return True

    # ---- Bot API: files, chats, members ---------------------------------------------------------

    @_api("getFile")
    def _get_file(self, params: JSON) -> JSON:
        stored = self._files.get(str(_require(params, "file_id")))
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_BYTES:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    @_api("getChat")
    def _get_chat(self, params: JSON) -> JSON:
        chat = self._chat(params.get("chat_id"))
        gifts = dict.fromkeys(
            (
                "unlimited_gifts",
                "limited_gifts",
                "unique_gifts",
                "premium_subscription",
                "gifts_from_channels",
            ),
            False,
        )
        return chat.to_api() | {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": gifts,
        }

    @_api("getChatMember")
    def _get_chat_member(self, params: JSON) -> JSON:
        chat = self._chat(params.get("chat_id"))
        user_id = _require_int(params, "user_id")
        return _member_json(self._member_status(chat, user_id), self._user_json(user_id))

    # ---- Bot API: forum topics ----------------------------------------------------------------

    def _forum(self, params: JSON) -> _Chat:
        chat = self._writable_chat(params)
        if not chat.is_forum:
            raise bad_request("the chat is not a forum")
        if chat.bot_status not in ("administrator", "creator"):
            raise bad_request("not enough rights to manage topics")
        return chat

    def _topic(self, chat: _Chat, params: JSON) -> _Topic:
        topic = chat.topics.get(_require_int(params, "message_thread_id"))
        if topic is None:
            raise bad_request("message thread not found")
        return topic

    def _topic_service_message(self, chat: _Chat, topic: _Topic, content: JSON) -> None:
        self._store_message(chat, self.bot_user, content, by_bot=True, thread=topic, service=True)

    @_api("createForumTopic")
    def _create_forum_topic(self, params: JSON) -> JSON:
        chat = self._forum(params)
        name = params.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 128:
            raise bad_request("TOPIC_TITLE_EMPTY" if not name else "TOPIC_TITLE_INVALID")
        color = params.get("icon_color") or 7322096
        if color not in TOPIC_ICON_COLORS:
            raise bad_request("TOPIC_ICON_COLOR_INVALID")
        emoji = params.get("icon_custom_emoji_id") or None
        created = _drop_none({"name": name, "icon_color": color, "icon_custom_emoji_id": emoji})
        service = self._store_message(
            chat, self.bot_user, {"forum_topic_created": created}, by_bot=True, service=True
        )
        topic = _Topic(service.id, name, color, emoji)
        service.api["message_thread_id"] = topic.id
        service.api["is_topic_message"] = True
        chat.topics[topic.id] = topic
        return {"message_thread_id": topic.id} | created

    @_api("editForumTopic")
    def _edit_forum_topic(self, params: JSON) -> bool:
        chat = self._forum(params)
        topic = self._topic(chat, params)
        name = params.get("name")
        emoji = params.get("icon_custom_emoji_id")
        if name is not None and not (isinstance(name, str) and 1 <= len(name) <= 128):
            raise bad_request("TOPIC_TITLE_INVALID")
        same_name = name is None or name == topic.name
        same_icon = emoji is None or emoji == topic.icon_custom_emoji_id
        if same_name and same_icon:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.name = name if name is not None else topic.name
        topic.icon_custom_emoji_id = emoji if emoji is not None else topic.icon_custom_emoji_id
        edited = _drop_none({"name": name, "icon_custom_emoji_id": emoji})
        self._topic_service_message(chat, topic, {"forum_topic_edited": edited})
        return True

    def _set_topic_closed(self, params: JSON, closed: bool) -> bool:
        chat = self._forum(params)
        topic = self._topic(chat, params)
        if topic.closed == closed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.closed = closed
        event = "forum_topic_closed" if closed else "forum_topic_reopened"
        self._topic_service_message(chat, topic, {event: {}})
        return True

    @_api("closeForumTopic")
    def _close_forum_topic(self, params: JSON) -> bool:
        return self._set_topic_closed(params, closed=True)

    @_api("reopenForumTopic")
    def _reopen_forum_topic(self, params: JSON) -> bool:
        return self._set_topic_closed(params, closed=False)

    # ---- HTTP: control API for other processes ---------------------------------------------

    def _add_control_routes(self, app: web.Application) -> None:
        routes = {
            "users": self._control_users,
            "groups": self._control_groups,
            "send_text": self._control_send_text,
            "press": self._control_press,
            "fail": self._control_fail,
            "drop": self._control_drop,
            "block": self._control_block,
            "update": self._control_update,
        }
        for name, handler in routes.items():
            app.router.add_post(f"/_test/{name}", _control(handler))
        app.router.add_get("/_test/messages", _control(self._control_messages))
        app.router.add_get("/_test/calls", _control(self._control_calls))

    async def _control_users(self, body: JSON, query: Mapping[str, str]) -> Any:
        user = self.add_user(
            int(body["user_id"]),
            body.get("first_name", "Test User"),
            language_code=body.get("language_code", "zh-hans"),
            username=body.get("username"),
            last_name=body.get("last_name"),
            started=body.get("started", True),
        )
        return user.to_api()

    async def _control_groups(self, body: JSON, query: Mapping[str, str]) -> Any:
        members = {int(uid): status for uid, status in (body.get("members") or {}).items()}
        return self.add_group(
            int(body["chat_id"]),
            body.get("title", "Test group"),
            is_forum=bool(body.get("is_forum", False)),
            members=members,
            bot_status=body.get("bot_status", "administrator"),
        )

    async def _control_send_text(self, body: JSON, query: Mapping[str, str]) -> Any:
        return self.user_sends_text(
            int(body["user_id"]),
            body["text"],
            chat_id=body.get("chat_id"),
            reply_to=body.get("reply_to"),
            thread_id=body.get("thread_id"),
        )

    async def _control_press(self, body: JSON, query: Mapping[str, str]) -> Any:
        user_id = int(body["user_id"])
        chat_id = int(body.get("chat_id", user_id))
        message = self.message(chat_id, int(body["message_id"]))
        return self.user_presses(user_id, message, body["data"])

    async def _control_fail(self, body: JSON, query: Mapping[str, str]) -> Any:
        self.fail_next(
            body["method"],
            status=int(body.get("status", 500)),
            retry_after=body.get("retry_after"),
            description=body.get("description"),
            times=int(body.get("times", 1)),
        )
        return True

    async def _control_drop(self, body: JSON, query: Mapping[str, str]) -> Any:
        self.drop_next(
            body["method"],
            int(body.get("times", 1)),
            after_effect=bool(body.get("after_effect", False)),
        )
        return True

    async def _control_block(self, body: JSON, query: Mapping[str, str]) -> Any:
        if body.get("blocked", True):
            self.block(int(body["user_id"]))
        else:
            self.unblock(int(body["user_id"]))
        return True

    async def _control_update(self, body: JSON, query: Mapping[str, str]) -> Any:
        return self.push_update(body)

    async def _control_messages(self, body: JSON, query: Mapping[str, str]) -> Any:
        after_id = int(query.get("after_id", 0))
        return [m for m in self.messages(int(query["chat_id"])) if m["message_id"] > after_id]

    async def _control_calls(self, body: JSON, query: Mapping[str, str]) -> Any:
        """Calls from index `since`; with `timeout`, wait that long for at least one."""
        since = int(query.get("since", 0))
        timeout = float(query.get("timeout", 0))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.log) <= since and (remaining := deadline - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._calls_changed.wait(), remaining)
        return {"calls": self.log[since:], "next": len(self.log)}


_FILE_DIRS = {  # kind -> (folder of file_path, default suffix)
    "photo": ("photos", ".jpg"),
    "document": ("documents", ""),
    "voice": ("voice", ".oga"),
    "sticker": ("stickers", ".webp"),
}
_VIEW_ONLY_KEYS = frozenset({"raw_text", "parse_mode", "reactions", "deleted"})
_ControlHandler = Callable[[JSON, Mapping[str, str]], Any]


def _control(handler: _ControlHandler) -> Callable[[web.Request], Any]:
    """Wrap a control handler: JSON in, {"ok", "result"} out, mistakes as 400 with a reason."""

    async def handle(request: web.Request) -> web.Response:
        body: JSON = {}
        if request.method == "POST" and request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return _json_response({"ok": False, "description": "body must be JSON"}, 400)
        try:
            result = await handler(body, request.query)
        except (KeyError, ValueError, TypeError) as exc:
            return _json_response({"ok": False, "description": f"{type(exc).__name__}: {exc}"}, 400)
        return _json_response({"ok": True, "result": result})

    return handle


def _drop_connection(request: web.Request) -> web.Response:
    # Closing the transport before answering makes the client see "server disconnected
    # without sending a response", exactly like a response lost on the network.
    if request.transport is not None:
        request.transport.close()
    return web.Response()


# --------------------------------------------------------------------------------------------
# Standalone server
# --------------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bot.fakeapi",
        description="Run the fake Telegram Bot API server (drive it via /_test/ endpoints).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123456:TEST-TOKEN")
    parser.add_argument("--bot-username", default="helpdesk_test_bot")
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="ID[:NAME]",
        help="add a user up front (repeatable)",
    )
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeTelegram(args.token, bot_username=args.bot_username, host=args.host, port=args.port)
    async with fake:
        for spec in args.user:
            user_id, _, name = spec.partition(":")
            fake.add_user(int(user_id), name or f"User {user_id}")
        print(f"HELPDESK_TELEGRAM_API_URL={fake.api_url}", flush=True)
        print(f"HELPDESK_BOT_TOKEN={fake.token}", flush=True)
        print(f"control API: {fake.base_url}/_test/  (Ctrl+C stops)", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
