"""Shared helpers for the audit log's tests (no tests here): a ``Context`` over a fresh
schema built by hand, what `troth init` would make without a home; numbered entries; and
an append whose signed head is lost, as if the process stopped between the two; and, for
the pending entries (PostgreSQL), the tree's state row held from another connection."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import troth.schema  # noqa: F401  (every table on metadata)
from troth.audit import AuditEntry, append_entries, transaction
from troth.audit.log import read_state
from troth.clock import ManualClock
from troth.context import Context
from troth.db import make_engine, metadata
from troth.keys import Keyring
from troth.policy.index import PolicyIndex
from troth.policy.model import Policy
from troth.settings import Settings

POLICY = {
    "version": "1",
    "effective": "2026-01-01",
    "organisation": {"name": "Acme", "jurisdictions": ["gdpr"]},
    "purposes": [
        {
            "id": "billing",
            "description": "Bill customers",
            "legal_basis": "contract",
            "categories": ["contact"],
        }
    ],
    "locations": {"allowed": ["EU"]},
}
"""The smallest policy: one purpose, billing."""


def build_context(tmp_path: Path, db_url: str, **settings: Any) -> Context:
    """A Context over a fresh schema on ``db_url`` with its key file in ``tmp_path``, on a
    manual clock; ``settings`` as for :class:`troth.settings.Settings`. The caller disposes
    of its engine."""
    engine = make_engine(db_url)
    metadata.create_all(engine)
    return Context(
        Settings(home=tmp_path, database_url=db_url, **settings),
        engine,
        PolicyIndex.build(Policy.model_validate(POLICY)),
        Keyring.create(tmp_path / "keys.json"),
        ManualClock(),
    )


def append_unsigned(ctx: Context, entries: list[AuditEntry]) -> None:
    """Append ``entries`` and take their head back out of the heads file: as if the
    process stopped between the commit and the head's write."""
    path = ctx.settings.resolved_heads_file
    before = path.read_bytes() if path.exists() else b""
    with transaction(ctx) as conn:
        append_entries(conn, ctx.clock.now(), entries)
    path.write_bytes(before)


def entry(i: int, subject: str | None = "s1", **kw: object) -> AuditEntry:
    """The ``i``-th of a run of uses (three actors in turn), about ``subject``."""
    base: dict[str, object] = {
        "action": "use",
        "actor": f"staff:user{i % 3}",
        "subject_id": subject,
        "purpose": "billing",
        "categories": ("contact",),
        "details": {"n": i, "note": 'héllo \u2028 "q"'},
    }
    base.update(kw)
    return AuditEntry(**base)  # type: ignore[arg-type]


def tree_size(ctx: Any) -> int:
    with ctx.engine.connect() as conn:
        return read_state(conn)[0]


def entry_of(actor: str, n: int) -> AuditEntry:
    return AuditEntry(action="use", actor=actor, subject_id=f"s{n}", details={"n": n})


def hold_state(ctx: Any) -> Callable[[], None]:
    """Take the tree's state row from another connection; returns its release."""
    conn = ctx.engine.connect()
    conn.begin()
    conn.execute(sa.text("SELECT size FROM audit_state WHERE id = 1 FOR UPDATE"))

    def release() -> None:
        conn.rollback()
        conn.close()

    return release


def count_rows(ctx: Any, table: sa.Table) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def edit_row(t: Any, table: sa.Table, row_id: str, **values: Any) -> None:
    """What a database writer without the key file does to one row of ``table``."""
    with t.ctx.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == row_id).values(**values))


def tampered_entries(t: Any, action: str) -> list[Any]:
    """The audit entries of ``action`` refused as ``record_tampered``."""
    from troth.audit.entries import list_entries

    return [
        e.entry for e in list_entries(t.ctx, action=action) if e.entry.reason == "record_tampered"
    ]
