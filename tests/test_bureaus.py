"""Bureau import (reminders/bureaus.py): CSV/XLSX, ``row N: reason``, nothing partial."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlmodel import select

from bot.cli import main
from bot.clock import FrozenClock
from bot.db import Database
from reminders.bureaus import ImportRejected, import_bureau_file
from reminders.models import Bureau

GOOD = (
    "code,name,level,parent_code\n"
    "330100,杭州市财政局,city,\n"
    "330102,上城区财政局,county,330100\n"
    "330106,西湖区财政局,区,330100\n"
)


def write(tmp_path: Path, text: str, name: str = "bureaus.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def bureaus(db: Database) -> dict[str, Bureau]:
    with db.session() as session:
        return {b.code: b for b in session.exec(select(Bureau)).all()}


def test_good_file_creates_then_reimport_is_unchanged_and_edits_update(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    path = write(tmp_path, GOOD)
    report = db.call(import_bureau_file, path, now=clock.now())
    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    found = bureaus(db)
    assert found["330106"].level == "county" and found["330106"].parent_code == "330100"
    assert found["330100"].parent_code is None

    again = db.call(import_bureau_file, path, now=clock.now())
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    edited = write(tmp_path, GOOD.replace("西湖区财政局", "西湖区财政局（新）"))
    changed = db.call(import_bureau_file, edited, now=clock.now())
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 2)


def test_gb18030_csv_and_xlsx_are_read(db: Database, clock: FrozenClock, tmp_path: Path):
    db.call(import_bureau_file, write(tmp_path, GOOD, encoding="gb18030"), now=clock.now())
    assert bureaus(db)["330102"].name == "上城区财政局"

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["code", "name", "level", "parent_code"])
    sheet.append(["330200", "宁波市财政局", "city", None])
    sheet.append([330203, "海曙区财政局", "county", 330200])  # numbers typed as numbers
    buffer = io.BytesIO()
    book.save(buffer)
    path = tmp_path / "b.xlsx"
    path.write_bytes(buffer.getvalue())
    report = db.call(import_bureau_file, path, now=clock.now())
    assert report.created == 2
    assert bureaus(db)["330203"].parent_code == "330200"


def test_parent_may_be_an_existing_bureau(db: Database, clock: FrozenClock, tmp_path: Path):
    db.call(import_bureau_file, write(tmp_path, GOOD), now=clock.now())
    extra = write(tmp_path, "code,name,level,parent_code\n330108,滨江区财政局,county,330100\n")
    assert db.call(import_bureau_file, extra, now=clock.now()).created == 1


def test_bad_rows_are_all_reported_and_nothing_is_imported(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    bad = (
        "code,name,level,parent_code\n"
        "330100,杭州市财政局,city,\n"  # good, but the file has bad rows: not imported
        "330102,,county,330100\n"
        "330103,某局,province,\n"
        "330104,某区,county,999999\n"
        "330105,某区,county,330102\n"  # 330102 is a county, not a city
        "330100,重复,city,\n"
        "bad code!,某局,city,\n"
        "330107,某局,city,330100\n"
        "330109,某区,county,\n"
    )
    with pytest.raises(ImportRejected) as caught:
        db.call(import_bureau_file, write(tmp_path, bad), now=clock.now())
    problems = caught.value.problems
    assert "row 3: name is empty" in problems
    assert "row 4: level 'province' must be city or county" in problems
    assert any(p.startswith("row 5: parent_code '999999' is neither") for p in problems)
    assert "row 7: code '330100' appears again (first in row 2)" in problems
    assert any(p.startswith("row 8: code 'bad code!' is not valid") for p in problems)
    assert "row 9: a city has no parent_code (leave it empty)" in problems
    assert "row 10: a county needs the parent_code of its city" in problems
    assert bureaus(db) == {}


def test_a_county_whose_parent_is_a_county_is_refused(
    db: Database, clock: FrozenClock, tmp_path: Path
):
    text = GOOD + "330199,某区,county,330102\n"
    with pytest.raises(ImportRejected) as caught:
        db.call(import_bureau_file, write(tmp_path, text), now=clock.now())
    assert caught.value.problems == ["row 5: parent_code '330102' is not a city"]


def test_wrong_header_is_reported_as_row_1(db: Database, clock: FrozenClock, tmp_path: Path):
    with pytest.raises(ImportRejected) as caught:
        db.call(import_bureau_file, write(tmp_path, "code,name,level\n1,a,city\n"), now=clock.now())
    assert caught.value.problems == ["row 1: missing column(s): parent_code"]


def test_cli_bureaus_import(monkeypatch, tmp_path: Path, database_url: str, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HELPDESK_DATABASE_URL", database_url)
    path = write(tmp_path, GOOD)
    assert main(["bureaus", "import", str(path)]) == 0
    assert "3 created, 0 updated, 0 unchanged" in capsys.readouterr().out
    bad = write(tmp_path, "code,name,level,parent_code\n1,,city,\n", name="bad.csv")
    assert main(["bureaus", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "row 2: name is empty" in err and "nothing imported" in err
