"""An offboarded customer is closed: once its offboarding has started, nothing new is
stored for it. Every path that writes under a tenant (collection by API, CLI, bulk and
import; invitations and their acceptance; member accounts; API keys bound to it; support
grants and their approval; requests opened for it) asks :func:`ensure_open` (or, inside a
transaction, :func:`closed_refusal`) and is refused ``tenant_offboarded`` (409), audited,
with nothing stored."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NoReturn

from sqlalchemy import Connection, select

from troth.audit.refusals import Refusal, refuse
from troth.clock import utc
from troth.errors import Conflict
from troth.gate import Actor, Reason
from troth.requests.tables import tenant_offboardings
from troth.store.tables import tenants

if TYPE_CHECKING:
    from troth.context import Context


def closed_refusal(conn: Connection, tenant_id: str | None) -> Refusal | None:
    """The refusal for a tenant that is offboarded, or being offboarded; None for one that
    is open (or for no tenant, or an unknown one: the caller says so its own way)."""
    if tenant_id is None:
        return None
    row = conn.execute(
        select(
            tenants.c.status, tenant_offboardings.c.started_at, tenant_offboardings.c.finished_at
        )
        .select_from(
            tenants.outerjoin(tenant_offboardings, tenant_offboardings.c.tenant_id == tenants.c.id)
        )
        .where(tenants.c.id == tenant_id)
    ).first()
    if row is None or (row.status != "offboarded" and row.started_at is None):
        return None
    done: datetime | None = row.finished_at
    if done is not None or row.started_at is None:
        day = utc(done).date().isoformat() if done is not None else "an earlier day"
        message = f"customer {tenant_id} was offboarded on {day}: nothing more is stored for it"
    else:
        day = utc(row.started_at).date().isoformat()
        message = (
            f"customer {tenant_id} is being offboarded (since {day}): nothing more is stored for it"
        )
    error = Conflict(message, code="tenant_offboarded", tenant_id=tenant_id, offboarded_on=day)
    return Refusal(Reason.tenant_offboarded, message, error=error)


def refuse_closed(
    ctx: Context, action: str, actor: Actor | str, tenant_id: str, refusal: Refusal
) -> NoReturn:
    """Audit ``refusal`` (from :func:`closed_refusal`) under the tenant and raise it."""
    refuse(
        ctx,
        action,
        actor,
        refusal.reason,
        refusal.message,
        error=refusal.error,
        tenant_id=tenant_id,
        details=dict(refusal.details),
    )


def ensure_open(ctx: Context, tenant_id: str | None, action: str, actor: Actor | str) -> None:
    """Refuse ``action`` (``tenant_offboarded``, 409, audited) if ``tenant_id`` is
    offboarded or being offboarded; nothing for an open tenant or no tenant."""
    with ctx.engine.connect() as conn:
        refusal = closed_refusal(conn, tenant_id)
    if refusal is not None and tenant_id is not None:
        refuse_closed(ctx, action, actor, tenant_id, refusal)
