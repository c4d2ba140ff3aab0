"""FAQ import/export: reading spreadsheets as staff save them, validation, upsert, round trips."""

from __future__ import annotations

import codecs
import csv
import zipfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from sqlmodel import select

from bot.db import Database
from faq.io import (
    BUNDLED_CATALOGUE,
    COLUMNS,
    MAX_ANSWER_CHARS,
    MAX_QUESTION_CHARS,
    FaqImportError,
    FaqRow,
    ImportReport,
    export_file,
    import_faq,
    import_file,
    load_bundled_if_empty,
    neutralise_cell,
    read_rows,
    restore_cell,
    validate,
)
from faq.models import FaqEntry

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)

SNAPSHOT_FIELDS = attrgetter(*COLUMNS, "active", "created_at", "updated_at")

GOOD = ["acc-1", "account", "zh", "忘记密码怎么办？", "密码找回 | 重置密码", "点击“忘记密码”。"]
OTHER = ["acc-2", "account", "en", "Account locked?", "", "Wait 30 minutes."]


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.create_all()
    yield database
    database.dispose()


def write_csv(
    path: Path,
    rows: Sequence[Sequence[str]],
    *,
    header: Sequence[str] = COLUMNS,
    encoding: str = "utf-8",
) -> Path:
    with path.open("w", encoding=encoding, newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, rows: Sequence[Sequence[object]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return path


def with_cell(row: Sequence[str], column: str, value: str) -> list[str]:
    changed = list(row)
    changed[COLUMNS.index(column)] = value
    return changed


def faq_row(values: Sequence[str]) -> FaqRow:
    return FaqRow(**dict(zip(COLUMNS, values, strict=True)))


def import_path(db: Database, path: Path, *, replace: bool = False, now=NOW) -> ImportReport:
    with db.session() as session:
        return import_file(session, path, replace=replace, now=now)


def snapshot(db: Database) -> list[tuple]:
    """Everything an import may change, in id order."""
    with db.session() as session:
        entries = session.exec(select(FaqEntry).order_by(FaqEntry.id)).all()
        return [SNAPSHOT_FIELDS(entry) for entry in entries]


def contents(db: Database) -> list[tuple[str, ...]]:
    return [row[:6] for row in snapshot(db)]


def problems_of(path: Path) -> list[str]:
    with pytest.raises(FaqImportError) as info:
        validate(read_rows(path))
    return info.value.problems


# --- reading -----------------------------------------------------------------------------------


def test_the_bundled_catalogue_imports_every_entry(db):
    with BUNDLED_CATALOGUE.open(encoding="utf-8-sig", newline="") as file:
        records = list(csv.DictReader(file))

    report = import_path(db, BUNDLED_CATALOGUE)

    assert report == ImportReport(created=len(records))
    assert [row[0] for row in contents(db)] == sorted(r["id"] for r in records)
    first = next(row for row in contents(db) if row[0] == records[0]["id"])
    assert first[1:] == tuple(records[0][name] for name in COLUMNS[1:])


def test_csv_with_utf8_bom_is_read(tmp_path):
    path = write_csv(tmp_path / "faq.csv", [GOOD], encoding="utf-8-sig")
    assert path.read_bytes().startswith(codecs.BOM_UTF8)
    assert validate(read_rows(path)) == [faq_row(GOOD)]


def test_csv_saved_by_chinese_excel_as_gb18030_is_read(tmp_path):
    path = write_csv(tmp_path / "faq.csv", [GOOD], encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    assert validate(read_rows(path)) == [faq_row(GOOD)]


def test_crlf_lines_and_newlines_inside_quoted_cells(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_bytes(
        "id,category,lang,question,alternatives,answer\r\n"
        'acc-1,account,zh,问题,,"第一行\r\n第二行\n第三行"\r\n'
        "acc-2,account,en,Question,,Answer\r\n".encode()
    )
    rows = validate(read_rows(path))
    assert [row.answer for row in rows] == ["第一行\n第二行\n第三行", "Answer"]


def test_undecodable_bytes_are_a_clear_error(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_bytes(b"id,category,lang,question,alternatives,answer\r\nx,\xff\xfe\xff,zh,q,,a\r\n")
    with pytest.raises(FaqImportError, match="neither UTF-8 nor GB18030"):
        read_rows(path)


def test_utf16_without_bom_is_a_clear_error(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_bytes(",".join(COLUMNS).encode("utf-16-le"))
    with pytest.raises(FaqImportError, match="neither UTF-8 nor GB18030"):
        read_rows(path)


def test_xlsx_is_read_with_numbers_as_text(tmp_path):
    path = write_xlsx(tmp_path / "faq.xlsx", [GOOD, [1001, "account", "zh", 12.0, None, 3.5]])
    rows = validate(read_rows(path))
    assert rows == [
        faq_row(GOOD),
        FaqRow(
            id="1001", category="account", lang="zh", question="12", alternatives="", answer="3.5"
        ),
    ]


def test_xlsx_empty_rows_keep_numbering_and_trailing_formatted_rows_are_ignored(tmp_path):
    path = write_xlsx(tmp_path / "faq.xlsx", [GOOD, [], with_cell(OTHER, "lang", "fr")])
    workbook = load_workbook(path)
    workbook.active.cell(row=500, column=3).font = Font(bold=True)  # formatted, no value
    workbook.save(path)

    rows = read_rows(path)

    assert len(rows) == 3
    assert problems_of(path) == ["row 4: lang 'fr' must be zh or en"]


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"this is not a zip file", id="not-a-zip"),
        pytest.param(b"PK\x03\x04" + b"\x00" * 40, id="truncated-zip"),
        pytest.param(None, id="zip-without-workbook"),
    ],
)
def test_a_broken_xlsx_is_a_clear_error(tmp_path, content):
    path = tmp_path / "faq.xlsx"
    if content is None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("hello.txt", "not a workbook")
    else:
        path.write_bytes(content)
    with pytest.raises(FaqImportError, match=r"not a readable Excel \.xlsx workbook"):
        read_rows(path)


def test_unsupported_extension_and_missing_file_are_clear_errors(tmp_path):
    with pytest.raises(FaqImportError, match=r"unsupported file type '\.txt'"):
        read_rows(tmp_path / "faq.txt")
    with pytest.raises(FaqImportError, match="cannot read the file"):
        read_rows(tmp_path / "missing.csv")


# --- header ------------------------------------------------------------------------------------


def test_header_is_case_insensitive_trimmed_and_in_any_order(tmp_path):
    order = [5, 0, 3, 1, 4, 2]
    header = [f"  {COLUMNS[i].upper()} " for i in order]
    path = write_csv(tmp_path / "faq.csv", [[GOOD[i] for i in order]], header=header)
    assert validate(read_rows(path)) == [faq_row(GOOD)]


def test_missing_and_unknown_columns_are_named(tmp_path):
    header = ["id", "category", "lang", "question", "answer", "remarks", "owner"]
    path = write_csv(tmp_path / "faq.csv", [], header=header)
    with pytest.raises(FaqImportError) as info:
        read_rows(path)
    assert info.value.problems == [
        "row 1: missing column(s): alternatives",
        "row 1: unknown column(s): remarks, owner; "
        "expected id, category, lang, question, alternatives, answer",
    ]


def test_duplicated_column_is_reported(tmp_path):
    path = write_csv(tmp_path / "faq.csv", [], header=[*COLUMNS, "Answer"])
    with pytest.raises(FaqImportError, match="appearing more than once: answer"):
        read_rows(path)


def test_an_empty_file_has_no_header(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_bytes(b"")
    with pytest.raises(FaqImportError, match="row 1: the header row is missing"):
        read_rows(path)


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("id", "", "id is empty"),
        ("id", "acc 1", "id 'acc 1' is not valid"),
        ("id", "-acc", "id '-acc' is not valid"),
        ("id", "a" * 65, "id 'aaaa"),
        ("category", "", "category is empty"),
        ("category", "Account", "category 'Account' is not valid: use a lowercase slug"),
        ("category", "账号", "category '账号' is not valid"),
        ("category", "a" * 33, "category 'aaaa"),
        ("lang", "", "lang is empty and must be zh or en"),
        ("lang", "ZH", "lang 'ZH' must be zh or en"),
        ("lang", "fr", "lang 'fr' must be zh or en"),
        ("question", "", "question is empty"),
        ("question", "问" * 301, "question has 301 characters; at most 300 are allowed"),
        ("question", "第一行\n第二行", "question has a line break"),
        ("question", "响铃\x07", "question contains the control character U+0007"),
        ("question", "tab\tinside", "question contains the control character U+0009"),
        ("alternatives", "ok | " + "长" * 301, "alternative 2 has 301 characters"),
        ("alternatives", "a\x1bb", "alternative 1 contains the control character U+001B"),
        ("alternatives", "a\nb", "alternative 1 has a line break"),
        ("answer", "", "answer is empty"),
        ("answer", "答" * 3501, "answer has 3501 characters; at most 3500 are allowed"),
        ("answer", "a\x00b", "answer contains the control character U+0000"),
        ("answer", "a\x85b", "answer contains the control character U+0085"),
    ],
)
def test_each_kind_of_bad_row_is_reported_with_its_row_number_and_nothing_is_imported(
    db, tmp_path, column, value, problem
):
    import_path(db, write_csv(tmp_path / "before.csv", [GOOD]))
    before = snapshot(db)
    path = write_csv(tmp_path / "faq.csv", [OTHER, with_cell(GOOD, column, value)])

    with pytest.raises(FaqImportError) as info:
        import_path(db, path, replace=True, now=LATER)

    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(f"row 3: {problem}")
    assert snapshot(db) == before


def test_values_at_the_limits_are_accepted(tmp_path):
    row = with_cell(GOOD, "question", "问" * MAX_QUESTION_CHARS)
    row = with_cell(row, "answer", "答\n" * (MAX_ANSWER_CHARS // 2))
    row = with_cell(row, "id", "A" + "b" * 63)
    path = write_csv(tmp_path / "faq.csv", [row])
    assert validate(read_rows(path)) == [faq_row([c.strip() for c in row])]


def test_all_bad_rows_are_reported_together(tmp_path):
    rows = [
        GOOD,
        with_cell(OTHER, "lang", "de"),
        ["acc-3", "account", "zh", "问题", "", "答案"],
        ["bad id", "account", "zh", "问题", "", ""],
        ["", "", "", "", "", ""],
        ["acc-6", "x", "zh", "", "", "答"],
    ]
    path = write_csv(tmp_path / "faq.csv", rows)
    assert problems_of(path) == [
        "row 3: lang 'de' must be zh or en",
        "row 5: id 'bad id' is not valid: "
        "use letters, digits, '_', '.', '-'; start with a letter or digit; at most 64 long",
        "row 5: answer is empty",
        "row 7: question is empty",
    ]


def test_duplicate_ids_are_reported_on_the_later_rows(tmp_path):
    rows = [GOOD, OTHER, with_cell(OTHER, "question", "again"), GOOD]
    path = write_csv(tmp_path / "faq.csv", rows)
    assert problems_of(path) == [
        "row 4: id 'acc-2' is already used on row 3",
        "row 5: id 'acc-1' is already used on row 2",
    ]


def test_empty_rows_are_skipped_but_counted(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text(
        ",".join(COLUMNS) + "\r\n" + ",".join(GOOD) + "\r\n\r\n,,,  ,,\r\n"
        "acc-2,account,xx,q,,a\r\n\r\n\r\n",
        encoding="utf-8",
    )
    assert problems_of(path) == ["row 5: lang 'xx' must be zh or en"]


def test_a_value_outside_the_columns_is_reported(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text(",".join(COLUMNS) + "\n" + ",".join([*GOOD, "", "stray"]) + "\n")
    assert problems_of(path) == ["row 2: column H has a value but no column header"]


def test_cells_are_trimmed_and_alternatives_made_canonical(tmp_path):
    row = [" acc-1 ", " account", "zh ", "\u3000问题 ", " a |  | b|c |", " 答案\n "]
    path = write_csv(tmp_path / "faq.csv", [row])
    assert validate(read_rows(path)) == [
        FaqRow(
            id="acc-1",
            category="account",
            lang="zh",
            question="问题",
            alternatives="a | b | c",
            answer="答案",
        ),
    ]


def test_neutralised_cells_are_restored_on_import(tmp_path):
    row = with_cell(GOOD, "question", "'=1+1")
    row = with_cell(row, "alternatives", "'-1 | @x")
    row = with_cell(row, "answer", "'plain quote stays")
    path = write_csv(tmp_path / "faq.csv", [row])
    [faq] = validate(read_rows(path))
    assert (faq.question, faq.alternatives, faq.answer) == ("=1+1", "-1 | @x", "'plain quote stays")


# --- import into the database ------------------------------------------------------------------


def test_upsert_counts_and_updated_at(db, tmp_path):
    third = ["acc-3", "review", "zh", "审核要多久？", "", "5个工作日。"]
    import_path(db, write_csv(tmp_path / "v1.csv", [GOOD, OTHER]))
    changed = with_cell(OTHER, "answer", "Wait an hour.")

    report = import_path(db, write_csv(tmp_path / "v2.csv", [GOOD, changed, third]), now=LATER)

    assert report == ImportReport(created=1, updated=1, unchanged=1)
    by_id = {row[0]: row for row in snapshot(db)}
    assert by_id["acc-1"][7:] == (NOW, NOW)  # unchanged: updated_at untouched
    assert by_id["acc-2"][5:] == ("Wait an hour.", True, NOW, LATER)
    assert by_id["acc-3"][7:] == (LATER, LATER)


def test_import_without_replace_leaves_other_entries_alone(db, tmp_path):
    import_path(db, write_csv(tmp_path / "v1.csv", [GOOD, OTHER]))
    report = import_path(db, write_csv(tmp_path / "v2.csv", [GOOD]), now=LATER)
    assert report == ImportReport(unchanged=1)
    assert all(row[6] for row in snapshot(db))


def test_replace_deactivates_missing_entries_and_a_later_import_reactivates_them(db, tmp_path):
    import_path(db, write_csv(tmp_path / "v1.csv", [GOOD, OTHER]))

    report = import_path(db, write_csv(tmp_path / "v2.csv", [GOOD]), replace=True, now=LATER)
    assert report == ImportReport(unchanged=1, deactivated=1)
    assert [(row[0], row[6], row[8]) for row in snapshot(db)] == [
        ("acc-1", True, NOW),
        ("acc-2", False, LATER),  # kept: the question log refers to it
    ]

    again = import_path(db, write_csv(tmp_path / "v3.csv", [GOOD]), replace=True, now=LATER)
    assert again == ImportReport(unchanged=1)  # already inactive: not counted twice

    later = LATER + timedelta(hours=1)
    back = import_path(db, write_csv(tmp_path / "v4.csv", [GOOD, OTHER]), now=later)
    assert back == ImportReport(unchanged=1, reactivated=1)
    assert [(row[0], row[6], row[8]) for row in snapshot(db)] == [
        ("acc-1", True, NOW),
        ("acc-2", True, later),
    ]


def test_replace_with_a_file_without_entries_is_refused(db, tmp_path):
    import_path(db, write_csv(tmp_path / "v1.csv", [GOOD]))
    with pytest.raises(FaqImportError, match="refusing to deactivate the whole FAQ"):
        import_path(db, write_csv(tmp_path / "empty.csv", []), replace=True)
    assert snapshot(db)[0][6] is True


def test_a_failure_during_import_leaves_the_database_unchanged(db):
    with db.session() as session:
        import_faq(session, [faq_row(GOOD)], replace=False, now=NOW)
    before = snapshot(db)

    with pytest.raises(ValueError, match="timezone-aware"), db.session() as session:
        import_faq(session, [faq_row(OTHER)], replace=True, now=NOW)
        import_faq(session, [faq_row(OTHER)], replace=False, now=datetime(2025, 3, 2))

    assert snapshot(db) == before


def test_the_bundled_catalogue_loads_only_into_an_empty_table(db):
    with db.session() as session:
        loaded = load_bundled_if_empty(session, BUNDLED_CATALOGUE, now=NOW)
    assert loaded == len(snapshot(db)) > 0

    with db.session() as session:
        session.get(FaqEntry, snapshot(db)[0][0]).active = False
    with db.session() as session:
        assert load_bundled_if_empty(session, BUNDLED_CATALOGUE, now=LATER) == 0


# --- export ------------------------------------------------------------------------------------

TRICKY = [
    ["f-1", "filling", "zh", '=HYPERLINK("http://x")', "-1 | @SUM(A1)", "第一行\n第二行"],
    ["f-2", "filling", "zh", "-1", "=1+1", "+86 13800000000"],
    ["f-3", "filling", "en", "@SUM(A1)", "", "'=already quoted"],
    ["f-4", "filling", "en", 'Quote, comma and "quotes"', "a | b", "line1\nline2\n\nline4"],
]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_then_import_gives_identical_entries(db, tmp_path, make_database_url, suffix):
    with db.session() as session:
        import_faq(session, [faq_row(row) for row in TRICKY], replace=False, now=NOW)
    path = tmp_path / f"export{suffix}"
    with db.session() as session:
        assert export_file(session, path) == len(TRICKY)

    assert import_path(db, path, now=LATER) == ImportReport(unchanged=len(TRICKY))

    fresh = Database(make_database_url("fresh"))
    fresh.create_all()
    import_path(fresh, path)
    assert contents(fresh) == contents(db) == [tuple(row) for row in TRICKY]
    fresh.dispose()


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_the_bundled_catalogue_survives_an_export_round_trip(db, tmp_path, suffix):
    import_path(db, BUNDLED_CATALOGUE)
    path = tmp_path / f"export{suffix}"
    with db.session() as session:
        export_file(session, path)
    assert import_path(db, path, replace=True, now=LATER) == ImportReport(
        unchanged=len(snapshot(db))
    )


def test_exported_csv_has_bom_crlf_header_and_neutralised_cells(db, tmp_path):
    with db.session() as session:
        import_faq(session, [faq_row(row) for row in reversed(TRICKY)], replace=False, now=NOW)
        export_file(session, tmp_path / "faq.csv")
    data = (tmp_path / "faq.csv").read_bytes()

    # Ordered by id although imported in reverse; \n inside a quoted cell, \r\n between records.
    assert (
        data
        == codecs.BOM_UTF8
        + (
            "id,category,lang,question,alternatives,answer\r\n"
            'f-1,filling,zh,"\'=HYPERLINK(""http://x"")",\'-1 | @SUM(A1),"第一行\n第二行"\r\n'
            "f-2,filling,zh,'-1,'=1+1,'+86 13800000000\r\n"
            "f-3,filling,en,'@SUM(A1),,''=already quoted\r\n"
            'f-4,filling,en,"Quote, comma and ""quotes""",a | b,"line1\nline2\n\nline4"\r\n'
        ).encode()
    )


def test_exported_xlsx_holds_strings_never_formulas(db, tmp_path):
    with db.session() as session:
        import_faq(session, [faq_row(row) for row in TRICKY], replace=False, now=NOW)
        export_file(session, tmp_path / "faq.xlsx")

    sheet = load_workbook(tmp_path / "faq.xlsx").active
    question = sheet["D2"]
    assert question.value == '\'=HYPERLINK("http://x")'
    assert question.data_type == "s"
    assert {cell.data_type for row in sheet.iter_rows() for cell in row if cell.value} == {"s"}
    assert sheet["E4"].value is None  # an empty alternatives cell stays blank
    assert [cell.value for cell in sheet[1]] == list(COLUMNS)
    assert sheet["A1"].font.bold
    assert sheet.freeze_panes == "A2"
    assert sheet["F2"].alignment.wrap_text


def test_export_leaves_out_inactive_entries_unless_asked(db, tmp_path):
    with db.session() as session:
        import_faq(session, [faq_row(GOOD), faq_row(OTHER)], replace=False, now=NOW)
        import_faq(session, [faq_row(GOOD)], replace=True, now=NOW)
        assert export_file(session, tmp_path / "active.csv") == 1
        assert export_file(session, tmp_path / "all.csv", include_inactive=True) == 2
    assert [row["id"] for row in read_rows(tmp_path / "all.csv")] == ["acc-1", "acc-2"]


def test_export_to_an_unknown_format_is_refused(db, tmp_path):
    with db.session() as session, pytest.raises(ValueError, match="unsupported file type"):
        export_file(session, tmp_path / "faq.ods")


# --- neutralisation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "neutralised"),
    [
        ("=1+1", "'=1+1"),
        ("+86", "'+86"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'=x", "''=x"),
        ("'plain", "'plain"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralise_cell_examples(text, neutralised):
    assert neutralise_cell(text) == neutralised
    assert restore_cell(neutralised) == text


@given(st.text())
def test_restore_undoes_neutralise_for_any_text(text):
    assert restore_cell(neutralise_cell(text)) == text


@given(st.text())
def test_a_neutralised_cell_never_starts_like_a_formula(text):
    assert not neutralise_cell(text).startswith(("=", "+", "-", "@", "\t", "\r"))
