"""What a person signed in to the privacy centre (:mod:`troth.access.signin`) reads of
their own: everything stored about them, audited as ``privacy.view``."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from troth.audit.entry import AuditEntry
from troth.audit.log import append_entries, transaction
from troth.collection.validation import person_zone
from troth.context import Context
from troth.db import reading
from troth.policy.masking import withheld_from_access
from troth.store.seals import refusing_tampered
from troth.store.subjects import get_subject
from troth.store.values import StoredValue, read_values


def held_values(ctx: Context, subject_id: str) -> tuple[list[StoredValue], list[dict[str, Any]]]:
    """Everything stored about the person, read for their own access (audited, with the
    categories read), and what the policy withholds from their access with its reason
    (:func:`~troth.policy.masking.withheld_from_access`); NotFound for an unknown subject;
    a record changed outside troth refuses the whole read (``record_tampered``, audited)."""
    actor = f"subject:{subject_id}"
    with (
        refusing_tampered(ctx, "privacy.view", actor, subject_id=subject_id),
        transaction(ctx) as conn,
    ):
        get_subject(conn, subject_id, ctx.keys)
        values, withheld = withheld_from_access(ctx.policy, read_values(conn, ctx, subject_id))
        append_entries(
            conn,
            ctx.clock.now(),
            [
                AuditEntry(
                    action="privacy.view",
                    actor=actor,
                    subject_id=subject_id,
                    categories=tuple(sorted({v.category for v in values})),
                )
            ],
        )
    return values, withheld


def zone_of(ctx: Context, subject_id: str) -> ZoneInfo:
    """Where the person's dates are read: the zone of their regime
    (``organisation.time_zones``), else the organisation's own, as for their deadlines
    and their age; their row checked against its seal first."""
    with reading(ctx.engine) as conn:
        person = get_subject(conn, subject_id, ctx.keys)
    return person_zone(ctx.policy.policy.organisation, person.jurisdiction)
