"""Import and export of the FAQ catalogue as CSV or Excel files. No Telegram imports.

Staff keep the FAQ in a spreadsheet, so everything here is shaped by what Excel does: CSV files
saved on Chinese Windows are GB18030, cells may hold numbers instead of text, and a cell starting
with ``=`` is a formula. Problems are reported with the row number as Excel shows it, every problem
at once, so a file can be fixed in one pass.

Import is three steps, each usable alone: :func:`read_rows` (file -> dicts), :func:`validate`
(dicts -> :class:`FaqRow`, or :class:`FaqImportError`) and :func:`import_faq` (rows -> database,
in the caller's transaction). :func:`import_file` chains them.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from sqlmodel import Session, col, select

from faq.models import ALT_SEPARATOR, FaqEntry, split_alternatives

COLUMNS: tuple[str, ...] = ("id", "category", "lang", "question", "alternatives", "answer")
LANGS: tuple[str, ...] = ("zh", "en")
BUNDLED_CATALOGUE = Path(__file__).parent / "data" / "catalogue.csv"

MAX_QUESTION_CHARS = 300
MAX_ALTERNATIVE_CHARS = 300
# Telegram allows 4096 characters per message; the rest is kept for markup and buttons.
MAX_ANSWER_CHARS = 3500

FIRST_DATA_ROW = 2  # Excel numbers rows from 1 and the header takes row 1.

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_CATEGORY = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_ID_RULE = "use letters, digits, '_', '.', '-'; start with a letter or digit; at most 64 long"
_CATEGORY_RULE = "use a lowercase slug like 'account' (a-z first, then a-z 0-9 _ -), at most 32"
# A spreadsheet treats a cell starting with one of these as a formula (OWASP CSV injection).
# Quotes already in front are included so that text which merely looks neutralised gets a quote
# too; otherwise restore_cell could not tell it from a cell we neutralised.
_LOOKS_LIKE_FORMULA = re.compile(r"'*[=+\-@\t\r]")

_XLSX_WIDTHS = {
    "id": 16,
    "category": 14,
    "lang": 6,
    "question": 40,
    "alternatives": 40,
    "answer": 80,
}
_XLSX_WRAPPED = {"question", "alternatives", "answer"}


class FaqImportError(Exception):
    """A file that cannot be imported; ``problems`` holds every reason, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class FaqRow:
    """One valid, cleaned catalogue row; ``alternatives`` is in the canonical " | " form."""

    id: str
    category: str
    lang: str
    question: str
    alternatives: str
    answer: str


@dataclass(frozen=True)
class ImportReport:
    """What an import did. Each row of the file counts once: created, updated, unchanged or
    reactivated (reactivation wins over an update made at the same time)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    reactivated: int = 0


# --- formula-injection neutralisation (shared with other exports) ----------------------------


def neutralise_cell(text: str) -> str:
    """Prefix ``'`` to text a spreadsheet would run as a formula; :func:`restore_cell` undoes it."""
    return "'" + text if _LOOKS_LIKE_FORMULA.match(text) else text


def restore_cell(text: str) -> str:
    """The inverse of :func:`neutralise_cell`."""
    return text[1:] if text.startswith("'") and _LOOKS_LIKE_FORMULA.match(text) else text


def worksheet_text(text: str) -> str:
    """Text for an .xlsx cell of users' words: without the control characters a worksheet cannot
    hold (openpyxl raises IllegalCharacterError on them), then neutralised."""
    return neutralise_cell(ILLEGAL_CHARACTERS_RE.sub("", text))


# --- reading -----------------------------------------------------------------------------------


def read_rows(path: Path) -> list[dict[str, str]]:
    """The data rows of a .csv or .xlsx file, keyed by column name.

    Row ``i`` of the result is spreadsheet row ``i + 2``; empty rows in the middle are kept (as
    rows of empty strings) so that numbering holds, empty rows at the end are dropped. A value in a
    column without a header is kept under a key like ``"column G"`` for :func:`validate` to report.
    """
    return read_table_file(path, COLUMNS)


def read_table_file(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    """:func:`read_table` of a file on disk."""
    if path.suffix.lower() not in _READERS:  # before reading: the type is the clearer problem
        raise FaqImportError(
            [f"{path.name}: unsupported file type {path.suffix!r}; use .csv or .xlsx"]
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        problem = f"{path.name}: cannot read the file ({exc.strerror or exc})"
        raise FaqImportError([problem]) from exc
    return read_table(data, path.name, columns)


def read_table(data: bytes, name: str, columns: Sequence[str]) -> list[dict[str, str]]:
    """The data rows of a .csv or .xlsx file (by ``name``'s suffix) whose header must name exactly
    ``columns`` (any order). Shared by every spreadsheet import (FAQ, bureaus, review items), with
    the numbering and encoding rules of :func:`read_rows`; problems raise :class:`FaqImportError`.
    """
    suffix = Path(name).suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        raise FaqImportError([f"{name}: unsupported file type {suffix!r}; use .csv or .xlsx"])
    return _to_dicts(reader(data, name), tuple(columns))


def _read_csv(data: bytes, name: str) -> list[list[str]]:
    text = _decode(data, name)
    try:
        # newline="" keeps \r\n inside quoted cells for the csv module to handle.
        return _drop_trailing_empty(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:  # e.g. a cell beyond the csv module's field size limit
        raise FaqImportError([f"{name}: not a readable CSV file ({exc})"]) from exc


def _decode(data: bytes, name: str) -> str:
    # utf-8-sig accepts UTF-8 with or without a BOM, so it is also the strict UTF-8 attempt.
    # GB18030 is what Excel on Chinese Windows writes for "CSV (comma delimited)".
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text.partition("\n")[0]:
            break  # UTF-16 ("Unicode text") without a BOM decodes as UTF-8 full of NULs.
        return text
    raise FaqImportError(
        [f"{name}: the file is neither UTF-8 nor GB18030 text; save it from Excel as 'CSV UTF-8'"]
    )


def _read_xlsx(data: bytes, name: str) -> list[list[str]]:
    try:
        # data_only: a formula someone typed gives the value Excel shows, not its source.
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zipfile, KeyError, XML errors...: all mean "not a workbook"
        raise _not_a_workbook(name) from exc
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        return _drop_trailing_empty([_cell_text(value) for value in row] for row in rows)
    except Exception as exc:  # a damaged sheet only fails while it is parsed
        raise _not_a_workbook(name) from exc
    finally:
        workbook.close()


def _not_a_workbook(name: str) -> FaqImportError:
    return FaqImportError([f"{name}: not a readable Excel .xlsx workbook"])


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores every number as a float: 12 comes back as 12.0
    return str(value)


def _drop_trailing_empty(records: Iterable[list[str]]) -> list[list[str]]:
    # A sheet may carry thousands of formatted but empty rows after the data: only count empty
    # rows, and keep them (for the numbering) once a row with data follows.
    kept: list[list[str]] = []
    held = 0
    for record in records:
        if any(cell.strip() for cell in record):
            kept.extend([] for _ in range(held))
            held = 0
            kept.append(record)
        else:
            held += 1
    return kept


def _to_dicts(table: list[list[str]], columns: tuple[str, ...]) -> list[dict[str, str]]:
    if not table:
        raise FaqImportError([f"row 1: the header row is missing; expected {', '.join(columns)}"])
    header = [cell.strip().lower() for cell in table[0]]
    problems = _header_problems(header, columns)
    if problems:
        raise FaqImportError(problems)
    return [_record_to_dict(header, record, columns) for record in table[1:]]


def _header_problems(header: list[str], columns: tuple[str, ...]) -> list[str]:
    named = [name for name in header if name]
    problems = []
    duplicated = sorted({name for name in named if named.count(name) > 1})
    if duplicated:
        problems.append(f"row 1: column(s) appearing more than once: {', '.join(duplicated)}")
    missing = [name for name in columns if name not in named]
    if missing:
        problems.append(f"row 1: missing column(s): {', '.join(missing)}")
    unknown = [name for name in named if name not in columns]
    if unknown:
        problems.append(
            f"row 1: unknown column(s): {', '.join(unknown)}; expected {', '.join(columns)}"
        )
    return problems


def _record_to_dict(
    header: list[str], record: list[str], columns: tuple[str, ...]
) -> dict[str, str]:
    row = dict.fromkeys(columns, "")
    for index, value in enumerate(record):
        name = header[index] if index < len(header) else ""
        if name:
            row[name] = value
        elif value.strip():
            row[f"column {get_column_letter(index + 1)}"] = value
    return row


# --- validation --------------------------------------------------------------------------------


def validate(rows: Sequence[Mapping[str, str]]) -> list[FaqRow]:
    """Clean and check every row; raise :class:`FaqImportError` listing all problems found.

    ``rows[i]`` is spreadsheet row ``i + 2``. Empty rows are skipped.
    """
    valid: list[FaqRow] = []
    problems: list[str] = []
    first_row_of_id: dict[str, int] = {}
    for index, raw in enumerate(rows):
        number = index + FIRST_DATA_ROW
        cells = {name: _clean(raw.get(name, "")) for name in COLUMNS}
        strays = sorted(key for key in raw if key not in COLUMNS and raw[key].strip())
        if not strays and not any(cells.values()):
            continue
        row_problems = [f"{key} has a value but no column header" for key in strays]
        row_problems += _row_problems(cells)
        if cells["id"]:
            earlier = first_row_of_id.setdefault(cells["id"], number)
            if earlier != number:
                row_problems.append(f"id {_show(cells['id'])} is already used on row {earlier}")
        problems += [f"row {number}: {problem}" for problem in row_problems]
        if not row_problems:
            valid.append(_to_faq_row(cells))
    if problems:
        raise FaqImportError(problems)
    return valid


def _clean(raw: str) -> str:
    # Restore before the final strip: un-neutralising "'\t..." exposes whitespace.
    text = restore_cell(raw.strip()).strip()
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _row_problems(cells: Mapping[str, str]) -> list[str]:
    return [
        *_pattern_problems("id", cells["id"], _ID, _ID_RULE),
        *_pattern_problems("category", cells["category"], _CATEGORY, _CATEGORY_RULE),
        *_lang_problems(cells["lang"]),
        *_text_problems("question", cells["question"], limit=MAX_QUESTION_CHARS),
        *_alternatives_problems(cells["alternatives"]),
        *_text_problems("answer", cells["answer"], limit=MAX_ANSWER_CHARS, multiline=True),
    ]


def _pattern_problems(name: str, value: str, pattern: re.Pattern[str], rule: str) -> list[str]:
    if not value:
        return [f"{name} is empty"]
    if not pattern.fullmatch(value):
        return [f"{name} {_show(value)} is not valid: {rule}"]
    return []


def _lang_problems(lang: str) -> list[str]:
    if lang in LANGS:
        return []
    found = f"lang {_show(lang)}" if lang else "lang is empty and"
    return [f"{found} must be {' or '.join(LANGS)}"]


def _text_problems(name: str, text: str, *, limit: int, multiline: bool = False) -> list[str]:
    if not text:
        return [f"{name} is empty"]
    problems = []
    if len(text) > limit:
        problems.append(f"{name} has {len(text)} characters; at most {limit} are allowed")
    allowed = {"\n"} if multiline else set()
    bad = next((ch for ch in text if _is_control(ch) and ch not in allowed), None)
    if bad == "\n":
        problems.append(f"{name} has a line break; only the answer may have several lines")
    elif bad is not None:
        problems.append(f"{name} contains the control character U+{ord(bad):04X}")
    return problems


def _alternatives_problems(text: str) -> list[str]:
    return [
        problem
        for number, part in enumerate(split_alternatives(text), start=1)
        for problem in _text_problems(f"alternative {number}", part, limit=MAX_ALTERNATIVE_CHARS)
    ]


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) == "Cc"


def _show(value: str, width: int = 40) -> str:
    # repr() so that invisible characters are visible in the message.
    return repr(value if len(value) <= width else value[:width] + "…")


def _to_faq_row(cells: Mapping[str, str]) -> FaqRow:
    return FaqRow(
        id=cells["id"],
        category=cells["category"],
        lang=cells["lang"],
        question=cells["question"],
        alternatives=ALT_SEPARATOR.join(split_alternatives(cells["alternatives"])),
        answer=cells["answer"],
    )


# --- database ----------------------------------------------------------------------------------

Outcome = Literal["created", "updated", "unchanged", "reactivated"]


def import_faq(
    session: Session, rows: Sequence[FaqRow], *, replace: bool, now: datetime
) -> ImportReport:
    """Upsert ``rows`` by id in the caller's transaction (the caller commits).

    With ``replace``, active entries missing from ``rows`` are deactivated, never deleted: the
    question log refers to their ids.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if replace and not rows:
        raise FaqImportError(["the file has no entries; refusing to deactivate the whole FAQ"])
    entries = {entry.id: entry for entry in session.exec(select(FaqEntry)).all()}
    outcomes: list[Outcome] = []
    for row in rows:
        entry, outcome = _upsert(session, entries.get(row.id), row, now)
        entries[row.id] = entry
        outcomes.append(outcome)
    deactivated = _deactivate_missing(session, entries.values(), rows, now) if replace else 0
    session.flush()
    return ImportReport(
        created=outcomes.count("created"),
        updated=outcomes.count("updated"),
        unchanged=outcomes.count("unchanged"),
        deactivated=deactivated,
        reactivated=outcomes.count("reactivated"),
    )


def _upsert(
    session: Session, entry: FaqEntry | None, row: FaqRow, now: datetime
) -> tuple[FaqEntry, Outcome]:
    if entry is None:
        entry = FaqEntry(
            id=row.id,
            category=row.category,
            lang=row.lang,
            question=row.question,
            alternatives=row.alternatives,
            answer=row.answer,
            active=True,
            created_at=now,
            updated_at=now,
        )
        session.add(entry)
        return entry, "created"
    if not entry.active:
        outcome: Outcome = "reactivated"
    elif _content(entry) != _content(row):
        outcome = "updated"
    else:
        return entry, "unchanged"  # updated_at stays: it tells staff when the text last changed
    entry.category, entry.lang, entry.question = row.category, row.lang, row.question
    entry.alternatives, entry.answer = row.alternatives, row.answer
    entry.active = True
    entry.updated_at = now
    session.add(entry)
    return entry, outcome


def _deactivate_missing(
    session: Session, entries: Iterable[FaqEntry], rows: Sequence[FaqRow], now: datetime
) -> int:
    in_file = {row.id for row in rows}
    missing = [entry for entry in entries if entry.active and entry.id not in in_file]
    for entry in missing:
        entry.active = False
        entry.updated_at = now
        session.add(entry)
    return len(missing)


def _content(item: FaqEntry | FaqRow) -> tuple[str, ...]:
    return (item.category, item.lang, item.question, item.alternatives, item.answer)


def import_file(session: Session, path: Path, *, replace: bool, now: datetime) -> ImportReport:
    """Read, validate and import ``path``; nothing is written unless the whole file is valid."""
    rows = validate(read_rows(path))
    return import_faq(session, rows, replace=replace, now=now)


def load_bundled_if_empty(session: Session, path: Path, *, now: datetime) -> int:
    """Import ``path`` on first start only, i.e. when the FAQ table has no rows, even inactive."""
    if session.exec(select(FaqEntry.id).limit(1)).first() is not None:
        return 0
    return import_file(session, path, replace=False, now=now).created


# --- export ------------------------------------------------------------------------------------


def export_file(session: Session, path: Path, *, include_inactive: bool = False) -> int:
    """Write the FAQ to a .csv or .xlsx file, ordered by id; return how many entries were written.

    Inactive entries carry no marker in the file, so importing an export made with
    ``include_inactive`` reactivates them.
    """
    writer = _WRITERS.get(path.suffix.lower())
    if writer is None:
        raise ValueError(f"{path.name}: unsupported file type {path.suffix!r}; use .csv or .xlsx")
    query = select(FaqEntry).order_by(col(FaqEntry.id))
    if not include_inactive:
        query = query.where(col(FaqEntry.active))
    table = [
        [neutralise_cell(cell) for cell in _entry_cells(entry)] for entry in session.exec(query)
    ]
    writer(path, table)
    return len(table)


def _entry_cells(entry: FaqEntry) -> list[str]:
    alternatives = ALT_SEPARATOR.join(entry.alternative_list)
    return [entry.id, entry.category, entry.lang, entry.question, alternatives, entry.answer]


def _write_csv(path: Path, table: list[list[str]]) -> None:
    # The BOM is what makes Excel on Windows read the file as UTF-8 instead of the local code page.
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        writer.writerows(table)


def _write_xlsx(path: Path, table: list[list[str]]) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new workbook always has one sheet
    sheet.title = "FAQ"
    bold = Font(bold=True)
    wrapped = Alignment(wrap_text=True, vertical="top")
    top = Alignment(vertical="top")
    for column, name in enumerate(COLUMNS, start=1):
        _put_text(sheet.cell(row=1, column=column), name).font = bold
        sheet.column_dimensions[get_column_letter(column)].width = _XLSX_WIDTHS[name]
    for row_number, cells in enumerate(table, start=FIRST_DATA_ROW):
        for column, (name, text) in enumerate(zip(COLUMNS, cells, strict=True), start=1):
            cell = _put_text(sheet.cell(row=row_number, column=column), text)
            cell.alignment = wrapped if name in _XLSX_WRAPPED else top
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    workbook.save(path)


def _put_text(cell: Cell, text: str) -> Cell:
    if not text:
        return cell  # left blank, as Excel's own empty cells are
    cell.value = text
    # openpyxl guesses a formula from a leading "="; a catalogue cell is always plain text.
    cell.data_type = "s"
    return cell


_READERS: dict[str, Callable[[bytes, str], list[list[str]]]] = {
    ".csv": _read_csv,
    ".xlsx": _read_xlsx,
}
_WRITERS: dict[str, Callable[[Path, list[list[str]]], None]] = {
    ".csv": _write_csv,
    ".xlsx": _write_xlsx,
}
