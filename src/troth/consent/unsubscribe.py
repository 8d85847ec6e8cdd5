"""One-click unsubscribe (RFC 8058): an opaque, unguessable token per person and list.

The token is ``base64url(HMAC(token key, "subject|list|nonce"))``: only its SHA-256 and the
random nonce are stored, so the database alone cannot mint a working link. A POST with
the token calls :func:`unsubscribe` (no login, no cookie); a GET only ever calls
:func:`describe_token`, because link scanners follow GETs.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import Connection, insert, select, update

from troth.audit.log import transaction
from troth.audit.refusals import Refusal, refuse
from troth.clock import utc
from troth.consent.append import erased_refusal
from troth.consent.events import ConsentKind, ConsentMethod, parse_method
from troth.consent.ledger import ConsentLedger
from troth.consent.state import opted_out_purposes
from troth.consent.tables import unsubscribe_tokens
from troth.context import Context
from troth.errors import NotFound
from troth.store.ids import token_hash

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
_LABEL = "unsubscribe"


@dataclass(frozen=True, slots=True)
class UnsubscribeResult:
    """What a one-click unsubscribe did; ``already_done`` for a replayed token."""

    list_id: str
    purpose: str
    already_done: bool
    event_id: int | None = None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What the confirmation page shows for a token (reading it changes nothing)."""

    list_id: str
    list_description: str
    purpose: str
    already_unsubscribed: bool


def _mint(ctx: Context, subject_id: str, list_id: str, nonce: str) -> str:
    from troth.consent.receipt import b64url

    return b64url(ctx.keys.mac(_LABEL, f"{subject_id}|{list_id}|{nonce}".encode()))


def issue_token(conn: Connection, ctx: Context, subject_id: str, list_id: str) -> str:
    """The live unsubscribe token of (subject, list), created on first use and renewed
    once used (a person who subscribes again gets a working link again)."""
    t = unsubscribe_tokens.c
    nonce = conn.execute(
        select(t.nonce)
        .where(t.subject_id == subject_id, t.list_id == list_id, t.used_at.is_(None))
        .order_by(t.created_at.desc())
        .limit(1)
    ).scalar()
    if nonce is not None:
        return _mint(ctx, subject_id, list_id, nonce)
    nonce = secrets.token_hex(16)
    token = _mint(ctx, subject_id, list_id, nonce)
    conn.execute(
        insert(unsubscribe_tokens).values(
            token_hash=token_hash(token),
            subject_id=subject_id,
            list_id=list_id,
            nonce=nonce,
            created_at=ctx.clock.now(),
        )
    )
    return token


def unsubscribe_subject(
    ctx: Context, subject_id: str, list_id: str, method: ConsentMethod | str
) -> UnsubscribeResult:
    """Unsubscribe a person from a list they asked to leave themselves (the privacy
    centre): the same withdrawal as the one-click link, through the person's own token.
    A person already off the list is told so and nothing is recorded again (a second
    click is not a second withdrawal). An unknown list is NotFound."""
    if list_id not in ctx.policy.lists:
        raise NotFound(f"no list {list_id!r}", code="unknown_list")
    purpose = _purpose(ctx, list_id)
    with transaction(ctx) as conn:
        refusal = erased_refusal(conn, subject_id, [purpose])
        if refusal is None:
            if purpose in opted_out_purposes(conn, subject_id):
                return UnsubscribeResult(list_id, purpose, already_done=True)
            token = issue_token(conn, ctx, subject_id, list_id)
    if refusal is not None:
        _refuse(ctx, refusal, subject_id, purpose, list_id)
    return unsubscribe(ctx, token, method=method)


def unsubscribe_url(ctx: Context, token: str) -> str:
    return f"{ctx.settings.public_url.rstrip('/')}/u/{token}"


def unsubscribe(
    ctx: Context, token: str, method: ConsentMethod | str = ConsentMethod.email_link
) -> UnsubscribeResult:
    """Withdraw the list's purpose for the token's person, at once (the POST). A replayed
    token reports ``already_done`` and records nothing; an unknown one is NotFound."""
    how = parse_method(method)
    digest = _digest(token)
    now = ctx.clock.now()
    t = unsubscribe_tokens.c
    with transaction(ctx) as conn:
        row, purpose = _live_token(conn, ctx, digest, now)
        refusal = erased_refusal(conn, row.subject_id, [purpose])
        if refusal is None:
            # Compare-and-set: of two concurrent clicks, exactly one records the event.
            claimed = conn.execute(
                update(unsubscribe_tokens)
                .where(t.token_hash == digest, t.used_at.is_(None))
                .values(used_at=now)
            ).rowcount
            if claimed != 1:
                return UnsubscribeResult(row.list_id, purpose, already_done=True)
            rec = ConsentLedger(ctx).record_opt_out(
                conn,
                row.subject_id,
                purpose,
                kind=ConsentKind.unsubscribe,
                method=how,
                actor=f"subject:{row.subject_id}",
                at=now,
                details={"list_id": row.list_id},
            )
            conn.execute(
                update(unsubscribe_tokens)
                .where(t.token_hash == digest)
                .values(event_id=rec.event_id)
            )
            return UnsubscribeResult(
                row.list_id, purpose, already_done=False, event_id=rec.event_id
            )
    _refuse(ctx, refusal, row.subject_id, purpose, row.list_id)


def _refuse(
    ctx: Context, refusal: Refusal, subject_id: str, purpose: str, list_id: str
) -> NoReturn:
    """An erased person's unsubscribe, refused once its transaction wrote nothing."""
    refuse(
        ctx,
        "consent.refused",
        f"subject:{subject_id}",
        refusal.reason,
        refusal.message,
        subject_id=subject_id,
        purpose=purpose,
        details={"list_id": list_id},
        shown={"purpose": purpose},
    )


def describe_token(ctx: Context, token: str) -> TokenInfo:
    """What the GET confirmation page needs; never writes anything."""
    digest = _digest(token)
    with ctx.engine.connect() as conn:
        row, purpose = _live_token(conn, ctx, digest, ctx.clock.now())
        out = purpose in opted_out_purposes(conn, row.subject_id)
    lst = next(x for x in ctx.policy.policy.lists if x.id == row.list_id)
    return TokenInfo(
        list_id=row.list_id,
        list_description=lst.description or lst.id,
        purpose=purpose,
        already_unsubscribed=row.used_at is not None or out,
    )


def _live_token(conn: Connection, ctx: Context, digest: str, now: datetime) -> tuple[Any, str]:
    """The token row of ``digest`` (its person, list, use and age) and the list's purpose;
    NotFound for an unknown token, one past ``unsubscribe_link_days`` or a list the policy
    no longer has."""
    t = unsubscribe_tokens.c
    row = conn.execute(
        select(t.subject_id, t.list_id, t.used_at, t.created_at).where(t.token_hash == digest)
    ).first()
    if row is None:
        raise _unknown()
    _check_age(ctx, row.created_at, now)
    return row, _purpose(ctx, row.list_id)


def _digest(token: str) -> str:
    if not isinstance(token, str) or not _TOKEN.match(token):
        raise _unknown()
    return token_hash(token)


def _purpose(ctx: Context, list_id: str) -> str:
    purpose = ctx.policy.lists.get(list_id)
    if purpose is None:
        raise NotFound(
            f"the list {list_id!r} is no longer in the policy: nothing is sent for it",
            code="unknown_list",
        )
    return purpose


def _check_age(ctx: Context, created_at: datetime, now: datetime) -> None:
    """Links live forever unless ``unsubscribe_link_days`` says otherwise (RFC 8058 links
    in old mail should keep working; a deployment may choose to end them)."""
    days = ctx.settings.unsubscribe_link_days
    if days > 0 and now - utc(created_at) > timedelta(days=days):
        raise NotFound(
            f"this unsubscribe link is older than {days} days and no longer works; use the link"
            " in a recent e-mail, or change your choices in the privacy centre",
            code="expired_token",
        )


def _unknown() -> NotFound:
    return NotFound(
        "this unsubscribe link is not valid; use the link from the most recent e-mail, or "
        "change your choices in the privacy centre",
        code="unknown_token",
    )
