"""The one way tests read what troth's mail says (no tests here): the outbox keeps each
message's subject line, bodies and headers encrypted (troth.notices.sealed), so a test
reads them as troth's own delivery does, through ``read_mail``, never with SQL on
``body_text``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from troth.notices.sealed import read_mail
from troth.notices.tables import outbox


class Sent(dict[str, Any]):
    """One outbox row as troth would send it: its columns by name, as a mapping
    (``m["body_text"]``) or as attributes (``m.body_text``); ``subject``, ``body_text``,
    ``body_html`` and ``headers`` decrypted (None, and ``tampered`` True, for a row that
    does not match its seal)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def outbox_mail(
    source: Any,
    *,
    to: str | None = None,
    subject_id: str | None = None,
    key_like: str | None = None,
    where: Any = None,
    newest_first: bool = False,
) -> list[Sent]:
    """The outbox's messages (of a ``Troth`` or a ``Context``), oldest first (or newest
    first), decrypted: those to ``to``, about ``subject_id``, whose idempotency key is
    LIKE ``key_like``, or matching a SQLAlchemy ``where`` clause, as given."""
    ctx = getattr(source, "ctx", source)
    o = outbox.c
    stmt = sa.select(outbox).order_by(o.id.desc() if newest_first else o.id)
    if to is not None:
        stmt = stmt.where(o.to_addr == to)
    if subject_id is not None:
        stmt = stmt.where(o.subject_id == subject_id)
    if key_like is not None:
        stmt = stmt.where(o.idempotency_key.like(key_like))
    if where is not None:
        stmt = stmt.where(where)
    with ctx.engine.connect() as conn:
        rows = list(conn.execute(stmt).mappings())
    return [Sent(read_mail(ctx.keys, r)) for r in rows]


def bodies(source: Any, **which: Any) -> list[str]:
    """The text bodies of :func:`outbox_mail`'s messages, in its order."""
    return [m.body_text for m in outbox_mail(source, **which)]


def latest_body(source: Any, **which: Any) -> str | None:
    """The text body of the newest message :func:`outbox_mail` finds, or None."""
    found = outbox_mail(source, newest_first=True, **which)
    return found[0].body_text if found else None
