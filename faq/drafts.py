"""Staff turning answers into FAQ knowledge: drafts of new entries and candidate phrasings.

A draft starts from a ticket (the user's words and the last staff reply), from a group of common
unanswered questions, or by hand; staff edit it and save it either as a new entry or as one more
phrasing (alternative) of an existing entry. Candidate phrasings recorded when users tap a
suggestion (:class:`faq.models.Phrasing`) are confirmed or rejected here too.

No Telegram here: functions take a ``Session`` first, everything else by keyword, the time as
``now``. Ids arriving from buttons are re-checked (callback data can be forged); a refusal raises a
:class:`DraftError`. After a save the caller rebuilds the matcher index at once.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import BigInteger, Column, Text
from sqlmodel import Field, Session, SQLModel, col, select

from faq.io import FaqImportError, FaqRow, import_faq, validate
from faq.models import ALT_SEPARATOR, FaqEntry, Phrasing, QuestionLog, utc_column
from faq.normalize import has_chinese
from faq.service import offered_ids

logger = logging.getLogger(__name__)

DraftSource = Literal["ticket", "common", "manual"]
DraftField = Literal["question", "answer", "category"]
SOURCES: tuple[str, ...] = ("ticket", "common", "manual")
FALLBACK_CATEGORY = "misc"
# Catalogue ids are "<prefix>-NNN": Chinese entries count from 1, English ones from 101, so the
# two languages of one category never compete for a number.
FIRST_NUMBER = {"zh": 1, "en": 101}
_NUMBERED_ID = re.compile(r"(?P<prefix>[A-Za-z0-9][A-Za-z0-9_.]*)-(?P<number>[0-9]+)")


class FaqDraft(SQLModel, table=True):
    """An FAQ entry being written by staff, until it is saved or discarded."""

    __tablename__ = "faq_draft"

    id: int | None = Field(default=None, primary_key=True)
    question: str = Field(sa_column=Column(Text, nullable=False))
    answer: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    lang: str = Field(max_length=8)
    category: str = Field(default=FALLBACK_CATEGORY, max_length=64)
    # The entry the draft was saved into as a phrasing (set on saving as a phrasing).
    target_entry_id: str | None = Field(default=None, max_length=64)
    source: str = Field(max_length=16)  # ticket | common | manual
    source_ticket_id: int | None = Field(default=None, index=True)
    staff_id: int = Field(index=True, sa_type=BigInteger)  # who started it
    status: str = Field(default="open", max_length=16, index=True)  # open | saved | discarded
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()
    saved_entry_id: str | None = Field(default=None, max_length=64)


# --- refusals -------------------------------------------------------------------------------------


class DraftError(Exception):
    """A request about a draft or phrasing that cannot be honoured."""


class UnknownDraft(DraftError):
    """No draft has this id."""


class DraftClosed(DraftError):
    """The draft was already saved or discarded (a second tap, or somebody else was quicker)."""


class UnknownQuestion(DraftError):
    """No logged question has this id."""


class UnknownPhrasing(DraftError):
    """No candidate phrasing has this id."""


class PhrasingDecided(DraftError):
    """The phrasing was already confirmed or rejected."""


class TargetEntryGone(DraftError):
    """The entry to add a phrasing to does not exist or is no longer active."""


class DraftInvalid(DraftError):
    """The draft would not make a valid entry; ``problems`` says why, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# --- drafts ---------------------------------------------------------------------------------------


def detect_lang(text: str) -> str:
    """Chinese when the text holds any Chinese character, else English."""
    return "zh" if has_chinese(text) else "en"


def start_draft(
    session: Session,
    *,
    question: str,
    answer: str = "",
    lang: str | None = None,
    category: str | None = None,
    near_entry_ids: tuple[str, ...] | list[str] = (),
    source: DraftSource,
    source_ticket_id: int | None = None,
    staff_id: int,
    now: datetime,
) -> FaqDraft:
    """Open a draft. Without a category it takes the one of the first existing entry among
    ``near_entry_ids`` (what the matcher found for the question): the new entry most likely
    belongs beside it."""
    if source not in SOURCES:
        raise ValueError(f"unknown draft source {source!r}")
    question = _one_line(question)
    lang = lang or detect_lang(question)
    if category is None:
        category = _category_near(session, near_entry_ids, lang)
    draft = FaqDraft(
        question=question,
        answer=answer.strip(),
        lang=lang,
        category=category,
        source=source,
        source_ticket_id=source_ticket_id,
        staff_id=staff_id,
        created_at=now,
        updated_at=now,
    )
    session.add(draft)
    session.flush()  # the id the buttons carry
    return draft


def start_draft_from_question(
    session: Session, *, question_id: int, staff_id: int, now: datetime
) -> FaqDraft:
    """A draft from a logged question (a common problem's most typical wording): the entries
    the bot tried for it suggest the category."""
    log = session.get(QuestionLog, question_id)
    if log is None:
        raise UnknownQuestion(question_id)
    tried = [log.chosen_entry_id, log.entry_id, *offered_ids(log)]
    return start_draft(
        session,
        question=log.text,
        near_entry_ids=[entry_id for entry_id in tried if entry_id],
        source="common",
        staff_id=staff_id,
        now=now,
    )


def open_draft(session: Session, *, draft_id: int) -> FaqDraft:
    """The draft, if it is still open."""
    draft = session.get(FaqDraft, draft_id)
    if draft is None:
        raise UnknownDraft(draft_id)
    if draft.status != "open":
        raise DraftClosed(draft_id)
    return draft


def edit_draft(
    session: Session, *, draft_id: int, field: DraftField, text: str, now: datetime
) -> FaqDraft:
    """Replace the question, answer or category; a new question re-detects the language."""
    draft = open_draft(session, draft_id=draft_id)
    if field == "question":
        draft.question = _one_line(text)
        draft.lang = detect_lang(draft.question)
    elif field == "answer":
        draft.answer = text.strip()
    elif field == "category":
        draft.category = text.strip().lower()
    else:
        raise ValueError(f"unknown draft field {field!r}")
    draft.updated_at = now
    session.add(draft)
    return draft


def set_draft_lang(session: Session, *, draft_id: int, lang: str, now: datetime) -> FaqDraft:
    """Override the detected language (an English question about a Chinese-only form, say)."""
    if lang not in FIRST_NUMBER:
        raise DraftInvalid([f"lang {lang!r} must be zh or en"])
    draft = open_draft(session, draft_id=draft_id)
    draft.lang = lang
    draft.updated_at = now
    session.add(draft)
    return draft


def save_as_new_entry(session: Session, *, draft_id: int, staff_id: int, now: datetime) -> FaqEntry:
    """Create the entry, validated exactly like an imported catalogue row."""
    draft = open_draft(session, draft_id=draft_id)
    entry_id = next_entry_id(session, category=draft.category, lang=draft.lang)
    row = _valid_row(
        id=entry_id,
        category=draft.category,
        lang=draft.lang,
        question=draft.question,
        alternatives="",
        answer=draft.answer,
    )
    import_faq(session, [row], replace=False, now=now)
    entry = session.get(FaqEntry, entry_id)
    assert entry is not None
    _close(session, draft, "saved", entry_id=entry_id, now=now)
    logger.info("staff %s saved draft %s as new entry %s", staff_id, draft.id, entry_id)
    return entry


def save_as_phrasing(
    session: Session, *, draft_id: int, entry_id: str, staff_id: int, now: datetime
) -> FaqEntry:
    """Add the draft's question to an existing entry's phrasings (the draft's answer is not used:
    the entry already answers it)."""
    draft = open_draft(session, draft_id=draft_id)
    entry = _active_entry(session, entry_id)
    add_alternative(entry, draft.question, now=now)
    session.add(entry)
    draft.target_entry_id = entry_id
    _close(session, draft, "saved", entry_id=entry_id, now=now)
    logger.info("staff %s saved draft %s as a phrasing of %s", staff_id, draft.id, entry_id)
    return entry


def discard_draft(session: Session, *, draft_id: int, staff_id: int, now: datetime) -> FaqDraft:
    draft = open_draft(session, draft_id=draft_id)
    _close(session, draft, "discarded", entry_id=None, now=now)
    logger.info("staff %s discarded draft %s", staff_id, draft.id)
    return draft


def next_entry_id(session: Session, *, category: str, lang: str) -> str:
    """The next free id in the category's own pattern, e.g. ``att-009`` after ``att-008``, and
    ``att-107`` for English after ``att-106``."""
    ids = session.exec(select(FaqEntry.id).where(FaqEntry.category == category)).all()
    numbered = [m for i in ids if (m := _NUMBERED_ID.fullmatch(i))]
    prefixes = Counter(m["prefix"] for m in numbered)
    prefix = prefixes.most_common(1)[0][0] if prefixes else category
    first = FIRST_NUMBER.get(lang, 1)
    # The numbers already used by this language: Chinese below the English range, English in it.
    same_lang = [
        int(m["number"])
        for m in numbered
        if m["prefix"] == prefix and (int(m["number"]) >= 101) == (first >= 101)
    ]
    number = max(same_lang, default=first - 1) + 1
    taken = set(session.exec(select(FaqEntry.id)).all())  # ids are unique across categories
    while f"{prefix}-{number:03d}" in taken:
        number += 1
    return f"{prefix}-{number:03d}"


def add_alternative(entry: FaqEntry, text: str, *, now: datetime) -> bool:
    """Append ``text`` to the entry's phrasings unless it is already one; validated like an
    import. Returns whether anything changed."""
    text = _one_line(text)
    known = [entry.question.strip(), *entry.alternative_list]
    if text.casefold() in {k.casefold() for k in known}:
        return False
    if "|" in text:
        raise DraftInvalid(["the phrasing must not contain '|' (it separates phrasings)"])
    alternatives = ALT_SEPARATOR.join([*entry.alternative_list, text])
    _valid_row(
        id=entry.id,
        category=entry.category,
        lang=entry.lang,
        question=entry.question,
        alternatives=alternatives,
        answer=entry.answer,
    )
    entry.alternatives = alternatives
    entry.updated_at = now
    return True


# --- candidate phrasings from suggestion taps -----------------------------------------------------


@dataclass(frozen=True)
class PendingPhrasing:
    id: int
    text: str  # the user's words
    entry_id: str
    entry_question: str


def pending_phrasings(session: Session, *, limit: int = 20) -> list[PendingPhrasing]:
    """Candidate phrasings waiting for staff, oldest first, of entries that are still active."""
    rows = session.exec(
        select(Phrasing, FaqEntry)
        .join(FaqEntry, col(FaqEntry.id) == col(Phrasing.entry_id))
        .where(Phrasing.status == "pending", col(FaqEntry.active).is_(True))
        .order_by(col(Phrasing.created_at), col(Phrasing.id))
        .limit(limit)
    ).all()
    return [
        PendingPhrasing(id=p.id, text=p.text, entry_id=e.id, entry_question=e.question)
        for p, e in rows
        if p.id is not None
    ]


def confirm_phrasing(
    session: Session, *, phrasing_id: int, staff_id: int, now: datetime
) -> FaqEntry:
    """The user's words become a phrasing of the entry."""
    phrasing = _pending_phrasing(session, phrasing_id)
    entry = _active_entry(session, phrasing.entry_id)
    add_alternative(entry, phrasing.text, now=now)
    session.add(entry)
    _decide(session, phrasing, "confirmed", now)
    logger.info("staff %s confirmed phrasing %s of %s", staff_id, phrasing_id, entry.id)
    return entry


def reject_phrasing(
    session: Session, *, phrasing_id: int, staff_id: int, now: datetime
) -> Phrasing:
    phrasing = _pending_phrasing(session, phrasing_id)
    _decide(session, phrasing, "rejected", now)
    logger.info("staff %s rejected phrasing %s", staff_id, phrasing_id)
    return phrasing


# --- helpers --------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    # A question is one line in the catalogue; staff often paste with line breaks.
    return " ".join(text.split())


def _category_near(session: Session, entry_ids: tuple[str, ...] | list[str], lang: str) -> str:
    entries = [e for i in entry_ids if (e := session.get(FaqEntry, i)) is not None]
    same_lang = [e for e in entries if e.lang == lang]
    for entry in same_lang or entries:
        if entry.category != "contact":  # "how to reach staff" is where nothing else fits
            return entry.category
    return FALLBACK_CATEGORY


def _valid_row(**cells: str) -> FaqRow:
    try:
        [row] = validate([cells])
    except FaqImportError as exc:
        # validate() numbers rows as a spreadsheet shows them; a draft has no rows.
        raise DraftInvalid([re.sub(r"^row \d+: ", "", p) for p in exc.problems]) from None
    return row


def _active_entry(session: Session, entry_id: str) -> FaqEntry:
    entry = session.get(FaqEntry, entry_id)
    if entry is None or not entry.active:
        raise TargetEntryGone(entry_id)
    return entry


def _close(
    session: Session, draft: FaqDraft, status: str, *, entry_id: str | None, now: datetime
) -> None:
    draft.status = status
    draft.saved_entry_id = entry_id
    draft.updated_at = now
    session.add(draft)
    session.flush()


def _pending_phrasing(session: Session, phrasing_id: int) -> Phrasing:
    phrasing = session.get(Phrasing, phrasing_id)
    if phrasing is None:
        raise UnknownPhrasing(phrasing_id)
    if phrasing.status != "pending":
        raise PhrasingDecided(phrasing_id)
    return phrasing


def _decide(session: Session, phrasing: Phrasing, status: str, now: datetime) -> None:
    phrasing.status = status
    phrasing.decided_at = now
    session.add(phrasing)
