"""Accounts and logins (P16): the vendor's staff, its admins and each customer's members;
argon2id passwords, lockout after repeated failures, optional TOTP for admins."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, select, update

from troth.access._base import AccessBase, normalise_email
from troth.access.passwords import (
    check_password_strength,
    hash_password,
    needs_rehash,
    new_totp_secret,
    provisioning_uri,
    verify_password,
    verify_totp,
)
from troth.access.tables import api_keys, sessions, users
from troth.audit.entry import Outcome
from troth.audit.log import transaction
from troth.clock import utc
from troth.db import reading
from troth.errors import (
    AuthenticationError,
    Conflict,
    NotFound,
    RateLimited,
    ValidationError,
)
from troth.gate import SYSTEM, Actor, ActorKind, Reason
from troth.store.ids import new_id
from troth.store.tables import tenants

WRONG_LOGIN = "wrong e-mail or password"


@dataclass(frozen=True, slots=True)
class LoginCheck:
    """What checking a password (and second factor) found, before anything is written."""

    ok: bool
    reason: Reason | None = None
    step: int | None = None  # the TOTP step the code matched
    rehash: str | None = None  # a new hash when the stored one's parameters are old


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


def login_key(kind: UserKind, tenant_id: str | None, email: str) -> str:
    return f"{kind.value}:{tenant_id or '-'}:{email}"


def user_from_row(row: Any) -> User:
    return User(
        id=row.id,
        kind=UserKind(row.kind),
        email=row.email,
        display_name=row.display_name,
        role=row.role,
        tenant_id=row.tenant_id,
        tenant_role=TenantRole(row.tenant_role) if row.tenant_role else None,
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
    return Actor(kind, user.id, tenant_id=user.tenant_id)


def end_sessions_and_keys(conn: Connection, user_id: str, now: datetime) -> None:
    """Revoke every live session and API key of an account, at once."""
    conn.execute(
        update(sessions)
        .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    conn.execute(
        update(api_keys)
        .where(api_keys.c.user_id == user_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


class AccountsMixin(AccessBase):
    """Adding, finding, disabling accounts; authenticating them."""

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
        a tenant role; e-mails are unique per kind and tenant."""
        with transaction(self.ctx) as conn:
            user = self._insert_user(
                conn, email, kind, password, display_name, role, tenant_id, tenant_role, by
            )
        return user

    def _insert_user(
        self,
        conn: Connection,
        email: str,
        kind: UserKind | str,
        password: str | None,
        display_name: str | None,
        role: str | None,
        tenant_id: str | None,
        tenant_role: TenantRole | str | None,
        by: Actor,
    ) -> User:
        try:
            kind = UserKind(kind)
        except ValueError:
            raise ValidationError(
                f"unknown account kind {kind!r} (one of {', '.join(UserKind)})"
            ) from None
        addr = normalise_email(email)
        if kind is UserKind.staff:
            if role not in self.ctx.policy.roles:
                known = ", ".join(sorted(self.ctx.policy.roles)) or "none"
                raise ValidationError(
                    f"staff need a role of the policy: {role!r} is not one (roles: {known})"
                )
            tenant_id, tenant_role = None, None
        elif kind is UserKind.vendor_admin:
            if tenant_id is not None:
                raise ValidationError("a vendor admin belongs to no tenant; leave tenant out")
            role, tenant_role = None, None
        else:
            if tenant_id is None:
                raise ValidationError("a tenant member needs a tenant (--tenant ID)")
            if conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id)).first() is None:
                raise NotFound(f"no tenant {tenant_id!r}; create it with `troth tenants create`")
            try:
                tenant_role = TenantRole(tenant_role or TenantRole.member)
            except ValueError:
                raise ValidationError("tenant role must be admin or member") from None
            role = None
        key = login_key(kind, tenant_id, addr)
        if conn.execute(select(users.c.id).where(users.c.login_key == key)).first() is not None:
            where = f" in tenant {tenant_id}" if tenant_id else ""
            raise Conflict(f"there is already a {kind.value} account for {addr}{where}")
        pw_hash = None
        if password is not None:
            check_password_strength(password)
            pw_hash = hash_password(password)
        now = self._now()
        uid = new_id()
        conn.execute(
            users.insert().values(
                id=uid,
                kind=kind.value,
                email=addr,
                login_key=key,
                display_name=display_name,
                role=role,
                tenant_id=tenant_id,
                tenant_role=TenantRole(tenant_role).value if tenant_role else None,
                password_hash=pw_hash,
                failed_logins=0,
                created_at=now,
            )
        )
        self._audit(
            conn,
            "user_add",
            by.label,
            tenant_id=tenant_id,
            details={"user": uid, "kind": kind.value, "role": role or tenant_role},
        )
        return self._user(conn, uid)

    def _user(self, conn: Connection, user_id: str) -> User:
        row = conn.execute(select(users).where(users.c.id == user_id)).first()
        if row is None:
            raise NotFound(f"no account {user_id!r}; list them with `troth users list`")
        return user_from_row(row)

    def get_user(self, user_id: str) -> User:
        with self.ctx.engine.connect() as conn:
            return self._user(conn, user_id)

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
            row = self._find_row(conn, addr, kind, tenant_id)
        if row is None:
            raise NotFound(f"no account for {addr}")
        return user_from_row(row)

    def _find_row(
        self, conn: Connection, addr: str, kind: UserKind | str | None, tenant_id: str | None
    ) -> Any:
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
            self._user(conn, user_id)
            conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(password_hash=pw_hash, failed_logins=0, locked_until=None)
            )
            self._audit(conn, "password_set", by.label, details={"user": user_id})

    def disable_user(self, user_id: str, *, by: Actor = SYSTEM) -> User:
        """Disable an account: its sessions and API keys end at once."""
        now = self._now()
        with transaction(self.ctx) as conn:
            user = self._user(conn, user_id)
            if user.disabled_at is None:
                conn.execute(update(users).where(users.c.id == user_id).values(disabled_at=now))
            end_sessions_and_keys(conn, user_id, now)
            self._audit(
                conn, "user_disable", by.label, tenant_id=user.tenant_id, details={"user": user_id}
            )
            return self._user(conn, user_id)

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
        failure count and lockout stay right when logins race."""
        password = password or ""
        try:
            addr = normalise_email(email)
        except ValidationError:
            addr = ""
        with reading(self.ctx.engine) as conn:  # no write lock (SQLite) for the lookup
            row = self._find_row(conn, addr, kind, tenant_id) if addr else None
        if row is None:
            verify_password(None, password)  # as slow as a real check
            self._refuse(
                AuthenticationError(WRONG_LOGIN),
                "login",
                "anonymous",
                reason=Reason.unknown_account,
                tenant_id=tenant_id,
                details={"email_mac": self.ctx.keys.mac("login", addr.encode()).hex()[:16]},
            )
        check = self._verify_login(row, password, totp_code)
        with transaction(self.ctx) as conn:
            fresh = conn.execute(
                select(users).where(users.c.id == row.id).with_for_update()
            ).first()
            failure = self._record_login(conn, fresh, row, check, self._now())
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

    def _verify_login(self, row: Any, password: str, totp_code: str | None) -> LoginCheck:
        """The slow part of a login, on the account as read (no transaction open)."""
        now = self._now()
        if row.locked_until is not None and now < utc(row.locked_until):
            verify_password(None, password)  # a locked account answers as slowly
            return LoginCheck(ok=False, reason=Reason.locked_out)
        ok = verify_password(row.password_hash, password)
        step: int | None = None
        reason = Reason.wrong_password
        if ok and row.totp_secret is not None:
            step = verify_totp(self._totp_secret(row), totp_code or "", now) if totp_code else None
            if step is None:
                ok = False
                reason = (
                    Reason.second_factor_missing if not totp_code else Reason.second_factor_wrong
                )
        rehash = None
        if ok and row.password_hash and needs_rehash(row.password_hash):
            rehash = hash_password(password)
        return LoginCheck(ok=ok, reason=None if ok else reason, step=step, rehash=rehash)

    def _record_login(
        self, conn: Connection, row: Any, seen: Any, check: LoginCheck, now: datetime
    ) -> Exception | None:
        """Write a login's outcome on the account as it is now (``row``, re-read in this
        transaction); ``seen`` is the row the password was checked against."""
        settings = self.ctx.settings
        if row is None:  # deleted meanwhile
            return AuthenticationError(WRONG_LOGIN)
        label = actor_for(user_from_row(row)).label
        ok, reason = check.ok, check.reason
        if row.locked_until is not None and now < utc(row.locked_until):
            # Locked before this login, or by a failure that raced it: refused either way.
            self._deny(
                conn,
                "login",
                label,
                Reason.locked_out,
                tenant_id=row.tenant_id,
            )
            return RateLimited(
                f"too many failed logins: this account is locked until"
                f" {utc(row.locked_until):%Y-%m-%d %H:%M} UTC; try again then",
                retry_after=int((utc(row.locked_until) - now).total_seconds()) + 1,
            )
        if reason is Reason.locked_out:
            # The lock ended while this login waited: its password was never checked.
            self._deny(
                conn,
                "login",
                label,
                Reason.locked_out,
                tenant_id=row.tenant_id,
            )
            return AuthenticationError(f"{WRONG_LOGIN}; try again", code="login_retry")
        if ok and row.password_hash != seen.password_hash:
            ok, reason = False, Reason.wrong_password  # changed while it was being checked
        used = row.totp_last_step
        if ok and check.step is not None and used is not None and check.step <= used:
            ok, reason = False, Reason.second_factor_wrong  # a code is used once
        if not ok:
            expired_lock = row.locked_until is not None and utc(row.locked_until) <= now
            failures = (0 if expired_lock else row.failed_logins or 0) + 1
            lock = None
            if failures >= settings.login_max_failures:
                lock = now + timedelta(minutes=settings.login_lockout_minutes)
            conn.execute(
                update(users)
                .where(users.c.id == row.id)
                .values(failed_logins=failures, locked_until=lock)
            )
            self._deny(
                conn,
                "login",
                label,
                reason or Reason.wrong_password,
                tenant_id=row.tenant_id,
                details={"failures": failures, "locked": lock is not None},
            )
            if reason is Reason.second_factor_missing:
                return AuthenticationError(
                    "this account needs the code from its authenticator app",
                    code="second_factor_required",
                )
            return AuthenticationError(WRONG_LOGIN)
        if row.disabled_at is not None:
            self._deny(
                conn,
                "login",
                label,
                Reason.disabled,
                tenant_id=row.tenant_id,
            )
            return AuthenticationError("this account is disabled; ask your administrator")
        values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
        if check.step is not None:
            values["totp_last_step"] = check.step
        if check.rehash is not None:
            values["password_hash"] = check.rehash
        conn.execute(update(users).where(users.c.id == row.id).values(**values))
        self._audit(conn, "login", label, outcome=Outcome.allow, tenant_id=row.tenant_id)
        return None

    # -- TOTP ----------------------------------------------------------------------------
    def _totp_key(self, user_id: str) -> bytes:
        return self.ctx.keys.mac("totp-secret", user_id.encode())

    def _totp_secret(self, row: Any) -> str:
        blob = bytes(row.totp_secret)
        plain = AESGCM(self._totp_key(row.id)).decrypt(blob[:12], blob[12:], row.id.encode())
        return plain.decode()

    def enable_totp(self, user_id: str, *, by: Actor = SYSTEM) -> tuple[str, str]:
        """Turn on the second factor: returns (secret, otpauth URI) to show once. From
        then on :meth:`authenticate` needs ``totp_code``."""
        secret = new_totp_secret()
        nonce = os.urandom(12)
        with transaction(self.ctx) as conn:
            user = self._user(conn, user_id)
            blob = nonce + AESGCM(self._totp_key(user_id)).encrypt(
                nonce, secret.encode(), user_id.encode()
            )
            conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(totp_secret=blob, totp_last_step=None)
            )
            self._audit(
                conn, "totp_enable", by.label, tenant_id=user.tenant_id, details={"user": user_id}
            )
        return secret, provisioning_uri(secret, user.email)

    def disable_totp(self, user_id: str, *, by: Actor = SYSTEM) -> None:
        with transaction(self.ctx) as conn:
            user = self._user(conn, user_id)
            conn.execute(
                update(users)
                .where(users.c.id == user_id)
                .values(totp_secret=None, totp_last_step=None)
            )
            self._audit(
                conn, "totp_disable", by.label, tenant_id=user.tenant_id, details={"user": user_id}
            )
