"""Rebuild the identity blind indexes from the stored values (``troth reindex``).

The index form of an identity can change between versions of troth: phone numbers were
indexed as typed (digits), they are now indexed in E.164 (:mod:`troth.collection.phones`), so a
database written before holds keys no lookup produces. Each person's e-mail, phone and
customer id are read back (decrypted where needed) from the values their collection points
mark ``identifies`` and indexed again in the person's region: every one of them in the
person's identities (each finds them), the newest of each kind on their row. A value that
can no longer be indexed (not a telephone number) keeps the old keys and is reported.
After an upgrade to the identities table, a run adds the earlier addresses its migration
could not know. An identity that does not match its seal (changed outside troth) is
dropped, and made again, sealed, where the person's values hold it. Idempotent: a second
run changes nothing. Audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from troth.audit.entry import AuditEntry
from troth.audit.log import append_entries, transaction
from troth.collection.phones import region_for
from troth.context import Context
from troth.errors import ValidationError
from troth.store.identity_seals import identity_matches, sealed
from troth.store.tables import identities, subjects
from troth.store.values import StoredValue, read_subject

KINDS = ("email", "phone", "customer_id")


@dataclass
class ReindexReport:
    """What ``rebuild_identity_indexes`` did."""

    subjects: int = 0
    updated: int = 0
    unreadable: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subjects": self.subjects,
            "updated": self.updated,
            "unreadable": self.unreadable,
        }


@dataclass
class Synced:
    """What :func:`sync_identities` did for one person: whether anything changed, and
    the values it could not index."""

    changed: int = 0
    unreadable: list[dict[str, str]] = field(default_factory=list)


def sync_identities(
    conn: Connection,
    ctx: Context,
    sid: str,
    jurisdiction: str,
    values: Sequence[StoredValue],
) -> Synced:
    """Make the person's identities exactly those their stored ``values`` hold (every
    value of a field its collection point marks ``identifies``, indexed in the person's
    region), and their row's blind indexes the newest of each kind. A value that can no
    longer be indexed keeps the person's old identities and is reported."""
    idx = ctx.policy
    region = region_for(idx.policy, jurisdiction)
    out = Synced()
    want: set[tuple[str, str]] = set()
    newest: dict[str, str] = {}
    for v in sorted(values, key=lambda v: v.collected_at):
        spec = idx.point_fields.get(v.collection_point or "", {}).get(v.field)
        if spec is None or not spec.identifies or v.value in (None, ""):
            continue
        try:
            key = ctx.keys.blind_index(spec.identifies, str(v.value), region=region)
        except ValidationError as exc:
            out.unreadable.append({"subject_id": sid, "kind": spec.identifies, "why": exc.code})
            continue
        want.add((spec.identifies, key))
        newest[spec.identifies] = key
    held = conn.execute(
        select(identities.c.kind, identities.c.bidx, identities.c.seal).where(
            identities.c.subject_id == sid
        )
    ).all()
    # One changed outside troth goes (its own values say which are theirs: those are
    # made again, sealed).
    bad = {
        (str(k), str(h)) for k, h, seal in held if not identity_matches(ctx.keys, k, h, sid, seal)
    }
    have = {(str(k), str(h)) for k, h, _seal in held} - bad
    gone = bad | (set() if out.unreadable else have - want)
    for kind, h in sorted(gone):
        conn.execute(
            delete(identities).where(
                identities.c.kind == kind, identities.c.bidx == h, identities.c.subject_id == sid
            )
        )
    if want - have:
        rows = [{"kind": k, "bidx": h, "subject_id": sid} for k, h in sorted(want - have)]
        conn.execute(insert(identities), sealed(ctx.keys, rows))
    row = conn.execute(
        select(*(subjects.c[f"{k}_bidx"] for k in KINDS)).where(subjects.c.id == sid)
    ).one()
    change = {f"{k}_bidx": h for k, h in newest.items() if row[KINDS.index(k)] != h}
    if change:
        conn.execute(update(subjects).where(subjects.c.id == sid).values(**change))
    out.changed = int(bool(change or gone or want - have))
    return out


def rebuild_identity_indexes(
    ctx: Context, *, batch: int = 500, actor: str = "system"
) -> ReindexReport:
    """Index every person's identities again (see the module doc); one transaction per
    ``batch`` people, so a large store is not locked for the whole run."""
    if batch < 1:
        raise ValidationError("batch is a number of people >= 1")
    report = ReindexReport()
    last = ""
    while True:
        with transaction(ctx) as conn:
            rows = conn.execute(
                select(subjects.c.id)
                .where(subjects.c.id > last, subjects.c.erased_at.is_(None))
                .order_by(subjects.c.id)
                .limit(batch)
            ).all()
            if not rows:
                break
            for (sid,) in rows:
                last = sid
                report.subjects += 1
                subj, values = read_subject(conn, ctx, sid)
                synced = sync_identities(conn, ctx, sid, subj.jurisdiction, values)
                report.unreadable += synced.unreadable
                report.updated += synced.changed
    with transaction(ctx) as conn:
        append_entries(
            conn,
            ctx.clock.now(),
            [
                AuditEntry(
                    action="store.reindex",
                    actor=actor,
                    details={
                        "subjects": report.subjects,
                        "updated": report.updated,
                        "unreadable": len(report.unreadable),
                    },
                )
            ],
        )
    return report


__all__ = ["KINDS", "ReindexReport", "Synced", "rebuild_identity_indexes", "sync_identities"]
