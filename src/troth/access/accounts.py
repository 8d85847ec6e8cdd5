"""Accounts and logins (P16): the vendor's staff, its admins and each customer's members;
argon2id passwords, lockout after repeated failures, optional TOTP for admins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from troth.access._base import audit, normalise_email
from troth.access.logins import WRONG_LOGIN, record_login, seal_totp_secret, verify_login
from troth.access.offboarded import ensure_open
from troth.access.passwords import (
    check_password_strength,
    hash_password,
    new_totp_secret,
    provisioning_uri,
    verify_password,
)
from troth.access.seals import row_matches, seal_new, write_sealed
from troth.access.tables import api_keys, sessions, users
from troth.audit.log import transaction
from troth.audit.refusals import refuse
from troth.context import Context
from troth.db import reading
from troth.errors import AuthenticationError, Conflict, NotFound, RateLimited, ValidationError
from troth.gate import SYSTEM, Actor, ActorKind, Reason
from troth.store.ids import new_id
from troth.store.tables import tenants
from troth.stored import member

if TYPE_CHECKING:
    from troth.keys import Keyring


class UserKind(StrEnum):
    """Stored in ``users.kind``: never rename a value."""

    staff = "staff"
    tenant_member = "tenant_member"
    vendor_admin = "vendor_admin"


class TenantRole(StrEnum):
    admin = "admin"
    member = "member"


@dataclass(frozen=True, slots=True)
class User:
    """An account as read back (never its password hash or TOTP secret)."""

    id: str
    kind: UserKind
    email: str
    display_name: str | None
    role: str | None
    tenant_id: str | None
    tenant_role: TenantRole | None
    disabled_at: datetime | None
    failed_logins: int
    locked_until: datetime | None
    totp_enabled: bool
    created_at: datetime

    @property
    def active(self) -> bool:
        return self.disabled_at is None


# Passwords a member's e-mail-only login checks at least (real memberships first, dummy
# hashes after): below it the number of customers an address belongs to, or whether it
# belongs to any, does not show in the time a login takes.
MEMBER_CHECKS = 3


def login_key(kind: UserKind, tenant_id: str | None, email: str) -> str:
    return f"{kind.value}:{tenant_id or '-'}:{email}"


def user_from_row(row: Any) -> User:
    return User(
        id=row.id,
        kind=member(UserKind, row.kind, "users.kind"),
        email=row.email,
        display_name=row.display_name,
        role=row.role,
        tenant_id=row.tenant_id,
        tenant_role=(
            member(TenantRole, row.tenant_role, "users.tenant_role") if row.tenant_role else None
        ),
        disabled_at=row.disabled_at,
        failed_logins=row.failed_logins or 0,
        locked_until=row.locked_until,
        totp_enabled=row.totp_secret is not None,
        created_at=row.created_at,
    )


def actor_for(user: User) -> Actor:
    """The gate's view of an account."""
    if user.kind is UserKind.staff:
        return Actor(ActorKind.staff, user.id, role=user.role)
    if user.kind is UserKind.vendor_admin:
        return Actor(ActorKind.vendor_admin, user.id)
    kind = (
        ActorKind.tenant_admin if user.tenant_role is TenantRole.admin else ActorKind.tenant_member
    )
    return Actor(kind, user.id, role=user.role, tenant_id=user.tenant_id)


def end_sessions_and_keys(conn: Connection, keys: Keyring, user_id: str, now: datetime) -> None:
    """Revoke every live session and API key of an account, at once."""
    for table in (sessions, api_keys):
        live = (table.c.user_id == user_id) & table.c.revoked_at.is_(None)
        write_sealed(conn, keys, table, live, revoked_at=now)


def user_by_id(conn: Connection, user_id: str) -> User:
    """The account with this id, read in ``conn``; NotFound when there is none."""
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise NotFound(f"no account {user_id!r}; list them with `troth users list`")
    return user_from_row(row)


def signed_in_as(
    conn: Connection, actor: Actor, keys: Keyring, *, kind: UserKind | None = None
) -> Any:
    """The account an actor names (its kind, tenant, tenant role, role), if it exists, is not
    disabled, matches its seal (troth.access.seals) and is of the actor's kind (or of
    ``kind``); None otherwise. An asserted
    actor (``--actor staff:NAME@ROLE``) names no account."""
    row = conn.execute(select(users).where(users.c.id == actor.id)).first()
    wanted = (kind or actor.kind).value
    if row is None or row.disabled_at is not None or row.kind != wanted:
        return None
    return row if row_matches(keys, users, row) else None


@dataclass(frozen=True, slots=True)
class _Placement:
    """Where a new account stands: its kind, and its role or tenant as that kind needs."""

    kind: UserKind
    role: str | None
    tenant_id: str | None
    tenant_role: TenantRole | None


def find_user_row(
    conn: Connection, addr: str, kind: UserKind | str | None, tenant_id: str | None
) -> Any:
    """The account row for a normalised e-mail (in this tenant / of this kind), or None."""
    if tenant_id is not None:
        kinds = [UserKind.tenant_member]
    elif kind is not None:
        kinds = [UserKind(kind)]
    else:
        kinds = [UserKind.staff, UserKind.vendor_admin]
    keys = [login_key(k, tenant_id, addr) for k in kinds]
    rows = {r.kind: r for r in conn.execute(select(users).where(users.c.login_key.in_(keys)))}
    for k in kinds:
        if k.value in rows:
            return rows[k.value]
    return None


@dataclass(frozen=True, slots=True)
class Accounts:
    """``t.access.accounts``: adding, finding, disabling accounts; authenticating them."""

    ctx: Context

    # -- accounts ----------------------------------------------------------------------
    def add_user(
        self,
        email: str,
        *,
        kind: UserKind | str = UserKind.staff,
        password: str | None = None,
        display_name: str | None = None,
        role: str | None = None,
        tenant_id: str | None = None,
        tenant_role: TenantRole | str | None = None,
        by: Actor = SYSTEM,
    ) -> User:
        """Create an account. Staff need a role of the policy; tenant members a tenant and
        a tenant role; e-mails are unique per kind and tenant. A customer's admin adding
        one of its people gives no more than they read (troth.access.delegation)."""
        if kind == UserKind.tenant_member.value:
            ensure_open(self.ctx, tenant_id, "user_add", by)
            from troth.access.delegation import ensure_within_reach

            admin = tenant_role == TenantRole.admin.value
            where = tenant_id or ""
            ensure_within_reach(self.ctx, by, where, "user_add", admin=admin, role=role, details={})
        with transaction(self.ctx) as conn:
            try:
                kind = UserKind(kind)
            except ValueError:
                raise ValidationError(
                    f"unknown account kind {kind!r} (one of {', '.join(UserKind)})"
                ) from None
            addr = normalise_email(email)
            at = self._placement(conn, kind, role, tenant_id, tenant_role)
            key = login_key(at.kind, at.tenant_id, addr)
            if conn.execute(select(users.c.id).where(users.c.login_key == key)).first():
                where = f" in tenant {at.tenant_id}" if at.tenant_id else ""
                raise Conflict(f"there is already a {at.kind.value} account for {addr}{where}")
            pw_hash = None
            if password is not None:
                check_password_strength(password)
                pw_hash = hash_password(password)
            uid = new_id()
            conn.execute(
                users.insert().values(
                    id=uid,
                    kind=at.kind.value,
                    email=addr,
                    login_key=key,
                    display_name=display_name,
                    role=at.role,
                    tenant_id=at.tenant_id,
                    tenant_role=at.tenant_role.value if at.tenant_role else None,
                    password_hash=pw_hash,
                    failed_logins=0,
                    created_at=self.ctx.clock.now(),
                )
            )
            seal_new(conn, self.ctx.keys, users, [uid])
            audit(
                self.ctx,
                conn,
                "user_add",
                by.label,
                tenant_id=at.tenant_id,
                details={"user": uid, "kind": at.kind.value, "role": at.role or at.tenant_role},
            )
            return user_by_id(conn, uid)

    def _placement(
        self,
        conn: Connection,
        kind: UserKind,
        role: str | None,
        tenant_id: str | None,
        tenant_role: TenantRole | str | None,
    ) -> _Placement:
        """Check what a new account of ``kind`` needs (staff a role of the policy, a
        tenant member an existing tenant) and drop what it does not."""
        if kind is UserKind.staff:
            if role not in self.ctx.policy.roles:
                known = ", ".join(sorted(self.ctx.policy.roles)) or "none"
                raise ValidationError(
                    f"staff need a role of the policy: {role!r} is not one (roles: {known})"
                )
            return _Placement(kind, role, None, None)
        if kind is UserKind.vendor_admin:
            if tenant_id is not None:
                raise ValidationError("a vendor admin belongs to no tenant; leave tenant out")
            return _Placement(kind, None, None, None)
        if tenant_id is None:
            raise ValidationError("a tenant member needs a tenant (--tenant ID)")
        if conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id)).first() is None:
            raise NotFound(f"no tenant {tenant_id!r}; create it with `troth tenants create`")
        try:
            trole = TenantRole(tenant_role or TenantRole.member)
        except ValueError:
            raise ValidationError("tenant role must be admin or member") from None
        if role is not None and role not in self.ctx.policy.member_roles:
            known = ", ".join(sorted(self.ctx.policy.member_roles)) or "none"
            raise ValidationError(
                f"a customer's member takes a role `for: tenant_members`: {role!r} is not"
                f" one (roles: {known})"
            )
        return _Placement(kind, role, tenant_id, trole)

    def get_user(self, user_id: str) -> User:
        with self.ctx.engine.connect() as conn:
            return user_by_id(conn, user_id)

    def find_user(
        self,
        email: str,
        *,
        kind: UserKind | str | None = None,
        tenant_id: str | None = None,
    ) -> User:
        """The account with this e-mail (in this tenant / of this kind)."""
        addr = normalise_email(email)
        with self.ctx.engine.connect() as conn:
            row = find_user_row(conn, addr, kind, tenant_id)
        if row is None:
            raise NotFound(f"no account for {addr}")
        return user_from_row(row)

    def list_users(
        self, *, kind: UserKind | str | None = None, tenant_id: str | None = None
    ) -> list[User]:
        stmt = select(users).order_by(users.c.kind, users.c.email)
        if kind is not None:
            stmt = stmt.where(users.c.kind == UserKind(kind).value)
        if tenant_id is not None:
            stmt = stmt.where(users.c.tenant_id == tenant_id)
        with self.ctx.engine.connect() as conn:
            return [user_from_row(r) for r in conn.execute(stmt)]

    def set_password(self, user_id: str, password: str, *, by: Actor = SYSTEM) -> None:
        """Replace an account's password (and clear a lockout)."""
        check_password_strength(password)
        pw_hash = hash_password(password)
        with transaction(self.ctx) as conn:
            user_by_id(conn, user_id)
            write_sealed(
                conn,
                self.ctx.keys,
                users,
                users.c.id == user_id,
                password_hash=pw_hash,
                failed_logins=0,
                locked_until=None,
            )
            audit(self.ctx, conn, "password_set", by.label, details={"user": user_id})

    def disable_user(self, user_id: str, *, by: Actor = SYSTEM) -> User:
        """Disable an account: its sessions and API keys end at once."""
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            user = user_by_id(conn, user_id)
            if user.disabled_at is None:
                write_sealed(conn, self.ctx.keys, users, users.c.id == user_id, disabled_at=now)
            end_sessions_and_keys(conn, self.ctx.keys, user_id, now)
            audit(
                self.ctx,
                conn,
                "user_disable",
                by.label,
                tenant_id=user.tenant_id,
                details={"user": user_id},
            )
            return user_by_id(conn, user_id)

    # -- logins --------------------------------------------------------------------------
    def authenticate(
        self,
        email: str,
        password: str,
        tenant_id: str | None = None,
        *,
        kind: UserKind | str | None = None,
        totp_code: str | None = None,
    ) -> User:
        """The account whose e-mail and password these are. Raises AuthenticationError
        (the same message whether the e-mail is unknown or the password wrong) and
        RateLimited once ``login_max_failures`` failures lock the account.

        The password (or, for an unknown address, a dummy hash) is verified outside any
        write transaction: argon2 takes tens of milliseconds and SQLite has one writer,
        so hashing under the write lock would stall every collection meanwhile. The
        outcome is then written in a short transaction that re-reads the account, so the
        failure count and lockout stay right when logins race (troth.access.logins)."""
        password = password or ""
        try:
            addr = normalise_email(email)
        except ValidationError:
            addr = ""
        with reading(self.ctx.engine) as conn:  # no write lock (SQLite) for the lookup
            row = find_user_row(conn, addr, kind, tenant_id) if addr else None
        if row is None:
            verify_password(None, password)  # as slow as a real check
            refuse(
                self.ctx,
                "login",
                "anonymous",
                error=AuthenticationError(WRONG_LOGIN),
                reason=Reason.unknown_account,
                tenant_id=tenant_id,
                details={"email_mac": self.ctx.keys.mac("login", addr.encode()).hex()[:16]},
            )
        check = verify_login(self.ctx, row, password, totp_code)
        with transaction(self.ctx) as conn:
            fresh = conn.execute(
                select(users).where(users.c.id == row.id).with_for_update()
            ).first()
            label = actor_for(user_from_row(fresh)).label if fresh is not None else ""
            failure = record_login(self.ctx, conn, fresh, row, check, label)
        if failure is not None:
            raise failure
        return self.get_user(row.id)

    def authenticate_member(
        self, email: str, password: str, *, totp_code: str | None = None
    ) -> list[User]:
        """A customer's member logging in with e-mail and password alone: the memberships
        (one per customer) that this password opens, each authenticated as by
        :meth:`authenticate` (audited, failures and lockouts counted), oldest first. When
        none opens, the same AuthenticationError as a wrong password, so the answer never
        tells which customers, if any, the address belongs to."""
        try:
            addr = normalise_email(email)
        except ValidationError:
            addr = ""
        with reading(self.ctx.engine) as conn:
            rows = (
                conn.execute(
                    select(users.c.id, users.c.tenant_id, users.c.password_hash)
                    .where(users.c.email == addr, users.c.kind == UserKind.tenant_member.value)
                    .order_by(users.c.created_at, users.c.id)
                ).all()
                if addr
                else []
            )
        opened = [r for r in rows if verify_password(r.password_hash, password or "")]
        for _ in range(MEMBER_CHECKS - len(rows)):
            # As slow for an unknown address, or one of fewer customers, as for one of
            # MEMBER_CHECKS: the time does not tell whether, or of how many, it is a member.
            verify_password(None, password or "")
        if not opened:
            # One failure, recorded as authenticate records it (an unknown address too).
            first = rows[0].tenant_id if rows else None
            self.authenticate(email, password, first, kind=UserKind.tenant_member)
            raise AuthenticationError(WRONG_LOGIN)
        found: list[User] = []
        problem: Exception | None = None
        for r in opened:
            try:
                found.append(self.authenticate(email, password, r.tenant_id, totp_code=totp_code))
            except (AuthenticationError, RateLimited) as exc:
                problem = problem or exc
        if not found:
            raise problem or AuthenticationError(WRONG_LOGIN)
        return found

    # -- TOTP ----------------------------------------------------------------------------
    def enable_totp(self, user_id: str, *, by: Actor = SYSTEM) -> tuple[str, str]:
        """Turn on the second factor: returns (secret, otpauth URI) to show once. From
        then on :meth:`authenticate` needs ``totp_code``."""
        secret = new_totp_secret()
        user = self._set_totp(user_id, seal_totp_secret(self.ctx, user_id, secret), by)
        return secret, provisioning_uri(secret, user.email)

    def disable_totp(self, user_id: str, *, by: Actor = SYSTEM) -> None:
        self._set_totp(user_id, None, by)

    def _set_totp(self, user_id: str, sealed: bytes | None, by: Actor) -> User:
        """Store (or, with None, clear) an account's sealed TOTP secret; audited."""
        with transaction(self.ctx) as conn:
            user = user_by_id(conn, user_id)
            write_sealed(
                conn,
                self.ctx.keys,
                users,
                users.c.id == user_id,
                totp_secret=sealed,
                totp_last_step=None,
            )
            action = "totp_enable" if sealed is not None else "totp_disable"
            audit(
                self.ctx,
                conn,
                action,
                by.label,
                tenant_id=user.tenant_id,
                details={"user": user_id},
            )
        return user
