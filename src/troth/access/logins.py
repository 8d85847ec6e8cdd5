"""How a login's outcome is decided and written (P16): the slow password and second-factor
check on the account as read, then, in a short transaction on the account as it is now,
the lockout, the failure count, a used TOTP step or a new hash, and the audit entry."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, update

from troth.access._base import audit
from troth.access.passwords import hash_password, needs_rehash, verify_password, verify_totp
from troth.access.seals import TAMPERED, row_matches, write_sealed
from troth.access.tables import users
from troth.audit.entry import Outcome
from troth.audit.log import append_entries
from troth.audit.refusals import denial
from troth.clock import utc
from troth.context import Context
from troth.errors import AuthenticationError, RateLimited
from troth.gate import Reason

WRONG_LOGIN = "wrong e-mail or password"


@dataclass(frozen=True, slots=True)
class LoginCheck:
    """What checking a password (and second factor) found, before anything is written."""

    ok: bool
    reason: Reason | None = None
    step: int | None = None  # the TOTP step the code matched
    rehash: str | None = None  # a new hash when the stored one's parameters are old


# -- the TOTP secret, sealed under a key of its own per account ----------------------------
def _totp_key(ctx: Context, user_id: str) -> bytes:
    return ctx.keys.mac("totp-secret", user_id.encode())


def seal_totp_secret(ctx: Context, user_id: str, secret: str) -> bytes:
    nonce = os.urandom(12)
    sealed = AESGCM(_totp_key(ctx, user_id)).encrypt(nonce, secret.encode(), user_id.encode())
    return nonce + sealed


def totp_secret(ctx: Context, row: Any) -> str:
    blob = bytes(row.totp_secret)
    plain = AESGCM(_totp_key(ctx, row.id)).decrypt(blob[:12], blob[12:], row.id.encode())
    return plain.decode()


# -- the check, outside any transaction -----------------------------------------------------
def verify_login(ctx: Context, row: Any, password: str, totp_code: str | None) -> LoginCheck:
    """The slow part of a login, on the account as read (no transaction open)."""
    now = ctx.clock.now()
    if row.locked_until is not None and now < utc(row.locked_until):
        verify_password(None, password)  # a locked account answers as slowly
        return LoginCheck(ok=False, reason=Reason.locked_out)
    ok = verify_password(row.password_hash, password)
    step: int | None = None
    reason = Reason.wrong_password
    if ok and row.totp_secret is not None:
        step = verify_totp(totp_secret(ctx, row), totp_code or "", now) if totp_code else None
        if step is None:
            ok = False
            reason = Reason.second_factor_missing if not totp_code else Reason.second_factor_wrong
    rehash = None
    if ok and row.password_hash and needs_rehash(row.password_hash):
        rehash = hash_password(password)
    return LoginCheck(ok=ok, reason=None if ok else reason, step=step, rehash=rehash)


# -- the outcome, in the login's transaction ------------------------------------------------
def record_login(
    ctx: Context, conn: Connection, row: Any, seen: Any, check: LoginCheck, label: str
) -> Exception | None:
    """Write a login's outcome on the account as it is now (``row``, re-read in this
    transaction, None when deleted meanwhile); ``seen`` is the row the password was
    checked against, ``label`` the account's actor label. Returns the error to raise once
    the transaction commits, or None for a login that succeeded."""
    if row is None:  # deleted meanwhile
        return AuthenticationError(WRONG_LOGIN)
    now = ctx.clock.now()
    locked = _refuse_locked(ctx, conn, row, check, label, now)
    if locked is not None:
        return locked
    ok, reason = _second_look(row, seen, check)
    if not ok:
        return _count_failure(ctx, conn, row, reason or Reason.wrong_password, label, now)
    if not row_matches(ctx.keys, users, row):
        _deny(ctx, conn, row, label, Reason.record_tampered)
        return AuthenticationError(TAMPERED, code=Reason.record_tampered.value)
    if row.disabled_at is not None:
        _deny(ctx, conn, row, label, Reason.disabled)
        return AuthenticationError("this account is disabled; ask your administrator")
    values: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
    if check.step is not None:
        values["totp_last_step"] = check.step
    if check.rehash is not None:
        values["password_hash"] = check.rehash
    write_sealed(conn, ctx.keys, users, users.c.id == row.id, **values)
    audit(ctx, conn, "login", label, outcome=Outcome.allow, tenant_id=row.tenant_id)
    return None


def _refuse_locked(
    ctx: Context, conn: Connection, row: Any, check: LoginCheck, label: str, now: datetime
) -> Exception | None:
    """A login refused for a lock: one that still holds (set before this login, or by a
    failure that raced it), or one that ended while this login waited (its password was
    never checked). None when no lock is in the way."""
    if row.locked_until is not None and now < utc(row.locked_until):
        _deny(ctx, conn, row, label, Reason.locked_out)
        return RateLimited(
            f"too many failed logins: this account is locked until"
            f" {utc(row.locked_until):%Y-%m-%d %H:%M} UTC; try again then",
            retry_after=int((utc(row.locked_until) - now).total_seconds()) + 1,
        )
    if check.reason is Reason.locked_out:
        _deny(ctx, conn, row, label, Reason.locked_out)
        return AuthenticationError(f"{WRONG_LOGIN}; try again", code="login_retry")
    return None


def _second_look(row: Any, seen: Any, check: LoginCheck) -> tuple[bool, Reason | None]:
    """The check's verdict, undone by what changed while it ran: a new password, or the
    same TOTP code used meanwhile (a code is used once)."""
    ok, reason = check.ok, check.reason
    if ok and row.password_hash != seen.password_hash:
        ok, reason = False, Reason.wrong_password  # changed while it was being checked
    used = row.totp_last_step
    if ok and check.step is not None and used is not None and check.step <= used:
        ok, reason = False, Reason.second_factor_wrong
    return ok, reason


def _count_failure(
    ctx: Context, conn: Connection, row: Any, reason: Reason, label: str, now: datetime
) -> Exception:
    """Count a failed login, locking the account at ``login_max_failures``; audited."""
    settings = ctx.settings
    expired_lock = row.locked_until is not None and utc(row.locked_until) <= now
    failures = (0 if expired_lock else row.failed_logins or 0) + 1
    lock = None
    if failures >= settings.login_max_failures:
        lock = now + timedelta(minutes=settings.login_lockout_minutes)
    conn.execute(
        update(users).where(users.c.id == row.id).values(failed_logins=failures, locked_until=lock)
    )
    _deny(ctx, conn, row, label, reason, {"failures": failures, "locked": lock is not None})
    if reason is Reason.second_factor_missing:
        return AuthenticationError(
            "this account needs the code from its authenticator app",
            code="second_factor_required",
        )
    return AuthenticationError(WRONG_LOGIN)


def _deny(
    ctx: Context,
    conn: Connection,
    row: Any,
    label: str,
    reason: Reason,
    details: dict[str, Any] | None = None,
) -> None:
    """Audit a refused login in its transaction, which also records what the refusal
    changes (a failed login's count); the caller raises once it is committed."""
    entry = denial("login", label, reason, tenant_id=row.tenant_id, details=details)
    append_entries(conn, ctx.clock.now(), [entry])
