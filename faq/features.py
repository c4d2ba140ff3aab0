"""Turn normalised text into weighted match features.

Chinese is compared as words (jieba), characters, character bigrams and pinyin bigrams: people type
by pinyin, so a wrong character with the right sound (付件 for 附件, 密马 for 密码) still shares the
pinyin bigram. English is compared as lightly stemmed words and word bigrams, stopwords left out.

Feature prefixes: ``c`` character, ``b`` character bigram, ``p`` pinyin bigram, ``j`` Chinese word,
``w`` English/ASCII word, ``v`` English word bigram; for questions only (not answer texts), ``s``
a concept of the domain thesaurus and ``q`` a kind of answer asked for (``faq.synonyms``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache, lru_cache

# jieba, pypinyin and their dictionaries are never imported here: faq.lexicon serves the same
# output from compact tables (~30 MB instead of ~190 MB).
from faq import lexicon
from faq.synonyms import concepts

_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+|[a-z0-9]+(?:\.[0-9]+)?")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")

# Words that say nothing about the topic of a question, in either language.
_STOPWORD_TEXT = """
的 了 吗 呢 吧 啊 是 在 有 和 与 或 就 都 也 还 又 要 会 能 可以 可 我 我们 你 你们
他 她 它 这 那 这个 那个 一下 一个 什么 怎么 怎么办 怎么样 哪 哪里 哪些 多少
是不是 有没有 能不能 要不要 里 把 被 给 让 跟 对 从 到 为 以 于 等 上 下 中 内 后 前 时 再
才 已经 还是 但是 因为 所以 如果 然后 现在 这边 那边 这样 那样 这么 那么 怎么样 想 请 问
一 个 些 他 她 他们 它们 咱们 自己 大家 过 着 啦 嘛 没 不 很 太 挺 比较 非常 好像 应该 需要
可能 还 又 刚 刚才 之前 之后 以后 以前 时候 东西 事情 情况 问题 办法 方法
a an the is are was were be been do does did i me my we our us you your it its to of for in
on at by with and or can could will would should how what when where which who why if there
this that have has had get got
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@cache
def background_idf() -> Mapping[str, float]:
    """Word rarity in general Chinese (jieba's IDF table): how informative a missing word is."""
    return lexicon.idf()


@lru_cache(maxsize=8192)
def pinyin(run: str) -> tuple[str, ...]:
    """Toneless pinyin per character of a run of Chinese characters (context picks polyphones)."""
    return tuple(lexicon.lazy_pinyin(run))  # pypinyin's lazy_pinyin, Style.NORMAL


@lru_cache(maxsize=8192)
def words(run: str) -> tuple[str, ...]:
    return tuple(w for w in lexicon.cut(run) if w.strip())  # jieba.lcut(run, HMM=True)


def stem(word: str) -> str:
    """A deliberately light English stemmer: enough to meet 'attachments' with 'attachment'."""
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith("ss"):
                return word
            return word[: -len(suffix)] + keep
    return word


def tokens(text: str) -> list[str]:
    """Chinese runs and ASCII words, in order."""
    return _RUN.findall(text)


def is_chinese(token: str) -> bool:
    return _CJK_RUN.fullmatch(token) is not None


def _english(tok: str, word_map: dict[str, str] | None) -> str | None:
    """An ASCII token as a match word (stemmed, typo-corrected), or None when it says nothing.

    Stopwords are not a topic ("how do i"), nor a bigram across "for", nor a lone letter ("s" of
    "what's").
    """
    if tok in STOPWORDS or (len(tok) == 1 and tok.isalpha()):
        return None
    word = stem(tok)
    word = (word_map or {}).get(word, word)
    return None if word in STOPWORDS else word


def content_words(text: str, *, word_map: dict[str, str] | None = None) -> list[str]:
    """The topic-bearing words of a normalised text (stopwords dropped), as match features."""
    out: list[str] = []
    for tok in tokens(text):
        if is_chinese(tok):
            out.extend("j" + w for w in words(tok) if w not in STOPWORDS)
        else:
            word = _english(tok, word_map)
            if word:
                out.append("w" + word)
    return out


def features(
    text: str,
    *,
    word_map: dict[str, str] | None = None,
    with_words: bool = True,
    question: bool = True,
) -> set[str]:
    """The set of features of a normalised text. ``word_map`` corrects misspelt English words;
    ``question``: the text is a question (a query or an entry's phrasing), not an answer text, so
    it gets the concepts it names and the kinds of answer it asks for (``faq.synonyms``)."""
    feats: set[str] = set(content_words(text, word_map=word_map)) if with_words else set()
    if question:
        feats.update("s" + c for c in concepts(text))
    prev_word: str | None = None
    for tok in tokens(text):
        if is_chinese(tok):
            prev_word = None
            sounds = pinyin(tok)
            for i, ch in enumerate(tok):
                feats.add("c" + ch)
                if i + 1 < len(tok):
                    feats.add("b" + tok[i : i + 2])
                    feats.add("p" + sounds[i] + " " + sounds[i + 1])
        else:
            word = _english(tok, word_map)
            if not word:
                continue
            feats.add("w" + word)
            if prev_word is not None:
                feats.add("v" + prev_word + " " + word)
            prev_word = word
    return feats
