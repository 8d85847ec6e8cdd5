"""Customers (tenants), their members and invitations (P13): only a tenant's members see
its data; a revoked member loses access at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from troth.access._base import audit, normalise_email
from troth.access.accounts import (
    TenantRole,
    User,
    UserKind,
    end_sessions_and_keys,
    login_key,
    signed_in_as,
    user_by_id,
    user_from_row,
)
from troth.access.delegation import (
    ensure_within_reach,
    member_role_id,
    target_is_admin,
    void_beyond_inviter,
)
from troth.access.invitations import (
    INVITATION_REASONS,
    INVITATION_TAMPERED,
    Invitation,
    InvitationState,
    invitation_of,
    seat_member,
)
from troth.access.offboarded import ensure_open
from troth.access.passwords import check_password_strength, hash_password
from troth.access.seals import row_matches, seal_new, write_sealed
from troth.access.tables import invitations, users
from troth.access.tenant_export import export_json
from troth.audit.log import transaction
from troth.audit.refusals import refuse
from troth.collection.validation import control_problem
from troth.context import Context
from troth.errors import AuthenticationError, Conflict, NotFound, PermissionDenied, ValidationError
from troth.gate import SYSTEM, Actor, ActorKind, Reason
from troth.store.ids import new_id, new_token, token_hash
from troth.store.tables import tenants
from troth.stored import is_unreadable, tolerating

INVITATION_DAYS = 7


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    primary_email: str | None
    status: str
    created_at: datetime | None
    tampered: bool = False
    """The row does not match its seal (changed outside troth): no notice goes to it. A
    creation time troth never writes (an empty or garbled one) is shown as None."""


def _tenant(ctx: Context, row: Any) -> Tenant:
    """A tenant's row, read inside troth.stored.tolerating: checked against its seal."""
    tampered = not row_matches(ctx.keys, tenants, row)
    created = None if is_unreadable(row.created_at) else row.created_at
    return Tenant(row.id, row.name, row.primary_email, row.status, created, tampered)


@dataclass(frozen=True, slots=True)
class Tenants:
    """``t.access.tenants``: customers, their members and invitations, their export."""

    ctx: Context

    # -- tenants -----------------------------------------------------------------------
    def create_tenant(self, name: str, primary_email: str, *, by: Actor = SYSTEM) -> str:
        """A new customer; its primary e-mail receives policy and emergency notices."""
        name = (name or "").strip()
        if not name or len(name) > 200:
            raise ValidationError("give the tenant a name of 1 to 200 characters", field="name")
        problem = control_problem(name)
        if problem:
            raise ValidationError(f"name: {problem}", field="name")
        addr = normalise_email(primary_email, "primary_email")
        tid = new_id()
        with transaction(self.ctx) as conn:
            conn.execute(
                tenants.insert().values(
                    id=tid,
                    name=name,
                    primary_email=addr,
                    status="active",
                    created_at=self.ctx.clock.now(),
                )
            )
            seal_new(conn, self.ctx.keys, tenants, [tid])
            audit(self.ctx, conn, "tenant_create", by.label, tenant_id=tid, details={"name": name})
        return tid

    def get_tenant(self, tenant_id: str) -> Tenant:
        with self.ctx.engine.connect() as conn, tolerating():
            row = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).first()
        if row is None:
            raise NotFound(f"no tenant {tenant_id!r}; list them with `troth tenants list`")
        return _tenant(self.ctx, row)

    def list_tenants(self) -> list[Tenant]:
        with self.ctx.engine.connect() as conn, tolerating():
            rows = conn.execute(select(tenants).order_by(tenants.c.name, tenants.c.id)).all()
        return [_tenant(self.ctx, r) for r in rows]

    def list_members(self, tenant_id: str, *, include_revoked: bool = True) -> list[User]:
        self.get_tenant(tenant_id)
        stmt = (
            select(users)
            .where(users.c.tenant_id == tenant_id, users.c.kind == UserKind.tenant_member.value)
            .order_by(users.c.email)
        )
        if not include_revoked:
            stmt = stmt.where(users.c.disabled_at.is_(None))
        with self.ctx.engine.connect() as conn:
            return [user_from_row(r) for r in conn.execute(stmt)]

    def ensure_open(self, tenant_id: str, action: str, by: Actor | str) -> None:
        """Refuse ``action`` for an offboarded customer (:mod:`troth.access.offboarded`)."""
        ensure_open(self.ctx, tenant_id, action, by)

    # -- who may manage a tenant ---------------------------------------------------------
    def authorize_admin(
        self,
        by: Actor,
        tenant_id: str,
        action: str,
        unknown: NotFound | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Only an active admin of this tenant (or troth itself, for the operator's
        CLI) may manage it; anyone else gets PermissionDenied, audited. ``unknown``: the
        answer to an unknown id of what is acted on (a grant, an invitation); a person
        bound to another tenant gets it for this tenant's id too, refused
        ``not_a_member`` and audited under this tenant, so that the id reveals nothing."""
        self.get_tenant(tenant_id)
        if unknown is not None and by.tenant_id not in (None, tenant_id):
            refuse(
                self.ctx,
                action,
                by.label,
                Reason.not_a_member,
                error=unknown,
                tenant_id=tenant_id,
                details=details,
            )
        if by.kind is ActorKind.system:
            return
        ok = False
        if by.kind is ActorKind.tenant_admin and by.tenant_id == tenant_id:
            with self.ctx.engine.connect() as conn:
                row = signed_in_as(conn, by, self.ctx.keys, kind=UserKind.tenant_member)
            ok = (
                row is not None
                and row.tenant_id == tenant_id
                and row.tenant_role == TenantRole.admin.value
            )
        if not ok:
            refuse(
                self.ctx,
                action,
                by.label,
                error=PermissionDenied(
                    "only an admin of this customer may do that; ask one of its admins"
                ),
                tenant_id=tenant_id,
                reason=Reason.not_tenant_admin,
            )

    # -- invitations ---------------------------------------------------------------------
    def invite(
        self,
        tenant_id: str,
        email: str,
        *,
        role: TenantRole | str = TenantRole.member,
        member_role: str | None = None,
        by: Actor = SYSTEM,
        valid_for: timedelta = timedelta(days=INVITATION_DAYS),
    ) -> tuple[str, Invitation]:
        """Invite a colleague by e-mail: (the single-use token, the invitation). The token
        is mailed through the outbox and kept only as its hash. ``member_role``: the
        policy role (``for: tenant_members``) they get on accepting. A customer's admin
        invites no one who would read more than they do (``beyond_own_role``:
        troth.access.delegation)."""
        addr = normalise_email(email)
        try:
            trole = TenantRole(role)
        except ValueError:
            raise ValidationError("the invited role must be admin or member") from None
        self.authorize_admin(by, tenant_id, "invite")
        mrole = member_role_id(self.ctx.policy, member_role)
        admin = trole is TenantRole.admin
        details = {"email_mac": self.ctx.keys.mac("invite", addr.encode()).hex()[:16]}
        ensure_within_reach(
            self.ctx, by, tenant_id, "invite", admin=admin, role=mrole, details=details
        )
        ensure_open(self.ctx, tenant_id, "invite", by)
        now = self.ctx.clock.now()
        token = new_token()
        iid = new_id()
        with transaction(self.ctx) as conn:
            existing = conn.execute(
                select(users.c.disabled_at).where(
                    users.c.login_key == login_key(UserKind.tenant_member, tenant_id, addr)
                )
            ).first()
            if existing is not None and existing.disabled_at is None:
                raise Conflict(f"{addr} is already a member of this customer")
            conn.execute(
                invitations.insert().values(
                    id=iid,
                    token_hash=token_hash(token),
                    tenant_id=tenant_id,
                    email=addr,
                    role=trole.value,
                    member_role=mrole,
                    invited_by=by.label,
                    created_at=now,
                    expires_at=now + valid_for,
                )
            )
            seal_new(conn, self.ctx.keys, invitations, [iid])
            audit(
                self.ctx,
                conn,
                "invite",
                by.label,
                tenant_id=tenant_id,
                details={"invitation": iid, "role": trole.value, "member_role": mrole},
            )
            self._mail_invitation(conn, tenant_id, addr, token, now + valid_for)
        inv = Invitation(
            iid,
            tenant_id,
            addr,
            trole,
            by.label,
            now,
            now + valid_for,
            InvitationState.pending,
            mrole,
        )
        return token, inv

    def _mail_invitation(
        self, conn: Any, tenant_id: str, addr: str, token: str, expires: datetime
    ) -> None:
        from troth.access.mail import send_invitation

        send_invitation(conn, self.ctx, tenant_id, addr, token, expires)

    def accept_invitation(
        self, token: str, password: str, *, display_name: str | None = None
    ) -> User:
        """Accept an invitation: set a password, become a member. Each token works once,
        before it expires, and only while its inviter may still give what it gives
        (:func:`troth.access.delegation.void_beyond_inviter`)."""
        now = self.ctx.clock.now()
        inv = self._pending_invitation(token, now)
        void_beyond_inviter(self.ctx, inv)  # the inviter's reach now, not when they invited
        check_password_strength(password)
        pw_hash = hash_password(password)
        with transaction(self.ctx) as conn:
            # Single use even under a race: only one UPDATE finds accepted_at still NULL.
            mine = invitations.c.id == inv.id
            claimed = write_sealed(
                conn, self.ctx.keys, invitations, mine & invitations.c.accepted_at.is_(None),
                accepted_at=now,
            )  # fmt: skip
            if claimed != 1:
                raise Conflict("this invitation was already used; log in instead")
            uid = seat_member(conn, self.ctx.keys, inv, pw_hash, display_name, now)
            write_sealed(conn, self.ctx.keys, invitations, mine, user_id=uid)
            audit(
                self.ctx,
                conn,
                "invitation_accept",
                f"user:{uid}",
                tenant_id=inv.tenant_id,
                details={
                    "invitation": inv.id,
                    "user": uid,
                    "role": inv.role.value,
                    "member_role": inv.member_role,
                },
            )
            return user_by_id(conn, uid)

    def _pending_invitation(self, token: str, now: datetime) -> Invitation:
        """The invitation a token opens, if it is still pending; otherwise the refusal
        (unknown, already used, withdrawn, expired), audited."""
        h = token_hash(token or "")
        with self.ctx.engine.connect() as conn:
            row = conn.execute(select(invitations).where(invitations.c.token_hash == h)).first()
        if row is None:
            refuse(
                self.ctx,
                "invitation_accept",
                "anonymous",
                error=AuthenticationError("this invitation link is not valid"),
                reason=Reason.unknown_invitation,
            )
        if not row_matches(self.ctx.keys, invitations, row):
            refuse(
                self.ctx,
                "invitation_accept",
                "anonymous",
                error=Conflict(INVITATION_TAMPERED, code=Reason.record_tampered.value),
                tenant_id=row.tenant_id,
                reason=Reason.record_tampered,
                details={"invitation": row.id},
            )
        inv = invitation_of(row, now)
        if inv.state is not InvitationState.pending:
            message = {
                InvitationState.accepted: "this invitation was already used; log in instead",
                InvitationState.revoked: "this invitation was withdrawn; ask for a new one",
                InvitationState.expired: "this invitation expired; ask your admin for a new one",
            }[inv.state]
            refuse(
                self.ctx,
                "invitation_accept",
                "anonymous",
                error=Conflict(message, code=f"invitation_{inv.state.value}"),
                tenant_id=inv.tenant_id,
                reason=INVITATION_REASONS[inv.state],
                details={"invitation": inv.id},
            )
        ensure_open(self.ctx, inv.tenant_id, "invitation_accept", "anonymous")
        return inv

    def revoke_invitation(self, invitation_id: str, *, by: Actor = SYSTEM) -> None:
        with self.ctx.engine.connect() as conn:
            row = conn.execute(select(invitations).where(invitations.c.id == invitation_id)).first()
        unknown = NotFound(f"no invitation {invitation_id!r}")
        if row is None:
            raise unknown
        details = {"invitation": invitation_id}
        self.authorize_admin(by, row.tenant_id, "invitation_revoke", unknown, details)
        c = invitations.c
        with transaction(self.ctx) as conn:
            open_ = (c.id == invitation_id) & c.revoked_at.is_(None) & c.accepted_at.is_(None)
            write_sealed(conn, self.ctx.keys, invitations, open_, revoked_at=self.ctx.clock.now())
            audit(
                self.ctx,
                conn,
                "invitation_revoke",
                by.label,
                tenant_id=row.tenant_id,
                details={"invitation": invitation_id},
            )

    def list_invitations(self, tenant_id: str) -> list[Invitation]:
        now = self.ctx.clock.now()
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(
                select(invitations)
                .where(invitations.c.tenant_id == tenant_id)
                .order_by(invitations.c.created_at)
            ).all()
        return [invitation_of(r, now) for r in rows]

    # -- members' roles (``for: tenant_members``) ------------------------------------------
    def set_member_role(
        self, tenant_id: str, user_id: str, role: str | None, *, by: Actor = SYSTEM
    ) -> User:
        """Give a member of ``tenant_id`` the policy role ``role`` (``for:
        tenant_members``; None takes it away). Only an admin of this tenant (or troth
        itself: the operator, the vendor's office) may; another tenant's admin gets the
        404 of an unknown member, refused ``not_a_member``; an admin may not give (themself
        included) a role, or no role, that reads more than they do (``beyond_own_role``:
        troth.access.delegation). Audited ``member_role`` with the role before and after;
        the member's very next decision uses the new role."""
        unknown = NotFound(f"{user_id[:64]!r} is not a member of this customer")
        self.authorize_admin(by, tenant_id, "member_role", unknown, {"user": user_id[:64]})
        self._refuse_anothers_member("member_role", by, tenant_id, user_id, unknown)
        mrole = member_role_id(self.ctx.policy, role)
        admin = target_is_admin(self.ctx, user_id)
        details = {"user": user_id[:64]}
        ensure_within_reach(
            self.ctx, by, tenant_id, "member_role", admin=admin, role=mrole, details=details
        )
        with transaction(self.ctx) as conn:
            row = conn.execute(select(users).where(users.c.id == user_id)).first()
            if row is None or row.tenant_id != tenant_id:
                raise unknown
            write_sealed(conn, self.ctx.keys, users, users.c.id == user_id, role=mrole)
            audit(
                self.ctx,
                conn,
                "member_role",
                by.label,
                tenant_id=tenant_id,
                details={"user": user_id, "before": row.role, "after": mrole},
            )
            return user_by_id(conn, user_id)

    def _refuse_anothers_member(
        self, action: str, by: Actor, tenant_id: str, user_id: str, unknown: NotFound
    ) -> None:
        """Refuse, as ``unknown``, an act of ``tenant_id``'s admin on an account of another
        tenant (or a vendor account), audited ``not_a_member`` under that account's
        tenant; an account of ``tenant_id`` or none at all goes on (the caller's own
        transaction decides an unknown one)."""
        with self.ctx.engine.connect() as conn:
            other = conn.execute(select(users.c.tenant_id).where(users.c.id == user_id)).first()
        if other is not None and other.tenant_id != tenant_id:
            refuse(
                self.ctx,
                action,
                by.label,
                Reason.not_a_member,
                error=unknown,
                tenant_id=other.tenant_id,
                details={"user": user_id[:64]},
            )

    def revoke_member(self, tenant_id: str, user_id: str, *, by: Actor = SYSTEM) -> User:
        """Revoke a member: their sessions and API keys end at once, and the gate's next
        decision for them says ``not_a_member``."""
        self.authorize_admin(by, tenant_id, "member_revoke")
        unknown = NotFound(f"{user_id!r} is not a member of this customer")
        self._refuse_anothers_member("member_revoke", by, tenant_id, user_id, unknown)
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            row = conn.execute(select(users).where(users.c.id == user_id)).first()
            if row is None or row.tenant_id != tenant_id:
                raise unknown
            write_sealed(
                conn,
                self.ctx.keys,
                users,
                (users.c.id == user_id) & users.c.disabled_at.is_(None),
                disabled_at=now,
            )
            end_sessions_and_keys(conn, self.ctx.keys, user_id, now)
            audit(
                self.ctx,
                conn,
                "member_revoke",
                by.label,
                tenant_id=tenant_id,
                details={"user": user_id},
            )
            return user_by_id(conn, user_id)

    # -- the tenant's export (P29) -------------------------------------------------------
    def export_tenant(self, tenant_id: str, *, by: Actor = SYSTEM) -> dict[str, Any]:
        """The tenant's people and their values, person by person, for an admin of the
        tenant (anyone else: PermissionDenied, audited), holding only what that admin may
        read (:mod:`troth.access.tenant_export`); audited ``tenant.export``; a record
        changed outside troth refuses it (``record_tampered``)."""
        self.authorize_admin(by, tenant_id, "tenant.export")
        return export_json(self.ctx, tenant_id, by)
