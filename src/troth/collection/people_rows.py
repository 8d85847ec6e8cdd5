"""The people rows a collection writes and reads beside its values: the new people it
creates (one insert, each row sealed) and the jurisdiction each person is recorded under."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from troth.context import Context
from troth.driver import insert_many
from troth.store.subject_seals import subject_seal, subject_seal_key
from troth.store.tables import subjects


def insert_people(
    conn: Connection,
    ctx: Context,
    new_rows: list[dict[str, Any]],
    *,
    tenant_id: str | None,
    kind: str | None,
    juris: str,
    now: datetime,
) -> set[str]:
    """Create the people a collection did not find (one insert), each row sealed
    (troth.store.subject_seals); returns their ids."""
    if new_rows:
        key = subject_seal_key(ctx.keys)
        common = (tenant_id, kind, juris, "active", now, None, None, None)
        for r in new_rows:
            r["seal"] = subject_seal(key, (r["id"], *common))
        insert_many(
            conn,
            subjects,
            new_rows,
            common={
                "tenant_id": tenant_id,
                "kind": kind,
                "jurisdiction": juris,
                "status": "active",
                "created_at": now,
            },
        )
    return {r["id"] for r in new_rows}


def jurisdictions_of(
    conn: Connection, juris: str, sids: Sequence[str], created: set[str], known: dict[str, str]
) -> dict[str, str]:
    """Each person's jurisdiction as recorded: ``juris`` (the batch's) for the people it
    creates, their own for those already known (one query per 900 found by an identity)."""
    out = {sid: juris for sid in created} | known
    rest = sorted({sid for sid in sids if sid not in out})
    for start in range(0, len(rest), 900):
        q = select(subjects.c.id, subjects.c.jurisdiction)
        q = q.where(subjects.c.id.in_(rest[start : start + 900]))
        out.update({str(sid): str(j) for sid, j in conn.execute(q)})
    return out
