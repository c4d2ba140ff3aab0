"""What the bot says, one catalogue per language, and which language a user gets.

Templates are HTML for Telegram's parse mode. :func:`t` escapes every value it fills in, so user
text and FAQ text can never break the markup (Telegram refuses a message with a stray ``<``).
"""

from __future__ import annotations

import html
from typing import Final

from bot.texts import en, zh

LANGS: Final = ("zh", "en")
CATALOGUES: Final[dict[str, dict[str, str]]] = {"zh": zh.TEXTS, "en": en.TEXTS}


def t(lang: str, key: str, **values: object) -> str:
    """The text ``key`` in ``lang`` (English for an unknown language), values HTML-escaped."""
    template = CATALOGUES.get(lang, en.TEXTS)[key]
    return template.format(**{name: html.escape(str(v)) for name, v in values.items()})


def user_lang(chosen_lang: str | None, telegram_lang: str | None, default: str) -> str:
    """The language to talk to a user in: their /lang choice, else Chinese for any ``zh*``
    Telegram language and English for any other, else ``default``."""
    if chosen_lang in LANGS:
        return chosen_lang
    if telegram_lang:
        return "zh" if telegram_lang.lower().startswith("zh") else "en"
    return default if default in LANGS else "zh"
