"""How well the FAQ served a period: questions asked, share answered, votes, top entries.

No Telegram here. Small talk ("hello", "thanks") is not a question and is not counted. A question
counts as answered by the FAQ when the bot answered it outright or the user tapped one of the
suggestions it offered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from faq.models import FaqEntry, QuestionLog

TOP_ENTRIES = 5


@dataclass(frozen=True)
class TopEntry:
    entry_id: str
    question: str
    count: int  # times its answer was shown (answered outright or tapped as a suggestion)


@dataclass(frozen=True)
class FaqFigures:
    since: datetime
    until: datetime
    questions: int
    answered: int
    helpful: int  # 👍
    unhelpful: int  # 👎
    top_entries: tuple[TopEntry, ...]

    @property
    def answered_share(self) -> float | None:
        """0..1, or ``None`` when nobody asked anything (a share of nothing is not 0 %)."""
        return self.answered / self.questions if self.questions else None


def faq_figures(
    session: Session, *, since: datetime, until: datetime, top: int = TOP_ENTRIES
) -> FaqFigures:
    """The figures for questions asked in ``[since, until)``."""
    in_period = (
        col(QuestionLog.asked_at) >= since,
        col(QuestionLog.asked_at) < until,
        QuestionLog.decision != "smalltalk",
    )
    # The entry whose answer the user read: the tapped suggestion, else the outright answer.
    shown = func.coalesce(QuestionLog.chosen_entry_id, QuestionLog.entry_id)

    def count(*where: object) -> int:
        query = select(func.count()).select_from(QuestionLog).where(*in_period, *where)
        return int(session.exec(query).one())  # type: ignore[call-overload]

    rows = session.exec(
        select(shown, func.count(), FaqEntry.question)
        .select_from(QuestionLog)
        .join(FaqEntry, FaqEntry.id == shown)
        .where(*in_period)
        .group_by(shown, FaqEntry.question)
        .order_by(func.count().desc(), shown)
        .limit(top)
    ).all()
    return FaqFigures(
        since=since,
        until=until,
        questions=count(),
        answered=count(shown.is_not(None)),
        helpful=count(QuestionLog.feedback == "up"),
        unhelpful=count(QuestionLog.feedback == "down"),
        top_entries=tuple(TopEntry(entry_id, question, n) for entry_id, n, question in rows),
    )
