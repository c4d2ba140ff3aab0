"""Tables of the reminder domain: bureaus, the people bound to them, review items, reminders sent.

Who owns what: intake (reminders/intake.py) writes ``ReviewItem``; bureau import
(reminders/bureaus.py) writes ``Bureau``; invites and binding (reminders/bindings.py) write
``Invite``, ``BureauReviewer`` and ``InstitutionBinding``; the reminder engine
(reminders/engine.py) writes ``ReminderSent`` and the decision columns of ``ReviewItem`` when a
bureau presses 初审通过 / 退回 in the bot.

Every time is an aware UTC datetime in Python (``utc_column``); local (Asia/Shanghai) time only
exists at the edges (parsing import files, rendering messages, the working-day calendar).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final, Literal

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from faq.models import utc_column

BureauLevel = Literal["city", "county"]
ReviewStage = Literal["preliminary", "provincial"]
ReviewStatus = Literal["pending", "approved", "returned", "resubmitted", "withdrawn"]

BUREAU_LEVELS: Final = ("city", "county")
REVIEW_STAGES: Final = ("preliminary", "provincial")
REVIEW_STATUSES: Final = ("pending", "approved", "returned", "resubmitted", "withdrawn")
# Statuses in which the bureau still owes a decision (reminders run while an item is in one).
OPEN_STATUSES: Final = frozenset({"pending", "resubmitted"})

# A platform reference travels in callback data ("rv:ok:<ref>", 64-byte limit), so it is capped.
REF_MAX_LENGTH: Final = 48
BUREAU_CODE_MAX_LENGTH: Final = 32
INVITE_VALIDITY: Final = timedelta(days=7)


class Bureau(SQLModel, table=True):
    """A city or county finance bureau (市/县财政局) that does preliminary reviews."""

    __tablename__ = "bureau"

    code: str = Field(primary_key=True, max_length=BUREAU_CODE_MAX_LENGTH)
    name: str = Field(max_length=128)
    level: str = Field(max_length=8)  # BureauLevel
    # A county's city; None for a city. Not a FK: a file may list a county before its city.
    parent_code: str | None = Field(default=None, max_length=BUREAU_CODE_MAX_LENGTH, index=True)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class Invite(SQLModel, table=True):
    """A one-time deep-link code (``t.me/<bot>?start=<code>``) that binds its opener to a bureau."""

    __tablename__ = "bureau_invite"

    # secrets.token_urlsafe: only [A-Za-z0-9_-], as a /start payload requires (≤ 64 chars).
    code: str = Field(primary_key=True, max_length=64)
    bureau_code: str = Field(foreign_key="bureau.code", index=True, max_length=32)
    created_by: int = Field(sa_type=BigInteger)  # staff Telegram user id
    created_at: datetime = utc_column()
    expires_at: datetime = utc_column()
    used_at: datetime | None = utc_column(nullable=True)
    # Telegram user id of the reviewer it bound
    used_by: int | None = Field(default=None, sa_type=BigInteger)


class BureauReviewer(SQLModel, table=True):
    """A reviewer (Telegram user) bound to a bureau. One row per (user, bureau); unbinding sets
    ``active`` false and a new invite reactivates the same row, so history is kept."""

    __tablename__ = "bureau_reviewer"
    __table_args__ = (UniqueConstraint("user_id", "bureau_code"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(index=True, sa_type=BigInteger)  # Telegram user id == private chat id
    bureau_code: str = Field(foreign_key="bureau.code", index=True, max_length=32)
    bound_at: datetime = utc_column()
    bound_via: str | None = Field(default=None, max_length=64)  # the Invite.code used
    active: bool = Field(default=True, index=True)
    unbound_at: datetime | None = utc_column(nullable=True)
    unbound_by: int | None = Field(default=None, sa_type=BigInteger)


class InstitutionBinding(SQLModel, table=True):
    """A Telegram user bound to an institution (by credit code) after sharing its own phone
    number, which matched the contact phone of a review item of that institution."""

    __tablename__ = "institution_binding"
    __table_args__ = (UniqueConstraint("user_id", "credit_code"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(index=True, sa_type=BigInteger)
    credit_code: str = Field(index=True, max_length=18)
    phone: str = Field(max_length=32)  # normalised (reminders.intake.normalize_phone)
    bound_at: datetime = utc_column()


class ReviewItem(SQLModel, table=True):
    """One submission waiting for (or done with) a review, keyed by the platform's reference."""

    __tablename__ = "review_item"

    ref: str = Field(primary_key=True, max_length=REF_MAX_LENGTH)
    institution: str = Field(max_length=200)
    credit_code: str = Field(index=True, max_length=18)
    contact_phone: str = Field(default="", max_length=32, index=True)  # normalised
    bureau_code: str = Field(foreign_key="bureau.code", index=True, max_length=32)
    stage: str = Field(default="preliminary", max_length=16)  # ReviewStage
    submitted_at: datetime = utc_column()
    due_at: datetime = utc_column(index=True)
    status: str = Field(default="pending", max_length=16, index=True)  # ReviewStatus
    return_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # When the current status was decided (approved/returned/withdrawn); None while open.
    decided_at: datetime | None = utc_column(nullable=True)
    # Telegram user id of the reviewer who decided in the bot; None when the platform did.
    decided_by: int | None = Field(default=None, sa_type=BigInteger)
    # event_at of the newest event applied: an older event never overwrites a newer one.
    last_event_at: datetime = utc_column()
    created_at: datetime = utc_column()  # when the item first reached the helpdesk
    updated_at: datetime = utc_column()


class ReminderSent(SQLModel, table=True):
    """A reminder stage recorded for an item, written in the same transaction as its outbox row:
    the unique constraint makes each (item, cycle, stage) go out at most once even across a crash.

    ``cycle`` names one round of the item (reminders/stages.py: a submission ``s<epoch>`` or a
    return ``r<epoch>``) so a resubmitted item gets its reminders afresh; "" when not used."""

    __tablename__ = "reminder_sent"
    __table_args__ = (UniqueConstraint("item_ref", "cycle", "stage"),)

    id: int | None = Field(default=None, primary_key=True)
    item_ref: str = Field(foreign_key="review_item.ref", index=True, max_length=REF_MAX_LENGTH)
    cycle: str = Field(default="", max_length=32)
    stage: str = Field(max_length=32)  # "new", "24h", "4h", "due", "overdue-YYYY-MM-DD", ...
    sent_at: datetime = utc_column()
    outbox_id: int | None = Field(default=None, index=True)  # OutboxMessage.id
