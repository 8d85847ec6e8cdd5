"""``Idempotency-Key`` on creating POSTs: the same key with the same request returns the
first response again; the same key with a different request is a 409.

One transaction holds the key's reservation, the work and the stored response
(:func:`troth.db.joined`: the work's audited transactions become savepoints of it), so a
process killed at any point leaves either nothing (a retry runs the work, once) or the work
with its response (a retry gets the stored answer); never a work without its answer. Two
requests with one key queue on the key's row; the second replays the first's answer. When
the work fails, its reservation is dropped (what the work committed on the way, such as an
audited refusal, stays) and the caller may retry with the same key. Keys are scoped to the
actor and remembered for :data:`KEEP`.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Column, Index, Integer, String, Table, Text, delete, select, update
from sqlalchemy.exc import IntegrityError as DbIntegrityError

from troth.audit.log import transaction
from troth.columns import stamp
from troth.context import Context
from troth.db import joined, metadata
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
    stamp("created_at"),
    Index("ix_idempotency_keys_created_at", "created_at"),
)


def request_hash(method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same": method, path and body; a JSON body by what it
    says (its keys in any order, any spacing), any other body by its bytes."""
    h = hashlib.sha256()
    for part in (method.encode(), path.encode(), _canonical(body)):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def _canonical(body: bytes) -> bytes:
    try:
        parsed = json.loads(body)
    except ValueError:  # not JSON (or not UTF-8): as sent
        return body
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


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
    failure: Exception | None = None
    status, body = 0, None
    with transaction(ctx) as conn:
        row = conn.execute(select(t).where(ident)).first()
        if row is not None and (row.created_at < now - KEEP or row.status is None):
            # Expired; or a reservation committed without its answer by a troth from before
            # reservation, work and answer shared one transaction (its work is unknown).
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
            except DbIntegrityError:  # a concurrent request with the key committed first
                row = conn.execute(select(t).where(ident)).first()
        if row is None:
            with joined(conn):
                try:
                    status, body = work()
                except Exception as exc:  # re-raised once the key is free
                    failure = exc
            if failure is None:
                _fault("idempotency-after-work")
                conn.execute(
                    update(t)
                    .where(ident)
                    .values(status=status, response=json.dumps(body, default=str))
                )
            else:
                conn.execute(delete(t).where(ident))
    if failure is not None:
        raise failure
    _fault("idempotency-after-commit")
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
    return status, body, False


def _fault(point: str) -> None:
    """Test-only fault injection: with ``TROTH_TEST_FAULT`` naming ``point``, the process
    is killed (SIGKILL) right here, as a crash would, to prove nothing is half-done."""
    if os.environ.get("TROTH_TEST_FAULT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


def purge_expired(ctx: Context) -> int:
    """Forget keys older than :data:`KEEP` (one set-based delete); returns how many."""
    with ctx.engine.begin() as conn:
        result = conn.execute(
            delete(idempotency_keys).where(idempotency_keys.c.created_at < ctx.clock.now() - KEEP)
        )
    return int(result.rowcount or 0)
