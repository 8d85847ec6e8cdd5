"""Erasing people from troth's store: their records deleted, their data keys shredded,
their blind indexes cleared."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, delete, select

from troth.context import Context
from troth.store.keystore import shred_subject_keys
from troth.store.subject_seals import update_subjects
from troth.store.tables import identities, records, subjects

__all__ = ["drop_spent_identities", "erase_subject_data"]


def erase_subject_data(
    conn: Connection,
    ctx: Context,
    subject_ids: Sequence[str],
    *,
    keep: Iterable[int] = (),
) -> dict[str, int]:
    """Delete every record of these subjects except ``keep`` (record ids kept under a
    legal obligation), shred their data keys unless something encrypted is kept, and
    clear their blind indexes (their identities too, unless something is kept).
    Set-based; returns counts."""
    keep_ids = list(keep)
    ids = list(subject_ids)
    deleted = 0
    shredded = 0
    now = ctx.clock.now()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        q = delete(records).where(records.c.subject_id.in_(chunk))
        if keep_ids:
            q = q.where(records.c.id.not_in(keep_ids))
        deleted += conn.execute(q).rowcount or 0
        kept_encrypted = set(
            conn.execute(
                select(records.c.subject_id)
                .where(records.c.subject_id.in_(chunk), records.c.ciphertext.is_not(None))
                .distinct()
            ).scalars()
        )
        shredded += shred_subject_keys(conn, [s for s in chunk if s not in kept_encrypted])
        # A person of whom the law keeps something keeps their identities (blind indexes,
        # never the values) so that their access request still finds what is kept; they
        # go with the last kept value (:func:`drop_spent_identities`).
        keeping = select(records.c.subject_id).where(records.c.subject_id.in_(chunk))
        conn.execute(
            delete(identities).where(
                identities.c.subject_id.in_(chunk), identities.c.subject_id.not_in(keeping)
            )
        )
        update_subjects(
            conn,
            ctx.keys,
            subjects.c.id.in_(chunk),
            email_bidx=None,
            phone_bidx=None,
            customer_id_bidx=None,
            status="erased",
            erased_at=now,
        )
    return {"records_deleted": deleted, "keys_shredded": shredded}


def drop_spent_identities(conn: Connection) -> int:
    """Delete the identities of erased people of whom nothing is kept any longer (the
    retention run that deleted their last kept value calls this); returns how many."""
    erased = select(subjects.c.id).where(subjects.c.erased_at.is_not(None))
    holding = select(records.c.subject_id).where(records.c.subject_id == identities.c.subject_id)
    done = conn.execute(
        delete(identities).where(identities.c.subject_id.in_(erased), ~holding.exists())
    )
    return int(done.rowcount or 0)
