"""``Idempotency-Key`` on creating POSTs: the same key with the same request returns the
first response again; the same key with a different request is a 409.

A key is reserved (row with no response) before the work runs, so two concurrent
requests with one key cannot both do it; the response is stored when the work succeeds
and the reservation is dropped when it fails (the caller may retry with the same key).
Keys are scoped to the actor and remembered for :data:`KEEP`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Column, Index, Integer, String, Table, Text, delete, select, update
from sqlalchemy.exc import IntegrityError as DbIntegrityError

from troth.context import Context
from troth.db import UtcDateTime, metadata
from troth.errors import Conflict, ValidationError

KEEP = timedelta(hours=24)
MAX_KEY = 200

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("actor", String(200), primary_key=True),
    Column("key", String(MAX_KEY), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status", Integer),  # NULL while the first request is still running
    Column("response", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_idempotency_keys_created_at", "created_at"),
)


def request_hash(method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same": method, path and body bytes."""
    h = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def run_once(
    ctx: Context,
    actor: str,
    key: str | None,
    fingerprint: str,
    work: Callable[[], tuple[int, Any]],
) -> tuple[int, Any, bool]:
    """Run ``work`` (returning status and JSON body) at most once per ``(actor, key)``.
    Returns ``(status, body, replayed)``."""
    if key is None:
        status, body = work()
        return status, body, False
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise ValidationError(
            f"Idempotency-Key must be 1 to {MAX_KEY} printable characters",
            code="invalid_idempotency_key",
        )
    t = idempotency_keys
    now = ctx.clock.now()
    ident = (t.c.actor == actor) & (t.c.key == key)
    with ctx.engine.begin() as conn:
        row = conn.execute(select(t).where(ident)).first()
        if row is not None and row.created_at < now - KEEP:
            conn.execute(delete(t).where(ident))
            row = None
        if row is None:
            try:
                with conn.begin_nested():
                    conn.execute(
                        t.insert().values(
                            actor=actor, key=key, request_hash=fingerprint, created_at=now
                        )
                    )
            except DbIntegrityError:
                row = conn.execute(select(t).where(ident)).first()
    if row is not None:
        if row.request_hash != fingerprint:
            raise Conflict(
                "this Idempotency-Key was already used for a different request; use a new key",
                code="idempotency_key_reused",
            )
        if row.status is None:
            raise Conflict(
                "a request with this Idempotency-Key is still running; retry in a moment",
                code="idempotency_key_in_use",
            )
        return int(row.status), json.loads(row.response), True
    try:
        status, body = work()
    except BaseException:
        with ctx.engine.begin() as conn:
            conn.execute(delete(t).where(ident))
        raise
    with ctx.engine.begin() as conn:
        conn.execute(
            update(t).where(ident).values(status=status, response=json.dumps(body, default=str))
        )
    return status, body, False


def purge_expired(ctx: Context) -> int:
    """Forget keys older than :data:`KEEP` (one set-based delete); returns how many."""
    with ctx.engine.begin() as conn:
        result = conn.execute(
            delete(idempotency_keys).where(idempotency_keys.c.created_at < ctx.clock.now() - KEEP)
        )
    return int(result.rowcount or 0)
