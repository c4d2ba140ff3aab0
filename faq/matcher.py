"""Match a user's message to FAQ entries. Pure Python, no Telegram, no database.

The index is built once from a snapshot of the active entries (:class:`FaqDoc`) and rebuilt when the
FAQ changes; a query never rebuilds anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from rapidfuzz import fuzz, process

from faq.normalize import normalize

Decision = Literal["answer", "suggest", "smalltalk", "none"]


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
    score: float  # 0..100


@dataclass(frozen=True)
class Thresholds:
    answer: float = 62.0  # top score needed to answer outright
    margin: float = 6.0  # and its lead over the next entry
    suggest: float = 38.0  # lowest score still offered as a suggestion


@dataclass(frozen=True)
class Match:
    decision: Decision
    lang: str  # language of the query: "zh" or "en"
    candidates: tuple[Candidate, ...] = field(default=())  # best first, at most 5

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


class Matcher:
    def __init__(self, docs: Iterable[FaqDoc], thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self.docs = {d.id: d for d in docs}
        self._choices: list[str] = []
        self._owners: list[str] = []
        for doc in self.docs.values():
            for text in (doc.question, *doc.alternatives):
                self._choices.append(normalize(text).text)
                self._owners.append(doc.id)

    def match(self, text: str) -> Match:
        norm = normalize(text)
        if norm.smalltalk:
            return Match("smalltalk", norm.lang)
        best: dict[str, float] = {}
        for _choice, score, idx in process.extract(
            norm.text, self._choices, scorer=fuzz.WRatio, limit=20
        ):
            owner = self._owners[idx]
            best[owner] = max(best.get(owner, 0.0), score)
        ranked = sorted(best.items(), key=lambda kv: -kv[1])[:5]
        cands = tuple(Candidate(i, round(s, 1)) for i, s in ranked)
        return Match(self._decide(cands), norm.lang, cands)

    def _decide(self, cands: tuple[Candidate, ...]) -> Decision:
        t = self.thresholds
        if not cands or cands[0].score < t.suggest:
            return "none"
        lead = cands[0].score - (cands[1].score if len(cands) > 1 else 0.0)
        if cands[0].score >= t.answer and lead >= t.margin:
            return "answer"
        return "suggest"
