"""A customer's export as JSON (the tenant pages' ``/tenant/export.json``, P29): its
people and their values, holding only what the admin exporting it may read
(:mod:`troth.gate.exports`: as their member role reads, if they hold one; never what
only the vendor's own purposes use), each value masked as the policy declares, with what
was left out and why."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from troth.access._base import audit
from troth.audit.log import transaction
from troth.audit.refusals import refuse
from troth.context import Context
from troth.gate import Actor, ActorKind, Facts
from troth.gate.exports import ExportScope, export_head, export_scope
from troth.gate.members import member_role_refusal
from troth.policy.masking import shown
from troth.store.seals import refusing_tampered
from troth.store.tables import subjects
from troth.store.values import read_values


def exporter_scope(ctx: Context, tenant_id: str, by: Actor) -> ExportScope:
    """What an export of ``tenant_id`` made by ``by`` (an admin of it the caller has
    authorised, or troth itself) holds: as the member role they hold now, read from their
    account; a role the policy no longer declares is refused, audited."""
    role = None
    if by.kind in (ActorKind.tenant_admin, ActorKind.tenant_member):
        from troth.access.facts import actor_facts  # it imports the tenants, which import this

        with ctx.engine.connect() as conn:
            _, _, role = actor_facts(conn, ctx, by, tenant_id)
        refused = member_role_refusal(ctx.policy, by, Facts(member_role=role))
        if refused is not None and refused.reason is not None:
            refuse(ctx, "tenant.export", by, refused.reason, refused.detail, tenant_id=tenant_id)
    return export_scope(ctx.policy, role)


def export_json(ctx: Context, tenant_id: str, by: Actor) -> dict[str, Any]:
    """The export of ``tenant_id`` for ``by`` (authorised by the caller), audited
    ``tenant.export``; a record changed outside troth refuses it (``record_tampered``)."""
    scope = exporter_scope(ctx, tenant_id, by)
    tampered = refusing_tampered(ctx, "tenant.export", by, tenant_id=tenant_id)
    with tampered, ctx.engine.connect() as conn:
        of_tenant = select(subjects.c.id).where(subjects.c.tenant_id == tenant_id)
        ids = conn.execute(of_tenant.order_by(subjects.c.id)).scalars().all()
        people = [
            {
                "subject_id": sid,
                # Masked as the policy declares (a card: its last four digits), like
                # every export a person sees; only what the scope keeps.
                "values": [
                    v.to_dict() | {"value": shown(ctx.policy, v.collection_point, v.field, v.value)}
                    for v in read_values(conn, ctx, sid)
                    if scope.keeps(v.category, v.purposes)
                ],
            }
            for sid in ids
        ]
    data: dict[str, Any] = {
        "tenant_id": tenant_id,
        **export_head(ctx.policy, by.label, scope),
        "subjects": people,
    }
    with transaction(ctx) as conn:
        audit(
            ctx,
            conn,
            "tenant.export",
            by.label,
            tenant_id=tenant_id,
            details={
                "subjects": len(people),
                "role": scope.role,
                "complete": scope.complete,
                "left_out": sorted(scope.left_out),
            },
        )
    return data
