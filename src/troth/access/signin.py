"""Privacy-centre sign-in by e-mail one-time code, and the person's session.

A person types their e-mail; if troth knows it (blind index), a 6-digit code goes out
through the outbox. The answer never says whether the address is known. A code works
once, for :data:`CODE_MINUTES`, and :data:`MAX_ATTEMPTS` wrong tries burn it. The session
is server-side (only a hash of the cookie's token is stored), session-only, and ends
after the console's idle/absolute limits. Each session's row is sealed
(troth.access.seals): one a database writer inserts, moves to another person or address,
or starts again is no session (the person sees the sign-in page), audited
``record_tampered``.
"""

from __future__ import annotations

import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Column, Connection, Index, LargeBinary, String, Table, func, select, update

from troth.access.seals import row_matches, seal_new, write_sealed
from troth.audit.entry import AuditEntry
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import denial
from troth.clock import utc
from troth.collection.validation import email_problem
from troth.columns import counter, key, ref, stamp, stamps
from troth.context import Context
from troth.db import metadata
from troth.errors import AuthenticationError, NotFound, RateLimited, ValidationError
from troth.gate import Reason
from troth.store.identity_seals import identity_matches
from troth.store.ids import token_hash
from troth.store.subjects import find_subject_id
from troth.store.tables import identities, subjects, tenants

if TYPE_CHECKING:
    from troth.keys import Keyring

CODE_MINUTES = 15
MAX_ATTEMPTS = 5
LIMIT_WINDOW = timedelta(hours=1)  # codes per address / per client are counted over this
SEEN_EVERY = timedelta(minutes=1)  # how often a session's last_seen_at is written

signin_codes = Table(
    "privacy_signin_codes",
    metadata,
    key(),
    ref("subject_id", required=True),
    Column("code_mac", String(64), nullable=False),
    *stamps("created_at", "expires_at"),
    counter("attempts"),
    stamp("used_at", required=False),
    # MACs (never the address or IP itself) to count requests per address and per client;
    # unknown addresses get a row too, so the limits answer alike for known and unknown.
    Column("address_mac", String(64)),
    Column("client_mac", String(64)),
    # The blind index of the address the code went to (the session proves that one).
    Column("email_bidx", String(64)),
    Index("ix_privacy_signin_codes_address", "address_mac", "created_at"),
    Index("ix_privacy_signin_codes_client", "client_mac", "created_at"),
    Index("ix_privacy_signin_codes_subject", "subject_id", "created_at"),
)

privacy_sessions = Table(
    "privacy_sessions",
    metadata,
    key(length=64),  # SHA-256 of the cookie's token
    ref("subject_id", required=True),
    Column("csrf_secret", String(64), nullable=False),
    *stamps("created_at", "last_seen_at"),
    stamp("ended_at", required=False),
    # The blind index of the address signing in proved: the records the person may move
    # between are those of that address (a person can have given several).
    Column("email_bidx", String(64)),
    # A keyed MAC over id, subject_id, created_at, ended_at, email_bidx, csrf_secret
    # (troth.access.seals): a session a database writer inserts or extends is not one.
    Column("seal", LargeBinary),
    Index("ix_privacy_sessions_subject", "subject_id"),
)


@dataclass(frozen=True, slots=True)
class Held:
    """One live record of the signed-in person's e-mail address, and who it is held for:
    a customer (tenant) by name and id, or the organisation itself (``holder`` None)."""

    subject_id: str
    holder: str | None
    tenant_id: str | None = None


def _code_mac(ctx: Context, challenge: str, code: str) -> str:
    return ctx.keys.mac("privacy-code", f"{challenge}|{code}".encode()).hex()


def start_signin(ctx: Context, email: str, *, client: str | None = None) -> str:
    """Send a code to ``email`` if it belongs to a known person; returns a challenge id
    either way (an unknown address gets one that can never succeed). At most
    ``signin_codes_per_address`` codes per address and ``signin_codes_per_client`` per
    client (IP) an hour, and one per ``signin_code_interval_seconds`` per address, known
    address or not (RateLimited otherwise, saying how long to wait)."""
    email = (email or "").strip()
    if len(email) > 320 or email_problem(email):
        raise ValidationError(
            "type the e-mail address you gave us (name@example.com)", field="email"
        )
    challenge = secrets.token_hex(16)
    now = ctx.clock.now()
    address = ctx.keys.mac("privacy-signin-address", email.casefold().encode()).hex()
    who = ctx.keys.mac("privacy-signin-client", (client or "").encode()).hex()
    with transaction(ctx) as conn:
        refused = _too_soon(conn, ctx, address, who)
        if refused is None:
            sid = find_subject_id(conn, ctx, email=email, oldest=True)
            code = f"{secrets.randbelow(1_000_000):06d}"
            conn.execute(
                signin_codes.insert().values(
                    id=challenge,
                    subject_id=sid or "",  # "": unknown address, the code never works
                    code_mac=_code_mac(ctx, challenge, code) if sid else "-",
                    created_at=now,
                    expires_at=now + timedelta(minutes=CODE_MINUTES),
                    attempts=0,
                    address_mac=address,
                    client_mac=who,
                    email_bidx=ctx.keys.blind_index("email", email) if sid else None,
                )
            )
            if sid is not None:
                _send_code(conn, ctx, email, sid, challenge, code)
    if refused is not None:
        raise refused
    return challenge


def _too_soon(conn: Connection, ctx: Context, address: str, who: str) -> RateLimited | None:
    """Refuse (audited) a code asked for too soon after the last one to the same address
    (``signin_code_interval_seconds``), or past the hourly limits per address and per
    client; the refusal says how many seconds to wait."""
    now = ctx.clock.now()
    c = signin_codes.c
    settings = ctx.settings
    since = now - LIMIT_WINDOW
    interval = timedelta(seconds=settings.signin_code_interval_seconds)
    wait: int | None = None
    which = ""
    last = conn.execute(select(func.max(c.created_at)).where(c.address_mac == address)).scalar()
    if last is not None and interval and utc(last) + interval > now:
        wait = _seconds(utc(last) + interval - now)
        which = "interval"
        message = (
            "we already sent a code to this address a moment ago (if we know it): use that"
            f" code, or wait {wait} seconds and ask again"
        )
    else:
        for column, value, limit, what in (
            (c.address_mac, address, settings.signin_codes_per_address, "this address"),
            (c.client_mac, who, settings.signin_codes_per_client, "your connection"),
        ):
            recent = (
                conn.execute(
                    select(c.created_at)
                    .where(column == value, c.created_at > since)
                    .order_by(c.created_at.desc())
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            if len(recent) >= limit:
                wait = _seconds(utc(recent[-1]) + LIMIT_WINDOW - now)
                which = "address" if column is c.address_mac else "client"
                message = (
                    f"too many sign-in codes were asked for {what} in the last hour (at most"
                    f" {limit}); use the last code you received, or wait {wait} seconds"
                )
                break
    if wait is None:
        return None
    append_entries(
        conn,
        now,
        [
            denial(
                "privacy.signin_code",
                "anonymous",
                Reason.too_many_codes,
                details={"limit": which, "wait_seconds": wait},
            )
        ],
    )
    return RateLimited(message, code="too_many_codes", retry_after=wait)


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


def _send_code(
    conn: Connection, ctx: Context, email: str, sid: str, challenge: str, code: str
) -> None:
    from troth.notices.outbox import MailKind, enqueue

    org = ctx.policy.policy.organisation.name
    enqueue(
        conn,
        ctx,
        idempotency_key=f"privacy-signin:{challenge}",
        to_addr=email,
        # Never the code in the subject: a subject line is shown where the body is not (the
        # outbox listing, mail previews, notification banners, server logs).
        subject=f"Your {org} privacy centre sign-in code",
        body_text=(
            f"Your code for the {org} privacy centre is {code}.\n\n"
            f"It works once, for {CODE_MINUTES} minutes. If you did not ask for it, "
            "ignore this message.\n"
        ),
        subject_id=sid,
        kind=MailKind.transactional,
        actor=f"subject:{sid}",
        once=True,  # the code's words are not kept once the mail has gone
    )


def finish_signin(ctx: Context, challenge: str, code: str) -> tuple[str, str]:
    """Check the code; returns (session token for the cookie, subject id)."""
    now = ctx.clock.now()
    c = signin_codes.c
    wrong = AuthenticationError(
        "that code is not right or has expired; ask for a new one", code="wrong_code"
    )
    with transaction(ctx) as conn:
        row = conn.execute(select(signin_codes).where(c.id == (challenge or "")[:32])).first()
        if row is None or not row.subject_id or row.used_at is not None or now >= row.expires_at:
            raise wrong
        if row.attempts >= MAX_ATTEMPTS:
            raise RateLimited("too many wrong codes; ask for a new one", code="too_many_attempts")
        if not hmac.compare_digest(row.code_mac, _code_mac(ctx, challenge, (code or "").strip())):
            conn.execute(update(signin_codes).where(c.id == row.id).values(attempts=c.attempts + 1))
            append_entries(
                conn,
                now,
                [
                    denial(
                        "privacy.signin",
                        f"subject:{row.subject_id}",
                        Reason.wrong_code,
                        subject_id=row.subject_id,
                    )
                ],
            )
            failed = True
        else:
            failed = False
            conn.execute(update(signin_codes).where(c.id == row.id).values(used_at=now))
            token = _open_session(conn, ctx, str(row.subject_id), row.email_bidx)
    if failed:
        raise wrong
    return token, str(row.subject_id)


def _open_session(
    conn: Connection,
    ctx: Context,
    subject_id: str,
    address: str | None,
    *,
    switched: bool = False,
) -> str:
    """A new session for ``subject_id``, signed in with the address whose blind index is
    ``address``, audited as a sign-in; returns its token."""
    now = ctx.clock.now()
    token = secrets.token_urlsafe(32)
    conn.execute(
        privacy_sessions.insert().values(
            id=token_hash(token),
            subject_id=subject_id,
            csrf_secret=secrets.token_urlsafe(32),
            email_bidx=address,
            created_at=now,
            last_seen_at=now,
        )
    )
    seal_new(conn, ctx.keys, privacy_sessions, [token_hash(token)])
    entry = AuditEntry(
        action="privacy.signin",
        actor=f"subject:{subject_id}",
        subject_id=subject_id,
        details={"from": "another record of the same address"} if switched else {},
    )
    append_entries(conn, now, [entry])
    return token


@dataclass(frozen=True, slots=True)
class Session:
    """A live privacy session: the person, the CSRF secret of their forms, and the blind
    index of the address they signed in with (None for a session older than troth's
    record of it)."""

    subject_id: str
    csrf_secret: str
    address: str | None


def resolve(ctx: Context, token: str) -> Session | None:
    """The live privacy session of ``token``, or None (one whose row does not match its
    seal too, audited ``record_tampered``: the person signs in again)."""
    if not token or len(token) > 100:
        return None
    now = ctx.clock.now()
    s = privacy_sessions.c
    with ctx.engine.connect() as conn:
        row = conn.execute(select(privacy_sessions).where(s.id == token_hash(token))).first()
    if row is not None and not row_matches(ctx.keys, privacy_sessions, row):
        who = f"subject:{row.subject_id}"
        found = denial(
            "privacy.session", who, Reason.record_tampered, details={"session": row.id[:16]}
        )
        with transaction(ctx) as conn:
            append_entries(conn, now, [found])
        return None
    if row is None or row.ended_at is not None:
        return None
    idle = timedelta(minutes=ctx.settings.session_idle_minutes)
    absolute = timedelta(hours=ctx.settings.session_absolute_hours)
    if now >= row.last_seen_at + idle or now >= row.created_at + absolute:
        return None
    if now - row.last_seen_at >= SEEN_EVERY:
        # The idle limit counts in minutes: one write a minute keeps it true (not one a page).
        with ctx.engine.begin() as conn:
            conn.execute(update(privacy_sessions).where(s.id == row.id).values(last_seen_at=now))
    return Session(str(row.subject_id), str(row.csrf_secret), row.email_bidx)


def records_of_address(ctx: Context, session: Session) -> list[Held]:
    """Every live (not erased) record of the e-mail address the person signed in with,
    theirs included: the organisation's own first, then the customers' by age. One
    address can be on file with several customers of a multi-tenant service; signing in
    proved control of it, so the person may move between those records
    (:func:`switch_record`). Only that address: another a person once gave, typed in a
    form, proves nothing. Empty for a person without an address."""
    s = subjects.c
    address = session.address
    with ctx.engine.connect() as conn:
        if address is None:  # a session from before troth kept the address: their newest
            address = conn.execute(select(s.email_bidx).where(s.id == session.subject_id)).scalar()
        if not address:
            return []
        rows = held_under(conn, ctx.keys, address)
    # The address must be the signed-in person's own (sealed) one, whatever their row's
    # unsealed index says.
    return rows if session.subject_id in {h.subject_id for h in rows} else []


def held_under(conn: Connection, keys: Keyring, address: str) -> list[Held]:
    """Every live record whose (sealed) e-mail identities include the blind index
    ``address``: the organisation's own first, then the customers' by age
    (:func:`records_of_address`). An identity changed outside troth names nobody."""
    s, i = subjects.c, identities.c
    found = conn.execute(
        select(s.id, s.tenant_id, s.created_at, tenants.c.name, i.seal)
        .select_from(
            identities.join(subjects, s.id == i.subject_id).outerjoin(
                tenants, tenants.c.id == s.tenant_id
            )
        )
        .where(i.kind == "email", i.bidx == address, s.erased_at.is_(None))
    ).all()
    rows = [r for r in found if identity_matches(keys, "email", address, r.id, r.seal)]
    order = sorted(rows, key=lambda r: (r.tenant_id is not None, utc(r.created_at), r.id))
    return [Held(str(r.id), r.name, r.tenant_id) for r in order]


def switch_record(ctx: Context, token: str, subject_id: str) -> str:
    """Move a privacy-centre session to another record of the same address (one of
    :func:`records_of_address`); returns the new session's token. The old session ends
    (a new person, a new token, as at sign-in), and the move is audited as a sign-in to
    that record. Any other id, an erased record's included, is NotFound, audited."""
    found = resolve(ctx, token)
    if found is None:
        raise AuthenticationError("sign in to the privacy centre first", code="login_required")
    current = found.subject_id
    now = ctx.clock.now()
    ids = {h.subject_id for h in records_of_address(ctx, found)}
    with transaction(ctx) as conn:
        if subject_id in ids:
            write_sealed(
                conn,
                ctx.keys,
                privacy_sessions,
                privacy_sessions.c.id == token_hash(token),
                ended_at=now,
            )
            return _open_session(conn, ctx, subject_id, found.address, switched=True)
        # The refusal under the signed-in person only: nothing names the id tried.
        refused = denial(
            "privacy.switch", f"subject:{current}", Reason.not_found, subject_id=current
        )
        append_entries(conn, now, [refused])
    raise NotFound("that is not one of your records", code="not_found")


def end(ctx: Context, token: str) -> None:
    with ctx.engine.begin() as conn:
        sid = privacy_sessions.c.id == token_hash(token or "")
        write_sealed(conn, ctx.keys, privacy_sessions, sid, ended_at=ctx.clock.now())


def purge_codes(ctx: Context) -> int:
    """Forget sign-in codes that can no longer work nor count towards a limit (older than
    the limits' window and expired); the worker runs this hourly. Returns how many."""
    now = ctx.clock.now()
    c = signin_codes.c
    with ctx.engine.begin() as conn:
        result = conn.execute(
            signin_codes.delete().where(c.created_at < now - LIMIT_WINDOW, c.expires_at < now)
        )
    return int(result.rowcount or 0)
