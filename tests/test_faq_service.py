"""The FAQ as the bot uses it, without Telegram: index, question log, feedback, suggestions."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from bot.db import Database
from faq.matcher import Candidate, FaqDoc, Match
from faq.models import FaqEntry, Phrasing, QuestionLog
from faq.service import (
    FaqIndex,
    NotASuggestion,
    NothingToRate,
    NotYourQuestion,
    UnknownEntry,
    UnknownQuestion,
    choose_suggestion,
    log_example_question,
    log_question,
    record_feedback,
)

from .conftest import add_entry

ALICE, BOB = 1001, 1002


def answered(entry_id: str, *related: str, unrelated: tuple[str, ...] = ()) -> Match:
    """An outright answer with ``related`` entries offered under it; ``unrelated`` runners-up
    were scored too, but below the suggest threshold."""
    offered = tuple(Candidate(r, 12.0 - i) for i, r in enumerate(related))
    below = tuple(Candidate(r, 1.0) for r in unrelated)
    return Match("answer", "zh", (Candidate(entry_id, 91.0), *offered, *below), related=offered)


def suggested(*entry_ids: str) -> Match:
    return Match("suggest", "zh", tuple(Candidate(e, 55.0 - i) for i, e in enumerate(entry_ids)))


def offered(match: Match) -> list[str]:
    return [c.entry_id for c in match.candidates]


def ask(db: Database, clock, match: Match, *, user_id: int = ALICE, text: str = "密码忘了咋办"):
    return db.call(
        log_question,
        chat_id=user_id,
        user_id=user_id,
        lang="zh",
        text=text,
        match=match,
        now=clock.now(),
    )


def entry(db: Database, entry_id: str) -> FaqEntry:
    with db.session() as session:
        found = session.get(FaqEntry, entry_id)
        assert found is not None
        return found


def votes(db: Database, entry_id: str) -> tuple[int, int]:
    """An entry's (👍, 👎) counts."""
    found = entry(db, entry_id)
    return found.helpful_count, found.unhelpful_count


def question(db: Database, question_id: int) -> QuestionLog:
    with db.session() as session:
        found = session.get(QuestionLog, question_id)
        assert found is not None
        return found


def phrasings(db: Database) -> list[Phrasing]:
    with db.session() as session:
        return list(session.exec(select(Phrasing)).all())


# --- the index ------------------------------------------------------------------------------------


def test_rebuild_holds_active_entries_only(faq_db, clock):
    with faq_db.session() as session:
        session.get(FaqEntry, "account-002").active = False  # type: ignore[union-attr]
    index = FaqIndex()
    count = faq_db.call(index.rebuild)

    assert count == len(index) > 80
    assert index.entry("account-002") is None
    doc = index.entry("account-001")
    assert doc is not None and doc.question == "忘记登录密码了怎么办？"
    assert "密码找回" in doc.alternatives


def test_a_rebuild_swaps_the_whole_index(db, clock):
    add_entry(db, clock, "a-001", "怎么修改密码？", category="account")
    index = FaqIndex()
    db.call(index.rebuild)
    add_entry(db, clock, "a-002", "附件支持哪些格式？", category="attachments")

    assert index.entry("a-002") is None  # a query never rebuilds
    assert "a-002" not in offered(index.match("附件支持哪些格式？"))
    db.call(index.rebuild)
    assert index.entry("a-002") is not None
    assert "a-002" in offered(index.match("附件支持哪些格式？"))


def test_examples_are_the_first_questions_of_common_categories(faq_index):
    zh = [doc.id for doc in faq_index.examples("zh", 4)]
    assert zh == ["account-001", "fill-001", "att-001", "review-001"]
    en = [doc.id for doc in faq_index.examples("en", 3)]
    assert en == ["account-101", "fill-104", "att-101"]


def test_examples_of_an_unusual_catalogue_fall_back_to_any_entries():
    index = FaqIndex()
    index.load([FaqDoc("x-1", "zh", "问题一"), FaqDoc("x-2", "zh", "问题二")], {"x-1": "misc"})
    assert [d.id for d in index.examples("zh", 4)] == ["x-1", "x-2"]
    assert index.examples("en", 4) == []


def test_contact_entry_prefers_the_002_one(faq_index):
    assert faq_index.contact_entry("zh").id == "contact-002"  # type: ignore[union-attr]
    assert faq_index.contact_entry("en").id == "contact-101"  # type: ignore[union-attr]
    assert FaqIndex().contact_entry("zh") is None


# --- the question log -----------------------------------------------------------------------------


def test_an_answered_question_is_logged_and_counted(faq_db, clock):
    log = ask(faq_db, clock, answered("account-001"))

    stored = question(faq_db, log.id)
    assert (stored.decision, stored.entry_id, stored.score) == ("answer", "account-001", 91.0)
    assert stored.asked_at == clock.now()
    assert json.loads(stored.suggestions) == []
    assert entry(faq_db, "account-001").times_answered == 1


def test_an_answer_logs_its_related_entries_as_offered_and_no_other_runner_up(faq_db, clock):
    log = ask(faq_db, clock, answered("account-001", "account-002", unrelated=("account-003",)))

    stored = question(faq_db, log.id)
    assert json.loads(stored.suggestions) == [{"id": "account-002", "score": 12.0}]
    assert entry(faq_db, "account-001").times_answered == 1
    assert entry(faq_db, "account-002").times_answered == 0  # offered, not shown


def test_a_question_not_in_the_faq_keeps_its_best_candidates_for_staff(faq_db, clock):
    cands = tuple(Candidate(e, 3.0 - i) for i, e in enumerate(["att-001", "att-002", "att-003"]))
    log = ask(faq_db, clock, Match("none", "zh", (*cands, Candidate("att-004", 0.1))))
    stored = question(faq_db, log.id)
    assert [s["id"] for s in json.loads(stored.suggestions)] == ["att-001", "att-002", "att-003"]
    with pytest.raises(NotASuggestion):  # context for staff, never offered to the user
        faq_db.call(
            choose_suggestion,
            question_id=log.id,
            user_id=ALICE,
            entry_id="att-001",
            now=clock.now(),
        )


def test_the_same_message_logged_again_is_the_first_row_counted_once(faq_db, clock):
    def log(chat_id: int, match: Match, text: str) -> QuestionLog:
        return faq_db.call(
            log_question,
            chat_id=chat_id,
            message_id=7,
            user_id=chat_id,
            lang="zh",
            text=text,
            match=match,
            now=clock.now(),
        )

    first = log(ALICE, answered("account-001"), "密码忘了咋办")
    clock.advance(minutes=1)
    again = log(ALICE, answered("account-002"), "密码忘了咋办？")  # its update handled again
    other_chat = log(BOB, answered("account-001"), "密码忘了咋办")  # message ids are per chat

    assert again.id == first.id
    assert (again.entry_id, again.text, again.replied_at) == ("account-001", "密码忘了咋办", None)
    assert other_chat.id != first.id
    assert entry(faq_db, "account-001").times_answered == 2  # Alice's once, Bob's once
    assert entry(faq_db, "account-002").times_answered == 0
    with faq_db.session() as session:
        assert len(session.exec(select(QuestionLog)).all()) == 2


def test_the_returned_log_is_the_stored_row(faq_db, clock):
    log = ask(faq_db, clock, suggested("att-001", "att-002"))
    stored = question(faq_db, log.id)
    assert log.model_dump() == stored.model_dump()
    with faq_db.session() as session:  # a stored row: adding it to a session never inserts it
        session.add(log)
        log.feedback = "up"
    assert question(faq_db, log.id).feedback == "up"


def test_questions_without_a_message_id_never_collide(faq_db, clock):
    first = ask(faq_db, clock, answered("account-001"))
    second = ask(faq_db, clock, answered("account-001"))
    assert first.id != second.id
    assert entry(faq_db, "account-001").times_answered == 2


def test_an_entry_the_session_holds_shows_the_new_count(faq_db, clock):
    with Session(faq_db.engine, expire_on_commit=False) as session:
        held = session.get(FaqEntry, "account-001")
        assert held is not None
        before = held.times_answered
        log_question(
            session,
            chat_id=ALICE,
            message_id=3,
            user_id=ALICE,
            lang="zh",
            text="密码忘了咋办",
            match=answered("account-001"),
            now=clock.now(),
        )
        assert held.times_answered == before + 1
        session.commit()
    assert entry(faq_db, "account-001").times_answered == before + 1


def test_a_suggest_question_logs_the_offered_entries(faq_db, clock):
    log = ask(faq_db, clock, suggested("att-001", "att-002", "att-003", "att-004"))

    stored = question(faq_db, log.id)
    assert stored.decision == "suggest" and stored.entry_id is None
    assert [s["id"] for s in json.loads(stored.suggestions)] == ["att-001", "att-002", "att-003"]
    assert entry(faq_db, "att-001").times_answered == 0


# --- feedback -------------------------------------------------------------------------------------


def test_a_second_press_changes_the_vote_without_double_counting(faq_db, clock):
    log = ask(faq_db, clock, answered("account-001"))
    vote = {"question_id": log.id, "user_id": ALICE, "now": clock.now()}

    faq_db.call(record_feedback, helpful=True, **vote)
    faq_db.call(record_feedback, helpful=True, **vote)
    e = entry(faq_db, "account-001")
    assert (e.helpful_count, e.unhelpful_count) == (1, 0)

    faq_db.call(record_feedback, helpful=False, **vote)
    e = entry(faq_db, "account-001")
    assert (e.helpful_count, e.unhelpful_count) == (0, 1)
    assert question(faq_db, log.id).feedback == "down"
    assert question(faq_db, log.id).feedback_at == clock.now()


@pytest.mark.parametrize(
    ("user_id", "question_offset", "error"),
    [(BOB, 0, NotYourQuestion), (ALICE, 999, UnknownQuestion)],
)
def test_feedback_on_someone_elses_or_no_question_changes_nothing(
    faq_db, clock, user_id, question_offset, error
):
    log = ask(faq_db, clock, answered("account-001"))
    with pytest.raises(error):
        faq_db.call(
            record_feedback,
            question_id=log.id + question_offset,
            user_id=user_id,
            helpful=False,
            now=clock.now(),
        )
    assert question(faq_db, log.id).feedback is None
    assert entry(faq_db, "account-001").unhelpful_count == 0


def test_a_question_without_an_answer_cannot_be_rated(faq_db, clock):
    log = ask(faq_db, clock, Match("none", "zh"))
    with pytest.raises(NothingToRate):
        faq_db.call(
            record_feedback, question_id=log.id, user_id=ALICE, helpful=True, now=clock.now()
        )


# --- suggestions ----------------------------------------------------------------------------------


def test_choosing_a_suggestion_records_one_phrasing_and_the_chosen_entry(faq_db, clock):
    log = ask(faq_db, clock, suggested("att-001", "att-002"), text="能传什么类型的文件")
    choice = {"question_id": log.id, "user_id": ALICE, "now": clock.now()}

    faq_db.call(choose_suggestion, entry_id="att-001", **choice)
    faq_db.call(choose_suggestion, entry_id="att-001", **choice)  # the same tap again

    assert question(faq_db, log.id).chosen_entry_id == "att-001"
    assert entry(faq_db, "att-001").times_answered == 1
    [phrasing] = phrasings(faq_db)
    assert (phrasing.entry_id, phrasing.text, phrasing.question_id, phrasing.status) == (
        "att-001",
        "能传什么类型的文件",
        log.id,
        "pending",
    )


def test_choosing_another_suggestion_moves_the_phrasing_and_the_vote(faq_db, clock):
    log = ask(faq_db, clock, suggested("att-001", "att-002"), text="文件传不上去")
    choice = {"question_id": log.id, "user_id": ALICE, "now": clock.now()}
    faq_db.call(choose_suggestion, entry_id="att-001", **choice)
    faq_db.call(record_feedback, helpful=False, **choice)
    assert entry(faq_db, "att-001").unhelpful_count == 1

    faq_db.call(choose_suggestion, entry_id="att-002", **choice)

    stored = question(faq_db, log.id)
    assert (stored.chosen_entry_id, stored.feedback) == ("att-002", None)
    assert entry(faq_db, "att-001").unhelpful_count == 0  # that vote was about the other answer
    assert [(p.entry_id, p.question_id) for p in phrasings(faq_db)] == [("att-002", log.id)]
    faq_db.call(record_feedback, helpful=True, **choice)
    assert entry(faq_db, "att-002").helpful_count == 1


def test_a_question_worded_like_the_entry_teaches_no_new_phrasing(faq_db, clock):
    log = ask(faq_db, clock, suggested("account-001", "account-002"), text="密码找回")
    faq_db.call(
        choose_suggestion,
        question_id=log.id,
        user_id=ALICE,
        entry_id="account-001",
        now=clock.now(),
    )
    assert question(faq_db, log.id).chosen_entry_id == "account-001"
    assert phrasings(faq_db) == []


@pytest.mark.parametrize(
    ("user_id", "entry_id", "error"),
    [
        (BOB, "att-001", NotYourQuestion),
        (ALICE, "att-005", NotASuggestion),  # exists, but was not offered
        (ALICE, "no-such-entry", NotASuggestion),
    ],
)
def test_a_forged_choice_changes_nothing(faq_db, clock, user_id, entry_id, error):
    log = ask(faq_db, clock, suggested("att-001", "att-002"))
    with pytest.raises(error):
        faq_db.call(
            choose_suggestion,
            question_id=log.id,
            user_id=user_id,
            entry_id=entry_id,
            now=clock.now(),
        )
    assert question(faq_db, log.id).chosen_entry_id is None
    assert phrasings(faq_db) == []


def test_an_answer_without_related_entries_has_nothing_to_choose(faq_db, clock):
    log = ask(faq_db, clock, answered("account-001", unrelated=("account-002",)))
    with pytest.raises(NotASuggestion):
        faq_db.call(
            choose_suggestion,
            question_id=log.id,
            user_id=ALICE,
            entry_id="account-002",
            now=clock.now(),
        )


# --- related entries under an answer --------------------------------------------------------------


def test_choosing_a_related_entry_records_the_phrasing_and_the_choice(faq_db, clock):
    log = ask(faq_db, clock, answered("att-001", "att-002", "att-003"), text="文件多大能传")
    choice = {"question_id": log.id, "user_id": ALICE, "now": clock.now()}

    faq_db.call(choose_suggestion, entry_id="att-002", **choice)
    faq_db.call(choose_suggestion, entry_id="att-002", **choice)  # the same tap again

    stored = question(faq_db, log.id)
    assert (stored.decision, stored.entry_id, stored.chosen_entry_id) == (
        "answer",
        "att-001",
        "att-002",
    )
    assert entry(faq_db, "att-001").times_answered == 1  # the answer, when it was logged
    assert entry(faq_db, "att-002").times_answered == 1
    [phrasing] = phrasings(faq_db)
    assert (phrasing.entry_id, phrasing.text, phrasing.question_id, phrasing.status) == (
        "att-002",
        "文件多大能传",
        log.id,
        "pending",
    )


@pytest.mark.parametrize(
    ("user_id", "entry_id", "error"),
    [
        (ALICE, "att-001", NotASuggestion),  # the answered entry itself
        (ALICE, "att-003", NotASuggestion),  # a runner-up below the threshold: not offered
        (ALICE, "att-005", NotASuggestion),  # exists, but was never a candidate
        (BOB, "att-002", NotYourQuestion),
    ],
)
def test_an_entry_not_offered_under_an_answer_is_refused(faq_db, clock, user_id, entry_id, error):
    log = ask(faq_db, clock, answered("att-001", "att-002", unrelated=("att-003",)))
    with pytest.raises(error):
        faq_db.call(
            choose_suggestion,
            question_id=log.id,
            user_id=user_id,
            entry_id=entry_id,
            now=clock.now(),
        )
    assert question(faq_db, log.id).chosen_entry_id is None
    assert phrasings(faq_db) == []
    assert entry(faq_db, entry_id).times_answered == (1 if entry_id == "att-001" else 0)


def test_a_vote_on_the_answer_stays_counted_when_a_related_entry_is_chosen(faq_db, clock):
    log = ask(faq_db, clock, answered("att-001", "att-002"))
    vote = {"question_id": log.id, "user_id": ALICE, "now": clock.now()}
    faq_db.call(record_feedback, helpful=False, **vote)  # 👎 on the answer

    faq_db.call(choose_suggestion, entry_id="att-002", **vote)

    stored = question(faq_db, log.id)
    assert (stored.chosen_entry_id, stored.feedback, stored.feedback_at) == ("att-002", None, None)
    assert votes(faq_db, "att-001") == (0, 1)  # genuinely given about the answer: kept
    # The next vote is about the chosen entry and counts anew: the answer's 👎 is not moved.
    faq_db.call(record_feedback, helpful=True, **vote)
    faq_db.call(record_feedback, helpful=True, **vote)
    assert question(faq_db, log.id).feedback == "up"
    assert votes(faq_db, "att-002") == (1, 0)
    assert votes(faq_db, "att-001") == (0, 1)


def test_a_vote_after_choosing_a_related_entry_rates_that_entry(faq_db, clock):
    log = ask(faq_db, clock, answered("att-001", "att-002", "att-003"))
    vote = {"question_id": log.id, "user_id": ALICE, "now": clock.now()}
    faq_db.call(choose_suggestion, entry_id="att-002", **vote)

    faq_db.call(record_feedback, helpful=False, **vote)
    assert votes(faq_db, "att-002") == (0, 1)
    assert votes(faq_db, "att-001") == (0, 0)

    # Another related entry chosen after it: as with suggestions, that vote was about the entry
    # chosen before and goes with it, and the phrasing moves to the new choice.
    faq_db.call(choose_suggestion, entry_id="att-003", **vote)
    assert question(faq_db, log.id).feedback is None
    assert [(p.entry_id, p.question_id) for p in phrasings(faq_db)] == [("att-003", log.id)]
    faq_db.call(record_feedback, helpful=True, **vote)
    assert [votes(faq_db, e) for e in ("att-001", "att-002", "att-003")] == [(0, 0), (0, 0), (1, 0)]


def test_an_example_question_is_logged_as_answered(faq_db, clock):
    log = faq_db.call(
        log_example_question,
        chat_id=ALICE,
        user_id=ALICE,
        lang="zh",
        entry_id="att-001",
        now=clock.now(),
    )
    stored = question(faq_db, log.id)
    assert (stored.decision, stored.entry_id) == ("answer", "att-001")
    assert stored.text == "附件支持哪些格式？"
    assert entry(faq_db, "att-001").times_answered == 1
    with pytest.raises(UnknownEntry):
        faq_db.call(
            log_example_question,
            chat_id=ALICE,
            user_id=ALICE,
            lang="zh",
            entry_id="nope",
            now=clock.now(),
        )


def test_domain_functions_work_inside_one_session(faq_db, clock):
    # The bot always goes through Database.run; the CLI may hold one session for several calls.
    with Session(faq_db.engine, expire_on_commit=False) as session:
        log = log_question(
            session,
            chat_id=1,
            user_id=1,
            lang="en",
            text="reset password",
            match=answered("account-101"),
            now=clock.now(),
        )
        record_feedback(session, question_id=log.id, user_id=1, helpful=True, now=clock.now())
        session.commit()
    assert entry(faq_db, "account-101").helpful_count == 1
