"""The FAQ as the bot uses it: the live index, the question log, feedback and chosen suggestions.

No Telegram here. Functions that touch the database are synchronous, take a ``Session`` first and
everything else by keyword, and get the time as ``now`` (the bot runs them through
``Database.run``). Whatever arrives from a button is re-checked here, because callback data can be
forged: a refused check raises a :class:`FaqError` the Telegram edge turns into a polite text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from faq.matcher import Candidate, FaqDoc, Match, Matcher, Thresholds
from faq.models import FaqEntry, Phrasing, QuestionLog

# Categories whose first question makes a good example on the welcome screen, most asked first.
COMMON_CATEGORIES = ("account", "filling", "attachments", "review", "returned", "registration")
CONTACT_CATEGORY = "contact"

Feedback = Literal["up", "down"]


class FaqError(Exception):
    """A request about the FAQ that cannot be honoured (usually a stale or forged button)."""


class UnknownQuestion(FaqError):
    """No logged question has this id."""


class NotYourQuestion(FaqError):
    """The question was asked by somebody else."""


class NotASuggestion(FaqError):
    """The entry was not among the suggestions offered for that question."""


class UnknownEntry(FaqError):
    """The entry does not exist or is no longer active."""


class NothingToRate(FaqError):
    """The question got no answer, so there is nothing to rate."""


# --- the live index -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    """Everything one generation of the index knows; replaced whole, never mutated."""

    matcher: Matcher
    docs: Mapping[str, FaqDoc] = field(default_factory=dict)  # in id order
    categories: Mapping[str, str] = field(default_factory=dict)  # entry id -> category


class FaqIndex:
    """The matcher over the active entries, swapped atomically when the FAQ changes.

    Readers take ``self._snapshot`` once per call, so a rebuild in a worker thread never shows them
    half an index, and a query never rebuilds anything.
    """

    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self._snapshot = _Snapshot(Matcher([], self.thresholds))

    def rebuild(self, session: Session) -> int:
        """Load the active entries and swap in a new matcher; returns how many entries it holds."""
        rows = session.exec(
            select(FaqEntry).where(col(FaqEntry.active).is_(True)).order_by(col(FaqEntry.id))
        ).all()
        self.load((doc_of(row) for row in rows), {row.id: row.category for row in rows})
        return len(rows)

    def load(self, docs: Iterable[FaqDoc], categories: Mapping[str, str] | None = None) -> None:
        """Swap in an index over ``docs`` (already snapshots, e.g. a test's tiny catalogue)."""
        by_id = {doc.id: doc for doc in sorted(docs, key=lambda d: d.id)}
        matcher = Matcher(by_id.values(), self.thresholds)  # built before the swap
        self._snapshot = _Snapshot(matcher, by_id, dict(categories or {}))

    def __len__(self) -> int:
        return len(self._snapshot.docs)

    def match(self, text: str) -> Match:
        return self._snapshot.matcher.match(text)

    def entry(self, entry_id: str) -> FaqDoc | None:
        """The active entry with this id, as of the last rebuild."""
        return self._snapshot.docs.get(entry_id)

    def examples(self, lang: str, n: int = 4) -> list[FaqDoc]:
        """Example questions for the welcome screen: the first entry of a few common categories."""
        snap = self._snapshot
        docs = [d for d in snap.docs.values() if d.lang == lang]
        picked: list[FaqDoc] = []
        for category in COMMON_CATEGORIES:
            first = next((d for d in docs if snap.categories.get(d.id) == category), None)
            if first is not None:
                picked.append(first)
        # A catalogue without those categories still gets examples, in id order.
        picked += [d for d in docs if d not in picked and snap.categories.get(d.id) != "contact"]
        return picked[:n]

    def contact_entry(self, lang: str) -> FaqDoc | None:
        """The FAQ entry that tells how to reach people: the ``-002`` one of ``contact``, or the
        first."""
        snap = self._snapshot
        docs = [
            d
            for d in snap.docs.values()
            if d.lang == lang and snap.categories.get(d.id) == CONTACT_CATEGORY
        ]
        return next((d for d in docs if d.id.endswith("-002")), docs[0] if docs else None)


def doc_of(entry: FaqEntry) -> FaqDoc:
    return FaqDoc(
        id=entry.id,
        lang=entry.lang,
        question=entry.question,
        alternatives=tuple(entry.alternative_list),
        answer=entry.answer,
    )


# --- the question log -----------------------------------------------------------------------------


def log_question(
    session: Session,
    *,
    chat_id: int,
    user_id: int,
    lang: str,
    text: str,
    match: Match,
    now: datetime,
    message_id: int | None = None,
) -> QuestionLog:
    """Record a question and what the bot decided, before the reply is sent.

    The same message again (its update handled a second time after a crash) returns the first
    row: its ``replied_at`` tells whether the reply went out already."""
    if message_id is not None:
        seen = _logged_message(session, chat_id=chat_id, message_id=message_id)
        if seen is not None:
            return seen
    offered = match.suggestions if match.decision == "suggest" else _runners_up(match)
    log = QuestionLog(
        asked_at=now,
        chat_id=chat_id,
        user_id=user_id,
        lang=lang,
        text=text,
        decision=match.decision,
        entry_id=match.entry_id,
        score=match.score,
        suggestions=json.dumps([{"id": c.entry_id, "score": c.score} for c in offered]),
        message_id=message_id,
    )
    try:
        with session.begin_nested():  # another process logging the same message: keep theirs
            session.add(log)
            session.flush()  # assigns the id the buttons carry
    except IntegrityError:
        seen = _logged_message(session, chat_id=chat_id, message_id=message_id or 0)
        assert seen is not None
        return seen
    if match.entry_id is not None:
        _count_answered(session, match.entry_id)
    return log


def mark_replied(session: Session, *, question_id: int, now: datetime) -> None:
    session.execute(
        update(QuestionLog).where(col(QuestionLog.id) == question_id).values(replied_at=now)
    )


def _logged_message(session: Session, *, chat_id: int, message_id: int) -> QuestionLog | None:
    return session.exec(
        select(QuestionLog).where(
            QuestionLog.chat_id == chat_id, QuestionLog.message_id == message_id
        )
    ).first()


def log_example_question(
    session: Session, *, chat_id: int, user_id: int, lang: str, entry_id: str, now: datetime
) -> QuestionLog:
    """An example question tapped on the welcome screen: logged as that entry asked and answered."""
    entry = _active_entry(session, entry_id)
    match = Match("answer", entry.lang, (Candidate(entry.id, 100.0),))
    return log_question(
        session,
        chat_id=chat_id,
        user_id=user_id,
        lang=lang,
        text=entry.question,
        match=match,
        now=now,
    )


def own_question(session: Session, *, question_id: int, user_id: int) -> QuestionLog:
    """The question, if ``user_id`` asked it."""
    log = session.exec(
        select(QuestionLog).where(QuestionLog.id == question_id).with_for_update()
    ).first()
    if log is None:
        raise UnknownQuestion(question_id)
    if log.user_id != user_id:
        raise NotYourQuestion(question_id)
    return log


def offered_ids(log: QuestionLog) -> list[str]:
    try:
        return [str(item["id"]) for item in json.loads(log.suggestions)]
    except (ValueError, TypeError, KeyError):
        return []


def record_feedback(
    session: Session, *, question_id: int, user_id: int, helpful: bool, now: datetime
) -> QuestionLog:
    """👍/👎 on the answer a question got; pressing again changes the vote, never counts twice."""
    log = own_question(session, question_id=question_id, user_id=user_id)
    entry_id = log.chosen_entry_id or log.entry_id
    if entry_id is None:
        raise NothingToRate(question_id)
    vote: Feedback = "up" if helpful else "down"
    if log.feedback != vote:
        if log.feedback is not None:
            _count_vote(session, entry_id, log.feedback, -1)
        _count_vote(session, entry_id, vote, +1)
        log.feedback = vote
        log.feedback_at = now
        session.add(log)
    return log


def choose_suggestion(
    session: Session, *, question_id: int, user_id: int, entry_id: str, now: datetime
) -> QuestionLog:
    """The user tapped one of the suggestions: their wording becomes a candidate phrasing of it."""
    log = own_question(session, question_id=question_id, user_id=user_id)
    if log.decision != "suggest" or entry_id not in offered_ids(log):
        raise NotASuggestion(entry_id)
    entry = _active_entry(session, entry_id)
    if log.chosen_entry_id == entry_id:
        return log  # the same tap again: nothing new to count

    if log.chosen_entry_id is not None and log.feedback is not None:
        # The vote was about the answer chosen before, not this one.
        _count_vote(session, log.chosen_entry_id, log.feedback, -1)
        log.feedback = None
        log.feedback_at = None
    log.chosen_entry_id = entry_id
    session.add(log)
    _count_answered(session, entry_id)
    _record_phrasing(session, log, entry, now)
    return log


def _record_phrasing(session: Session, log: QuestionLog, entry: FaqEntry, now: datetime) -> None:
    # One phrasing per question: a second choice moves it while staff have not decided on it yet.
    phrasing = session.exec(select(Phrasing).where(Phrasing.question_id == log.id)).first()
    if phrasing is not None:
        if phrasing.status == "pending":
            phrasing.entry_id = entry.id
            session.add(phrasing)
        return
    known = {entry.question.strip(), *entry.alternative_list}
    if log.text.strip() in known:
        return  # nothing new to learn
    session.add(Phrasing(entry_id=entry.id, text=log.text, question_id=log.id, created_at=now))


def _runners_up(match: Match) -> tuple[Candidate, ...]:
    return tuple(c for c in match.candidates if c.entry_id != match.entry_id)[:3]


def _active_entry(session: Session, entry_id: str) -> FaqEntry:
    entry = session.get(FaqEntry, entry_id)
    if entry is None or not entry.active:
        raise UnknownEntry(entry_id)
    return entry


def _count_answered(session: Session, entry_id: str) -> None:
    # An UPDATE with an expression, so two answers at once never lose a count.
    session.exec(
        update(FaqEntry)
        .where(col(FaqEntry.id) == entry_id)
        .values(times_answered=FaqEntry.times_answered + 1)
    )


def _count_vote(session: Session, entry_id: str, vote: str, step: int) -> None:
    column = FaqEntry.helpful_count if vote == "up" else FaqEntry.unhelpful_count
    session.exec(
        update(FaqEntry).where(col(FaqEntry.id) == entry_id).values({column: column + step})
    )
