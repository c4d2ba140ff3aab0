"""Common problems (faq/common.py): which questions count, how they group, the week."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import combinations

import pytest

from bot.clock import FrozenClock
from bot.db import Database
from faq.common import (
    SIMILARITY_THRESHOLD,
    common_problems,
    similarity,
    similarity_key,
    week_start,
)
from faq.models import QuestionLog

from .conftest import NOW, SHANGHAI

# Handmade wordings of one problem each, as users type them (typos by sound included).
PROBLEMS = {
    "invoice": [
        "发票抬头写错了能改吗",
        "发票抬头填错了怎么修改",
        "发漂抬头错了咋改",
        "发票抬头可以改吗？",
    ],
    "seal": ["评价报告盖章要求", "评价报告需要盖什么章", "报告盖章有什么要求"],
    "expert": ["专家库怎么申请入库", "专家入库申请流程", "怎么申请加入专家库"],
    "deposit": ["保证金退还", "保证金什么时候退"],
    "outage": ["平台打不开了", "网站打不开"],
    "invoice_en": ["how to change invoice title", "can I change the invoice title"],
}


def log(
    db: Database,
    text: str,
    *,
    at: datetime = NOW,
    decision: str = "none",
    entry_id: str | None = None,
    suggestions: tuple[str, ...] = (),
    chosen: str | None = None,
    feedback: str | None = None,
) -> int:
    with db.session() as session:
        row = QuestionLog(
            asked_at=at,
            chat_id=1,
            user_id=1,
            lang="zh",
            text=text,
            decision=decision,
            entry_id=entry_id,
            suggestions=json.dumps([{"id": s, "score": 10.0} for s in suggestions]),
            chosen_entry_id=chosen,
            feedback=feedback,
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def test_wordings_of_one_problem_are_similar_and_different_problems_are_not():
    keys = {name: [similarity_key(q) for q in qs] for name, qs in PROBLEMS.items()}
    for name, wordings in keys.items():
        for a, b in combinations(wordings, 2):
            assert similarity(a, b) >= SIMILARITY_THRESHOLD, (name, a, b)
    for (one, a_keys), (other, b_keys) in combinations(keys.items(), 2):
        for a in a_keys:
            for b in b_keys:
                assert similarity(a, b) < SIMILARITY_THRESHOLD, (one, other, a, b)


def test_week_starts_on_monday_midnight_in_shanghai():
    # Sunday 23:30 UTC is already Monday 07:30 in Shanghai.
    sunday_night_utc = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    assert week_start(sunday_night_utc, SHANGHAI) == datetime(2026, 11, 30, tzinfo=SHANGHAI)
    assert week_start(NOW, SHANGHAI) == datetime(2026, 11, 23, tzinfo=SHANGHAI)


def test_groups_unanswered_questions_worst_first(db: Database, clock: FrozenClock):
    since = week_start(NOW, SHANGHAI)
    for name in ("invoice", "seal", "expert"):
        for text in PROBLEMS[name]:
            log(db, text, suggestions=("fee-001",) if name == "invoice" else ())
    log(db, "发票抬头写错了能改吗")  # the same words again: one more of the invoice group
    log(db, "评价报告盖章要求", decision="answer", entry_id="eval-003", feedback="down")

    problems = db.call(common_problems, since=since, until=NOW + timedelta(seconds=1))

    assert [(p.count, p.typical) for p in problems] == [
        (5, "发票抬头写错了能改吗"),
        (4, "评价报告盖章要求"),
        (3, "专家库怎么申请入库"),
    ]
    invoice, seal, _ = problems
    assert invoice.examples == (
        "发票抬头写错了能改吗",
        "发票抬头填错了怎么修改",
        "发漂抬头错了咋改",
    )
    assert invoice.tried_entry_ids == ("fee-001",)
    assert seal.tried_entry_ids == ("eval-003",)
    # The button starts the draft from the latest question with the typical wording.
    assert invoice.question_id == max(
        q for q in range(1, 20) if _text(db, q) == "发票抬头写错了能改吗"
    )


def _text(db: Database, question_id: int) -> str | None:
    with db.session() as session:
        row = session.get(QuestionLog, question_id)
        return row.text if row else None


@pytest.mark.parametrize(
    ("decision", "chosen", "feedback", "counted"),
    [
        ("none", None, None, True),
        ("suggest", None, None, True),  # suggestions nobody tapped
        ("suggest", "att-001", None, False),  # a tapped suggestion answered it
        ("suggest", "att-001", "down", True),  # ... but the answer got 👎
        ("answer", None, None, False),
        ("answer", None, "up", False),
        ("answer", None, "down", True),
        ("smalltalk", None, None, False),
    ],
)
def test_which_questions_count_as_unanswered(db: Database, decision, chosen, feedback, counted):
    entry = "att-001" if decision == "answer" else None
    log(db, "附件传不上去", decision=decision, entry_id=entry, chosen=chosen, feedback=feedback)
    problems = db.call(common_problems, since=NOW - timedelta(hours=1), until=NOW + timedelta(1))
    assert len(problems) == (1 if counted else 0)


def test_only_the_period_counts(db: Database):
    since = week_start(NOW, SHANGHAI)
    log(db, "上周的问题", at=since - timedelta(seconds=1))
    log(db, "本周的问题", at=since)
    log(db, "还没到的问题", at=NOW + timedelta(hours=1))
    problems = db.call(common_problems, since=since, until=NOW + timedelta(seconds=1))
    assert [p.typical for p in problems] == ["本周的问题"]
