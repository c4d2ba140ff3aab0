"""The ``helpdesk`` command line: ``run``, ``sandbox``, ``faq import|export|ask|eval``,
``bureaus import``, ``reviews import`` and ``db upgrade|current``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.clock import SystemClock
from bot.db import Database
from bot.settings import Settings, SettingsError, load_settings
from faq.matcher import FaqDoc, Match, Thresholds
from faq.service import FaqIndex


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(
        answer=settings.answer_threshold,
        margin=settings.answer_margin,
        suggest=settings.suggest_threshold,
    )


def open_database(settings: Settings) -> Database:
    """The database migrated to the newest schema, and the bundled FAQ loaded if the FAQ is
    empty."""
    from faq.io import load_bundled_if_empty

    db = Database(settings.database_url)
    db.upgrade()
    with db.session() as session:
        load_bundled_if_empty(session, settings.faq_file, now=SystemClock().now())
    return db


def index_from_db(settings: Settings) -> FaqIndex:
    index = FaqIndex(thresholds(settings))
    db = open_database(settings)
    with db.session() as session:
        index.rebuild(session)
    db.dispose()
    return index


def index_from_file(settings: Settings, path: Path) -> FaqIndex:
    from faq.io import read_rows, validate
    from faq.models import split_alternatives

    rows = validate(read_rows(path))
    index = FaqIndex(thresholds(settings))
    index.load(
        (
            FaqDoc(r.id, r.lang, r.question, tuple(split_alternatives(r.alternatives)), r.answer)
            for r in rows
        ),
        {r.id: r.category for r in rows},
    )
    return index


def faq_index(settings: Settings, catalogue: Path | None) -> FaqIndex:
    return index_from_file(settings, catalogue) if catalogue else index_from_db(settings)


def match_json(query: str, match: Match) -> dict[str, object]:
    return {
        "query": query,
        "decision": match.decision,
        "id": match.entry_id,
        "score": match.score,
        "suggestions": [{"id": c.entry_id, "score": c.score} for c in match.suggestions],
    }


# --- commands -----------------------------------------------------------------------------


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    if settings.bot_token is None:
        raise SettingsError(
            "HELPDESK_BOT_TOKEN: not set (get one from @BotFather; `helpdesk sandbox` runs the bot "
            "locally without one)"
        )
    if settings.workers > 1 and args.worker is None:
        from bot.workers import supervise

        return supervise(settings.workers)  # starts `run --worker k` for k = 1..N
    from telegram import Update

    from bot.app import build_application, serve_webhook

    db = Database(settings.database_url)
    app = build_application(
        settings,
        db=db,
        clock=SystemClock(),
        faq_index=FaqIndex(thresholds(settings)),
        worker=args.worker,
    )
    if settings.webhook_url is None:
        app.run_polling(allowed_updates=Update.ALL_TYPES)  # the default
    else:
        asyncio.run(serve_webhook(app))
    return 0


def cmd_sandbox(settings: Settings, args: argparse.Namespace) -> int:
    from bot.sandbox import run_sandbox

    return run_sandbox(settings, script=args.script)


def cmd_faq_import(settings: Settings, args: argparse.Namespace) -> int:
    from faq.io import FaqImportError, import_file

    db = Database(settings.database_url)
    db.upgrade()
    try:
        with db.session() as session:
            report = import_file(session, args.file, replace=args.replace, now=SystemClock().now())
    except FaqImportError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{args.file}: nothing imported ({len(exc.problems)} problems)", file=sys.stderr)
        return 1
    print(
        f"{args.file}: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.reactivated} reactivated, "
        f"{report.deactivated} deactivated"
    )
    return 0


def cmd_faq_export(settings: Settings, args: argparse.Namespace) -> int:
    from faq.io import export_file

    db = open_database(settings)
    with db.session() as session:
        count = export_file(session, args.file, include_inactive=args.all)
    print(f"{args.file}: {count} entries written")
    return 0


def cmd_faq_ask(settings: Settings, args: argparse.Namespace) -> int:
    index = faq_index(settings, args.catalogue)
    queries = (line.rstrip("\r\n") for line in sys.stdin) if args.text == "-" else [args.text]
    for query in queries:
        match = index.match(query)
        if args.json:
            print(json.dumps(match_json(query, match), ensure_ascii=False), flush=True)
        else:
            print(render_match(index, match))
    return 0


def render_match(index: FaqIndex, match: Match) -> str:
    kind = f" ({match.smalltalk})" if match.smalltalk else ""
    lines = [f"decision: {match.decision}{kind}"]
    if match.entry_id and (doc := index.entry(match.entry_id)):
        lines += [f"{doc.id} ({match.score:.0f}): {doc.question}", doc.answer]
    # Under an answer the offered entries are its related ones; otherwise suggestions.
    label = "related" if match.decision == "answer" else "suggest"
    for cand in match.suggestions:
        if doc := index.entry(cand.entry_id):
            lines.append(f"  {label} {doc.id} ({cand.score:.0f}): {doc.question}")
    return "\n".join(lines)


def cmd_faq_eval(settings: Settings, args: argparse.Namespace) -> int:
    from faq.evaluate import evaluate, read_cases

    report = evaluate(faq_index(settings, args.catalogue), read_cases(args.queries))
    print(report.render(failures=args.failures))
    return 0


def _print_rejected(path: Path, problems: list[str]) -> int:
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{path}: nothing imported ({len(problems)} problems)", file=sys.stderr)
    return 1


def cmd_bureaus_import(settings: Settings, args: argparse.Namespace) -> int:
    from reminders.bureaus import ImportRejected, import_bureau_file

    db = Database(settings.database_url)
    db.upgrade()
    try:
        with db.session() as session:
            report = import_bureau_file(session, args.file, now=SystemClock().now())
    except ImportRejected as exc:
        return _print_rejected(args.file, exc.problems)
    print(
        f"{args.file}: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged"
    )
    return 0


def cmd_reviews_import(settings: Settings, args: argparse.Namespace) -> int:
    from reminders.bureaus import ImportRejected
    from reminders.intake import engine_config_for, import_review_file

    db = Database(settings.database_url)
    db.upgrade()
    try:
        with db.session() as session:
            changes = import_review_file(
                session,
                args.file,
                now=SystemClock().now(),
                policy=settings.due_policy,
                engine_config=engine_config_for(settings),
            )
    except ImportRejected as exc:
        return _print_rejected(args.file, exc.problems)
    counts = changes.counts()
    print(
        f"{args.file}: {counts['created']} created, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged, {counts['stale']} stale (older events ignored), "
        f"{counts['returned']} newly returned"
    )
    for ref in changes.stale:
        print(f"stale: {ref}", file=sys.stderr)
    return 0


def _describe_revision(revision: str | None) -> str:
    from bot.migrations import head_revision

    head = head_revision()
    if revision is None:
        return f"database has no schema revision (newest is {head}): run `helpdesk db upgrade`"
    if revision == head:
        return f"database at revision {revision} (head)"
    return f"database at revision {revision}, newest is {head}: run `helpdesk db upgrade`"


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings.database_url)
    try:
        revision = db.upgrade()
    finally:
        db.dispose()
    print(_describe_revision(revision))
    return 0


def cmd_db_current(settings: Settings, args: argparse.Namespace) -> int:
    from bot.migrations import head_revision

    db = Database(settings.database_url)
    try:
        revision = db.current_revision()
    finally:
        db.dispose()
    print(_describe_revision(revision))
    # Non-zero when behind, so a deployment script can check before it starts the bot.
    return 0 if revision == head_revision() else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helpdesk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the bot (polling, or webhook with HELPDESK_WEBHOOK_URL)")
    # Set by the supervisor for its workers (bot/workers.py), not by hand.
    run.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    run.set_defaults(func=cmd_run)
    sandbox = sub.add_parser("sandbox", help="the bot against a local fake Telegram, in a terminal")
    sandbox.add_argument("--script", type=Path, help="read the chat from a file instead")
    sandbox.set_defaults(func=cmd_sandbox)

    faq = sub.add_parser("faq", help="FAQ import, export, ask, eval").add_subparsers(
        dest="faq_command", required=True
    )
    imp = faq.add_parser("import", help="import a CSV/XLSX catalogue (nothing on any bad row)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--replace", action="store_true", help="deactivate entries not in the file")
    imp.set_defaults(func=cmd_faq_import)
    exp = faq.add_parser("export", help="export the FAQ to CSV/XLSX")
    exp.add_argument("file", type=Path)
    exp.add_argument("--all", action="store_true", help="include inactive entries")
    exp.set_defaults(func=cmd_faq_export)
    ask = faq.add_parser("ask", help="match a question; '-' reads one per line from stdin")
    ask.add_argument("text")
    ask.add_argument("--json", action="store_true")
    ask.add_argument("--catalogue", type=Path, help="match against this file, not the database")
    ask.set_defaults(func=cmd_faq_ask)
    ev = faq.add_parser("eval", help="answer quality on a query,expected_id file")
    ev.add_argument("queries", type=Path)
    ev.add_argument("--catalogue", type=Path, help="evaluate against this file, not the database")
    ev.add_argument("--failures", action="store_true", help="list the queries not answered right")
    ev.set_defaults(func=cmd_faq_eval)

    bureaus = sub.add_parser("bureaus", help="city and county finance bureaus").add_subparsers(
        dest="bureaus_command", required=True
    )
    bimp = bureaus.add_parser(
        "import", help="import code,name,level,parent_code from CSV/XLSX (nothing on any bad row)"
    )
    bimp.add_argument("file", type=Path)
    bimp.set_defaults(func=cmd_bureaus_import)
    reviews = sub.add_parser("reviews", help="review items").add_subparsers(
        dest="reviews_command", required=True
    )
    rimp = reviews.add_parser(
        "import",
        help="upsert review items from a platform CSV/XLSX export (nothing on any bad row)",
    )
    rimp.add_argument("file", type=Path)
    rimp.set_defaults(func=cmd_reviews_import)

    dbc = sub.add_parser("db", help="the database schema (migrations)").add_subparsers(
        dest="db_command", required=True
    )
    dbc.add_parser(
        "upgrade", help="migrate HELPDESK_DATABASE_URL to the newest schema (the bot does at start)"
    ).set_defaults(func=cmd_db_upgrade)
    dbc.add_parser(
        "current", help="the schema revision of the database; exit 1 if it is not the newest"
    ).set_defaults(func=cmd_db_current)
    return parser


def log_secrets(settings: Settings) -> list[str]:
    """Secrets besides the bot token that must never reach a log line."""
    secrets = [settings.api_token.get_secret_value()] if settings.api_token else []
    if settings.webhook_url is not None and settings.bot_token is not None:
        secrets.append(settings.webhook_secret_value()[0])
    return secrets


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        from bot.logs import configure_logging

        token = settings.bot_token.get_secret_value() if settings.bot_token else None
        configure_logging(
            level=settings.log_level,
            fmt=settings.log_format,
            token=token,
            secrets=log_secrets(settings),
        )
        return args.func(settings, args)
    except BrokenPipeError:
        # The reader went away (`helpdesk faq eval … | head`): not an error. Point stdout at
        # /dev/null so that flushing it at exit does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except SettingsError as exc:
        print(f"helpdesk: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"helpdesk: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
