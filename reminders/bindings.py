"""Who is who: bureau reviewers bound by one-time invites, institution users bound by phone.

* A staff member creates an :class:`Invite` for a bureau; its code travels as the deep link
  ``https://t.me/<bot>?start=<code>``. The first person to open it within 7 days is bound to the
  bureau; the code is then spent. Redeeming is one conditional UPDATE (``used_at IS NULL``), so
  two people racing for one link cannot both win.
* An institution user shares their own phone number (Telegram's request-contact button). Only a
  contact whose ``user_id`` is the sender's own counts (anyone can forward someone else's
  contact card), and only a number that is the ``contact_phone`` of a review item binds, to that
  item's institution (credit code). Knowing a credit code never grants anything.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from reminders.intake import normalize_phone
from reminders.models import (
    INVITE_VALIDITY,
    Bureau,
    BureauReviewer,
    InstitutionBinding,
    Invite,
    ReviewItem,
)

INVITE_PREFIX = "inv_"  # /start payloads of other kinds can exist beside invites


class BindingError(Exception):
    """A refusal the user is told about; subclasses name the reason."""


class UnknownBureau(BindingError):
    pass


class InviteUnknown(BindingError):
    pass


class InviteUsed(BindingError):
    pass


class InviteExpired(BindingError):
    pass


class NotOwnContact(BindingError):
    pass


class PhoneNotFound(BindingError):
    pass


class NothingToUnbind(BindingError):
    pass


# --- invites ------------------------------------------------------------------------------------


def create_invite(
    session: Session, *, bureau_code: str, created_by: int, now: datetime
) -> tuple[Invite, Bureau]:
    bureau = session.get(Bureau, bureau_code)
    if bureau is None:
        raise UnknownBureau(bureau_code)
    # 128 bits of randomness: a link cannot be guessed; urlsafe fits a /start payload.
    invite = Invite(
        code=INVITE_PREFIX + secrets.token_urlsafe(16),
        bureau_code=bureau.code,
        created_by=created_by,
        created_at=now,
        expires_at=now + INVITE_VALIDITY,
    )
    session.add(invite)
    session.flush()
    return invite, bureau


def is_invite_payload(payload: str) -> bool:
    return payload.startswith(INVITE_PREFIX)


def redeem_invite(
    session: Session, *, code: str, user_id: int, now: datetime
) -> tuple[BureauReviewer, Bureau]:
    """Bind ``user_id`` to the invite's bureau and spend the invite."""
    invite = session.get(Invite, code)
    if invite is None:
        raise InviteUnknown(code)
    if invite.used_at is not None:
        raise InviteUsed(code)
    if now >= invite.expires_at:
        raise InviteExpired(code)
    spent = session.execute(
        update(Invite)
        .where(col(Invite.code) == code, col(Invite.used_at).is_(None))
        .values(used_at=now, used_by=user_id)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise InviteUsed(code)  # someone else redeemed it between the read and the update
    bureau = session.get(Bureau, invite.bureau_code)
    assert bureau is not None  # foreign key
    reviewer = session.exec(
        select(BureauReviewer).where(
            BureauReviewer.user_id == user_id, BureauReviewer.bureau_code == bureau.code
        )
    ).first()
    if reviewer is None:
        reviewer = BureauReviewer(user_id=user_id, bureau_code=bureau.code, bound_at=now)
    reviewer.active, reviewer.bound_at, reviewer.bound_via = True, now, code
    reviewer.unbound_at = reviewer.unbound_by = None
    session.add(reviewer)
    session.flush()
    return reviewer, bureau


# --- institutions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Institution:
    credit_code: str
    name: str


def bind_institution(
    session: Session,
    *,
    user_id: int,
    contact_user_id: int | None,
    phone_number: str,
    now: datetime,
) -> list[Institution]:
    """Bind the sender to every institution whose review items list this phone number."""
    if contact_user_id is None or contact_user_id != user_id:
        raise NotOwnContact(phone_number)
    phone = normalize_phone(phone_number)
    if not phone:
        raise PhoneNotFound(phone_number)
    items = session.exec(
        select(ReviewItem)
        .where(ReviewItem.contact_phone == phone)
        .order_by(col(ReviewItem.updated_at).desc())
    ).all()
    institutions: dict[str, Institution] = {}
    for item in items:
        institutions.setdefault(item.credit_code, Institution(item.credit_code, item.institution))
    if not institutions:
        raise PhoneNotFound(phone_number)
    for credit_code in institutions:
        binding = session.exec(
            select(InstitutionBinding).where(
                InstitutionBinding.user_id == user_id,
                InstitutionBinding.credit_code == credit_code,
            )
        ).first()
        if binding is None:
            binding = InstitutionBinding(
                user_id=user_id, credit_code=credit_code, phone=phone, bound_at=now
            )
        binding.phone, binding.bound_at = phone, now
        session.add(binding)
    session.flush()
    return list(institutions.values())


# --- who is who ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bindings:
    user_id: int
    bureaus: list[tuple[str, str]]  # (code, name), active only
    institutions: list[Institution]

    @property
    def empty(self) -> bool:
        return not self.bureaus and not self.institutions


def bindings_of(session: Session, *, user_id: int) -> Bindings:
    bureaus = session.exec(
        select(Bureau.code, Bureau.name)
        .join(BureauReviewer, col(BureauReviewer.bureau_code) == col(Bureau.code))
        .where(BureauReviewer.user_id == user_id, col(BureauReviewer.active).is_(True))
        .order_by(Bureau.code)
    ).all()
    codes = session.exec(
        select(InstitutionBinding.credit_code)
        .where(InstitutionBinding.user_id == user_id)
        .order_by(InstitutionBinding.credit_code)
    ).all()
    institutions = []
    for code in codes:
        name = session.exec(
            select(ReviewItem.institution)
            .where(ReviewItem.credit_code == code)
            .order_by(col(ReviewItem.updated_at).desc())
        ).first()
        institutions.append(Institution(code, name or ""))
    return Bindings(user_id, [(c, n) for c, n in bureaus], institutions)


def unbind(
    session: Session, *, user_id: int, target: str | None, by: int, now: datetime
) -> list[str]:
    """Staff ``/unbind``: the user's binding to ``target`` (a bureau code or a credit code), or
    every binding without a target. Returns what was unbound; nothing → :class:`NothingToUnbind`."""
    done: list[str] = []
    reviewers = session.exec(
        select(BureauReviewer).where(
            BureauReviewer.user_id == user_id, col(BureauReviewer.active).is_(True)
        )
    ).all()
    for reviewer in reviewers:
        if target is None or reviewer.bureau_code == target:
            reviewer.active, reviewer.unbound_at, reviewer.unbound_by = False, now, by
            session.add(reviewer)
            done.append(reviewer.bureau_code)
    links = session.exec(
        select(InstitutionBinding).where(InstitutionBinding.user_id == user_id)
    ).all()
    for link in links:
        if target is None or link.credit_code == (target or "").upper():
            session.delete(link)
            done.append(link.credit_code)
    if not done:
        raise NothingToUnbind(target or str(user_id))
    session.flush()
    return done


def reviewers_of(session: Session, *, bureau_code: str) -> list[int]:
    """Telegram user ids of a bureau's active reviewers (for the reminder engine)."""
    return list(
        session.exec(
            select(BureauReviewer.user_id).where(
                BureauReviewer.bureau_code == bureau_code, col(BureauReviewer.active).is_(True)
            )
        ).all()
    )


def is_reviewer_of(session: Session, *, user_id: int, bureau_code: str) -> bool:
    return user_id in reviewers_of(session, bureau_code=bureau_code)
