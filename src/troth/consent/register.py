"""Every consent event, for the office (power ``manage_requests``, which reaches people's
consent records): filtered by purpose, given or withdrawn and time, newest first, one page
at a time with the total. Ids only: no personal data beyond who (by id) and what."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from troth.consent.tables import consent_events
from troth.context import Context
from troth.db import check_page, count_where, within
from troth.gate import Actor
from troth.office import audit_read, authorize
from troth.policy.model import Power


def list_consent_events(
    ctx: Context,
    actor: Actor,
    *,
    purpose: str | None = None,
    granted: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """One page of consent events matching every filter and how many match in all; the
    read is audited (:func:`troth.office.audit_read`)."""
    authorize(ctx, actor, Power.manage_requests, details={"operation": "list_consents"})
    check_page(limit, offset)
    e = consent_events.c
    where: list[Any] = []
    if purpose:
        where.append(e.purpose == purpose)
    if granted is not None:
        where.append(e.granted == granted)
    where += within(e.at, since, until)
    cols = [e.id, e.subject_id, e.purpose, e.kind, e.granted, e.method, e.policy_version, e.at]
    cols.append(e.receipt_id)
    stmt = (
        select(*cols).where(*where).order_by(e.at.desc(), e.id.desc()).limit(limit).offset(offset)
    )
    with ctx.engine.connect() as conn:
        n = count_where(conn, consent_events, where)
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
    asked = {"purpose": purpose, "granted": granted, "since": since, "until": until}
    audit_read(ctx, actor, Power.manage_requests, "list_consents", asked)
    return rows, n
