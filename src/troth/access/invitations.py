"""Invitations to join a customer (P13): what one is and its state, and the member
account an accepted one opens (:class:`troth.access.tenants.Tenants` invites and
accepts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from troth.access.accounts import TenantRole, UserKind, login_key
from troth.access.seals import seal_new, write_sealed
from troth.access.tables import users
from troth.clock import utc
from troth.gate import Reason
from troth.store.ids import new_id
from troth.stored import member

if TYPE_CHECKING:
    from troth.keys import Keyring


class InvitationState(StrEnum):
    pending = "pending"
    accepted = "accepted"
    revoked = "revoked"
    expired = "expired"


# Why an invitation whose row does not match its seal (troth.access.seals) is refused.
INVITATION_TAMPERED = (
    "this invitation was changed outside troth (its role, customer, address or state edited"
    " in the database), so it cannot be accepted: ask your admin for a new one"
)
# Why an invitation that is no longer pending is refused.
INVITATION_REASONS = {
    InvitationState.accepted: Reason.invitation_accepted,
    InvitationState.revoked: Reason.invitation_revoked,
    InvitationState.expired: Reason.invitation_expired,
}


@dataclass(frozen=True, slots=True)
class Invitation:
    id: str
    tenant_id: str
    email: str
    role: TenantRole
    invited_by: str
    created_at: datetime
    expires_at: datetime
    state: InvitationState
    member_role: str | None = None  # the policy role the member gets on accepting


def invitation_of(row: Any, now: datetime) -> Invitation:
    if row.accepted_at is not None:
        state = InvitationState.accepted
    elif row.revoked_at is not None:
        state = InvitationState.revoked
    elif now >= utc(row.expires_at):
        state = InvitationState.expired
    else:
        state = InvitationState.pending
    return Invitation(
        row.id,
        row.tenant_id,
        row.email,
        member(TenantRole, row.role, "invitations.role"),
        row.invited_by,
        row.created_at,
        row.expires_at,
        state,
        row.member_role,
    )


def seat_member(
    conn: Connection,
    keys: Keyring,
    inv: Invitation,
    pw_hash: str,
    display_name: str | None,
    now: datetime,
) -> str:
    """The member account an accepted invitation opens: a member who was revoked and is
    invited again gets the same account back; anyone else a new one. Returns its id."""
    key = login_key(UserKind.tenant_member, inv.tenant_id, inv.email)
    old = conn.execute(select(users.c.id).where(users.c.login_key == key)).first()
    if old is not None:
        write_sealed(
            conn,
            keys,
            users,
            users.c.id == old.id,
            disabled_at=None,
            password_hash=pw_hash,
            tenant_role=inv.role.value,
            role=inv.member_role,
            failed_logins=0,
            locked_until=None,
            display_name=display_name or users.c.display_name,
        )
        return str(old.id)
    uid = new_id()
    conn.execute(
        users.insert().values(
            id=uid,
            kind=UserKind.tenant_member.value,
            email=inv.email,
            login_key=key,
            display_name=display_name,
            tenant_id=inv.tenant_id,
            tenant_role=inv.role.value,
            role=inv.member_role,
            password_hash=pw_hash,
            failed_logins=0,
            created_at=now,
        )
    )
    seal_new(conn, keys, users, [uid])
    return uid
