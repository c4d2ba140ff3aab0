"""Normalisation of user text for matching (first version; refined in the matcher work)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_CJK = re.compile(r"[\u4e00-\u9fff]")
_SMALLTALK = {"谢谢", "好的", "你好", "在吗", "hi", "hello", "thanks", "ok", "bye", "辛苦了"}


@dataclass(frozen=True)
class Normalized:
    text: str
    lang: str
    smalltalk: bool


def normalize(text: str) -> Normalized:
    t = unicodedata.normalize("NFKC", text).lower().strip()
    lang = "zh" if _CJK.search(t) else "en"
    return Normalized(t, lang, t in _SMALLTALK)
