"""The ``helpdesk`` command line, called in-process through ``bot.cli.main``."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "faq" / "data" / "catalogue.csv"
DEV_QUERIES = ROOT / "tests" / "data" / "dev_queries.csv"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path, database_url):
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("HELPDESK_DATABASE_URL", database_url)
    monkeypatch.delenv("HELPDESK_BOT_TOKEN", raising=False)


def test_ask_on_a_fresh_database_loads_the_bundled_faq(capsys):
    assert main(["faq", "ask", "忘记登录密码了怎么办？", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["decision"] == "answer"
    assert out["id"] == "account-001"
    assert set(out) == {"query", "decision", "id", "score", "suggestions"}


def test_ask_reads_one_query_per_line_and_writes_one_json_object_per_line(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("谢谢\n附件大小有什么限制？\n帮我写个年终总结\n"))
    assert main(["faq", "ask", "--json", "-"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["query"] for line in lines] == ["谢谢", "附件大小有什么限制？", "帮我写个年终总结"]
    assert lines[0]["decision"] == "smalltalk"
    assert (lines[1]["decision"], lines[1]["id"]) == ("answer", "att-002")
    assert lines[2]["decision"] != "answer"


def test_ask_labels_the_entries_offered_under_an_answer_as_related(capsys):
    # About the city's first review (初审), with the provincial second review (复审) plausible.
    assert main(["faq", "ask", "市里审要多久"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "decision: answer"
    assert lines[1].startswith("review-002 (")
    assert lines[-1].startswith("  related review-003 (")
    assert main(["faq", "ask", "市里审要多久", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["id"], [s["id"] for s in out["suggestions"]]) == ("review-002", ["review-003"])

    assert main(["faq", "ask", "密码"]) == 0  # one bare word: suggested, labelled so
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "decision: suggest"
    assert lines[1].startswith("  suggest ")


def test_import_reports_every_bad_row_and_imports_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "id,category,lang,question,alternatives,answer\n"
        "new-001,account,zh,新问题？,,新答案。\n"
        "new-002,account,fr,Question?,,Answer.\n",
        encoding="utf-8",
    )
    assert main(["faq", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "row 3: lang 'fr' must be zh or en" in err
    assert "nothing imported" in err
    assert main(["faq", "ask", "新问题？", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] != "new-001"


def test_export_then_import_round_trips(tmp_path, capsys):
    out = tmp_path / "faq.xlsx"
    assert main(["faq", "export", str(out)]) == 0
    assert main(["faq", "import", str(out), "--replace"]) == 0
    assert "0 created, 0 updated, 94 unchanged" in capsys.readouterr().out


def test_eval_prints_the_figures_the_issue_asks_for(capsys):
    assert main(["faq", "eval", str(DEV_QUERIES), "--catalogue", str(CATALOGUE)]) == 0
    out = capsys.readouterr().out
    for label in (
        "in-scope top-1 answered correctly",
        "in-scope answered or suggested",
        "in-scope answered with the wrong entry",
        "out-of-scope wrongly answered",
        "small-talk accuracy",
        "latency p50",
    ):
        assert label in out


def test_run_without_a_token_says_so_in_one_line(capsys):
    assert main(["run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("helpdesk: HELPDESK_BOT_TOKEN: not set")
    assert "\n" not in err


def test_a_malformed_setting_stops_start_up_with_one_line(monkeypatch, capsys):
    monkeypatch.setenv("HELPDESK_ANSWER_THRESHOLD", "very high")
    assert main(["faq", "ask", "x"]) == 2
    assert capsys.readouterr().err.startswith("helpdesk: HELPDESK_ANSWER_THRESHOLD:")


def test_a_reader_that_goes_away_is_not_an_error(tmp_path):
    """`helpdesk faq ask --json - < questions | head -1`: the command stops quietly."""
    questions = tmp_path / "questions.txt"
    questions.write_text("附件大小有什么限制\n" * 3000, encoding="utf-8")
    with questions.open("rb") as stdin:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "faq", "ask", "--json", "-"],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["id"] == "att-002"
        proc.stdout.close()  # the reader goes away with most of the answers unread
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert b"Traceback" not in err and b"BrokenPipe" not in err
