"""Review-item intake (reminders/intake.py): validation, idempotent upsert, newest event wins,
deadlines in calendar or Chinese working days."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.cli import main
from bot.clock import FrozenClock
from bot.db import Database
from reminders import calendar
from reminders.bureaus import ImportRejected, import_bureau_rows
from reminders.intake import (
    REVIEW_COLUMNS,
    DuePolicy,
    EventsRejected,
    due_at,
    import_events_json,
    import_review_file,
    import_review_rows,
    normalize_phone,
)
from reminders.models import ReviewItem

SH = ZoneInfo("Asia/Shanghai")
WORKING = DuePolicy(days=2, kind="working", tz=SH)
CALENDAR = DuePolicy(days=2, kind="calendar", tz=SH)
CODE_A = "91330106MA2CDE1234"
CODE_B = "91330102MA2XYW5678"
HEADER = ",".join(REVIEW_COLUMNS)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


@pytest.fixture(autouse=True)
def fresh_warnings():
    calendar._warned_years.clear()
    yield
    calendar._warned_years.clear()


@pytest.fixture
def bureau_db(db: Database, clock: FrozenClock) -> Database:
    rows = [
        {"code": "330100", "name": "杭州市财政局", "level": "city", "parent_code": ""},
        {"code": "330106", "name": "西湖区财政局", "level": "county", "parent_code": "330100"},
    ]
    db.call(import_bureau_rows, rows, now=clock.now())
    return db


def row(**values: str) -> dict[str, str]:
    base = {
        "ref": "R-001",
        "institution": "杭州某会计师事务所",
        "credit_code": CODE_A,
        "contact_phone": "138 0013 8000",
        "bureau_code": "330106",
        "stage": "preliminary",
        "submitted_at": "2026-11-23 10:00",
        "status": "pending",
        "return_reason": "",
        "event_at": "",
    }
    return base | values


def items(db: Database) -> dict[str, ReviewItem]:
    with db.session() as session:
        return {i.ref: i for i in session.exec(select(ReviewItem)).all()}


# --- deadlines ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("submitted", "due"),
    [
        (at(2026, 11, 23, 10, 0), at(2026, 11, 25, 10, 0)),  # Monday → Wednesday, same time
        (at(2026, 11, 27, 10, 0), at(2026, 12, 1, 10, 0)),  # Friday → Tuesday
        (at(2026, 11, 28, 15, 0), at(2026, 12, 2, 0, 0)),  # Saturday: Mon+Tue whole → Wed 00:00
        (at(2026, 11, 23, 0, 0), at(2026, 11, 25, 0, 0)),  # midnight: Mon+Tue whole
        # The National Day week (Oct 1–7) does not count: Wednesday 30 Sep → Friday 9 Oct.
        (at(2026, 9, 30, 10, 0), at(2026, 10, 9, 10, 0)),
        # Saturday 10 Oct is an adjusted working day (调休), Sunday 11 is not: Fri → Mon.
        (at(2026, 10, 9, 10, 0), at(2026, 10, 12, 10, 0)),
        # Year boundary: 1–3 Jan 2026 are holidays, Sunday 4 Jan is worked.
        (at(2025, 12, 31, 10, 0), at(2026, 1, 5, 10, 0)),
    ],
)
def test_working_day_deadlines(submitted: datetime, due: datetime):
    assert due_at(submitted, WORKING) == due
    # UTC in, the same instant out (the calendar is Beijing's either way).
    assert due_at(submitted.astimezone(UTC), WORKING) == due


def test_a_year_the_calendar_does_not_know_falls_back_to_weekdays_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="reminders.calendar"):
        # Thursday 31 Dec 2026 → Friday 1 Jan 2027 counts as a weekday → Monday 4 Jan.
        assert due_at(at(2026, 12, 31, 10, 0), WORKING) == at(2027, 1, 4, 10, 0)
    assert any("2027" in record.getMessage() for record in caplog.records)


def test_calendar_day_deadlines_ignore_holidays():
    assert due_at(at(2026, 9, 30, 10, 0), CALENDAR) == at(2026, 10, 2, 10, 0)
    three = DuePolicy(days=3, kind="working", tz=SH)
    assert due_at(at(2026, 11, 23, 10, 0), three) == at(2026, 11, 26, 10, 0)


# --- importing ----------------------------------------------------------------------------------


def test_import_creates_items_with_deadlines_and_is_idempotent(
    bureau_db: Database, clock: FrozenClock
):
    rows = [row(), row(ref="R-002", credit_code=CODE_B.lower(), contact_phone="+86 139-0000-0000")]
    changes = bureau_db.call(import_review_rows, rows, now=clock.now(), policy=WORKING)
    assert changes.created == ["R-001", "R-002"]
    assert changes.new_by_bureau == {"330106": ["R-001", "R-002"]}
    found = items(bureau_db)
    first = found["R-001"]
    assert first.submitted_at == at(2026, 11, 23, 10, 0)  # no zone → Asia/Shanghai
    assert first.due_at == at(2026, 11, 25, 10, 0)
    assert first.contact_phone == "13800138000"
    assert found["R-002"].credit_code == CODE_B  # upper-cased
    assert found["R-002"].contact_phone == "13900000000"

    again = bureau_db.call(import_review_rows, rows, now=clock.now(), policy=WORKING)
    assert again.unchanged == ["R-001", "R-002"]
    assert again.created == again.updated == [] and again.new_by_bureau == {}


def test_newest_event_wins_and_older_events_are_reported_stale(
    bureau_db: Database, clock: FrozenClock
):
    bureau_db.call(import_review_rows, [row()], now=clock.now(), policy=WORKING)
    returned = row(
        status="returned", return_reason="附件不匹配", event_at="2026-11-24T09:00:00+08:00"
    )
    changes = bureau_db.call(import_review_rows, [returned], now=clock.now(), policy=WORKING)
    assert changes.updated == ["R-001"] and changes.returned == ["R-001"]
    item = items(bureau_db)["R-001"]
    assert (item.status, item.return_reason) == ("returned", "附件不匹配")
    assert item.decided_at == at(2026, 11, 24, 9, 0)

    # A late copy of an older event (approved at 08:00, UTC given) must not undo the return.
    older = row(status="approved", event_at="2026-11-24T00:00:00Z")
    stale = bureau_db.call(import_review_rows, [older], now=clock.now(), policy=WORKING)
    assert stale.stale == ["R-001"] and stale.updated == []
    assert items(bureau_db)["R-001"].status == "returned"

    # Several events for one ref in one file: applied in event order, whatever the row order.
    resubmitted = row(
        status="resubmitted", submitted_at="2026-11-25 11:00", event_at="2026-11-25 11:00"
    )
    approved = row(status="approved", submitted_at="2026-11-25 11:00", event_at="2026-11-26 09:30")
    both = bureau_db.call(
        import_review_rows, [approved, resubmitted], now=clock.now(), policy=WORKING
    )
    assert both.updated == ["R-001"]
    item = items(bureau_db)["R-001"]
    assert item.status == "approved" and item.return_reason is None
    assert item.due_at == at(2026, 11, 27, 11, 0)  # from the new submission


def test_resubmission_is_new_work_for_the_bureau(bureau_db: Database, clock: FrozenClock):
    returned = row(status="returned", return_reason="缺少附件", event_at="2026-11-23 12:00")
    first = bureau_db.call(import_review_rows, [returned], now=clock.now(), policy=WORKING)
    assert first.returned == ["R-001"] and first.new_by_bureau == {}
    again = row(status="resubmitted", submitted_at="2026-11-24 09:00", event_at="2026-11-24 09:00")
    second = bureau_db.call(import_review_rows, [again], now=clock.now(), policy=WORKING)
    assert second.new_by_bureau == {"330106": ["R-001"]} and second.returned == []


def test_bad_rows_are_all_reported_and_nothing_is_imported(bureau_db: Database, clock: FrozenClock):
    rows = [
        row(ref="OK-1"),
        row(ref="R 2"),
        row(ref="R-3", credit_code="91330106MA2CDE123"),  # 17 characters
        row(ref="R-4", credit_code="91330106MA2CDE123I"),  # I is not in the alphabet
        row(ref="R-5", bureau_code="999999"),
        row(ref="R-6", status="returned"),
        row(ref="R-7", submitted_at="2026-11-23"),
        row(ref="R-8", submitted_at="23/11/2026 10:00"),
        row(ref="R-9", stage="final", status="done"),
        row(ref="R-10", contact_phone="call me"),
        row(ref="", institution=""),
    ]
    with pytest.raises(ImportRejected) as caught:
        bureau_db.call(import_review_rows, rows, now=clock.now(), policy=WORKING)
    problems = caught.value.problems
    joined = "\n".join(problems)
    assert "row 2:" not in joined
    assert any(p.startswith("row 3: ref 'R 2' is not valid") for p in problems)
    assert any(p.startswith("row 4: credit_code '91330106MA2CDE123' is not") for p in problems)
    assert any(p.startswith("row 5: credit_code") for p in problems)
    assert any(p.startswith("row 6: bureau_code '999999' is not a known bureau") for p in problems)
    assert "row 7: status returned needs a return_reason" in problems
    assert any(p.startswith("row 8: submitted_at '2026-11-23'") for p in problems)
    assert any(p.startswith("row 9: submitted_at") for p in problems)
    assert any(p.startswith("row 10: stage 'final'") for p in problems)
    assert any(p.startswith("row 10: status 'done'") for p in problems)
    assert any(p.startswith("row 11: contact_phone 'call me'") for p in problems)
    assert "row 12: ref is empty" in problems and "row 12: institution is empty" in problems
    assert items(bureau_db) == {}


def test_phone_numbers_are_normalised():
    assert normalize_phone("+86 138-0013-8000") == "13800138000"
    assert normalize_phone("008613800138000") == "13800138000"
    assert normalize_phone("8613800138000") == "13800138000"
    assert normalize_phone("(0571) 8888-6666") == "057188886666"


# --- JSON events (the HTTP endpoint's domain half) ----------------------------------------------


def event(**values: object) -> dict[str, object]:
    base: dict[str, object] = {
        "ref": "E-1",
        "institution": "某咨询公司",
        "credit_code": CODE_A,
        "contact_phone": "13800138000",
        "bureau_code": "330106",
        "submitted_at": "2026-11-23T10:00:00+08:00",
        "status": "pending",
        "event_at": "2026-11-23T10:00:00+08:00",
    }
    return base | values


def test_json_events_one_or_a_list(bureau_db: Database, clock: FrozenClock):
    one = bureau_db.call(import_events_json, event(), now=clock.now(), policy=WORKING)
    assert one.created == ["E-1"]
    many = bureau_db.call(
        import_events_json,
        [event(ref="E-2", stage=None, contact_phone=13900000000), event()],
        now=clock.now(),
        policy=WORKING,
    )
    assert many.created == ["E-2"] and many.unchanged == ["E-1"]
    assert items(bureau_db)["E-2"].stage == "preliminary"


def test_json_events_are_rejected_per_index_and_nothing_applied(
    bureau_db: Database, clock: FrozenClock
):
    body = [event(ref="E-9"), "nope", event(status="returned", color="red"), event(ref=7)]
    with pytest.raises(EventsRejected) as caught:
        bureau_db.call(import_events_json, body, now=clock.now(), policy=WORKING)
    rejected = {r.index: r.problems for r in caught.value.rejected}
    assert set(rejected) == {1, 2, 3}
    assert rejected[1] == ["an event must be a JSON object"]
    assert "unknown field 'color'" in rejected[2]
    assert "status returned needs a return_reason" in rejected[2]
    assert "ref must be a string" in rejected[3]
    assert items(bureau_db) == {}


@pytest.mark.parametrize(
    "submitted_at",
    ["9999-12-31T23:59:59+08:00", "0001-01-01T00:00:00+08:00", "1999-12-31T10:00:00+08:00"],
)
def test_a_time_outside_the_supported_years_is_rejected_not_a_crash(
    bureau_db: Database, clock: FrozenClock, submitted_at: str
):
    # Year 9999 overflowed while the deadline was added, year 1 while it was stored as UTC.
    with pytest.raises(EventsRejected) as caught:
        bureau_db.call(
            import_events_json, event(submitted_at=submitted_at), now=clock.now(), policy=CALENDAR
        )
    [rejected] = caught.value.rejected
    assert any("the year must be between 2000 and 2099" in p for p in rejected.problems)
    assert items(bureau_db) == {}


def test_text_that_cannot_be_stored_is_rejected_not_a_crash(
    bureau_db: Database, clock: FrozenClock
):
    # A JSON "\ud800" escape decodes to a lone surrogate (not UTF-8); PostgreSQL refuses NUL.
    body = [event(ref="E-1", institution="\ud800"), event(ref="E-2", return_reason="a\x00b")]
    with pytest.raises(EventsRejected) as caught:
        bureau_db.call(import_events_json, body, now=clock.now(), policy=WORKING)
    rejected = {r.index: r.problems for r in caught.value.rejected}
    assert "institution contains the character U+D800, which cannot be stored" in rejected[0]
    assert "return_reason contains the character U+0000, which cannot be stored" in rejected[1]
    assert items(bureau_db) == {}


# --- the command line ---------------------------------------------------------------------------


def test_cli_reviews_import(monkeypatch, tmp_path: Path, database_url: str, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HELPDESK_DATABASE_URL", database_url)
    bureaus = tmp_path / "bureaus.csv"
    bureaus.write_text("code,name,level,parent_code\n330100,杭州市财政局,city,\n", "utf-8")
    assert main(["bureaus", "import", str(bureaus)]) == 0
    reviews = tmp_path / "reviews.csv"
    line = f"R-1,某所,{CODE_A},13800138000,330100,preliminary,2026-11-23 10:00,pending,,"
    reviews.write_text(f"{HEADER}\n{line}\n", "utf-8")
    assert main(["reviews", "import", str(reviews)]) == 0
    assert "1 created" in capsys.readouterr().out
    assert main(["reviews", "import", str(reviews)]) == 0
    assert "1 unchanged" in capsys.readouterr().out
    reviews.write_text(f"{HEADER}\n{line.replace('330100', '999')}\n", "utf-8")
    assert main(["reviews", "import", str(reviews)]) == 1
    assert "row 2: bureau_code '999' is not a known bureau" in capsys.readouterr().err


def test_review_file_in_gb18030(bureau_db: Database, clock: FrozenClock, tmp_path: Path):
    line = f"R-1,杭州某所,{CODE_A},,330106,,2026-11-23T10:00,,,"
    path = tmp_path / "export.csv"
    path.write_bytes(f"{HEADER}\n{line}\n".encode("gb18030"))
    changes = bureau_db.call(import_review_file, path, now=clock.now(), policy=WORKING)
    assert changes.created == ["R-1"]
    item = items(bureau_db)["R-1"]
    assert (item.institution, item.status, item.stage) == ("杭州某所", "pending", "preliminary")


# --- settings -----------------------------------------------------------------------------------


def test_review_settings_are_parsed_and_checked():
    from bot.settings import SettingsError, load_settings

    settings = load_settings(_env_file=None)
    assert (settings.http_host, settings.http_port, settings.api_token) == ("127.0.0.1", 8080, None)
    assert settings.due_policy == DuePolicy(days=2, kind="working", tz=SH)
    assert settings.quiet is not None and str(settings.quiet.start) == "21:00:00"
    assert load_settings(_env_file=None, quiet_hours="").quiet is None
    assert load_settings(_env_file=None, api_token="").api_token is None
    for bad, setting in [
        ({"quiet_hours": "21:00"}, "HELPDESK_QUIET_HOURS"),
        ({"quiet_hours": "25:00-08:00"}, "HELPDESK_QUIET_HOURS"),
        ({"review_day_kind": "lunar"}, "HELPDESK_REVIEW_DAY_KIND"),
        ({"review_days": 0}, "HELPDESK_REVIEW_DAYS"),
        ({"api_token": "short"}, "HELPDESK_API_TOKEN"),
        ({"http_port": 70000}, "HELPDESK_HTTP_PORT"),
    ]:
        with pytest.raises(SettingsError, match=setting):
            load_settings(_env_file=None, **bad)


def test_each_item_cycle_and_stage_is_recorded_at_most_once(
    bureau_db: Database, clock: FrozenClock
):
    from sqlalchemy.exc import IntegrityError

    from reminders.models import ReminderSent

    bureau_db.call(import_review_rows, [row()], now=clock.now(), policy=WORKING)
    with bureau_db.session() as session:
        session.add(ReminderSent(item_ref="R-001", cycle="s1", stage="24h", sent_at=clock.now()))
        session.add(ReminderSent(item_ref="R-001", cycle="s2", stage="24h", sent_at=clock.now()))
    with pytest.raises(IntegrityError), bureau_db.session() as session:
        session.add(ReminderSent(item_ref="R-001", cycle="s1", stage="24h", sent_at=clock.now()))


def test_review_workbook_with_real_date_cells(
    bureau_db: Database, clock: FrozenClock, tmp_path: Path
):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(REVIEW_COLUMNS))
    # Excel keeps dates as naive date-times and phone numbers as numbers.
    submitted = datetime(2026, 11, 27, 10, 0)
    sheet.append(["R-X", "某所", CODE_A, 13800138000, "330106", None, submitted, None, None, None])
    path = tmp_path / "export.xlsx"
    book.save(path)
    changes = bureau_db.call(import_review_file, path, now=clock.now(), policy=WORKING)
    assert changes.created == ["R-X"]
    item = items(bureau_db)["R-X"]
    assert item.due_at == at(2026, 12, 1, 10, 0) and item.contact_phone == "13800138000"
