"""Common problems: the questions the FAQ did not answer, grouped by similarity.

A question counts as unanswered when the bot found nothing (decision ``none``), when it offered
suggestions and none was tapped, or when its answer got 👎. Questions are grouped by greedy leader
clustering: wordings are taken most frequent first, and each joins the group whose leader it is
most similar to, if similar enough, else it leads a new group; so a group's leader is its most
typical wording.

Similarity compares the pinyin of the topic words (stopwords dropped), because people type by
pinyin and a wrong character with the right sound (发漂 for 发票) is the same question. It is the
mean of rapidfuzz's ``token_set_ratio`` (word order and extra words do not matter) and
``token_sort_ratio`` (but a short question inside a long one is not a perfect match). On handmade
examples (tests/test_common.py) wordings of one problem score 75–100 and different problems at most
about 66, hence the threshold of 72.

No Telegram here; the caller passes the period (see :func:`week_start`).
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache

from rapidfuzz import fuzz, process
from sqlmodel import Session, col, or_, select

from faq.features import STOPWORDS, is_chinese, pinyin, stem, tokens, words
from faq.models import QuestionLog
from faq.normalize import normalize

SIMILARITY_THRESHOLD = 72.0
MAX_EXAMPLES = 3
MAX_TRIED = 3


@dataclass(frozen=True)
class CommonProblem:
    """One group of similar unanswered questions."""

    count: int  # questions in the group
    question_id: int  # a question with the most typical wording (the draft starts from it)
    typical: str  # that wording, as the user typed it
    examples: tuple[str, ...]  # up to 3 distinct wordings, the typical one first
    tried_entry_ids: tuple[str, ...]  # entries the bot answered or offered, most often first
    last_asked_at: datetime


def week_start(now: datetime, tz: tzinfo) -> datetime:
    """Monday 00:00 of the week holding ``now``, in ``tz`` (the staff's week, not UTC's)."""
    local = now.astimezone(tz)
    monday = local.date() - timedelta(days=local.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=tz)


def unanswered_questions(
    session: Session, *, since: datetime, until: datetime
) -> list[QuestionLog]:
    """Questions asked in ``[since, until)`` that the FAQ did not answer, oldest first."""
    return list(
        session.exec(
            select(QuestionLog)
            .where(
                col(QuestionLog.asked_at) >= since,
                col(QuestionLog.asked_at) < until,
                or_(
                    QuestionLog.decision == "none",
                    (QuestionLog.decision == "suggest")
                    & col(QuestionLog.chosen_entry_id).is_(None),
                    QuestionLog.feedback == "down",
                ),
            )
            .order_by(col(QuestionLog.asked_at), col(QuestionLog.id))
        ).all()
    )


def common_problems(
    session: Session,
    *,
    since: datetime,
    until: datetime,
    limit: int = 10,
    threshold: float = SIMILARITY_THRESHOLD,
) -> list[CommonProblem]:
    """The groups of unanswered questions in ``[since, until)``, worst (largest) first."""
    groups = group_similar(unanswered_questions(session, since=since, until=until), threshold)
    problems = [_problem(group) for group in groups]
    problems.sort(key=lambda p: (-p.count, -p.last_asked_at.timestamp()))
    return problems[:limit]


def group_similar(logs: Sequence[QuestionLog], threshold: float) -> list[list[QuestionLog]]:
    """Greedy leader clustering; each group lists its leader's wording first."""
    by_key: dict[str, list[QuestionLog]] = {}
    for log in logs:
        by_key.setdefault(similarity_key(log.text), []).append(log)
    # Most frequent wording first (ties: asked first), so leaders are the typical wordings.
    ordered = sorted(by_key.items(), key=lambda kv: (-len(kv[1]), kv[1][0].asked_at))
    leaders: list[str] = []
    groups: list[list[QuestionLog]] = []
    for key, same in ordered:
        best = _closest_leader(key, leaders, threshold)
        if best is None:
            leaders.append(key)
            groups.append(list(same))
        else:
            groups[best].extend(same)
    return groups


def _closest_leader(key: str, leaders: list[str], threshold: float) -> int | None:
    """The index of the most similar leader at or above ``threshold`` (the first on a tie)."""
    # A mean at or above the threshold needs one of its two scores there too; rapidfuzz finds
    # those leaders in C, so the Python scorer runs on a handful (3,000 questions group in ~0.4 s).
    near = {
        index
        for scorer in (fuzz.token_set_ratio, fuzz.token_sort_ratio)
        for _, _, index in process.extract(
            key, leaders, scorer=scorer, score_cutoff=threshold, limit=None
        )
    }
    scored = [(similarity(key, leaders[i]), -i) for i in near]
    best = max(scored, default=None)
    return -best[1] if best is not None and best[0] >= threshold else None


@lru_cache(maxsize=8192)
def similarity_key(text: str) -> str:
    """The pinyin of a question's topic words (English: stemmed words), space separated."""
    normalised = normalize(text).text
    parts: list[str] = []
    for token in tokens(normalised):
        if is_chinese(token):
            for word in words(token):
                if word not in STOPWORDS:
                    parts.extend(pinyin(word))
        elif token not in STOPWORDS:
            parts.append(stem(token))
    # A question made only of stopwords still has to group with its exact repeats.
    return " ".join(parts) or normalised or text.strip()


def similarity(a: str, b: str, **_: object) -> float:
    """0–100 between two :func:`similarity_key` values (rapidfuzz scorer signature)."""
    return (fuzz.token_set_ratio(a, b) + fuzz.token_sort_ratio(a, b)) / 2


def _problem(group: list[QuestionLog]) -> CommonProblem:
    leader = group[0]
    # The most recent question with the leader's wording: the freshest context for a draft.
    same_wording = [log for log in group if log.text == leader.text]
    typical = max(same_wording, key=lambda log: (log.asked_at, log.id or 0))
    examples: list[str] = []
    for log in group:
        text = " ".join(log.text.split())
        if text not in examples:
            examples.append(text)
        if len(examples) == MAX_EXAMPLES:
            break
    tried: Counter[str] = Counter()
    for log in group:
        tried.update(_tried_ids(log))
    assert typical.id is not None
    return CommonProblem(
        count=len(group),
        question_id=typical.id,
        typical=typical.text,
        examples=tuple(examples),
        tried_entry_ids=tuple(entry for entry, _ in tried.most_common(MAX_TRIED)),
        last_asked_at=max(log.asked_at for log in group),
    )


def _tried_ids(log: QuestionLog) -> list[str]:
    tried = [log.entry_id] if log.entry_id else []
    # An unreadable list is just no extra information.
    with contextlib.suppress(ValueError, TypeError, KeyError):
        tried += [str(item["id"]) for item in json.loads(log.suggestions)]
    return list(dict.fromkeys(tried))
