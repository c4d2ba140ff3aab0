"""Bureaus (市/县财政局): import from CSV/XLSX, with the FAQ import's rules (faq/io.py).

File header (any column order): ``code,name,level,parent_code``.

* ``code``: letters, digits, ``_``/``-``, at most 32 (usually the 6-digit division code);
* ``level``: ``city`` or ``county`` (``市`` / ``县`` / ``区`` are accepted too);
* ``parent_code``: empty for a city; a county names its city, which must be a city in the same
  file or already in the database.

Every problem is reported as ``row N: reason`` (N is the spreadsheet row, the header is row 1) and
a file with any problem imports nothing. Import upserts by code; bureaus missing from the file are
kept (review items and reviewers point at them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, select

from faq.io import FaqImportError, read_table, read_table_file
from reminders.models import BUREAU_CODE_MAX_LENGTH, Bureau

BUREAU_COLUMNS: tuple[str, ...] = ("code", "name", "level", "parent_code")
FIRST_DATA_ROW = 2
MAX_NAME_CHARS = 128
_CODE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{BUREAU_CODE_MAX_LENGTH - 1}}}")
_LEVELS = {"city": "city", "county": "county", "市": "city", "县": "county", "区": "county"}


class ImportRejected(Exception):
    """A bureau or review-item import that imported nothing; ``problems`` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def read_sheet(data: bytes, name: str, columns: Sequence[str]) -> list[dict[str, str]]:
    """Rows of a CSV/XLSX upload keyed by column (faq/io.py's reader: GB18030 or UTF-8 CSV,
    the first sheet of a workbook), as :class:`ImportRejected` when unreadable."""
    try:
        return read_table(data, name, columns)
    except FaqImportError as exc:
        raise ImportRejected(exc.problems) from None


def read_sheet_file(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    try:
        return read_table_file(path, columns)
    except FaqImportError as exc:
        raise ImportRejected(exc.problems) from None


def clean_cell(value: str) -> str:
    """Cells as people type them: surrounding spaces, and the ``'`` Excel users put before a
    code to keep its leading zeros."""
    return value.strip().removeprefix("'").strip()


@dataclass(frozen=True, slots=True)
class BureauRow:
    code: str
    name: str
    level: str
    parent_code: str | None


@dataclass(frozen=True, slots=True)
class BureauReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def validate_bureaus(session: Session, rows: Sequence[Mapping[str, str]]) -> list[BureauRow]:
    """The rows as :class:`BureauRow`; every problem of every row in one :class:`ImportRejected`."""
    problems: list[str] = []
    valid: list[tuple[int, BureauRow]] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(rows):
        number = index + FIRST_DATA_ROW
        cells = {name: clean_cell(raw.get(name, "")) for name in BUREAU_COLUMNS}
        if not any(cells.values()):
            continue  # an empty row in the middle: kept by the reader only for the numbering
        strays = sorted(key for key in raw if key not in BUREAU_COLUMNS and raw[key].strip())
        row_problems = [f"a value in {key}, which has no header" for key in strays]
        row_problems += _row_problems(cells)
        code = cells["code"]
        if code and code in seen:
            row_problems.append(f"code {code!r} appears again (first in row {seen[code]})")
        seen.setdefault(code, number)
        if row_problems:
            problems += [f"row {number}: {problem}" for problem in row_problems]
            continue
        level = _LEVELS[cells["level"].lower()]
        valid.append((number, BureauRow(code, cells["name"], level, cells["parent_code"] or None)))
    problems += _parent_problems(session, valid)
    if problems:
        raise ImportRejected(problems)
    return [row for _, row in valid]


def _row_problems(cells: Mapping[str, str]) -> list[str]:
    problems = []
    code, name, level = cells["code"], cells["name"], cells["level"]
    if not code:
        problems.append("code is empty")
    elif not _CODE.fullmatch(code):
        problems.append(
            f"code {code!r} is not valid: letters, digits, '_' or '-', "
            f"at most {BUREAU_CODE_MAX_LENGTH}"
        )
    if not name:
        problems.append("name is empty")
    elif len(name) > MAX_NAME_CHARS:
        problems.append(f"name has {len(name)} characters; at most {MAX_NAME_CHARS}")
    if level.lower() not in _LEVELS:
        problems.append(f"level {level!r} must be city or county")
    elif _LEVELS[level.lower()] == "city" and cells["parent_code"]:
        problems.append("a city has no parent_code (leave it empty)")
    elif _LEVELS[level.lower()] == "county" and not cells["parent_code"]:
        problems.append("a county needs the parent_code of its city")
    return problems


def _parent_problems(session: Session, valid: list[tuple[int, BureauRow]]) -> list[str]:
    in_file = {row.code: row.level for _, row in valid}
    wanted = {row.parent_code for _, row in valid if row.parent_code} - in_file.keys()
    in_db: dict[str, str] = {}
    if wanted:
        found = session.exec(select(Bureau).where(col(Bureau.code).in_(wanted))).all()
        in_db = {bureau.code: bureau.level for bureau in found}
    problems = []
    for number, row in valid:
        if row.parent_code is None:
            continue
        level = in_file.get(row.parent_code) or in_db.get(row.parent_code)
        if level is None:
            problems.append(
                f"row {number}: parent_code {row.parent_code!r} is neither in this file "
                "nor a known bureau"
            )
        elif level != "city":
            problems.append(f"row {number}: parent_code {row.parent_code!r} is not a city")
    return problems


def import_bureaus(session: Session, rows: Sequence[BureauRow], *, now: datetime) -> BureauReport:
    """Upsert valid rows by code."""
    existing = {
        b.code: b
        for b in session.exec(
            select(Bureau).where(col(Bureau.code).in_([row.code for row in rows]))
        ).all()
    }
    created = updated = unchanged = 0
    for row in rows:
        bureau = existing.get(row.code)
        if bureau is None:
            session.add(
                Bureau(
                    code=row.code,
                    name=row.name,
                    level=row.level,
                    parent_code=row.parent_code,
                    created_at=now,
                    updated_at=now,
                )
            )
            created += 1
        elif (bureau.name, bureau.level, bureau.parent_code) == (
            row.name,
            row.level,
            row.parent_code,
        ):
            unchanged += 1
        else:
            bureau.name, bureau.level, bureau.parent_code = row.name, row.level, row.parent_code
            bureau.updated_at = now
            session.add(bureau)
            updated += 1
    session.flush()
    return BureauReport(created=created, updated=updated, unchanged=unchanged)


def import_bureau_rows(
    session: Session, rows: Sequence[Mapping[str, str]], *, now: datetime
) -> BureauReport:
    return import_bureaus(session, validate_bureaus(session, rows), now=now)


def import_bureau_file(session: Session, path: Path, *, now: datetime) -> BureauReport:
    """``helpdesk bureaus import FILE``."""
    return import_bureau_rows(session, read_sheet_file(path, BUREAU_COLUMNS), now=now)


def bureau_names(session: Session, codes: Sequence[str]) -> dict[str, str]:
    if not codes:
        return {}
    found = session.exec(select(Bureau).where(col(Bureau.code).in_(list(codes)))).all()
    return {bureau.code: bureau.name for bureau in found}
