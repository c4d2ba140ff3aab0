"""Logging set-up: plain text or one JSON object per line, with the bot token masked everywhere.

httpx logs every request URL, and Bot API URLs contain the token (``/bot<token>/sendMessage``), so
the mask is applied to the final formatted line of every record, not just to our own messages.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

_TOKEN_IN_URL = re.compile(r"bot\d+:[A-Za-z0-9_-]+")


class TokenMask(logging.Formatter):
    def __init__(self, inner: logging.Formatter, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.inner = inner
        self.secrets = tuple(s for s in secrets if s)

    def format(self, record: logging.LogRecord) -> str:
        line = self.inner.format(record)
        for secret in self.secrets:
            line = line.replace(secret, "<token>")
        return _TOKEN_IN_URL.sub("bot<token>", line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(
    *,
    level: str = "INFO",
    fmt: str = "text",
    token: str | None = None,
    secrets: Sequence[str] = (),
) -> None:
    """``secrets``: more values masked like the token (the webhook secret: PTB's debug log prints
    setWebhook's parameters)."""
    inner: logging.Formatter = (
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TokenMask(inner, ((token,) if token else ()) + tuple(secrets)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # One line per HTTP request (every getUpdates long poll) drowns everything else.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Alembic announces its plugins (when first imported) and its SQL dialect on every start, at
    # INFO: noise in front of every CLI command. bot.migrations logs the upgrades that happen.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
