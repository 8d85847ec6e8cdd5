"""Rebuild the identity blind indexes from the stored values (``troth reindex``).

The index form of an identity can change between versions of troth: phone numbers were
indexed as typed (digits), they are now indexed in E.164 (:mod:`troth.collection.phones`), so a
database written before holds keys no lookup produces. Each person's e-mail, phone and
customer id are read back (decrypted where needed) from the values their collection points
mark ``identifies`` (the newest of each kind) and indexed again in the person's region; a
value that can no longer be indexed (not a telephone number) keeps its old key and is
reported. Idempotent: a second run changes nothing. Audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from troth.audit.entry import AuditEntry
from troth.audit.log import append_entries, transaction
from troth.collection.phones import region_for
from troth.context import Context
from troth.errors import ValidationError
from troth.store.tables import subjects
from troth.store.values import read_subject

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


def rebuild_identity_indexes(
    ctx: Context, *, batch: int = 500, actor: str = "system"
) -> ReindexReport:
    """Index every person's identities again (see the module doc); one transaction per
    ``batch`` people, so a large store is not locked for the whole run."""
    if batch < 1:
        raise ValidationError("batch is a number of people >= 1")
    report = ReindexReport()
    idx = ctx.policy
    last = ""
    while True:
        with transaction(ctx) as conn:
            rows = conn.execute(
                select(
                    subjects.c.id,
                    subjects.c.jurisdiction,
                    *(subjects.c[f"{k}_bidx"] for k in KINDS),
                )
                .where(subjects.c.id > last, subjects.c.erased_at.is_(None))
                .order_by(subjects.c.id)
                .limit(batch)
            ).all()
            if not rows:
                break
            for row in rows:
                sid, juris = row.id, row.jurisdiction
                last = sid
                report.subjects += 1
                _subj, values = read_subject(conn, ctx, sid)
                newest: dict[str, Any] = {}
                for v in sorted(values, key=lambda v: v.collected_at):
                    spec = idx.point_fields.get(v.collection_point or "", {}).get(v.field)
                    if spec is not None and spec.identifies and v.value not in (None, ""):
                        newest[spec.identifies] = v.value
                change: dict[str, str] = {}
                for kind, value in newest.items():
                    try:
                        key = ctx.keys.blind_index(
                            kind, str(value), region=region_for(idx.policy, juris)
                        )
                    except ValidationError as exc:
                        report.unreadable.append({"subject_id": sid, "kind": kind, "why": exc.code})
                        continue
                    if getattr(row, f"{kind}_bidx") != key:
                        change[f"{kind}_bidx"] = key
                if change:
                    conn.execute(update(subjects).where(subjects.c.id == sid).values(**change))
                    report.updated += 1
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


__all__ = ["KINDS", "ReindexReport", "rebuild_identity_indexes"]
