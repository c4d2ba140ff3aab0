"""Settings from the environment or `.env`, all prefixed ``HELPDESK_``.

A missing or malformed setting stops start-up with one line naming the setting and the reason
(see :func:`load_settings`).
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from reminders.intake import DuePolicy
    from reminders.stages import QuietHours

BUNDLED_FAQ = Path(__file__).resolve().parent.parent / "faq" / "data" / "catalogue.csv"


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
    answer_threshold: float = Field(default=72.0, ge=0, le=100)
    answer_margin: float = Field(default=10.0, ge=0, le=100)
    suggest_threshold: float = Field(default=5.0, ge=0, le=100)

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
