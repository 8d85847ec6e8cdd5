"""Server-side login sessions (P16): an opaque token in a session-only cookie, its
SHA-256 in the database; idle and absolute timeouts; revocable. Each row is sealed
(troth.access.seals): a session a database writer inserts, extends or un-revokes is not
signed in."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from troth.access._base import audit
from troth.access.accounts import User, actor_for, user_from_row
from troth.access.seals import TAMPERED, row_matches, seal_new, write_sealed
from troth.access.tables import sessions, users
from troth.audit.log import transaction
from troth.audit.refusals import refuse
from troth.clock import utc
from troth.context import Context
from troth.errors import AuthenticationError
from troth.gate import Actor, Reason
from troth.store.ids import new_token, token_hash

SESSION_COOKIE = "troth_session"
# The __Host- prefix makes browsers refuse the cookie unless Secure, Path=/ and no Domain.
SECURE_SESSION_COOKIE = "__Host-troth_session"


@dataclass(frozen=True, slots=True)
class Session:
    id: str  # SHA-256 of the token; the token itself lives only in the cookie
    user_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    csrf_secret: str


def session_cookie_attributes(secure: bool) -> dict[str, Any]:
    """Keyword arguments for ``response.set_cookie(value=token, **attrs)``: a session-only
    cookie (no Expires, no Max-Age: it ends when the browser closes), HttpOnly, SameSite=Lax,
    Secure (and ``__Host-`` named) when served over HTTPS."""
    return {
        "key": SECURE_SESSION_COOKIE if secure else SESSION_COOKIE,
        "httponly": True,
        "secure": secure,
        "samesite": "lax",
        "path": "/",
    }


def _session(row: Any) -> Session:
    return Session(
        row.id, row.user_id, row.created_at, row.last_seen_at, row.expires_at, row.csrf_secret
    )


@dataclass(frozen=True, slots=True)
class Sessions:
    """``t.access.sessions``: the console's login sessions, started, resolved and ended."""

    ctx: Context

    def start_session(self, user: User) -> tuple[str, Session]:
        """A new session for an authenticated account: (token for the cookie, session)."""
        if not user.active:
            raise AuthenticationError("this account is disabled; ask your administrator")
        now = self.ctx.clock.now()
        token = new_token()
        sid = token_hash(token)
        expires = now + timedelta(hours=self.ctx.settings.session_absolute_hours)
        csrf = secrets.token_urlsafe(32)
        with transaction(self.ctx) as conn:
            conn.execute(
                sessions.insert().values(
                    id=sid,
                    user_id=user.id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=expires,
                    csrf_secret=csrf,
                )
            )
            seal_new(conn, self.ctx.keys, sessions, [sid])
            audit(
                self.ctx,
                conn,
                "session_start",
                actor_for(user).label,
                tenant_id=user.tenant_id,
                details={"session": sid[:16]},
            )
        return token, Session(sid, user.id, now, now, expires, csrf)

    def resolve_session(self, token: str) -> tuple[User, Actor]:
        """The account behind a session token, refreshing its last-seen time. A forged,
        ended, idle or expired session raises AuthenticationError (audited)."""
        now = self.ctx.clock.now()
        sid = token_hash(token or "")
        idle = timedelta(minutes=self.ctx.settings.session_idle_minutes)
        problem: tuple[Reason, str] | None = None
        changed: dict[str, str] = {}
        user: User | None = None
        with transaction(self.ctx) as conn:
            row = conn.execute(
                select(sessions, users.c.disabled_at.label("user_disabled_at"))
                .join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.id == sid)
            ).first()
            if row is None:
                problem = (Reason.unknown_session, "this session is not known: log in again")
            elif not row_matches(self.ctx.keys, sessions, row):
                problem = (Reason.record_tampered, TAMPERED)
            elif row.revoked_at is not None:
                problem = (Reason.session_ended, "this session was ended: log in again")
            elif row.user_disabled_at is not None:
                problem = (Reason.disabled, "this account is disabled; ask your administrator")
            elif now >= utc(row.expires_at):
                problem = (Reason.session_expired, "this session expired: log in again")
            elif now >= utc(row.last_seen_at) + idle:
                problem = (Reason.session_idle, "this session ended after inactivity: log in again")
            if problem is None and row is not None:
                account = conn.execute(select(users).where(users.c.id == row.user_id)).one()
                if not row_matches(self.ctx.keys, users, account):
                    problem = (Reason.record_tampered, TAMPERED)
                    changed = {"changed": "account"}  # the pages say so (not the session)
            if problem is None and row is not None:
                conn.execute(update(sessions).where(sessions.c.id == sid).values(last_seen_at=now))
                user = user_from_row(account)
        if problem is not None:
            who = f"user:{row.user_id}" if row is not None else "anonymous"
            refuse(
                self.ctx,
                "session",
                who,
                error=AuthenticationError(problem[1], code=problem[0].value, **changed),
                reason=problem[0],
                details={"session": sid[:16]},
            )
        assert user is not None
        return user, actor_for(user)

    def session_csrf(self, token: str) -> str:
        """The CSRF secret bound to a live session (for forms)."""
        with self.ctx.engine.connect() as conn:
            secret = conn.execute(
                select(sessions.c.csrf_secret).where(
                    sessions.c.id == token_hash(token or ""), sessions.c.revoked_at.is_(None)
                )
            ).scalar()
        if secret is None:
            raise AuthenticationError("this session is not known: log in again")
        return str(secret)

    def end_session(self, token: str) -> None:
        """Log out: the session cannot be used again."""
        sid = token_hash(token or "")
        with transaction(self.ctx) as conn:
            row = conn.execute(select(sessions.c.user_id).where(sessions.c.id == sid)).first()
            if row is None:
                return
            write_sealed(
                conn,
                self.ctx.keys,
                sessions,
                (sessions.c.id == sid) & sessions.c.revoked_at.is_(None),
                revoked_at=self.ctx.clock.now(),
            )
            audit(self.ctx, conn, "logout", f"user:{row.user_id}", details={"session": sid[:16]})
