"""Every disclosure, for the office (power ``legal_demands``): filtered by recipient,
purpose and time, newest first, one page at a time with the total. A disclosure made under
a legal demand shows its gag (the office's own view; the person does not see it while the
non-disclosure order runs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from troth.context import Context
from troth.db import check_page, count_where, within
from troth.disclosures.logged import check_demands, demand_of
from troth.disclosures.tables import disclosures, legal_demands
from troth.gate import Actor
from troth.office import audit_read, authorize
from troth.policy.model import Power
from troth.stored import readable, tolerating


def list_disclosures(
    ctx: Context,
    actor: Actor,
    *,
    recipient: str | None = None,
    purpose: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """One page of disclosures matching every filter (``since`` <= at < ``until``) and how
    many match in all; the read is audited (:func:`troth.office.audit_read`)."""
    authorize(ctx, actor, Power.legal_demands, details={"operation": "list_disclosures"})
    check_page(limit, offset)
    d, ld = disclosures, legal_demands
    where: list[Any] = []
    if recipient:
        where.append(d.c.recipient == recipient)
    if purpose:
        where.append(d.c.purpose == purpose)
    where += within(d.c.at, since, until)
    stmt = (
        select(
            d,
            ld.c.authority,
            ld.c.reference,
            ld.c.gag_until,
            ld.c.recipient.label("demand_recipient"),
            ld.c.recorded_at,
            ld.c.received_at,
        )
        .select_from(d.outerjoin(ld, ld.c.id == d.c.legal_demand_id))
        .where(*where)
        .order_by(d.c.at.desc(), d.c.id)
        .limit(limit)
        .offset(offset)
    )
    recipients = ctx.policy.recipients
    now = ctx.clock.now()
    with ctx.engine.connect() as conn:
        total = count_where(conn, d, where)
        items = []
        with tolerating():  # a demand's time changed outside troth: the log's gag
            rows = conn.execute(stmt).all()
        # The gag the log recorded (troth.disclosures.logged), not a row changed outside.
        checked = check_demands(conn, (demand_of(r) for r in rows if r.legal_demand_id))
        for row in rows:
            # The disclosure's own row: refused if changed.
            readable(row.at, row.categories, row.masked)
            rc = recipients.get(row.recipient)
            gag = checked.live_gag(row.legal_demand_id, now)
            items.append(
                {
                    "id": row.id,
                    "subject_id": row.subject_id,
                    "recipient": row.recipient,
                    "recipient_name": rc.name if rc else row.recipient,
                    "purpose": row.purpose,
                    "categories": list(row.categories),
                    # The fields sent as their mask, not as held (troth.gate.masks).
                    "masked": list(row.masked or ()),
                    "at": row.at,
                    "actor": row.actor,
                    "location": row.location,
                    "demand": row.authority,
                    "demand_reference": row.reference,
                    "gagged_until": gag,
                }
            )
    checked.audit(ctx)
    asked = {"recipient": recipient, "purpose": purpose, "since": since, "until": until}
    audit_read(ctx, actor, Power.legal_demands, "list_disclosures", asked)
    return items, total
