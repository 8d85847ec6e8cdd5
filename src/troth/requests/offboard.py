"""A tenant leaving (issue 19): export it, erase everything of it except what the law keeps,
and issue a certificate.

    cert = t.requests.offboard_tenant(tenant_id, actor=officer, on_export=save).certificate

Needs the office power ``manage_tenants`` (a tenant's own admin or key never offboards:
``tenant_bound``). Refused while the tenant is under a legal hold. Steps:

1. the tenant's export (the same ZIP as ``export-tenant``), handed to ``on_export`` before
   anything is erased;
2. its people, batch by batch in id order: one resumable connector job per batch over the
   identities of the batch's people not on legal hold, then troth's part
   (:mod:`troth.requests.bulk_store`: values under a legal minimum stay, restricted), one
   ``tenant.offboard.erase`` audit entry per person, and the cursor and running counts,
   all in one transaction. A person on legal hold keeps everything, in troth and in every
   connected dataset, restricted meanwhile; their erasure is recorded and carried out when
   the hold ends (:mod:`troth.requests.held_erasures`);
3. the certificate: people, counts per system, what was kept and why, and the audit range
   (``tenant.offboard.start`` .. ``tenant.offboard.certificate``) that proves it; the
   tenant is marked ``offboarded``, its members disabled, their sessions and keys revoked.

A run killed anywhere resumes where it stopped (no person erased twice, no connector step
redone); once finished, offboarding again returns the same certificate.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, append_entry, transaction
from troth.connectors import Connector
from troth.context import Context
from troth.errors import Conflict, NotFound
from troth.gate import SYSTEM, Actor
from troth.office import authorize
from troth.policy.model import Power
from troth.requests.bulk import BATCH, Progress, _fault
from troth.requests.bulk_store import erase_many_in_store
from troth.requests.connected import erase_people, shared_connector
from troth.requests.deferral import holds_on
from troth.requests.exports import Exports
from troth.requests.held_erasures import OFFBOARDING, defer_erasure
from troth.requests.record import ExportLink
from troth.requests.tables import tenant_offboardings
from troth.store.tables import subjects, tenants


@dataclass(frozen=True)
class Offboarding:
    """The certificate, and whether this call found it already issued."""

    certificate: dict[str, Any]
    again: bool = False


@dataclass(eq=False)
class Offboarder:
    """``offboard_tenant``."""

    ctx: Context
    exports: Exports
    environ: Mapping[str, str] | None = None

    def offboard_tenant(
        self,
        tenant_id: str,
        *,
        actor: Actor = SYSTEM,
        on_export: Callable[[ExportLink], None] | None = None,
        batch_size: int = BATCH,
        progress: Progress | None = None,
    ) -> Offboarding:
        """Export the tenant, erase it batch by batch, certify it (see the module)."""
        authorize(self.ctx, actor, Power.manage_tenants, tenant_id=tenant_id)
        if batch_size < 1 or batch_size > 5_000:
            from troth.errors import ValidationError

            raise ValidationError("batch_size must be 1 to 5000", code="invalid_batch")
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            tenant = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).first()
            if tenant is None:
                raise NotFound(
                    f"no tenant {tenant_id!r}; list them with `troth tenants list`",
                    code="unknown_tenant",
                )
            row = conn.execute(
                select(tenant_offboardings).where(tenant_offboardings.c.tenant_id == tenant_id)
            ).first()
            if row is not None and row.certificate is not None:
                return Offboarding(dict(row.certificate), again=True)
            _refuse_if_held(conn, tenant_id)
            if row is None:
                seq = append_entry(
                    conn,
                    now,
                    AuditEntry(
                        action="tenant.offboard.start",
                        actor=actor.label,
                        tenant_id=tenant_id,
                        details={"tenant": tenant_id},
                    ),
                )
                conn.execute(
                    tenant_offboardings.insert().values(
                        tenant_id=tenant_id,
                        actor=actor.label[:255],
                        started_at=now,
                        first_seq=seq,
                        totals={},
                    )
                )
                row = conn.execute(
                    select(tenant_offboardings).where(tenant_offboardings.c.tenant_id == tenant_id)
                ).one()
        if row.exported_at is None:
            link = self.exports.offboarding_export(tenant_id, actor)
            if on_export is not None:
                on_export(link)
            with transaction(self.ctx) as conn:
                conn.execute(
                    update(tenant_offboardings)
                    .where(tenant_offboardings.c.tenant_id == tenant_id)
                    .values(
                        exported_at=self.ctx.clock.now(),
                        export={"expires_at": link.expires_at.isoformat()},
                    )
                )
        _fault("offboard.exported")
        connector = shared_connector(self.ctx, self.environ)
        # The people to erase, read once (one pass over the tenant's index, not one per
        # batch), in id order; a resumed run starts after the last batch committed.
        people = [p for p in self._people(tenant_id) if row.cursor is None or p > row.cursor]
        done = 0
        for start in range(0, len(people), batch_size):
            sids = people[start : start + batch_size]
            self._offboard_batch(tenant_id, sids, connector, actor)
            done += len(sids)
            if progress:
                progress(done, len(people))
        cert = self._certify(tenant_id, str(tenant.name), actor)
        self._answer_open_requests(tenant_id, str(tenant.name))
        return Offboarding(cert)

    def _answer_open_requests(self, tenant_id: str, name: str) -> None:
        """The requests still open for the tenant's people are answered, not left to
        run later on nothing ("found 0", told it was done): each is closed with the reason
        the person reads, that the customer left and everything held for it is deleted."""
        from troth.requests.decisions import Decisions
        from troth.requests.record import RequestTampered
        from troth.requests.states import OPEN_STATES
        from troth.requests.steps import RequestSteps
        from troth.requests.tables import requests

        with self.ctx.engine.connect() as conn:
            ids = conn.execute(
                select(requests.c.id).where(
                    requests.c.tenant_id == tenant_id, requests.c.state.in_(sorted(OPEN_STATES))
                )
            ).scalars()
            open_ids = [str(i) for i in ids]
        day = self.ctx.clock.now().date().isoformat()
        decisions = Decisions(RequestSteps(self.ctx))
        for rid in open_ids:
            try:
                decisions.refuse(
                    rid,
                    reason=f"{name} has left our service: on {day} we deleted everything we held"
                    " for them, your data included (what the law obliges us to keep excepted),"
                    " so nothing is left for us to do on your request.",
                )
            except Conflict:
                continue  # being carried out now: it finishes on its own
            except RequestTampered:
                continue  # changed outside troth: refused (audited), `verify` names it

    def _people(self, tenant_id: str) -> builtins.list[str]:
        """The tenant's people not erased before, in id order. People erased before (a
        deletion request) are left as they are: erasing them again would only overwrite
        when that happened."""
        q = (
            select(subjects.c.id)
            .where(subjects.c.tenant_id == tenant_id, subjects.c.erased_at.is_(None))
            .order_by(subjects.c.id)
        )
        with self.ctx.engine.connect() as conn:
            return [str(s) for s in conn.execute(q).scalars()]

    def _offboard_batch(
        self, tenant_id: str, sids: builtins.list[str], connector: Connector | None, actor: Actor
    ) -> None:
        digest = hashlib.sha256(",".join(sids).encode()).hexdigest()[:16]
        job_id = f"offboard-{tenant_id}-{digest}"
        datasets: builtins.list[dict[str, Any]] = []
        with self.ctx.engine.connect() as conn:
            held = holds_on(conn, sids)
        free = [s for s in sids if s not in held]  # a held person's rows stay everywhere
        if connector is not None and free:
            datasets = erase_people(self.ctx, connector, job_id, free, [])
        _fault("offboard.connected")
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            row = conn.execute(
                select(tenant_offboardings.c.cursor, tenant_offboardings.c.totals).where(
                    tenant_offboardings.c.tenant_id == tenant_id
                )
            ).one()
            if row.cursor is not None and row.cursor >= sids[-1]:
                return  # committed by a run that was killed after its commit
            own = erase_many_in_store(conn, self.ctx, sids)
            held = holds_on(conn, sids)  # kept by erase_many_in_store: done after the hold
            for sid in held:
                defer_erasure(
                    conn,
                    self.ctx,
                    sid,
                    origin=OFFBOARDING,
                    job_id=f"offboard-{tenant_id}-{sid}",
                    actor=actor.label,
                )
            append_entries(
                conn,
                now,
                [
                    AuditEntry(
                        action="tenant.offboard.erase",
                        actor=actor.label,
                        outcome=Outcome.info,
                        subject_id=sid,
                        tenant_id=tenant_id,
                        details={
                            "job": job_id,
                            "found": own[sid]["found"],
                            "deleted": own[sid]["deleted"],
                            "kept": own[sid]["kept"],
                        },
                    )
                    for sid in sids
                ],
            )
            totals = _add(dict(row.totals or {}), list(own.values()), datasets, job_id)
            totals["held"] = int(totals.get("held", 0)) + len(held)
            conn.execute(
                update(tenant_offboardings)
                .where(tenant_offboardings.c.tenant_id == tenant_id)
                .values(cursor=sids[-1], totals=totals)
            )

    def _certify(self, tenant_id: str, name: str, actor: Actor) -> dict[str, Any]:
        from troth.access.accounts import end_sessions_and_keys
        from troth.access.seals import write_sealed
        from troth.access.tables import api_keys, users

        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            row = conn.execute(
                select(tenant_offboardings).where(tenant_offboardings.c.tenant_id == tenant_id)
            ).one()
            if row.certificate is not None:
                return dict(row.certificate)
            totals = dict(row.totals or {})
            members = list(
                conn.execute(
                    select(users.c.id).where(
                        users.c.tenant_id == tenant_id, users.c.disabled_at.is_(None)
                    )
                ).scalars()
            )
            if members:
                write_sealed(conn, self.ctx.keys, users, users.c.id.in_(members), disabled_at=now)
            for uid in members:
                end_sessions_and_keys(conn, self.ctx.keys, uid, now)
            write_sealed(
                conn,
                self.ctx.keys,
                api_keys,
                (api_keys.c.tenant_id == tenant_id) & api_keys.c.revoked_at.is_(None),
                revoked_at=now,
            )
            write_sealed(
                conn, self.ctx.keys, tenants, tenants.c.id == tenant_id, status="offboarded"
            )
            systems = [{"system": k, **v} for k, v in sorted(totals.get("systems", {}).items())]
            last = append_entry(
                conn,
                now,
                AuditEntry(
                    action="tenant.offboard.certificate",
                    actor=actor.label,
                    tenant_id=tenant_id,
                    details={
                        "people": totals.get("people", 0),
                        "systems": systems,
                        "from_seq": row.first_seq,
                        "members_disabled": len(members),
                        "waiting_for_legal_hold": int(totals.get("held", 0)),
                    },
                ),
            )
            cert = {
                "tenant": {"id": tenant_id, "name": name},
                "started_at": row.started_at.isoformat(),
                "finished_at": now.isoformat(),
                "by": row.actor,
                "export": row.export,
                "people": totals.get("people", 0),
                "systems": systems,
                "kept_because": sorted(totals.get("kept_because", [])),
                # People a legal hold holds: kept whole everywhere, erased when it ends.
                "waiting_for_legal_hold": int(totals.get("held", 0)),
                "jobs": totals.get("jobs", []),
                "members_disabled": len(members),
                "audit": {"from_seq": row.first_seq, "to_seq": last},
            }
            conn.execute(
                update(tenant_offboardings)
                .where(tenant_offboardings.c.tenant_id == tenant_id)
                .values(finished_at=now, certificate=cert)
            )
        return cert


def _refuse_if_held(conn: Connection, tenant_id: str) -> None:
    from troth.retention.tables import legal_holds

    hold = conn.execute(
        select(legal_holds.c.id).where(
            legal_holds.c.tenant_id == tenant_id, legal_holds.c.lifted_at.is_(None)
        )
    ).first()
    if hold is not None:
        raise Conflict(
            f"tenant {tenant_id} is under legal hold: nothing of it may be erased until the"
            " hold is lifted (`troth retention holds`, then `troth retention lift`)",
            code="legal_hold",
        )


_COUNTS = ("found", "deleted", "masked", "kept", "keys_shredded")


def _add(
    totals: dict[str, Any],
    own: builtins.list[dict[str, Any]],
    datasets: builtins.list[dict[str, Any]],
    job_id: str,
) -> dict[str, Any]:
    """Running counts: people, per system, the reasons things were kept, the jobs."""
    systems: dict[str, dict[str, int]] = totals.setdefault("systems", {})
    reasons = set(totals.get("kept_because", []))
    for part in [*own, *datasets]:
        mine = systems.setdefault(part["system"], {})
        for k in _COUNTS:
            if k in part:
                mine[k] = mine.get(k, 0) + int(part[k] or 0)
        reasons |= {k["reason"] for k in part.get("kept_because", [])}
    totals["people"] = int(totals.get("people", 0)) + len(own)
    totals["kept_because"] = sorted(reasons)
    totals["jobs"] = [*totals.get("jobs", []), job_id] if datasets else totals.get("jobs", [])
    return totals
