"""The FAQ as the bot uses it: the live index, the question log, feedback and chosen suggestions.

No Telegram here. Functions that touch the database are synchronous, take a ``Session`` first and
everything else by keyword, and get the time as ``now`` (the bot runs them through
``Database.run``). Whatever arrives from a button is re-checked here, because callback data can be
forged: a refused check raises a :class:`FaqError` the Telegram edge turns into a polite text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import bindparam, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col, select

from bot.db import autocommit_connection, loaded, upsert_insert
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
    """The entry was not offered as a button for that question (a suggestion, or a related entry
    under an answer)."""


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

_QUESTIONS = QuestionLog.__table__  # type: ignore[attr-defined]
_ENTRIES = FaqEntry.__table__  # type: ignore[attr-defined]


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
    row: its ``replied_at`` tells whether the reply went out already.

    ``INSERT ... ON CONFLICT (chat_id, message_id) DO NOTHING RETURNING id``, and the answered
    entry's count only when that inserted a row; only when it inserted nothing (the message is
    logged already, by an earlier run or another process at the same moment) is the first row
    read. A question without a ``message_id`` never conflicts (NULLs are distinct). On
    PostgreSQL both writes are one statement (the insert a data-modifying CTE), committed by
    itself: no BEGIN and COMMIT round trips.

    ``suggestions`` holds what the user was offered as buttons: the suggestions, or the related
    entries under an answer (possibly none); for a question the FAQ did not answer, the best
    candidates, as context for staff (never choosable, see :func:`choose_suggestion`)."""
    offered = match.candidates[:3] if match.decision == "none" else match.suggestions
    values = {
        "asked_at": now,
        "chat_id": chat_id,
        "message_id": message_id,
        "user_id": user_id,
        "lang": lang,
        "text": text,
        "decision": match.decision,
        "entry_id": match.entry_id,
        "score": match.score,
        "suggestions": json.dumps([{"id": c.entry_id, "score": c.score} for c in offered]),
        "chosen_entry_id": None,
        "feedback": None,
        "feedback_at": None,
        "replied_at": None,
    }
    if session.get_bind().dialect.name == "postgresql":
        question_id = (
            autocommit_connection(session)
            .execute(_LOG_AND_COUNT_PG, {f"q_{key}": value for key, value in values.items()})
            .scalar()
        )
        counted = question_id is not None
    else:
        question_id = session.connection().execute(_LOG_SQLITE, values).scalar()
        counted = False
    if question_id is None:
        seen = _logged_message(session, chat_id=chat_id, message_id=message_id or 0)
        assert seen is not None
        return seen
    if match.entry_id is not None:
        if counted:
            _show_answered(session, match.entry_id)
        else:
            _count_answered(session, match.entry_id)
    return loaded(QuestionLog, {"id": question_id, **values})


def _log_statement(dialect_name: str) -> Any:
    """``INSERT INTO question_log ... ON CONFLICT (chat_id, message_id) DO NOTHING``."""
    return upsert_insert(dialect_name, _QUESTIONS).on_conflict_do_nothing(
        index_elements=[_QUESTIONS.c.chat_id, _QUESTIONS.c.message_id]
    )


def _log_and_count_pg() -> Any:
    """One statement: the question's row and, if it was inserted, its entry's count. Parameters
    are the row's values with ``q_`` before each column name."""
    logged = (
        _log_statement("postgresql")
        .values(
            {
                column.key: bindparam(f"q_{column.key}")
                for column in _QUESTIONS.c
                if column.key != "id"
            }
        )
        .returning(_QUESTIONS.c.id, _QUESTIONS.c.entry_id)
        .cte("logged")
    )
    counted = (
        update(_ENTRIES)
        .where(_ENTRIES.c.id == logged.c.entry_id)
        .values(times_answered=_ENTRIES.c.times_answered + 1)
        .cte("counted")
    )
    return select(logged.c.id).add_cte(counted)


_LOG_SQLITE = _log_statement("sqlite").returning(_QUESTIONS.c.id)
_LOG_AND_COUNT_PG = _log_and_count_pg()


def mark_replied(session: Session, *, question_id: int, now: datetime) -> None:
    mark_replied_many(session, [{"question_id": question_id, "now": now}])


def mark_replied_many(session: Session, marks: Sequence[Mapping[str, Any]]) -> list[None]:
    """:func:`mark_replied` for several questions (each a mapping of its keyword arguments), in
    one executemany of a prebuilt UPDATE (bot/inbox_queue.py's ordered writer)."""
    if marks:
        session.connection().execute(
            _MARK_REPLIED,
            [{"question_id": mark["question_id"], "now": mark["now"]} for mark in marks],
        )
    return [None] * len(marks)


_MARK_REPLIED = (
    update(_QUESTIONS)
    .where(_QUESTIONS.c.id == bindparam("question_id"))
    .values(replied_at=bindparam("now"))
)
_LOGGED_MESSAGE = select(QuestionLog).where(
    col(QuestionLog.chat_id) == bindparam("chat_id"),
    col(QuestionLog.message_id) == bindparam("message_id"),
)


def _logged_message(session: Session, *, chat_id: int, message_id: int) -> QuestionLog | None:
    return session.exec(
        _LOGGED_MESSAGE, params={"chat_id": chat_id, "message_id": message_id}
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


def related_ids(log: QuestionLog) -> list[str]:
    """The related entries offered under an outright answer, while none of them is chosen yet."""
    if log.decision != "answer" or log.chosen_entry_id is not None:
        return []
    return [entry_id for entry_id in offered_ids(log) if entry_id != log.entry_id]


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
    """The user tapped one of the suggestions, or one of the related entries offered under an
    answer: their wording becomes a candidate phrasing of it (under an answer the matcher picked
    the wrong entry, so it is the wording most worth learning). Only an entry that was offered as
    a button can be chosen, never the answered entry itself."""
    log = own_question(session, question_id=question_id, user_id=user_id)
    if (
        log.decision not in ("suggest", "answer")
        or entry_id == log.entry_id
        or entry_id not in offered_ids(log)
    ):
        raise NotASuggestion(entry_id)
    entry = _active_entry(session, entry_id)
    if log.chosen_entry_id == entry_id:
        return log  # the same tap again: nothing new to count

    if log.feedback is not None:
        if log.chosen_entry_id is not None:
            # The vote was about the answer chosen before, not this one.
            _count_vote(session, log.chosen_entry_id, log.feedback, -1)
        # Otherwise it was a vote on the outright answer (log.entry_id), genuinely given about
        # that entry before the user looked at a related one: it stays counted there. The log
        # holds one vote, for the entry shown last (chosen_entry_id), so it is cleared: the next
        # 👍/👎 is about the chosen entry and must count as a new vote, not move the old one.
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


def _active_entry(session: Session, entry_id: str) -> FaqEntry:
    entry = session.get(FaqEntry, entry_id)
    if entry is None or not entry.active:
        raise UnknownEntry(entry_id)
    return entry


def _count_answered(session: Session, entry_id: str) -> None:
    # An UPDATE with an expression, so two answers at once never lose a count.
    session.connection().execute(_COUNT_ANSWERED, {"entry_id": entry_id})
    _show_answered(session, entry_id)


def _show_answered(session: Session, entry_id: str) -> None:
    """An entry this session holds shows the count just added in the database, as after an ORM
    update."""
    held = session.identity_map.get(identity_key(FaqEntry, entry_id))
    if held is not None:
        set_committed_value(held, "times_answered", held.times_answered + 1)


_COUNT_ANSWERED = (
    update(_ENTRIES)
    .where(_ENTRIES.c.id == bindparam("entry_id"))
    .values(times_answered=_ENTRIES.c.times_answered + 1)
)


def _count_vote(session: Session, entry_id: str, vote: str, step: int) -> None:
    column = FaqEntry.helpful_count if vote == "up" else FaqEntry.unhelpful_count
    session.exec(
        update(FaqEntry).where(col(FaqEntry.id) == entry_id).values({column: column + step})
    )
