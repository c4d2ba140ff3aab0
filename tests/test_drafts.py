"""FAQ drafts and candidate phrasings (faq/drafts.py), against a real database (SQLite, or
PostgreSQL with HELPDESK_TEST_DATABASE_URL)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.clock import FrozenClock
from bot.db import Database
from faq.drafts import (
    DraftClosed,
    DraftInvalid,
    FaqDraft,
    PhrasingDecided,
    TargetEntryGone,
    UnknownDraft,
    UnknownPhrasing,
    confirm_phrasing,
    discard_draft,
    edit_draft,
    next_entry_id,
    pending_phrasings,
    reject_phrasing,
    save_as_new_entry,
    save_as_phrasing,
    set_draft_lang,
    start_draft,
)
from faq.models import FaqEntry, Phrasing
from faq.service import FaqIndex

from .conftest import add_entry

STAFF_ID = 501


def draft(db: Database, clock: FrozenClock, question: str, answer: str = "", **kw) -> FaqDraft:
    kw.setdefault("source", "manual")
    return db.call(
        start_draft, question=question, answer=answer, staff_id=STAFF_ID, now=clock.now(), **kw
    )


def entry(db: Database, entry_id: str) -> FaqEntry:
    with db.session() as session:
        found = session.get(FaqEntry, entry_id)
        assert found is not None
        return found


def test_start_detects_the_language_and_keeps_one_line(db: Database, clock: FrozenClock):
    zh = draft(db, clock, "  发票抬头\n写错了怎么办？ ", "可以修改。")
    en = draft(db, clock, "Can I change the invoice title?", "Yes.")
    assert (zh.question, zh.lang, zh.status, zh.source) == (
        "发票抬头 写错了怎么办？",
        "zh",
        "open",
        "manual",
    )
    assert en.lang == "en"
    assert zh.category == "misc"  # nothing near it to take a category from


def test_the_category_comes_from_the_nearest_existing_entry(faq_db: Database, clock):
    near = ("contact-001", "att-003", "att-101")
    started = draft(faq_db, clock, "附件能传压缩包吗", near_entry_ids=near)
    assert started.category == "attachments"  # the contact category is skipped


def test_next_entry_id_follows_the_category_pattern_per_language(faq_db: Database):
    assert faq_db.call(next_entry_id, category="attachments", lang="zh") == "att-009"
    assert faq_db.call(next_entry_id, category="attachments", lang="en") == "att-107"
    assert faq_db.call(next_entry_id, category="evaluation", lang="zh") == "eval-007"
    assert faq_db.call(next_entry_id, category="invoices", lang="zh") == "invoices-001"
    assert faq_db.call(next_entry_id, category="invoices", lang="en") == "invoices-101"


def test_save_as_new_entry_creates_a_valid_entry_the_index_then_answers(
    faq_db: Database, clock: FrozenClock
):
    started = draft(
        faq_db,
        clock,
        "评价报告可以用电子签章吗？",
        "可以，电子签章与实物公章具有同等效力。",
        category="evaluation",
    )
    saved = faq_db.call(save_as_new_entry, draft_id=started.id, staff_id=STAFF_ID, now=clock.now())

    assert saved.id == "eval-007"
    assert (saved.category, saved.lang, saved.active) == ("evaluation", "zh", True)
    with faq_db.session() as session:
        closed = session.get(FaqDraft, started.id)
        assert (closed.status, closed.saved_entry_id) == ("saved", "eval-007")
    index = FaqIndex()
    faq_db.call(index.rebuild)
    match = index.match("评价报告可以用电子签章吗")
    assert (match.decision, match.entry_id) == ("answer", "eval-007")


def test_a_draft_is_validated_like_an_import_and_stays_open(db: Database, clock: FrozenClock):
    started = draft(db, clock, "没有答案的问题")
    with pytest.raises(DraftInvalid) as refused:
        db.call(save_as_new_entry, draft_id=started.id, staff_id=STAFF_ID, now=clock.now())
    assert refused.value.problems == ["answer is empty"]
    db.call(
        edit_draft, draft_id=started.id, field="category", text="Bad Category!", now=clock.now()
    )
    db.call(edit_draft, draft_id=started.id, field="answer", text="答案", now=clock.now())
    with pytest.raises(DraftInvalid, match="category 'bad category!' is not valid"):
        db.call(save_as_new_entry, draft_id=started.id, staff_id=STAFF_ID, now=clock.now())
    assert db.call(select_draft, draft_id=started.id).status == "open"


def select_draft(session, *, draft_id: int) -> FaqDraft:
    return session.exec(select(FaqDraft).where(FaqDraft.id == draft_id)).one()


def test_edit_question_redetects_the_language_and_edit_answer(db: Database, clock: FrozenClock):
    started = draft(db, clock, "发票怎么开", "旧答案")
    clock.advance(minutes=5)
    edited = db.call(
        edit_draft,
        draft_id=started.id,
        field="question",
        text="How to get an invoice?",
        now=clock.now(),
    )
    assert (edited.question, edited.lang, edited.updated_at) == (
        "How to get an invoice?",
        "en",
        clock.now(),
    )
    edited = db.call(
        edit_draft, draft_id=started.id, field="answer", text=" 新答案\n第二行 ", now=clock.now()
    )
    assert edited.answer == "新答案\n第二行"  # the answer may have several lines
    edited = db.call(set_draft_lang, draft_id=started.id, lang="zh", now=clock.now())
    assert edited.lang == "zh"


def test_save_as_phrasing_appends_once(faq_db: Database, clock: FrozenClock):
    before = entry(faq_db, "att-003").alternative_list
    first = draft(faq_db, clock, "附件传不上去咋办")
    faq_db.call(
        save_as_phrasing, draft_id=first.id, entry_id="att-003", staff_id=STAFF_ID, now=clock.now()
    )
    second = draft(faq_db, clock, "附件传不上去咋办")
    faq_db.call(
        save_as_phrasing, draft_id=second.id, entry_id="att-003", staff_id=STAFF_ID, now=clock.now()
    )
    assert entry(faq_db, "att-003").alternative_list == [*before, "附件传不上去咋办"]
    saved = faq_db.call(select_draft, draft_id=first.id)
    assert (saved.status, saved.target_entry_id, saved.saved_entry_id) == (
        "saved",
        "att-003",
        "att-003",
    )


def test_closed_unknown_and_gone_are_refused(faq_db: Database, clock: FrozenClock):
    started = draft(faq_db, clock, "问题", "答案")
    with pytest.raises(TargetEntryGone):
        faq_db.call(
            save_as_phrasing,
            draft_id=started.id,
            entry_id="nope",
            staff_id=STAFF_ID,
            now=clock.now(),
        )
    faq_db.call(discard_draft, draft_id=started.id, staff_id=STAFF_ID, now=clock.now())
    with pytest.raises(DraftClosed):
        faq_db.call(save_as_new_entry, draft_id=started.id, staff_id=STAFF_ID, now=clock.now())
    with pytest.raises(DraftClosed):
        faq_db.call(edit_draft, draft_id=started.id, field="answer", text="x", now=clock.now())
    with pytest.raises(UnknownDraft):
        faq_db.call(discard_draft, draft_id=999, staff_id=STAFF_ID, now=clock.now())


def _phrasing(db: Database, clock: FrozenClock, entry_id: str, text: str) -> int:
    with db.session() as session:
        row = Phrasing(entry_id=entry_id, text=text, created_at=clock.now())
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def test_pending_phrasings_confirm_and_reject(db: Database, clock: FrozenClock):
    add_entry(db, clock, "inv-001", "发票抬头写错了怎么办？", alternatives="发票抬头错误")
    add_entry(db, clock, "old-001", "停用的条目")
    with db.session() as session:
        session.get(FaqEntry, "old-001").active = False  # type: ignore[union-attr]
    first = _phrasing(db, clock, "inv-001", "抬头开错了")
    second = _phrasing(db, clock, "inv-001", "发票名称写错")
    _phrasing(db, clock, "old-001", "不再显示")

    pending = db.call(pending_phrasings)
    assert [(p.id, p.text, p.entry_question) for p in pending] == [
        (first, "抬头开错了", "发票抬头写错了怎么办？"),
        (second, "发票名称写错", "发票抬头写错了怎么办？"),
    ]
    db.call(confirm_phrasing, phrasing_id=first, staff_id=STAFF_ID, now=clock.now())
    db.call(reject_phrasing, phrasing_id=second, staff_id=STAFF_ID, now=clock.now())

    assert entry(db, "inv-001").alternative_list == ["发票抬头错误", "抬头开错了"]
    assert db.call(pending_phrasings) == []
    with pytest.raises(PhrasingDecided):
        db.call(confirm_phrasing, phrasing_id=second, staff_id=STAFF_ID, now=clock.now())
    with pytest.raises(UnknownPhrasing):
        db.call(reject_phrasing, phrasing_id=12345, staff_id=STAFF_ID, now=clock.now())
    with db.session() as session:
        statuses = {p.id: p.status for p in session.exec(select(Phrasing)).all()}
    assert (statuses[first], statuses[second]) == ("confirmed", "rejected")
