"""FAQ figures for a period (faq/stats.py)."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import FrozenClock
from bot.db import Database
from faq.stats import TopEntry, faq_figures

from .conftest import NOW, add_entry
from .test_common import log

LATER = NOW + timedelta(seconds=1)


def test_figures_of_a_period(db: Database, clock: FrozenClock):
    add_entry(db, clock, "att-001", "附件支持哪些格式？")
    add_entry(db, clock, "att-002", "附件大小有什么限制？")
    log(db, "附件格式", decision="answer", entry_id="att-001", feedback="up")
    log(db, "附件什么格式", decision="answer", entry_id="att-001")
    log(db, "附件多大", decision="suggest", suggestions=("att-002",), chosen="att-002")
    log(db, "附件", decision="suggest", suggestions=("att-002",), feedback=None)
    log(db, "格式不对", decision="answer", entry_id="att-001", feedback="down")
    log(db, "完全不知道", decision="none")
    log(db, "谢谢", decision="smalltalk")  # not a question
    log(db, "上周的", decision="answer", entry_id="att-002", at=NOW - timedelta(days=8))

    figures = db.call(faq_figures, since=NOW - timedelta(days=1), until=LATER)

    assert (figures.questions, figures.answered) == (6, 4)
    assert figures.answered_share == 4 / 6
    assert (figures.helpful, figures.unhelpful) == (1, 1)
    assert figures.top_entries == (
        TopEntry("att-001", "附件支持哪些格式？", 3),
        TopEntry("att-002", "附件大小有什么限制？", 1),
    )


def test_an_empty_period_has_no_share(db: Database):
    figures = db.call(faq_figures, since=NOW - timedelta(days=1), until=LATER)
    assert (figures.questions, figures.answered_share, figures.top_entries) == (0, None, ())
