"""Match a user's message to FAQ entries. Pure Python, no Telegram, no database.

How a message is scored against an entry (each step chosen by measurement on the dev query set and
checked on a second, independently written set, ``bench/own_queries.csv``):

1. Normalise (``faq.normalize``) and turn into features (``faq.features``): characters, character
   bigrams and pinyin bigrams for Chinese; stemmed words and word bigrams for English. English words
   the FAQ does not know are corrected to the closest FAQ word with rapidfuzz (typos). A query and
   each phrasing (not the answer texts) also get the concepts of a small domain thesaurus they name
   (``faq.synonyms``: 材料/资料/证件, 填写/填报/录入, 审核/审批, edit/fix/correct ...), so a query
   in other words than the entry's still shares a feature with it.
2. Each feature weighs its inverse document frequency over the catalogue, so "怎么办" counts little
   and "黑名单" a lot; an English word weighs double (a Chinese character brings three features:
   itself, a bigram and a pinyin bigram). Candidates are ranked by three parts: how much of the
   query's weight the best phrasing of an entry (question or alternative) covers and how much of
   that phrasing the query covers; the same over all the entry's phrasings together, BM25-style
   (a feature found in several phrasings is the entry's topic, with saturation); and the entry's
   answer text, with a smaller share (it holds words people use that the questions don't). A
   thesaurus concept weighs half its IDF: when both sides use the same word they already share its
   characters, and at full weight the concept counted twice and lifted near-domain out-of-scope
   questions ("浏览器…弹广告") over the answer threshold.
3. For the best candidates only: rapidfuzz aligns the query with each phrasing on pinyin (partial
   ratio), which rewards a phrasing that appears nearly whole inside a long message, and compares
   their sets of syllables (token set ratio), which ignores word order and extra words. And the
   share of the query's informative words (jieba words, weighted by their rarity in general Chinese
   and in the FAQ: everyday words like 去年 or 一直 count little) the entry explains, directly, by
   homophone, by another word of its thesaurus concept that a phrasing names (``SYNONYM_CREDIT``:
   录入 against 填写) or, for a typo or two words run together, by its characters; once over the
   whole entry and once over its phrasings alone (a word only the answer text mentions, 公司 or
   申请, is weaker evidence). A question about something else ("公司注销…" against
   "注册需要准备哪些材料") leaves its most telling word unexplained.
   A long message (``CLAUSE_MIN_CHARS`` normalised characters or more, more than one clause) is
   also read for its question (``faq.normalize.question_part``): split into clauses at
   punctuation, line breaks and clause-opening words (请问, 想问, 但是, 所以 …), the clauses with an
   interrogative word or particle (吗, 怎么, 哪, 多少, 是不是, 还是, how/what/can/do …) or a
   question mark, else the last one. ``Evidence.clause`` is the share of the question's
   informative words the entry explains less ``explained``: an entry that matches the context
   ("我们是XX事务所，之前是…") but not what is asked loses, the one that answers the question
   gains. It is zero for all but about one query in ten.
4. A conditional logit turns the evidence into confidences: candidate i gets exp(w . x_i + b), the
   option "none of them" gets 1, each its share (fitted by ``bench/fit_confidence.py`` on 1,474
   labelled queries in many voices, cross-validated 5-fold; the answer threshold, 50, is the
   lowest at which, cross-validated, wrong answers stay <= 3.5 % and out-of-scope answers
   <= 12.5 %). The
   confidence is a probability: at 50 an answer is right about as often as not among the
   hardest paraphrases, which is why an answer shows up to two runners-up as related
   questions (``Match.related``). Two near-equal entries
   split the confidence, so neither is answered outright; a message that fits no entry leaves
   most of it to "none". A message that is word for word one of an entry's phrasings gets 100.
   The decision compares the confidences with the thresholds (settings); a message of one bare
   word is never answered outright, only suggested.
5. Contrast vetoes (``faq.contrast``, ``faq.asks``, general domain lexicons): a candidate whose
   phrasings name only other operations than the query asks for (注销 against 注册, download
   against upload), which never mentions another system the query names (电子税务局, 公积金, a
   bank), or none of whose texts gives the kind of answer asked for (a date for "什么时候", an
   amount for "多少钱"), is capped at even odds against "none": still suggested, never answered
   outright. As weights of the logit
   they came out weak (few such questions to fit on) and the fit answered more out-of-scope
   questions on the never-fitted sets; as a veto they fire on no expected entry of any query set.

The index is built once from a snapshot of the active entries (:class:`FaqDoc`) and rebuilt when the
FAQ changes; a query never rebuilds anything.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from rapidfuzz import fuzz, process, utils

from faq import asks
from faq.contrast import actions, contrast, foreign_terms
from faq.features import (
    background_idf,
    content_words,
    features,
    is_chinese,
    pinyin,
    stem,
    tokens,
    words,
)
from faq.normalize import normalize, question_part
from faq.synonyms import concepts

Decision = Literal["answer", "suggest", "smalltalk", "none"]

RERANK = 8  # candidates that get the fuzzy alignment and a confidence
ANSWER_SHARE = 0.35  # ranking: weight of the answer text against the best phrasing
ENTRY_SHARE = 0.3  # ranking: weight of all the entry's phrasings together (BM25 saturation K1)
K1 = 1.2
QUERY_SIDE = 0.6  # ranking: weight of "query covered" against "phrasing covered"
# Ranking weight by feature kind (see faq.features); jieba words ("j") only explain, see step 3.
# Thesaurus concepts ("s") at half weight: see step 2 of the module docstring.
TYPE_WEIGHT = {"c": 1.0, "b": 1.0, "p": 1.0, "j": 0.0, "w": 2.0, "v": 1.0, "s": 0.5}
# Ranking is in two stages so that a query costs little even with 100k entries: a shortlist from
# the postings of the query's less common features (in at most max(SCAN_MIN, 1 % of the entries)),
# then exact scores for the shortlist only.
SHORTLIST = 32
SCAN_MIN = 64
# How much a query word names a topic: by its IDF in general Chinese (jieba's table), linear from
# SAL_LOW (everyday words) to SAL_HIGH; see _LangIndex._salience.
SAL_LOW, SAL_HIGH, SAL_FLOOR, SAL_UNKNOWN, SAL_CHAR = 4.0, 10.0, 0.05, 0.5, 0.5
HOMOPHONE_CHAR = 0.7  # a character explained by another with the same sound
PART_CREDIT = 0.5  # a real word explained only by its characters, one by one
SYNONYM_CREDIT = 0.8  # a query word explained by another word of its concept (faq.synonyms)

# A message of at least this many normalised characters (and more than one clause) is also scored
# by its question clause alone (Evidence.clause); shorter ones are one clause anyway.
CLAUSE_MIN_CHARS = 20

# Conditional logit over Evidence.vector(); fitted by bench/fit_confidence.py on 1,474 labelled
# queries: the dev set, bench/own_queries{,_2,_3,_4}.csv and bench/train_queries_{a,b,c}.csv
# (written from the catalogue alone in other voices; refitted 2026-11-23 with all ten weights
# jointly). Exactly what the script prints; see its docstring for the command.
WEIGHTS = (0.802, -0.795, 1.965, 1.339, 5.152, 0.383, 4.597, 2.871, 2.186, 1.818)
BIAS = -10.461
# A vetoed candidate (Evidence.vetoed) scores at most this: even odds against "none" alone (50), so
# it is still suggested; Matcher.match never answers it outright.
VETO_LOGIT = 0.0


@dataclass(frozen=True)
class FaqDoc:
    id: str
    lang: str
    question: str
    alternatives: tuple[str, ...] = ()
    answer: str = ""


@dataclass(frozen=True)
class Candidate:
    entry_id: str
    score: float  # confidence 0..100 that this entry answers the message


@dataclass(frozen=True)
class Thresholds:
    answer: float = 50.0  # confidence needed to answer outright
    margin: float = 10.0  # and its lead over the next entry
    suggest: float = 10.0  # lowest confidence still offered as a suggestion


@dataclass(frozen=True)
class Match:
    decision: Decision
    lang: str  # language of the query: "zh" or "en"
    candidates: tuple[Candidate, ...] = field(default=())  # best first, at most 5
    smalltalk: str | None = None  # for decision == "smalltalk": greeting | thanks | ack | bye
    # For decision == "answer": other entries still plausible, offered under the answer (runners-up
    # at or above the suggest threshold, at most 2; none for an exact match).
    related: tuple[Candidate, ...] = ()

    @property
    def entry_id(self) -> str | None:
        """The entry answered, for decision == "answer"."""
        return self.candidates[0].entry_id if self.decision == "answer" else None

    @property
    def score(self) -> float:
        return self.candidates[0].score if self.candidates else 0.0

    @property
    def suggestions(self) -> tuple[Candidate, ...]:
        """The entries to offer as buttons: up to 3 candidates for decision == "suggest", the
        related entries under the answer for decision == "answer", none otherwise."""
        if self.decision == "suggest":
            return self.candidates[:3]
        return self.related if self.decision == "answer" else ()


@dataclass(frozen=True)
class Evidence:
    """Why a candidate entry might answer a query; values 0..1."""

    doc: int
    rank_score: float  # the ranking score of step 2
    query_covered: float  # share of the query's weight found in the best phrasing
    phrasing_covered: float  # share of the best phrasing's weight found in the query
    answer_covered: float  # share of the query's weight found in the answer text
    explained: float  # share of the query's informative words the entry explains
    aligned: float  # rapidfuzz partial ratio of query and best phrasing, on pinyin
    rel: float  # rank_score / the top candidate's rank_score
    syllables: float  # rapidfuzz token set ratio of query and best phrasing, pinyin syllables
    asked: float = 0.0  # share of the query's informative words the entry's phrasings explain
    # A long message: the share of its question clause's informative words the entry explains,
    # less ``explained`` (0 for a message of one clause or shorter than CLAUSE_MIN_CHARS).
    clause: float = 0.0
    contrast: float = 0.0  # 1: the query asks for an operation the phrasings name only others of
    foreign: float = 0.0  # 1: the query names another system or matter the entry never mentions
    unasked: float = 0.0  # 1: the query asks for a kind of answer the entry never gives
    exact: bool = False  # the query is one of the entry's phrasings, word for word

    def vector(self) -> tuple[float, ...]:
        return (
            self.rank_score,
            self.query_covered,
            self.phrasing_covered,
            self.answer_covered,
            self.explained,
            self.aligned,
            self.rel,
            self.syllables,
            self.asked,
            self.clause,
        )

    @property
    def vetoed(self) -> bool:
        """The entry answers another question: an opposite operation, another system, or another
        kind of answer (a date, an amount) than the query asks for."""
        return bool(self.contrast or self.foreign or self.unasked)


def confidences(evidence: list[Evidence]) -> list[float]:
    """The probability that each candidate is the answer, against each other and "none of them".

    A conditional logit: candidate i scores exp(w . x_i + b), "none" scores 1, and each gets its
    share. Near-equal candidates split the probability (so neither is answered outright), and a
    query that fits no entry well leaves most of it to "none". A query that is word for word one
    of an entry's phrasings is that entry's, with certainty.
    """
    if any(ev.exact for ev in evidence):
        return [1.0 if ev.exact else 0.0 for ev in evidence]
    es = [logit_share(ev.vector(), ev.vetoed) for ev in evidence]
    total = 1.0 + sum(es)
    return [e / total for e in es]


def logit_share(
    x: tuple[float, ...],
    vetoed: bool = False,
    weights: tuple[float, ...] | None = None,
    bias: float | None = None,
) -> float:
    """exp(w . x + b), a candidate's unnormalised share; a vetoed one's capped at VETO_LOGIT."""
    weights = WEIGHTS if weights is None else weights
    z = (BIAS if bias is None else bias) + sum(w * v for w, v in zip(weights, x, strict=True))
    return math.exp(min(VETO_LOGIT if vetoed else 30.0, z))


def _common_prefix(a: str, b: str) -> int:
    pairs = enumerate(zip(a, b, strict=False))
    return next((i for i, (x, y) in pairs if x != y), min(len(a), len(b)))


def _sounds(text: str) -> str:
    """The text as pinyin syllables and English words separated by spaces."""
    out: list[str] = []
    for tok in tokens(text):
        out.extend(pinyin(tok) if is_chinese(tok) else [stem(tok)])
    return utils.default_process(" ".join(out))


# Characters that mostly glue words together in chat Chinese; they say nothing about the topic.
_LIGHT_CHARS = frozenset(
    "了些的得地着过吗呢吧啊么个能要会可把被给就都也还又很太是在有和与或这那哪什"
)


def _clause(text: str, norm: str) -> str | None:
    """The normalised question clause(s) of a long message; None for a short or one-clause one."""
    if len(norm) < CLAUSE_MIN_CHARS:
        return None
    part, n = question_part(text)
    if n < 2:
        return None
    return normalize(part).text or None


def _bare_word(text: str) -> bool:
    """Whether a normalised message is a single word and nothing else."""
    return sum(len(words(tok)) if is_chinese(tok) else 1 for tok in tokens(text)) <= 1


class _LangIndex:
    """Everything needed to score queries in one language, built once."""

    def __init__(self, docs: list[FaqDoc]) -> None:
        self.docs = docs
        self.phrasing_owner: list[int] = []
        self.phrasing_feats: list[set[str]] = []
        self.phrasing_sounds: list[str] = []
        self.exact: dict[str, set[int]] = defaultdict(set)  # normalised phrasing -> entries
        self.doc_phrasings: list[list[int]] = [[] for _ in docs]
        self.entry_actions: list[frozenset[str]] = []  # operations the phrasings name
        self.entry_foreign: list[frozenset[str]] = []  # other systems the entry mentions
        self.entry_gives: list[frozenset[str]] = []  # kinds of answer the entry can give
        answer_feats: list[set[str]] = []
        for d, doc in enumerate(docs):
            acts: set[str] = set()
            said = [normalize(doc.answer).text if doc.answer else ""]
            for text in dict.fromkeys((doc.question, *doc.alternatives)):
                norm = normalize(text).text
                said.append(norm)
                acts |= actions(norm, subject_only=True)
                self.exact[norm].add(d)
                self.doc_phrasings[d].append(len(self.phrasing_owner))
                self.phrasing_owner.append(d)
                self.phrasing_feats.append(features(norm))
                self.phrasing_sounds.append(_sounds(norm))
            answer_feats.append(features(said[0], question=False) if said[0] else set())
            self.entry_actions.append(frozenset(acts))
            self.entry_foreign.append(foreign_terms(" ".join(said)))
            self.entry_gives.append(asks.given(" ".join(said)))

        self.answer_feats = answer_feats
        self.entry_sounds: list[set[str]] = []  # pinyin syllables of everything the entry says
        self.entry_feats: list[set[str]] = [set(a) for a in answer_feats]
        # How many of an entry's phrasings hold each feature (BM25 term frequency).
        self.entry_counts: list[dict[str, int]] = [defaultdict(int) for _ in docs]
        for p, feats in enumerate(self.phrasing_feats):
            d = self.phrasing_owner[p]
            self.entry_feats[d] |= feats
            for f in feats:
                self.entry_counts[d][f] += 1
        # Characters and syllables of the entry's phrasings only (an answer says too much).
        self.phrasing_chars: list[set[str]] = [set() for _ in docs]
        self.phrasing_words: list[set[str]] = [set() for _ in docs]
        for p, feats in enumerate(self.phrasing_feats):
            self.phrasing_chars[self.phrasing_owner[p]] |= {f for f in feats if f[0] == "c"}
            self.phrasing_words[self.phrasing_owner[p]] |= feats
        for d in range(len(docs)):
            self.entry_sounds.append(
                {sy for ch in self.phrasing_chars[d] for sy in pinyin(ch[1:])}
            )
        self.postings: dict[str, list[int]] = defaultdict(list)  # feature -> entries
        for d, feats in enumerate(self.entry_feats):
            for f in feats:
                self.postings[f].append(d)
        n = max(len(docs), 1)
        self.idf = {
            f: math.log(1 + (n - len(ds) + 0.5) / (len(ds) + 0.5))
            for f, ds in self.postings.items()
        }
        self.unseen_idf = math.log(1 + (n + 0.5) / 0.5)
        self.scan_limit = max(SCAN_MIN, n // 100)
        background_idf()  # loaded now, not by the first query
        self.vocab = sorted({f[1:] for f in self.idf if f[0] == "w" and len(f) > 4})
        self.by_prefix: dict[str, list[str]] = defaultdict(list)
        for v in self.vocab:
            self.by_prefix[v[:5]].append(v)
        self.phrasing_weight = [
            sum(self.weight(f) for f in fs) or 1.0 for fs in self.phrasing_feats
        ]

    def weight(self, f: str) -> float:
        return self.idf.get(f, self.unseen_idf) * TYPE_WEIGHT[f[0]]

    def correct_words(self, text: str) -> dict[str, str]:
        """Misspelt English words → the closest FAQ word (rapidfuzz), when close enough."""
        fixes: dict[str, str] = {}
        for tok in tokens(text):
            word = stem(tok)
            if len(word) < 4 or not word.isalpha() or "w" + word in self.idf:
                continue
            best = process.extractOne(word, self.vocab, scorer=fuzz.ratio, score_cutoff=80)
            if best:
                fixes[word] = best[0]
            elif len(word) >= 5:  # another form of a FAQ word: attach → attachment
                forms = [
                    (_common_prefix(word, v), v) for v in self.by_prefix[word[:5]]
                ]
                forms = [(n, v) for n, v in forms if n >= 0.6 * max(len(word), len(v))]
                if forms:
                    fixes[word] = max(forms)[1]
        return fixes

    def _word_weight(self, feat: str) -> float:
        """How informative a query word is: rarer in general language and in the FAQ = more."""
        return self._salience(feat) * self.idf.get(feat, self.unseen_idf)

    def _salience(self, feat: str) -> float:
        """How much a query word names a topic, 0..1: by its rarity in general Chinese.

        Everyday words ("去年", "一直", "知道") say little; a word jieba's dictionary does not know
        is mostly a typo or a segmentation artefact ("选省"), so it says a middling amount.
        """
        if feat[0] != "j":
            return 1.0
        word = feat[1:]
        bg = background_idf().get(word)
        if bg is None:
            return SAL_UNKNOWN
        sal = min(1.0, max(SAL_FLOOR, (bg - SAL_LOW) / (SAL_HIGH - SAL_LOW)))
        return sal * (SAL_CHAR if len(word) == 1 else 1.0)

    def _explains(
        self, d: int, feat: str, sounds: tuple[str, ...] | None = None, *, phrasings: bool = False
    ) -> float:
        """How much of a query word entry ``d`` accounts for, 0..1 (``sounds``: its pinyin)."""
        feats = self.phrasing_words[d] if phrasings else self.entry_feats[d]
        if feat in feats:
            return 1.0
        word = feat[1:]
        if any("s" + c in feats for c in concepts(word)):
            return SYNONYM_CREDIT
        if feat[0] != "j":
            return 0.0
        sounds = sounds or pinyin(word)
        chars_of, sounds_of = self.phrasing_chars[d], self.entry_sounds[d]
        if len(word) == 1:
            if "c" + word in feats:
                return 1.0
            return HOMOPHONE_CHAR if sounds[0] in sounds_of else 0.0
        # Homophones and near-synonyms: every pinyin bigram, or every character bigram, is there.
        if all("p" + a + " " + b in feats for a, b in itertools.pairwise(sounds)) or all(
            "b" + word[i : i + 2] in feats for i in range(len(word) - 1)
        ):
            return 1.0
        # Chat Chinese often fuses a word with a particle ("查些", "评了"), and a word jieba does
        # not know is mostly two words run together or a typo: credit its characters (or their
        # sounds). A real word only half: 注销 is not 注册.
        chars = {(ch, sy) for ch, sy in zip(word, sounds, strict=False) if ch not in _LIGHT_CHARS}
        if not chars:
            return 0.0
        fused = any(ch in _LIGHT_CHARS for ch in word) or background_idf().get(word) is None
        got = sum(
            1.0 if "c" + ch in chars_of else HOMOPHONE_CHAR if sy in sounds_of else 0.0
            for ch, sy in chars
        )
        return got / len(chars) * (1.0 if fused else PART_CREDIT)

    def _query_words(
        self, text: str, fixes: dict[str, str]
    ) -> tuple[list[str], list[float], float, dict[str, tuple[str, ...]]]:
        """A normalised text's informative words, their weights, the total, and their pinyin."""
        qwords = list(dict.fromkeys(content_words(text, word_map=fixes)))
        weights = [self._word_weight(w) for w in qwords]
        sounds_of: dict[str, tuple[str, ...]] = {}  # pinyin of the words, in context
        for tok in tokens(text):
            if is_chinese(tok):
                run_sounds, i = pinyin(tok), 0
                for w in words(tok):
                    sounds_of.setdefault(w, run_sounds[i : i + len(w)])
                    i += len(w)
        return qwords, weights, sum(weights), sounds_of

    def evidence(self, text: str, clause: str | None = None) -> list[Evidence]:
        """The best candidates for a normalised query, best first, with their evidence.

        ``clause``: the normalised question clause(s) of a long message (see ``Matcher``).
        """
        fixes = self.correct_words(text)
        qfeats = {f for f in features(text, word_map=fixes) if TYPE_WEIGHT[f[0]] > 0}
        if not qfeats:
            return []
        qweight = sum(self.weight(f) for f in qfeats) or 1.0
        known = {f: self.weight(f) for f in qfeats if f in self.idf}
        if not known:
            return []
        # Stage 1, a shortlist: entries sharing the query's less common features, by their weight.
        scan = [f for f in known if len(self.postings[f]) <= self.scan_limit]
        if not scan:
            scan = sorted(known, key=lambda f: len(self.postings[f]))[:3]
        partial: dict[int, float] = defaultdict(float)
        for f in scan:
            w = known[f]
            for d in self.postings[f]:
                partial[d] += w
        shortlist = heapq.nlargest(SHORTLIST, partial, key=partial.__getitem__)

        # Stage 2, exact scores for the shortlist over all the query's features.
        qset = known.keys()
        scored: list[tuple[float, int, float, float, float]] = []
        for d in shortlist:
            s_best = cq_best = cp_best = 0.0
            for p in self.doc_phrasings[d]:
                m = sum(known[f] for f in qset & self.phrasing_feats[p])
                cq, cp = m / qweight, m / self.phrasing_weight[p]
                s = QUERY_SIDE * cq + (1 - QUERY_SIDE) * cp
                if s > s_best:
                    s_best, cq_best, cp_best = s, cq, cp
            answer = sum(known[f] for f in qset & self.answer_feats[d]) / qweight
            counts = self.entry_counts[d]
            entry = sum(known[f] * counts[f] / (counts[f] + K1) for f in qset & counts.keys())
            score = (s_best + ANSWER_SHARE * answer + ENTRY_SHARE * (1 + K1) * entry / qweight) / (
                1 + ANSWER_SHARE + ENTRY_SHARE
            )
            scored.append((score, d, cq_best, cp_best, answer))
        ranked = heapq.nlargest(RERANK, scored)

        qwords, word_weights, total, sounds_of = self._query_words(text, fixes)
        qsounds = _sounds(text)
        clause_words = None
        if clause and clause != text:
            clause_words = self._query_words(clause, self.correct_words(clause))
        top = ranked[0][0] if ranked else 0.0
        qacts, qforeign, qasks = actions(text), foreign_terms(text), asks.asked(text)
        out: list[Evidence] = []
        for score, d, cq, cp, answer in ranked:
            shares = [self._explains(d, word, sounds_of.get(word[1:])) for word in qwords]
            explained = sum(w * e for w, e in zip(word_weights, shares, strict=True))
            explained = explained / total if total else 0.0
            clause_gap = 0.0
            if clause_words is not None and clause_words[2]:
                cwords, cweights, ctotal, csounds = clause_words
                got = sum(
                    w * self._explains(d, word, csounds.get(word[1:]))
                    for word, w in zip(cwords, cweights, strict=True)
                )
                clause_gap = got / ctotal - explained
            # The same from the phrasings alone: never more than from the whole entry.
            asked = sum(
                w * self._explains(d, word, sounds_of.get(word[1:]), phrasings=True)
                for word, w, e in zip(qwords, word_weights, shares, strict=True)
                if e > 0
            )
            aligned = max(
                fuzz.partial_ratio(qsounds, self.phrasing_sounds[p]) for p in self.doc_phrasings[d]
            )
            out.append(
                Evidence(
                    doc=d,
                    rank_score=score,
                    query_covered=cq,
                    phrasing_covered=cp,
                    answer_covered=answer,
                    explained=explained,
                    aligned=aligned / 100,
                    rel=score / top if top else 0.0,
                    syllables=max(
                        fuzz.token_set_ratio(qsounds, self.phrasing_sounds[p])
                        for p in self.doc_phrasings[d]
                    )
                    / 100,
                    asked=asked / total if total else 0.0,
                    clause=clause_gap,
                    contrast=float(contrast(qacts, self.entry_actions[d])),
                    foreign=float(bool(qforeign - self.entry_foreign[d])),
                    unasked=float(bool(qasks - self.entry_gives[d])),
                    exact=d in self.exact.get(text, ()),
                )
            )
        return out


class Matcher:
    def __init__(self, docs: Iterable[FaqDoc], thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        by_lang: dict[str, list[FaqDoc]] = defaultdict(list)
        for doc in docs:
            by_lang[doc.lang].append(doc)
        self.indexes = {lang: _LangIndex(ds) for lang, ds in by_lang.items()}

    def _index(self, lang: str) -> _LangIndex | None:
        return self.indexes.get(lang) or next(iter(self.indexes.values()), None)

    def evidence(self, text: str) -> tuple[str, list[Evidence]]:
        """The query's language and the evidence for its best candidates (for tuning and eval)."""
        norm = normalize(text)
        index = self._index(norm.lang)
        if index is None or not norm.text:
            return norm.lang, []
        return norm.lang, index.evidence(norm.text, _clause(text, norm.text))

    def match(self, text: str) -> Match:
        norm = normalize(text)
        if norm.smalltalk:
            return Match("smalltalk", norm.lang, smalltalk=norm.smalltalk)
        index = self._index(norm.lang)
        if index is None or not norm.text:
            return Match("none", norm.lang)
        evidence = index.evidence(norm.text, _clause(text, norm.text))
        scored = sorted(
            (
                (round(100 * p, 1), index.docs[ev.doc].id)
                for p, ev in zip(confidences(evidence), evidence, strict=True)
            ),
            reverse=True,
        )
        cands = tuple(Candidate(entry_id, score) for score, entry_id in scored[:5])
        decision = self._decide(cands)
        exact = any(ev.exact for ev in evidence)
        if decision == "answer" and not exact and _bare_word(norm.text):
            # One bare word ("密码", "blacklist") names a topic, not a question: offer the entries.
            decision = "suggest"
        vetoed = {index.docs[ev.doc].id for ev in evidence if ev.vetoed}
        if decision == "answer" and cands[0].entry_id in vetoed:
            # Capped at even odds (VETO_LOGIT), a vetoed entry alone scores 50: never answered,
            # whatever the threshold is set to.
            decision = "suggest"
        related: tuple[Candidate, ...] = ()
        if decision == "answer" and not exact:
            # Another entry still plausible is offered under the answer, not hidden behind 👎.
            related = tuple(
                c
                for c in cands[1:]
                if c.score >= self.thresholds.suggest and c.entry_id != cands[0].entry_id
            )[:2]
        return Match(decision, norm.lang, cands, related=related)

    def _decide(self, cands: tuple[Candidate, ...]) -> Decision:
        t = self.thresholds
        if not cands or cands[0].score < t.suggest:
            return "none"
        lead = cands[0].score - (cands[1].score if len(cands) > 1 else 0.0)
        if cands[0].score >= t.answer and lead >= t.margin:
            return "answer"
        return "suggest"
