"""Telling the customers of a breach (P33): the controller of a tenant's people.

A tenant's people are the customer's: the organisation holds their data for it, as its
processor, and tells it of a breach of that data without undue delay (GDPR Art. 33(2);
:data:`troth.breaches.clocks.CONTROLLER_OBLIGATIONS`). Each tenant with people on a
breach's list has one step: its clocks (by its people's regimes), and, once done, when it
was told (the breach's ``history``, step ``controller_notified``). The notice goes to the
tenant's primary e-mail address, once (rerunning tells only the tenants not yet told), is
audited under the tenant, and names the breach, the categories in words, how many of the
tenant's own people are affected, what is being done and who to contact; nothing about
another tenant. A tenant reads the breaches that affect its own people, and only its own
people's counts, through :func:`tenant_breaches`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from troth.access.seals import tenant_rows
from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import denial, refuse
from troth.breaches.clocks import clock_status, controller_clocks, notification_clocks
from troth.breaches.controller_letter import controller_notice, customer_zone
from troth.breaches.duties import (
    CONTROLLER_STEP,
    TenantShare,
    leaves_to_controller,
    tenant_shares,
    told_customers,
)
from troth.breaches.model import Breach, breach_of
from troth.breaches.notify import category_words
from troth.breaches.steps import settle_status
from troth.breaches.tables import breach_subjects, breaches
from troth.context import Context
from troth.errors import Conflict, NotFound, ValidationError
from troth.gate import Actor, ActorKind, Reason
from troth.store.tables import subjects, tenants

if TYPE_CHECKING:
    from troth.keys import Keyring

CONTROLLER = CONTROLLER_STEP
# A tenant-bound API key reads its customer's breaches with one of these scopes.
TENANT_SCOPES = frozenset({"admin", "breaches"})


_told = told_customers


def controller_steps(ctx: Context, b: Breach, now: datetime) -> list[dict[str, Any]]:
    """For the officer: each affected tenant's step, its clocks and where they stand."""
    with ctx.engine.connect() as conn:
        shares = tenant_shares(conn, b.id)
        names = _tenant_rows(conn, ctx.keys, [s.tenant_id for s in shares])
    done = _told(b)
    out = []
    for s in shares:
        told = done.get(s.tenant_id)
        at = datetime.fromisoformat(told["at"]) if told else None
        out.append(
            {
                "tenant_id": s.tenant_id,
                "tenant": names.get(s.tenant_id, (None, None))[0],
                "people": s.people,
                "regimes": list(s.regimes),
                "notified_at": told["at"] if told else None,
                "clocks": [
                    {
                        "regime": c.regime.value,
                        "deadline": c.text,
                        "basis": c.basis,
                        "due_at": c.due_at.isoformat() if c.due_at else None,
                        "status": clock_status(c, now, at).value,
                    }
                    for c in controller_clocks(s.regimes, b.aware_at)
                ],
            }
        )
    return out


def _tenant_rows(
    conn: Connection, keys: Keyring, ids: Iterable[str], tampered: list[str] | None = None
) -> dict[str, tuple[str, str | None]]:
    """Each tenant's name and primary address; a tenant whose row does not match its seal
    has no address (its id added to ``tampered``): nothing goes to an address a database
    writer put there."""
    good, bad = tenant_rows(conn, keys, ids)
    if tampered is not None:
        tampered += bad
    names = (
        dict(conn.execute(select(tenants.c.id, tenants.c.name).where(tenants.c.id.in_(bad))).all())
        if bad
        else {}
    )
    return {
        **{t: (str(names[t]), None) for t in bad},
        **{r.id: (r.name, r.primary_email) for r in good.values()},
    }


def notify_controllers(ctx: Context, b: Breach, measures: str, actor: Actor) -> dict[str, Any]:
    """Tell every affected tenant not yet told (module docstring); returns how many were
    told now, which tenants have no address (not told), and how many were told before."""
    from troth.notices.outbox import MailKind, enqueue

    text = measures.strip() if isinstance(measures, str) else ""
    if not text:
        raise ValidationError(
            "say what is being done about the breach (measures): the customers are told it",
            field="measures",
        )
    now = ctx.clock.now()
    done = _told(b)
    told: list[str] = []
    no_address: list[str] = []
    with transaction(ctx) as conn:
        row = conn.execute(
            select(breaches.c.history).where(breaches.c.id == b.id).with_for_update()
        ).one()
        if list(row.history or []) != list(b.history):
            raise Conflict(f"breach {b.id} changed meanwhile: read it again and retry")
        shares = [s for s in tenant_shares(conn, b.id) if s.tenant_id not in done]
        tampered: list[str] = []
        rows = _tenant_rows(conn, ctx.keys, [s.tenant_id for s in shares], tampered)
        entries: list[dict[str, Any]] = []
        audit: list[AuditEntry] = [
            denial("breach.notify_controller", actor, Reason.record_tampered, tenant_id=t)
            for t in tampered
        ]
        for s in shares:
            name, addr = rows.get(s.tenant_id, ("", None))
            if not addr:
                no_address.append(s.tenant_id)
                continue
            subject, body = controller_notice(ctx, b, s, name, text)
            enqueue(
                conn,
                ctx,
                idempotency_key=f"breach:{b.id}:tenant:{s.tenant_id}",
                to_addr=addr,
                subject=subject,
                body_text=body,
                kind=MailKind.notice,
                actor=actor.label,
            )
            entry = {
                "step": CONTROLLER,
                "tenant": s.tenant_id,
                "at": now.isoformat(),
                "people": s.people,
                "measures": text,
                "hands_over": leaves_to_controller(ctx),
                "by": actor.label,
            }
            entries.append(entry)
            told.append(s.tenant_id)
            details = {"breach": b.id, "people": s.people, "hands_over": entry["hands_over"]}
            audit.append(
                AuditEntry(
                    "breach.controller_notified",
                    actor.label,
                    Outcome.info,
                    tenant_id=s.tenant_id,
                    details=details,
                )
            )
        if entries:
            conn.execute(
                update(breaches).where(breaches.c.id == b.id).values(history=[*b.history, *entries])
            )
            settle_status(conn, b.id)
        if audit:
            append_entries(conn, now, audit)
    out = {"told": told, "no_address": no_address, "already_told": sorted(done)}
    return out | ({"tampered": tampered} if tampered else {})


# -- what a tenant reads -----------------------------------------------------------------
def tenant_of(ctx: Context, actor: Actor, *, action: str = "breach.tenant_read") -> str:
    """The tenant whose breaches ``actor`` may read: a tenant-bound API key with the scope
    ``breaches`` or ``admin``, or an admin of the tenant signed in to its console. Anyone
    else is refused, audited (the vendor's office reads the whole register instead)."""
    tid = actor.tenant_id
    if tid is not None and actor.kind is ActorKind.tenant_admin:
        return tid
    if tid is not None and actor.kind is ActorKind.application:
        if actor.scopes & TENANT_SCOPES:
            return tid
        why = "this API key lacks the scope for that: breaches (its own tenant's)"
        reason = Reason.scope_missing
    elif tid is not None:
        why, reason = "only an admin of this customer reads its breaches", Reason.not_tenant_admin
    else:
        why = "the customer's view of the breach register is for a customer's credential"
        reason = Reason.tenant_bound
    refuse(ctx, action, actor, reason, why, tenant_id=tid, details={"operation": "read"})


def _your_clocks(ctx: Context, b: Breach, share: TenantShare, told: str) -> list[dict[str, Any]]:
    """The customer's own duties for its people, counted from when it was told (a
    controller becomes aware when its processor tells it: EDPB Guidelines 9/2022, para.
    43): the deadlines only, since troth does not know when it met them."""
    zone = customer_zone(ctx, share.regimes)
    clocks = notification_clocks(
        share.regimes, datetime.fromisoformat(told), share.people, b.high_risk
    )
    return [
        {
            "regime": c.regime.value,
            "audience": c.audience.value,
            "deadline": c.text,
            "basis": c.basis,
            "starts_at": c.starts_at.isoformat(),
            "due_at": c.due_at.isoformat() if c.due_at else None,
            "due_local": c.due_at.astimezone(zone).isoformat() if c.due_at else None,
        }
        for c in clocks
    ]


def _tenant_view(ctx: Context, b: Breach, share: TenantShare) -> dict[str, Any]:
    told = _told(b).get(share.tenant_id)
    left = leaves_to_controller(ctx)
    return {
        "id": b.id,
        "title": b.title,
        "categories": list(b.categories),
        "categories_in_words": list(category_words(ctx, b.categories)),
        "occurred_from": b.occurred_from.isoformat(),
        "occurred_until": b.occurred_until.isoformat(),
        "discovered_at": b.discovered_at.isoformat(),
        "aware_at": b.aware_at.isoformat(),
        "your_people_affected": share.people,
        "your_people_told_by_us": share.told,
        "regimes": list(share.regimes),
        "you_were_told_at": told["at"] if told else None,
        "measures": told["measures"] if told else None,
        "your_people_left_to_you": left,
        # When the customer tells its people: its own clocks, from when it was told.
        "your_clocks": _your_clocks(ctx, b, share, told["at"]) if told and left else [],
        "zone": str(customer_zone(ctx, share.regimes)),
    }


def tenant_breaches(
    ctx: Context, actor: Actor, breach_id: str | None = None
) -> list[dict[str, Any]]:
    """The breaches that affect the actor's tenant's people, oldest first, each with that
    tenant's own counts only (``breach_id``: that one; a breach that affects none of its
    people is answered as one that does not exist)."""
    tid = tenant_of(ctx, actor)
    bs = breach_subjects.c
    mine = (
        select(bs.breach_id)
        .join(subjects, subjects.c.id == bs.subject_id)
        .where(subjects.c.tenant_id == tid)
    )
    q = select(breaches).where(breaches.c.id.in_(mine)).order_by(breaches.c.discovered_at)
    if breach_id is not None:
        q = q.where(breaches.c.id == breach_id)
    with ctx.engine.connect() as conn:
        found = [breach_of(r) for r in conn.execute(q)]
        shares = {b.id: tenant_shares(conn, b.id, tid) for b in found}
    if breach_id is not None and not found:
        # Another customer's breach, or none: the same answer, filed in the caller's log.
        refuse(
            ctx,
            "breach.tenant_read",
            actor,
            Reason.not_found,
            error=NotFound(f"no breach {breach_id[:64]!r} in the register"),
            tenant_id=tid,
            details={"breach": breach_id[:64]},
        )
    return [_tenant_view(ctx, b, shares[b.id][0]) for b in found if shares[b.id]]


__all__ = [
    "CONTROLLER",
    "TENANT_SCOPES",
    "controller_steps",
    "notify_controllers",
    "tenant_breaches",
    "tenant_shares",
]
