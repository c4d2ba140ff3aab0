"""Settings from the environment or `.env`, all prefixed ``HELPDESK_``.

A missing or malformed setting stops start-up with one line naming the setting and the reason
(see :func:`load_settings`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from reminders.intake import DuePolicy
    from reminders.stages import QuietHours

BUNDLED_FAQ = Path(__file__).resolve().parent.parent / "faq" / "data" / "catalogue.csv"
DEFAULT_WEBHOOK_PATH = "/telegram"
WEBHOOK_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line meant for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HELPDESK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    database_url: str = "sqlite:///./var/helpdesk.db"
    staff_chat_id: int | None = None
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    timezone: str = "Asia/Shanghai"
    faq_file: Path = BUNDLED_FAQ
    default_lang: Literal["zh", "en"] = "zh"

    # Matcher thresholds (scores are 0..100); see faq/matcher.py for what they mean.
    answer_threshold: float = Field(default=50.0, ge=0, le=100)
    answer_margin: float = Field(default=10.0, ge=0, le=100)
    suggest_threshold: float = Field(default=10.0, ge=0, le=100)

    max_message_chars: int = Field(default=1000, ge=10)

    # The escalation desk (bot/desk.py). Staff replies are signed with a title, never a person's
    # name: HELPDESK_STAFF_TITLE for Chinese, HELPDESK_STAFF_TITLE_EN for English; unset, the
    # text catalogues' "staff_title" (省财政厅工作人员 / Provincial Finance Department staff).
    staff_title: str | None = Field(default=None, min_length=1, max_length=64)
    staff_title_en: str | None = Field(default=None, min_length=1, max_length=64)
    first_response_minutes: int = Field(default=30, ge=1)  # business minutes
    reopen_days: int = Field(default=7, ge=0)
    business_hours_start: time = time(9, 0)
    business_hours_end: time = time(17, 30)
    outbox_interval_seconds: float = Field(default=5.0, gt=0)
    # Messages the bot sends per second at most, all chats together (Telegram allows about 30;
    # more only with paid broadcasts or a self-hosted Bot API server's own limits). 0 = no limit.
    max_messages_per_second: float = Field(default=29.0, ge=0)
    # How long an update received by one process is its own (bot/inbox.py): after that, if the
    # process has not finished it (it died), another one, or the restarted one, handles it.
    inbox_lease_seconds: float = Field(default=30.0, ge=1)
    # Names this process in the inbox and outbox; unset: the host name (plus the HTTP port in
    # webhook mode). Must differ between instances running at once and stay the same across a
    # restart of one.
    instance_name: str | None = Field(default=None, min_length=1, max_length=120)  # + "/w<k>"

    # Review items and reminders (reminders/). The review-events endpoint listens on
    # HELPDESK_HTTP_HOST:HELPDESK_HTTP_PORT only when HELPDESK_API_TOKEN is set; port 0 disables
    # it too (no listener at all, rather than an open port that refuses everything).
    api_token: SecretStr | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    review_days: int = Field(default=2, ge=1, le=60)
    review_day_kind: Literal["calendar", "working"] = "working"
    # Local times between which no reminder is sent, "HH:MM-HH:MM" (may span midnight); empty = off.
    quiet_hours: str = "21:00-08:30"

    # Webhook mode (bot/web.py): with HELPDESK_WEBHOOK_URL set Telegram POSTs updates to the bot's
    # HTTP server instead of the bot long-polling; unset = polling (the default). The secret is
    # Telegram's X-Telegram-Bot-Api-Secret-Token (1-256 of A-Z a-z 0-9 _ -); unset, one is derived
    # from the bot token (see webhook_secret_value), so every instance of one bot agrees on it.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    # Webhook mode only: bot processes `helpdesk run` starts on this host, sharing
    # HELPDESK_HTTP_PORT (SO_REUSEPORT: the kernel spreads Telegram's connections over them) so
    # that the bot uses more than one core (bot/workers.py). Worker k also listens on
    # HELPDESK_HTTP_PORT + k for its own /metrics.
    workers: int = Field(default=1, ge=1, le=32)

    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
            try:
                return [int(p) for p in parts]
            except ValueError:
                raise ValueError("expected comma-separated numeric Telegram user ids") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("suggest_threshold")
    @classmethod
    def _below_answer(cls, value: float, info) -> float:
        answer = info.data.get("answer_threshold")
        if answer is not None and value > answer:
            raise ValueError("must not be above HELPDESK_ANSWER_THRESHOLD")
        return value

    @field_validator("api_token")
    @classmethod
    def _token_or_none(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty HELPDESK_API_TOKEN= line means "not set", never "the empty token".
        if value is None or not value.get_secret_value().strip():
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (use a long random string)")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _https_url(cls, value: str | None, info) -> str | None:
        if value is None or not value.strip():
            return None  # an empty HELPDESK_WEBHOOK_URL= line means polling
        value = value.strip()
        parsed = urlsplit(value)
        if parsed.scheme != "https" or not parsed.hostname:
            raise ValueError("must be an https:// URL (Telegram calls only https webhooks)")
        if parsed.query or parsed.fragment:
            raise ValueError("must not have a query or fragment")
        if info.data.get("http_port") == 0:
            raise ValueError("needs the HTTP server: HELPDESK_HTTP_PORT must not be 0")
        return value

    @field_validator("workers")
    @classmethod
    def _workers_need_webhook(cls, value: int, info) -> int:
        # Telegram hands getUpdates to one consumer per bot: polling is one process.
        if value > 1 and info.data.get("webhook_url") is None:
            raise ValueError("more than 1 needs webhook mode (set HELPDESK_WEBHOOK_URL)")
        port = info.data.get("http_port") or 0
        if value > 1 and port + value > 65535:
            raise ValueError(f"HELPDESK_HTTP_PORT + {value} must be a port (at most 65535)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if not WEBHOOK_SECRET_RE.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        from reminders.stages import parse_quiet_hours  # raises ValueError with the reason

        parse_quiet_hours(value)
        return value.strip()

    @field_validator("business_hours_end")
    @classmethod
    def _after_start(cls, value: time, info) -> time:
        start = info.data.get("business_hours_start")
        if start is not None and value <= start:
            raise ValueError("must be after HELPDESK_BUSINESS_HOURS_START")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def quiet(self) -> QuietHours | None:
        """HELPDESK_QUIET_HOURS parsed; ``None`` when empty (quiet hours off)."""
        from reminders.stages import parse_quiet_hours

        return parse_quiet_hours(self.quiet_hours)

    @property
    def due_policy(self) -> DuePolicy:
        from reminders.intake import DuePolicy

        return DuePolicy(days=self.review_days, kind=self.review_day_kind, tz=self.tz)

    @property
    def webhook_path(self) -> str:
        """The path the webhook is served on: the URL's own path, or ``/telegram`` without one."""
        if self.webhook_url is None:
            return DEFAULT_WEBHOOK_PATH
        return urlsplit(self.webhook_url).path.rstrip("/") or DEFAULT_WEBHOOK_PATH

    @property
    def webhook_public_url(self) -> str | None:
        """The URL registered with setWebhook: HELPDESK_WEBHOOK_URL, plus ``/telegram`` when it
        has no path (so the registered URL and the served path always agree)."""
        if self.webhook_url is None:
            return None
        parts = urlsplit(self.webhook_url)
        return urlunsplit(parts._replace(path=self.webhook_path))

    def webhook_secret_value(self) -> tuple[str, bool]:
        """The webhook secret and whether it was derived rather than configured.

        Derived as an HMAC of the bot token: unguessable without the token, yet stable across
        restarts and the same on every instance behind one webhook (a random one per process
        would make the last instance to call setWebhook lock the others out with 403s).
        """
        if self.webhook_secret is not None:
            return self.webhook_secret.get_secret_value(), False
        if self.bot_token is None:
            raise SettingsError("HELPDESK_BOT_TOKEN: required to run the bot")
        key = self.bot_token.get_secret_value().encode()
        return hmac.new(key, b"helpdesk-webhook-secret", hashlib.sha256).hexdigest(), True

    @property
    def http_server_wanted(self) -> bool:
        """Whether the HTTP server (bot/web.py) listens: in webhook mode, with a review-events
        token, or when HELPDESK_HTTP_PORT was given explicitly (for /healthz and /metrics in
        polling mode). Port 0 turns it off. Without any of these no port is opened, as before."""
        if not self.http_port:
            return False
        return (
            self.webhook_url is not None
            or self.api_token is not None
            or "http_port" in self.model_fields_set
        )

    @property
    def telegram_file_url(self) -> str:
        """PTB's ``base_file_url``: the file endpoint beside the Bot API endpoint."""
        base = self.telegram_api_url.rstrip("/")
        if base.endswith("/bot"):
            return base[: -len("/bot")] + "/file/bot"
        return base + "/file/bot"


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning pydantic's report into one line per start-up failure."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        reason = err["msg"].removeprefix("Value error, ")
        raise SettingsError(f"HELPDESK_{field.upper()}: {reason}") from None
