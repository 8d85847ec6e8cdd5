"""The vendor's support access (P14): vendor admins see a tenant's detail only under a
grant the tenant approved, scoped and time-limited; every use under it is listed for the
tenant. Without a grant they see counts only."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, or_, select

from troth.access._base import audit
from troth.access.accounts import signed_in_as
from troth.access.apikeys import vendor_key_actors
from troth.access.grant_scope import (
    check_duration,
    checked_categories,
    checked_people,
    still_within_role,
    within_role,
)
from troth.access.mail import send_emergency_notice
from troth.access.seals import seal_new, write_sealed
from troth.access.tables import support_grants
from troth.access.tenants import Tenants
from troth.audit.entry import Outcome
from troth.audit.log import transaction
from troth.audit.refusals import refuse
from troth.audit.tables import audit_entries
from troth.clock import utc
from troth.context import Context
from troth.errors import Conflict, NotFound, PermissionDenied, ValidationError
from troth.gate import Actor, ActorKind, Reason, Record
from troth.store.ids import new_id
from troth.store.tables import records, subjects
from troth.stored import member, parsed


class GrantStatus(StrEnum):
    """Stored in ``support_grants.status`` (``expired`` is derived from the time)."""

    requested = "requested"
    approved = "approved"
    refused = "refused"
    revoked = "revoked"
    expired = "expired"


@dataclass(frozen=True, slots=True)
class SupportGrant:
    id: str
    tenant_id: str
    requested_by: str
    reason: str
    ticket: str | None
    categories: tuple[str, ...]
    subject_ids: tuple[str, ...]
    duration: timedelta
    status: GrantStatus
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    starts_at: datetime | None
    expires_at: datetime | None
    emergency: bool


@dataclass(frozen=True, slots=True)
class VendorAccess:
    """One look by the vendor at a tenant's data: who, what, when, why."""

    at: datetime
    actor: str
    action: str
    outcome: str
    subject_id: str | None
    purpose: str | None
    categories: tuple[str, ...]
    grant_id: str | None
    why: str | None
    ticket: str | None


@dataclass(frozen=True, slots=True)
class TenantOverview:
    """What a vendor admin may see without a grant: counts, never values."""

    tenant_id: str
    subjects: int
    records_by_category: dict[str, int]
    last_activity: datetime | None


@dataclass(frozen=True, slots=True)
class _Ask:
    """A vendor's ask for access (:meth:`Grants.request_grant`, or one starting at once)."""

    tenant_id: str
    by: Actor
    reason: str
    duration: timedelta
    ticket: str | None
    categories: Iterable[str]
    subject_ids: Iterable[str]
    emergency: bool


def _grant(row: Any, now: datetime) -> SupportGrant:
    status = member(GrantStatus, row.status, "support_grants.status")
    if status is GrantStatus.approved and row.expires_at is not None and now >= utc(row.expires_at):
        status = GrantStatus.expired
    return SupportGrant(
        row.id,
        row.tenant_id,
        row.requested_by,
        row.reason,
        row.ticket,
        tuple(row.categories or ()),
        tuple(row.subject_ids or ()),
        timedelta(seconds=row.duration_seconds),
        status,
        row.requested_at,
        row.decided_by,
        row.decided_at,
        row.starts_at,
        row.expires_at,
        bool(row.emergency),
    )


# The audit actions that are looks at a tenant's data (troth.access.records audits
# ``read_<record>`` and ``change_<record>``).
VENDOR_ACTIONS = ("use", "export", "disclose", "tenant_overview") + tuple(
    f"{verb}_{r.value}" for verb in ("read", "change") for r in Record
)
_NO_GRANT = "no support grant {!r:.70}; list them with `troth grants list`"
# An entry's details, read strictly: changed outside troth, refused (troth.stored.parsed).
_DETAILS = functools.partial(parsed, column="audit_entries.details", shape=dict)


@dataclass(frozen=True, slots=True)
class Grants:
    """``t.access.grants``: support grants asked for, decided, revoked; what the vendor saw."""

    ctx: Context
    tenants: Tenants

    def _vendor(self, by: Actor, action: str, tenant_id: str) -> None:
        """Only an active vendor admin (or, but for ``tenant_overview``, staff member)
        signed in as themself may do ``action``; anyone else is refused, audited."""
        ok = False
        kinds = ("vendor_admin", "staff") if action != "tenant_overview" else ("vendor_admin",)
        if by.kind.value in kinds:
            with self.ctx.engine.connect() as conn:
                ok = signed_in_as(conn, by, self.ctx.keys) is not None
        if not ok:
            who = "vendor admin or staff member" if "staff" in kinds else "vendor admin"
            refuse(
                self.ctx,
                action,
                by.label,
                error=PermissionDenied(f"only an active {who} of the vendor may do that"),
                tenant_id=tenant_id,
                reason=Reason.not_vendor_admin,
            )

    def request_grant(
        self,
        tenant_id: str,
        *,
        by: Actor,
        reason: str,
        duration: timedelta,
        ticket: str | None = None,
        categories: Iterable[str] = (),
        subject_ids: Iterable[str] = (),
    ) -> SupportGrant:
        """A vendor admin asks a tenant for access: why, which ticket, which categories and
        people (empty: all), for how long (at most the policy's ``max_days``)."""
        self.tenants.get_tenant(tenant_id)
        self._vendor(by, "grant_request", tenant_id)
        if not (reason or "").strip():
            raise ValidationError("say why you need access (reason)")
        ask = _Ask(tenant_id, by, reason, duration, ticket, categories, subject_ids, False)
        return self._new_grant(ask)

    def _new_grant(self, ask: _Ask) -> SupportGrant:
        """Store a grant: requested (waits for the customer), or an emergency one that
        starts now and tells the customer at once. Audited in the same transaction."""
        action = "grant_emergency" if ask.emergency else "grant_request"
        self.tenants.ensure_open(ask.tenant_id, action, ask.by)  # an offboarded one: closed
        cats = checked_categories(self.ctx, ask.categories)
        sids = checked_people(self.ctx, ask.tenant_id, ask.subject_ids)
        check_duration(self.ctx, ask.duration, ask.by, ask.tenant_id)
        cats = within_role(self.ctx, ask.by, ask.tenant_id, cats, action)
        gid = new_id()
        now = self.ctx.clock.now()
        seconds = int(ask.duration.total_seconds())
        values: dict[str, object] = {
            "id": gid,
            "tenant_id": ask.tenant_id,
            "requested_by": ask.by.id,
            "reason": ask.reason.strip(),
            "ticket": ask.ticket,
            "categories": cats,
            "subject_ids": sids,
            "duration_seconds": seconds,
            "status": GrantStatus.requested.value,
            "requested_at": now,
            "emergency": ask.emergency,
        }
        if ask.emergency:
            values.update(
                status=GrantStatus.approved.value,
                decided_at=now,
                starts_at=now,
                expires_at=now + ask.duration,
            )
        with transaction(self.ctx) as conn:
            conn.execute(support_grants.insert().values(**values))
            seal_new(conn, self.ctx.keys, support_grants, [gid])
            if ask.emergency:
                row = conn.execute(select(support_grants).where(support_grants.c.id == gid)).one()
                send_emergency_notice(conn, self.ctx, _grant(row, now))
            audit(
                self.ctx,
                conn,
                action,
                ask.by.label,
                outcome=Outcome.allow if ask.emergency else Outcome.info,
                tenant_id=ask.tenant_id,
                details={
                    "grant": gid,
                    "categories": cats,
                    "subjects": len(sids),
                    "seconds": seconds,
                    "ticket": ask.ticket,
                },
            )
        return self.get_grant(gid)

    def get_grant(self, grant_id: str) -> SupportGrant:
        with self.ctx.engine.connect() as conn:
            row = conn.execute(
                select(support_grants).where(support_grants.c.id == grant_id)
            ).first()
        if row is None:
            raise NotFound(_NO_GRANT.format(grant_id))
        return _grant(row, self.ctx.clock.now())

    def list_grants(
        self, tenant_id: str | None = None, *, status: GrantStatus | str | None = None
    ) -> list[SupportGrant]:
        now = self.ctx.clock.now()
        stmt = select(support_grants).order_by(support_grants.c.requested_at, support_grants.c.id)
        if tenant_id is not None:
            stmt = stmt.where(support_grants.c.tenant_id == tenant_id)
        with self.ctx.engine.connect() as conn:
            out = [_grant(r, now) for r in conn.execute(stmt)]
        if status is not None:
            out = [g for g in out if g.status is GrantStatus(status)]
        return out

    def _decide(self, grant_id: str, by: Actor, action: str, new: GrantStatus) -> SupportGrant:
        g = self.get_grant(grant_id)
        unknown = NotFound(_NO_GRANT.format(grant_id))  # another tenant's: the same answer
        self.tenants.authorize_admin(by, g.tenant_id, action, unknown, {"grant": grant_id})
        if g.status is not GrantStatus.requested:
            refuse(
                self.ctx,
                action,
                by.label,
                error=Conflict(f"this grant is {g.status.value}, not awaiting a decision"),
                tenant_id=g.tenant_id,
                reason=Reason.grant_not_pending,
                details={"grant": grant_id},
            )
        now = self.ctx.clock.now()
        values: dict[str, Any] = {"status": new.value, "decided_by": by.id, "decided_at": now}
        if new is GrantStatus.approved:
            self.tenants.ensure_open(g.tenant_id, action, by)  # an offboarded one: closed
            still_within_role(self.ctx, g, by, action)
            values.update(starts_at=now, expires_at=now + g.duration)
        with transaction(self.ctx) as conn:
            c = support_grants.c
            pending = (c.id == grant_id) & (c.status == GrantStatus.requested.value)
            done = write_sealed(conn, self.ctx.keys, support_grants, pending, **values)
            if done != 1:
                raise Conflict("this grant was decided meanwhile; look at it again")
            audit(
                self.ctx,
                conn,
                action,
                by.label,
                outcome=Outcome.allow if new is GrantStatus.approved else Outcome.info,
                tenant_id=g.tenant_id,
                details={"grant": grant_id, "status": new.value},
            )
        return self.get_grant(grant_id)

    def approve_grant(self, grant_id: str, *, by: Actor) -> SupportGrant:
        """An admin of the grant's tenant approves: it starts now and ends on its own."""
        return self._decide(grant_id, by, "grant_approve", GrantStatus.approved)

    def refuse_grant(self, grant_id: str, *, by: Actor) -> SupportGrant:
        return self._decide(grant_id, by, "grant_refuse", GrantStatus.refused)

    def revoke_grant(self, grant_id: str, *, by: Actor) -> SupportGrant:
        """End a grant now: by an admin of its tenant, or by the vendor admin holding it."""
        g = self.get_grant(grant_id)
        if not (by.kind is ActorKind.vendor_admin and by.id == g.requested_by):
            unknown = NotFound(_NO_GRANT.format(grant_id))
            self.tenants.authorize_admin(by, g.tenant_id, "grant_revoke", unknown, {"grant": g.id})
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            c = support_grants.c
            live = [GrantStatus.requested.value, GrantStatus.approved.value]
            ending = (c.id == grant_id) & c.status.in_(live)
            write_sealed(
                conn,
                self.ctx.keys,
                support_grants,
                ending,
                status=GrantStatus.revoked.value,
                revoked_at=now,
            )
            audit(
                self.ctx,
                conn,
                "grant_revoke",
                by.label,
                tenant_id=g.tenant_id,
                details={"grant": grant_id},
            )
        return self.get_grant(grant_id)

    def emergency_access(
        self,
        tenant_id: str,
        *,
        by: Actor,
        reason: str,
        duration: timedelta = timedelta(hours=4),
        ticket: str | None = None,
        categories: Iterable[str] = (),
        subject_ids: Iterable[str] = (),
    ) -> SupportGrant:
        """Access without waiting for the tenant, only where the policy allows it; needs a
        reason, and the tenant's primary address is told at once."""
        self.tenants.get_tenant(tenant_id)
        self._vendor(by, "grant_emergency", tenant_id)
        if not self.ctx.policy.policy.support_access.emergency_access:
            refuse(
                self.ctx,
                "grant_emergency",
                by.label,
                error=PermissionDenied(
                    "the policy allows no emergency access: request a grant and"
                    " wait for the customer's approval"
                ),
                tenant_id=tenant_id,
                reason=Reason.no_emergency_access,
            )
        if not (reason or "").strip():
            raise ValidationError("emergency access needs a reason")
        ask = _Ask(tenant_id, by, reason, duration, ticket, categories, subject_ids, True)
        return self._new_grant(ask)

    # -- what the tenant and the vendor see ----------------------------------------------
    def vendor_accesses(self, tenant_id: str, *, limit: int = 1000) -> list[VendorAccess]:
        """Every look by the vendor at this tenant's data, newest first: every attempt by
        the vendor's admins, staff and untenanted API keys (uses, disclosures, exports,
        reads and changes of records about its people), allowed or refused, and every use
        under a grant, with the grant's reason and ticket. Not the vendor's own purposes'
        (``vendor_only``) uses without a grant: never the customer's (trial #17 F4)."""
        a = audit_entries
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(
                select(
                    a.c.at,
                    a.c.actor,
                    a.c.action,
                    a.c.outcome,
                    a.c.subject_id,
                    a.c.purpose,
                    a.c.categories,
                    a.c.details,
                )
                .where(
                    a.c.tenant_id == tenant_id,
                    or_(
                        a.c.actor.like("vendor_admin:%"),
                        a.c.actor.like("staff:%"),
                        a.c.actor.in_(vendor_key_actors()),
                        a.c.details.like('%"grant":%'),
                    ),
                    a.c.action.in_(VENDOR_ACTIONS),
                )
                .order_by(a.c.seq.desc())
                .limit(limit)
            ).all()
            gids = {_DETAILS(r.details).get("grant") for r in rows} - {None}
            why = {
                g.id: (g.reason, g.ticket)
                for g in conn.execute(
                    select(
                        support_grants.c.id, support_grants.c.reason, support_grants.c.ticket
                    ).where(support_grants.c.id.in_(sorted(str(x) for x in gids)))
                )
            }
        from troth.disclosures.gags import gags_now

        gags = gags_now(self.ctx)  # a disclosure under a live gag is not shown (P20)
        own, out = self.ctx.policy.vendor_purposes, []
        for r in rows:
            seen, details = utc(r.at), _DETAILS(r.details)
            gid = details.get("grant")
            if (r.purpose in own and gid is None) or gags.hides(
                details, subject_id=r.subject_id, purpose=r.purpose, at=seen,
                action=r.action, actor=r.actor,
            ):  # fmt: skip
                continue
            what = (r.actor, r.action, r.outcome, r.subject_id, r.purpose)
            cats = tuple(parsed(r.categories, "audit_entries.categories", list))
            out.append(VendorAccess(seen, *what, cats, gid, *why.get(gid, (None, None))))
        return out

    def tenant_overview(self, tenant_id: str, *, by: Actor) -> TenantOverview:
        """Counts for a vendor admin without a grant: people, values per category, last
        activity. Never a value; audited."""
        self.tenants.get_tenant(tenant_id)
        if by.kind is not ActorKind.system:
            self._vendor(by, "tenant_overview", tenant_id)
        with transaction(self.ctx) as conn:
            n = conn.execute(
                select(func.count()).select_from(subjects).where(subjects.c.tenant_id == tenant_id)
            ).scalar_one()
            per_cat = {
                str(c): int(k)
                for c, k in conn.execute(
                    select(records.c.category, func.count())
                    .where(records.c.tenant_id == tenant_id)
                    .group_by(records.c.category)
                )
            }
            last = conn.execute(
                select(func.max(records.c.collected_at)).where(records.c.tenant_id == tenant_id)
            ).scalar()
            audit(
                self.ctx,
                conn,
                "tenant_overview",
                by.label,
                outcome=Outcome.allow,
                tenant_id=tenant_id,
                details={"counts_only": True},
            )
        return TenantOverview(tenant_id, int(n), per_cat, utc(last) if last else None)
