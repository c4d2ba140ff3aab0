"""Bad input drill: random and hostile input for the FAQ matcher, the FAQ importers/exporters and
``POST /api/v1/review-events``.

Nothing here checks what a good answer is (the module tests do); these pin that bad input never
crashes anything: the matcher always decides, an import is either clean or a list of problems with
nothing written, an export never hands a spreadsheet a formula, and the HTTP endpoint answers 2xx
or 4xx, never 5xx, applying all of a request or none of it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlmodel import select

from bot.clock import FrozenClock
from bot.db import Database
from faq.io import (
    COLUMNS,
    FaqImportError,
    export_file,
    import_faq,
    import_file,
    read_table,
    validate,
)
from faq.matcher import FaqDoc
from faq.models import FaqEntry
from faq.normalize import normalize
from faq.service import FaqIndex
from reminders.bureaus import import_bureau_rows
from reminders.http import ReviewEventsApi
from reminders.intake import DuePolicy
from reminders.models import ReviewItem

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
# Function-scoped fixtures (a database, a started server) are shared by the examples on purpose:
# every property below holds whatever earlier examples left behind. No shrinking: a failure is
# reported as drawn (shrinking HTTP examples takes minutes); the printed example reproduces it.
DRILL = settings(
    max_examples=60,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- hostile values ------------------------------------------------------------------------------

FORMULAS = [
    "=1+1",
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.example","x")',
    "+1",
    "-1",
    "@SUM(A1:A2)",
    "\t=1",
    "\r=1",
    "'=1",
    "''+x",
]
SQLISH = [
    "'; DROP TABLE faq_entry; --",
    "1 OR 1=1",
    '" OR ""="',
    "Robert'); DROP TABLE question_log;--",
    "%' UNION SELECT * FROM chat_user --",
]
NUMBERS = ["1e308", "-1e309", "9" * 400, "NaN", "Infinity", "0x7fffffffffffffff", "-0", "1.0"]
ODD = [
    "",
    " ",
    "\u200b\u200d\ufeff",
    "\x00",
    "\x1b[31mred",
    "a\u2028b",
    "<b>&amp;</b>",
    "&",
    "_x0041_",
    "｜全角｜",
    "A | B | | C",
    "👩‍👩‍👧‍👦" * 5,
    "\U0010ffff",
    "\ufffe\uffff",
    "ﬀ①Ⅻ",
]
HOSTILE = [*FORMULAS, *SQLISH, *NUMBERS, *ODD]

# Any text without surrogates (what a Telegram message or a JSON string can carry), control
# characters included.
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=200)
hostile_text = st.one_of(
    any_text,
    st.sampled_from(HOSTILE),
    st.builds(lambda a, b: a + b, st.sampled_from(HOSTILE), any_text),
)


# --- the matcher --------------------------------------------------------------------------------


def check_match(index: FaqIndex, text: str) -> None:
    match = index.match(text)
    assert match.decision in {"answer", "suggest", "smalltalk", "none"}
    assert match.lang in {"zh", "en"}
    assert all(0.0 <= c.score <= 100.0 for c in match.candidates)
    assert [c.score for c in match.candidates] == sorted(
        (c.score for c in match.candidates), reverse=True
    )
    for candidate in match.candidates:
        assert index.entry(candidate.entry_id) is not None
    if match.decision == "answer":
        assert match.entry_id is not None
    if match.decision == "suggest":
        assert match.suggestions


@DRILL
@given(text=hostile_text)
@example(text="密码" * 50_000)  # 100 KB of Chinese
@example(text="password reset " * 7_000)  # 100 KB of English
@example(text="\x00" * 100_000)
@example(text="?" * 100_000)
def test_the_matcher_decides_on_any_text(faq_index: FaqIndex, text: str):
    check_match(faq_index, text)
    normalized = normalize(text)
    assert normalized.lang in {"zh", "en"}
    assert not any(ch.isspace() and ch != " " for ch in normalized.text)


faq_docs = st.lists(
    st.builds(
        FaqDoc,
        id=st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True),
        lang=st.sampled_from(["zh", "en"]),
        question=hostile_text.filter(lambda s: s.strip() != ""),
        alternatives=st.lists(hostile_text, max_size=3).map(tuple),
        answer=any_text,
    ),
    max_size=8,
    unique_by=lambda doc: doc.id,
)


@DRILL
@given(docs=faq_docs, queries=st.lists(hostile_text, min_size=1, max_size=5))
def test_an_index_of_hostile_entries_still_decides(docs: list[FaqDoc], queries: list[str]):
    # A catalogue whose questions normalise to nothing ("？？？", fillers) must not break the index.
    index = FaqIndex()
    index.load(docs)
    for query in [*queries, *(doc.question for doc in docs)]:
        check_match(index, query)


# --- FAQ import ---------------------------------------------------------------------------------


def snapshot(db: Database) -> list[tuple[Any, ...]]:
    with db.session() as session:
        entries = session.exec(select(FaqEntry).order_by(FaqEntry.id)).all()
        return [(e.id, e.category, e.lang, e.question, e.alternatives, e.answer) for e in entries]


def import_bytes(db: Database, tmp_path: Path, name: str, data: bytes) -> list[str] | None:
    """Import ``data`` as file ``name``: ``None`` when imported, else the problems, after checking
    that a refused import wrote nothing and that every problem names its row (or the file)."""
    path = tmp_path / name
    path.write_bytes(data)
    before = snapshot(db)
    try:
        with db.session() as session:
            import_file(session, path, replace=False, now=NOW)
    except FaqImportError as error:
        assert error.problems
        for problem in error.problems:
            assert re.match(rf"(row [0-9]+: |{re.escape(name)}: )", problem), problem
        assert snapshot(db) == before
        return error.problems
    return None


def csv_bytes(rows: list[list[str]], header: list[str] | None = None) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header or list(COLUMNS))
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def xlsx_bytes(rows: list[list[Any]], header: list[str] | None = None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(header or list(COLUMNS))
    for row in rows:
        # openpyxl refuses the characters XML cannot hold; a real workbook cannot have them.
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


VALID_ROW = [
    "acc-1",
    "account",
    "zh",
    "忘记密码怎么办？",
    "密码找回 | 重置密码",
    "点击“忘记密码”。",
]

cell = st.one_of(
    hostile_text,
    st.sampled_from(VALID_ROW),
    st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True),
    st.sampled_from(["zh", "en"]),
)
hostile_rows = st.lists(st.lists(cell, min_size=0, max_size=8), max_size=6)


@DRILL
@given(data=st.binary(max_size=2000))
@example(data=b"\x00" * 100)
@example(data=csv_bytes([VALID_ROW]) + b"\x00\xff")
@example(data=",".join(COLUMNS).encode() + b"\r\n" + b'"' + b"x" * 200_000)
def test_arbitrary_bytes_as_csv_import_cleanly_or_not_at_all(db: Database, tmp_path, data):
    import_bytes(db, tmp_path, "faq.csv", data)


@pytest.fixture(scope="module")
def good_xlsx() -> bytes:
    return xlsx_bytes([VALID_ROW])


@DRILL
@given(
    cuts=st.lists(st.tuples(st.integers(0, 10_000), st.binary(min_size=0, max_size=8)), max_size=4),
    truncate=st.one_of(st.none(), st.integers(0, 10_000)),
)
def test_broken_xlsx_bytes_import_cleanly_or_not_at_all(
    db: Database, tmp_path, good_xlsx: bytes, cuts, truncate
):
    data = bytearray(good_xlsx)
    for position, junk in cuts:
        position %= len(data)
        data[position : position + len(junk)] = junk
    if truncate is not None:
        data = data[: truncate % (len(data) + 1)]
    import_bytes(db, tmp_path, "faq.xlsx", bytes(data))


@DRILL
@given(rows=hostile_rows, as_xlsx=st.booleans())
def test_hostile_cells_import_cleanly_or_with_row_numbered_problems(
    db: Database, tmp_path, rows: list[list[str]], as_xlsx: bool
):
    data = xlsx_bytes(rows) if as_xlsx else csv_bytes(rows)
    name = "faq.xlsx" if as_xlsx else "faq.csv"
    before = snapshot(db)
    problems = import_bytes(db, tmp_path, name, data)
    if problems is None:  # imported: exactly the valid rows, upserted
        read = validate(read_table(data, name, COLUMNS))
        after = {row[0]: row for row in snapshot(db)}
        for row in read:
            assert after[row.id] == (
                row.id,
                row.category,
                row.lang,
                row.question,
                row.alternatives,
                row.answer,
            )
        assert set(after) == {row[0] for row in before} | {row.id for row in read}


xlsx_cell_values = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(),
    st.none(),
    hostile_text,
)


@DRILL
@given(rows=st.lists(st.lists(xlsx_cell_values, max_size=7), max_size=4))
def test_typed_xlsx_cells_import_cleanly_or_not_at_all(db: Database, tmp_path, rows):
    import_bytes(db, tmp_path, "faq.xlsx", xlsx_bytes(rows))


# --- FAQ export --------------------------------------------------------------------------------

# Text staff can put in a catalogue cell: no control characters (the answer may hold line breaks).
line = st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=60)
catalogue_text = st.one_of(line, st.sampled_from(FORMULAS + SQLISH + NUMBERS), st.just("_x0041_"))


@st.composite
def catalogue_rows(draw: st.DrawFn) -> list[list[str]]:
    count = draw(st.integers(1, 4))
    rows = []
    for number in range(count):
        answer = draw(st.lists(catalogue_text, min_size=1, max_size=3)).copy()
        alternatives = draw(st.lists(catalogue_text, max_size=3))
        rows.append(
            [
                f"e-{number}",
                draw(st.sampled_from(["account", "misc"])),
                draw(st.sampled_from(["zh", "en"])),
                draw(catalogue_text),
                " | ".join(alternatives),
                "\n".join(answer),
            ]
        )
    return rows


FORMULA_START = re.compile(r"[=+\-@\t\r]")


def raw_cells(path: Path) -> list[list[str]]:
    """The cells of an export as a spreadsheet program sees them."""
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as file:
            return [list(row) for row in csv.reader(file)]
    workbook = load_workbook(path)
    sheet = workbook.active
    assert sheet is not None
    return [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]


@DRILL
@given(rows=catalogue_rows(), suffix=st.sampled_from([".csv", ".xlsx"]))
def test_export_neutralises_formulas_and_round_trips(
    database_url: str, tmp_path, rows: list[list[str]], suffix: str
):
    try:
        valid = validate([dict(zip(COLUMNS, row, strict=True)) for row in rows])
    except FaqImportError:
        assume(False)
        return
    db = Database(database_url)  # one database per example: the round trip compares exactly
    try:
        db.create_all()
        with db.session() as session:
            for entry in session.exec(select(FaqEntry)).all():
                session.delete(entry)
        with db.session() as session:
            import_faq(session, valid, replace=False, now=NOW)
        path = tmp_path / f"faq{suffix}"
        with db.session() as session:
            assert export_file(session, path) == len(valid)

        for row in raw_cells(path)[1:]:
            for value in row:
                assert not FORMULA_START.match(value), value  # a quote goes first
        with db.session() as session:
            report = import_file(session, path, replace=True, now=NOW)
        assert (report.unchanged, report.created, report.updated) == (len(valid), 0, 0)
        assert snapshot(db) == sorted(
            (r.id, r.category, r.lang, r.question, r.alternatives, r.answer) for r in valid
        )
    finally:
        db.dispose()


# --- POST /api/v1/review-events -------------------------------------------------------------------

API_TOKEN = "s3cret-token-for-drills-0123456789"
CODE = "91330106MA2CDE1234"


@pytest.fixture
def review_db(db: Database, clock: FrozenClock) -> Database:
    rows = [{"code": "330106", "name": "西湖区财政局", "level": "city", "parent_code": ""}]
    db.call(import_bureau_rows, rows, now=clock.now())
    return db


@pytest.fixture
async def review_api(review_db: Database, clock: FrozenClock) -> AsyncIterator[ReviewEventsApi]:
    server = ReviewEventsApi(
        db=review_db,
        clock=clock,
        policy=DuePolicy(),
        token=API_TOKEN,
        port=0,
        max_body_bytes=64 * 1024,
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def items(db: Database) -> list[tuple[Any, ...]]:
    with db.session() as session:
        found = session.exec(select(ReviewItem).order_by(ReviewItem.ref)).all()
        return [
            (i.ref, i.institution, i.status, i.bureau_code, i.last_event_at, i.return_reason)
            for i in found
        ]


def good_event(ref: str) -> dict[str, Any]:
    return {
        "ref": ref,
        "institution": "某咨询公司",
        "credit_code": CODE,
        "contact_phone": "13800138000",
        "bureau_code": "330106",
        "stage": "preliminary",
        "submitted_at": "2026-11-23T10:00:00+08:00",
        "status": "pending",
        "event_at": "2026-11-23T10:00:00+08:00",
    }


json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
    st.sampled_from(
        [
            "9999-12-31T23:59:59+08:00",
            "0001-01-01T00:00:00+08:00",
            "2026-11-23T10:00:00+14:00",
            "2026-11-23T10:00:00-23:59",
            "2026-02-30T10:00:00",
            "2026-11-23",
            "returned",
            "approved",
            "provincial",
            "330106",
            CODE,
        ]
    ),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=8,
)
FIELDS = [*good_event("x"), "return_reason", "unknown"]


@st.composite
def events(draw: st.DrawFn) -> Any:
    """Mostly-valid events with a few fields made hostile, or anything JSON can hold."""
    if draw(st.integers(0, 4)) == 0:
        return draw(json_value)
    event = good_event(draw(st.from_regex(r"D-[0-9]{1,3}", fullmatch=True)))
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        if draw(st.booleans()):
            event.pop(name, None)
        else:
            event[name] = draw(json_scalar)
    return event


bodies = st.one_of(
    st.binary(max_size=300),
    any_text.map(lambda s: s.encode("utf-8")),
    json_value.map(lambda v: json.dumps(v).encode()),
    events().map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
    st.lists(events(), max_size=6).map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [
            b"1" * 5000,  # beyond Python's int-from-text digit limit
            b"[" * 100_000 + b"]" * 100_000,  # deeper than the JSON decoder can recurse
            b'{"ref": "\\ud800"}',
            json.dumps(good_event("D-1") | {"institution": "\ud800"}).encode(),
            json.dumps(good_event("D-1") | {"institution": "a\x00b"}).encode(),
            json.dumps(good_event("D-1") | {"contact_phone": 10**4000}).encode(),
            json.dumps(good_event("D-1") | {"submitted_at": "9999-12-31T23:59:59+08:00"}).encode(),
            json.dumps(good_event("D-1") | {"submitted_at": "0001-01-01T00:00:00+08:00"}).encode(),
            json.dumps([good_event(f"D-{n}") for n in range(5001)]).encode(),
        ]
    ),
)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
authorizations = st.one_of(
    st.just(f"Bearer {API_TOKEN}"),
    st.just(f"bearer   {API_TOKEN}  "),
    st.none(),
    header_text,
    header_text.map(lambda s: f"Bearer {s}"),
)
content_types = st.one_of(
    st.just("application/json"), st.none(), header_text, st.just("multipart/form-data")
)


@DRILL
@given(body=bodies, authorization=authorizations, content_type=content_types)
async def test_the_review_endpoint_answers_2xx_or_4xx_and_applies_all_or_nothing(
    review_api: ReviewEventsApi,
    review_db: Database,
    http: aiohttp.ClientSession,
    body: bytes,
    authorization: str | None,
    content_type: str | None,
):
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization
    if content_type is not None:
        headers["Content-Type"] = content_type
    before = items(review_db)
    async with http.post(review_api.url, data=body, headers=headers) as response:
        status, text = response.status, await response.text()
    answer = json.loads(text)  # always JSON, even for refusals
    assert 200 <= status < 300 or 400 <= status < 500, (status, text[:300])
    after = items(review_db)
    if status != 200:
        assert after == before  # nothing half-written
        assert isinstance(answer["error"], str) and answer["error"]
        return
    counts = {k: answer[k] for k in ("created", "updated", "unchanged", "stale")}
    payload = json.loads(body)
    refs = {e["ref"] for e in (payload if isinstance(payload, list) else [payload])}
    assert sum(counts.values()) == len(refs)
    assert {row[0] for row in after} == {row[0] for row in before} | refs
    assert counts["created"] == len(after) - len(before)
