"""Match a user's message to FAQ entries. Pure Python, no Telegram, no database.

How a message is scored against an entry (each step chosen by measurement on the dev query set,
see README "Answer quality"):

1. Normalise (``faq.normalize``) and turn into features (``faq.features``): words, characters,
   character bigrams and pinyin bigrams for Chinese; stemmed words and word bigrams for English.
   English words the FAQ does not know are corrected to the closest FAQ word with rapidfuzz (typos).
2. Each feature weighs its inverse document frequency over the catalogue, so "怎么办" counts little
   and "黑名单" a lot. Candidates are ranked by how much of the query's weight the best phrasing
   of an entry (question or alternative) covers and how much of that phrasing the query covers; the
   entry's answer text adds a smaller share (it holds words people use that the questions don't).
3. rapidfuzz aligns the query with each phrasing of the best candidates on pinyin (partial ratio),
   which rewards a phrasing that appears nearly whole inside a long message.
4. The evidence of each candidate (coverage both ways, the answer's share, the fuzzy alignment and
   how much of the query's informative content the entry explains) goes through a logistic model
   whose weights were fitted on the dev set (``bench/fit_confidence.py``): a confidence 0-100.
   The decision compares it with the thresholds (settings).

The index is built once from a snapshot of the active entries (:class:`FaqDoc`) and rebuilt when the
FAQ changes; a query never rebuilds anything.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from rapidfuzz import fuzz, process, utils

from faq.features import background_idf, content_words, features, is_chinese, pinyin, stem, tokens
from faq.normalize import normalize

Decision = Literal["answer", "suggest", "smalltalk", "none"]

RERANK = 8  # candidates that get the fuzzy alignment and a confidence
ANSWER_SHARE = 0.35  # weight of the answer text against the best phrasing when ranking
QUERY_SIDE = 0.6  # ranking: weight of "query covered" against "phrasing covered"

# Logistic model over Evidence.vector(); fitted by bench/fit_confidence.py on the dev query set.
WEIGHTS = (2.409, 1.436, 4.918, 1.209, 2.536, 1.892, 1.813)
BIAS = -6.08


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
    answer: float = 33.0  # confidence needed to answer outright
    margin: float = 10.0  # and its lead over the next entry
    suggest: float = 6.0  # lowest confidence still offered as a suggestion


@dataclass(frozen=True)
class Match:
    decision: Decision
    lang: str  # language of the query: "zh" or "en"
    candidates: tuple[Candidate, ...] = field(default=())  # best first, at most 5
    smalltalk: str | None = None  # for decision == "smalltalk": greeting | thanks | ack | bye

    @property
    def entry_id(self) -> str | None:
        """The entry answered, for decision == "answer"."""
        return self.candidates[0].entry_id if self.decision == "answer" else None

    @property
    def score(self) -> float:
        return self.candidates[0].score if self.candidates else 0.0

    @property
    def suggestions(self) -> tuple[Candidate, ...]:
        """Up to 3 entries to offer, for decision == "suggest"."""
        return self.candidates[:3] if self.decision == "suggest" else ()


@dataclass(frozen=True)
class Evidence:
    """Why a candidate entry might answer a query; all values 0..1."""

    doc: int
    rank_score: float  # the ranking score of step 2
    query_covered: float  # share of the query's weight found in the best phrasing
    phrasing_covered: float  # share of the best phrasing's weight found in the query
    answer_covered: float  # share of the query's weight found in the answer text
    explained: float  # share of the query's informative words found anywhere in the entry
    aligned: float  # rapidfuzz partial ratio of query and best phrasing, on pinyin
    lead: float = 0.0  # rank_score lead over the next candidate

    def vector(self) -> tuple[float, ...]:
        return (
            self.rank_score,
            self.query_covered,
            self.phrasing_covered,
            self.answer_covered,
            self.explained,
            self.aligned,
            self.lead,
        )


def confidence(ev: Evidence) -> float:
    z = BIAS + sum(w * x for w, x in zip(WEIGHTS, ev.vector(), strict=True))
    return 1 / (1 + math.exp(-z))


def _sounds(text: str) -> str:
    """The text as pinyin syllables and English words separated by spaces."""
    out: list[str] = []
    for tok in tokens(text):
        out.extend(pinyin(tok) if is_chinese(tok) else [stem(tok)])
    return utils.default_process(" ".join(out))


class _LangIndex:
    """Everything needed to score queries in one language, built once."""

    def __init__(self, docs: list[FaqDoc]) -> None:
        self.docs = docs
        self.phrasing_owner: list[int] = []
        self.phrasing_feats: list[set[str]] = []
        self.phrasing_sounds: list[str] = []
        self.doc_phrasings: list[list[int]] = [[] for _ in docs]
        answer_feats: list[set[str]] = []
        for d, doc in enumerate(docs):
            for text in dict.fromkeys((doc.question, *doc.alternatives)):
                norm = normalize(text).text
                self.doc_phrasings[d].append(len(self.phrasing_owner))
                self.phrasing_owner.append(d)
                self.phrasing_feats.append(features(norm))
                self.phrasing_sounds.append(_sounds(norm))
            answer_feats.append(features(normalize(doc.answer).text) if doc.answer else set())

        self.entry_feats: list[set[str]] = [set(a) for a in answer_feats]
        for p, feats in enumerate(self.phrasing_feats):
            self.entry_feats[self.phrasing_owner[p]] |= feats
        df: dict[str, int] = defaultdict(int)
        for feats in self.entry_feats:
            for f in feats:
                df[f] += 1
        n = max(len(docs), 1)
        self.idf = {f: math.log(1 + (n - c + 0.5) / (c + 0.5)) for f, c in df.items()}
        self.unseen_idf = math.log(1 + (n + 0.5) / 0.5)
        self.vocab = sorted({f[1:] for f in df if f[0] == "w" and len(f) > 4})
        self.phrasing_weight = [sum(self.idf[f] for f in fs) or 1.0 for fs in self.phrasing_feats]
        self.postings: dict[str, list[int]] = defaultdict(list)
        for p, feats in enumerate(self.phrasing_feats):
            for f in feats:
                self.postings[f].append(p)
        self.answer_postings: dict[str, list[int]] = defaultdict(list)
        for d, feats in enumerate(answer_feats):
            for f in feats:
                self.answer_postings[f].append(d)

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
        return fixes

    def _word_weight(self, feat: str) -> float:
        """How informative a query word is: rarer in general language and in the FAQ = more."""
        bg = background_idf().get(feat[1:], 12.0) / 12.0 if feat[0] == "j" else 1.0
        return bg * self.idf.get(feat, self.unseen_idf)

    def _explains(self, d: int, feat: str) -> bool:
        feats = self.entry_feats[d]
        if feat in feats:
            return True
        if feat[0] != "j":
            return False
        word = feat[1:]
        if len(word) == 1:
            return "c" + word in feats
        sounds = pinyin(word)
        # Homophones and near-synonyms: every pinyin bigram, or every character bigram, is there.
        return all("p" + a + " " + b in feats for a, b in itertools.pairwise(sounds)) or all(
            "b" + word[i : i + 2] in feats for i in range(len(word) - 1)
        )

    def evidence(self, text: str) -> list[Evidence]:
        fixes = self.correct_words(text)
        qfeats = features(text, word_map=fixes, with_words=False)
        if not qfeats:
            return []
        qweight = sum(self.idf.get(f, self.unseen_idf) for f in qfeats)
        hits: dict[int, float] = defaultdict(float)
        answer_hits: dict[int, float] = defaultdict(float)
        for f in qfeats:
            w = self.idf.get(f)  # word features stay out of ranking: measured worse
            if w is None:
                continue
            for p in self.postings.get(f, ()):
                hits[p] += w
            for d in self.answer_postings.get(f, ()):
                answer_hits[d] += w

        best: dict[int, tuple[float, int, float, float]] = {}
        for p, m in hits.items():
            cq, cp = m / qweight, m / self.phrasing_weight[p]
            s = QUERY_SIDE * cq + (1 - QUERY_SIDE) * cp
            d = self.phrasing_owner[p]
            if d not in best or s > best[d][0]:
                best[d] = (s, p, cq, cp)
        ranked: list[tuple[float, int]] = []
        for d in set(best) | set(answer_hits):
            lexical = best[d][0] if d in best else 0.0
            ranked.append(
                ((lexical + ANSWER_SHARE * answer_hits[d] / qweight) / (1 + ANSWER_SHARE), d)
            )
        ranked.sort(reverse=True)
        ranked = ranked[:RERANK]

        words = list(dict.fromkeys(content_words(text, word_map=fixes)))
        word_weights = [self._word_weight(w) for w in words]
        total = sum(word_weights) or 1.0
        qsounds = _sounds(text)
        out: list[Evidence] = []
        for i, (score, d) in enumerate(ranked):
            _, _, cq, cp = best.get(d, (0.0, -1, 0.0, 0.0))
            explained = sum(
                w for word, w in zip(words, word_weights, strict=True) if self._explains(d, word)
            )
            aligned = max(
                fuzz.partial_ratio(qsounds, self.phrasing_sounds[p]) for p in self.doc_phrasings[d]
            )
            nxt = ranked[i + 1][0] if i + 1 < len(ranked) else 0.0
            out.append(
                Evidence(
                    doc=d,
                    rank_score=score,
                    query_covered=cq,
                    phrasing_covered=cp,
                    answer_covered=answer_hits.get(d, 0.0) / qweight,
                    explained=explained / total,
                    aligned=aligned / 100,
                    lead=score - nxt,
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
        return norm.lang, index.evidence(norm.text)

    def match(self, text: str) -> Match:
        norm = normalize(text)
        if norm.smalltalk:
            return Match("smalltalk", norm.lang, smalltalk=norm.smalltalk)
        index = self._index(norm.lang)
        if index is None or not norm.text:
            return Match("none", norm.lang)
        scored = sorted(
            (
                (round(100 * confidence(ev), 1), index.docs[ev.doc].id)
                for ev in index.evidence(norm.text)
            ),
            reverse=True,
        )
        cands = tuple(Candidate(entry_id, score) for score, entry_id in scored[:5])
        return Match(self._decide(cands), norm.lang, cands)

    def _decide(self, cands: tuple[Candidate, ...]) -> Decision:
        t = self.thresholds
        if not cands or cands[0].score < t.suggest:
            return "none"
        lead = cands[0].score - (cands[1].score if len(cands) > 1 else 0.0)
        if cands[0].score >= t.answer and lead >= t.margin:
            return "answer"
        return "suggest"
