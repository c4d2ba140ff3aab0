"""Answer quality of the matcher on a file of ``query,expected_id`` rows.

``expected_id`` empty means the FAQ should not answer it (out of scope); ``__smalltalk__`` means a
greeting, thanks or acknowledgement.
"""

from __future__ import annotations

import csv
import io
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from faq.matcher import Match

SMALLTALK_ID = "__smalltalk__"


@dataclass(frozen=True)
class Case:
    query: str
    expected: str  # entry id, "" (out of scope) or SMALLTALK_ID


@dataclass
class Outcome:
    case: Case
    match: Match
    ms: float

    @property
    def ok(self) -> bool:
        exp, m = self.case.expected, self.match
        if exp == SMALLTALK_ID:
            return m.decision == "smalltalk"
        if not exp:
            return m.decision != "answer"
        return m.decision == "answer" and m.entry_id == exp


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def _share(self, outcomes: list[Outcome], pred) -> float:
        return sum(1 for o in outcomes if pred(o)) / len(outcomes) if outcomes else float("nan")

    @property
    def in_scope(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.expected not in ("", SMALLTALK_ID)]

    @property
    def out_of_scope(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.expected == ""]

    @property
    def smalltalk(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.expected == SMALLTALK_ID]

    @property
    def top1(self) -> float:
        return self._share(self.in_scope, lambda o: o.ok)

    @property
    def answered_or_suggested(self) -> float:
        def hit(o: Outcome) -> bool:
            m = o.match
            return (m.decision == "answer" and m.entry_id == o.case.expected) or any(
                c.entry_id == o.case.expected for c in m.suggestions
            )

        return self._share(self.in_scope, hit)

    @property
    def wrong_answer(self) -> float:
        return self._share(
            self.in_scope,
            lambda o: o.match.decision == "answer" and o.match.entry_id != o.case.expected,
        )

    @property
    def out_of_scope_answered(self) -> float:
        return self._share(self.out_of_scope, lambda o: o.match.decision == "answer")

    @property
    def smalltalk_accuracy(self) -> float:
        return self._share(self.smalltalk, lambda o: o.ok)

    def latency_ms(self, q: float) -> float:
        times = sorted(o.ms for o in self.outcomes)
        if not times:
            return float("nan")
        if q == 50:
            return statistics.median(times)
        return times[min(len(times) - 1, round(q / 100 * (len(times) - 1)))]

    def render(self, *, failures: bool = True) -> str:
        def pct(x: float) -> str:
            return f"{100 * x:5.1f} %"

        lines = [
            f"queries: {len(self.outcomes)} (in scope {len(self.in_scope)}, out of scope "
            f"{len(self.out_of_scope)}, small talk {len(self.smalltalk)})",
            f"in-scope top-1 answered correctly:      {pct(self.top1)}   (target >= 90 %)",
            f"in-scope answered or suggested:         {pct(self.answered_or_suggested)}"
            "   (target >= 97 %)",
            f"in-scope answered with the wrong entry: {pct(self.wrong_answer)}   (target <= 5 %)",
            f"out-of-scope wrongly answered:          {pct(self.out_of_scope_answered)}"
            "   (target <= 5 %)",
            f"small-talk accuracy:                    {pct(self.smalltalk_accuracy)}",
            f"latency p50 {self.latency_ms(50):.2f} ms, p99 {self.latency_ms(99):.2f} ms",
        ]
        if failures:
            bad = [o for o in self.outcomes if not o.ok]
            if bad:
                lines.append(f"not right ({len(bad)}):")
            for o in bad:
                cands = ", ".join(f"{c.entry_id}:{c.score:.0f}" for c in o.match.candidates[:3])
                lines.append(
                    f"  {o.case.query[:40]!r} expected {o.case.expected or '-'}"
                    f" got {o.match.decision} [{cands}]"
                )
        return "\n".join(lines)


def read_cases(path: Path) -> list[Case]:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValueError(f"{path}: neither UTF-8 nor GB18030")
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or {"query", "expected_id"} - set(reader.fieldnames):
        raise ValueError(f"{path}: header must be query,expected_id")
    return [Case(r["query"], (r["expected_id"] or "").strip()) for r in reader]


class _Matches(Protocol):
    def match(self, text: str) -> Match: ...


def evaluate(matcher: _Matches, cases: Iterable[Case]) -> Report:
    report = Report()
    for case in cases:
        start = time.perf_counter()
        match = matcher.match(case.query)
        report.outcomes.append(Outcome(case, match, (time.perf_counter() - start) * 1000))
    return report
