"""Carrying out verified requests over troth's store and every connected dataset, and the
exports (a person's, a tenant's) with their expiring download links."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from troth.audit.entry import AuditEntry
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import refuse
from troth.connectors import Connector
from troth.consent.events import ConsentMethod
from troth.errors import (
    Conflict,
    ConnectorError,
    NotFound,
    PermissionDenied,
)
from troth.gate import SYSTEM, Actor, ActorKind, Reason
from troth.requests import _contact, execution, holdings, package
from troth.requests._steps import RequestSteps, _dataset_summary
from troth.requests.connected import identities_of, shared_connector
from troth.requests.record import ExportLink, RequestRecord
from troth.requests.states import (
    Channel,
    RequestKind,
    RequestState,
    check_transition,
)
from troth.requests.tables import request_exports
from troth.store.tables import restrictions
from troth.store.values import StoredValue, read_values


class RequestRunner(RequestSteps):
    """Execution and exports; :class:`~troth.requests.service.RequestService` adds intake,
    verification and deadlines."""

    # -- execution -----------------------------------------------------------------------
    def execute(self, request_id: str, *, actor: Actor = SYSTEM) -> RequestRecord:
        """Carry out a verified request over troth's store and every connected dataset,
        store the report, tell the person. A connected database that is down leaves the
        request in_progress (the person is told of the delay); run it again to resume.
        ``actor`` must be the request desk (or the person, on their own request)."""
        req = self._desk(request_id, actor)
        if req.state in (RequestState.completed, RequestState.refused):
            raise Conflict(f"request {request_id} is already {req.state}", code="request_closed")
        if req.verified_at is None:
            raise Conflict(
                f"request {request_id} is {req.state}: the person's identity is not verified;"
                " nothing is done until it is (a code by e-mail, or staff verification)",
                code="identity_unverified",
            )
        check_transition(req.id, req.state, RequestState.in_progress)
        with transaction(self.ctx) as conn:
            req = self._load(conn, request_id)
            check_transition(req.id, req.state, RequestState.in_progress)
            self._move(conn, req, RequestState.in_progress, actor, "started")
        req = self.get(request_id)
        connector = shared_connector(self.ctx, self.environ)
        try:
            return self._run(req, connector, actor)
        except ConnectorError as exc:
            self._interrupted(req, exc)
            raise ConnectorError(
                f"{exc.message}. Request {request_id} waits in_progress: run `troth requests"
                f" execute {request_id}` to resume",
                code=exc.code,
                request_id=request_id,
            ) from exc

    def _run(self, req: RequestRecord, connector: Connector | None, actor: Actor) -> RequestRecord:
        kind = req.kind
        if kind in (RequestKind.access, RequestKind.portability):
            return self._access(req, connector, actor)
        if kind in (RequestKind.delete, RequestKind.close_account):
            return self._erase(req, connector, actor)
        if kind is RequestKind.correct:
            return self._correct(req, connector, actor)
        if kind is RequestKind.restrict:
            return self._restrict(req, actor)
        return self._object(req, actor)

    def _values(self, req: RequestRecord) -> builtins.list[StoredValue]:
        if req.subject_id is None:
            return []
        with self.ctx.engine.connect() as conn:
            return read_values(conn, self.ctx, req.subject_id)

    def _access(
        self, req: RequestRecord, connector: Connector | None, actor: Actor
    ) -> RequestRecord:
        body: dict[str, Any] = (
            holdings.subject_holdings(self.ctx, req.subject_id)
            if req.subject_id
            else {"subject": None, "categories": {}}
        )
        datasets: list[dict[str, Any]] = []
        if connector is not None:
            ids = identities_of(self.ctx, self._values(req), {"email": req.email})
            if ids:
                datasets = [d.to_dict() for d in connector.export(ids) if d.tables]
        doc = package.document(
            self.ctx, body, request={"id": req.id, "kind": req.kind.value}, datasets=datasets
        )
        data = package.build_zip(doc, f"Your data held by {doc['controller']['name']}")
        found = sum(len(s["values"]) for s in body["categories"].values())
        rows = sum(len(t["rows"]) for d in datasets for t in d["tables"].values())
        result: dict[str, Any] = {
            "systems": [{"system": "troth", "found": found}]
            + [
                {
                    "system": f"dataset:{d['dataset']}",
                    "found": sum(len(t["rows"]) for t in d["tables"].values()),
                    "tables": {n: len(t["rows"]) for n, t in d["tables"].items()},
                }
                for d in datasets
            ],
            "categories": sorted(body["categories"]),
        }
        with transaction(self.ctx) as conn:
            link = self._store_export(conn, data, request_id=req.id, tenant_id=None)
            result["export"] = {"expires_at": link.expires_at.isoformat(), "bytes": len(data)}
            done = self._complete(
                conn,
                req,
                result,
                actor,
                categories=tuple(result["categories"]),
                link=link,
                summary=[f"{found} values in our own store, {rows} rows in our other systems"],
            )
        return replace(done, download_token=link.token)

    def _erase(
        self, req: RequestRecord, connector: Connector | None, actor: Actor
    ) -> RequestRecord:
        systems: list[dict[str, Any]] = []
        if connector is not None:
            ids = identities_of(self.ctx, self._values(req), {"email": req.email})
            if ids:
                # Connected datasets first: their job is resumable and keeps the identities
                # it needs; troth's own part (which erases those identities) comes last.
                for rep in connector.erase(ids, job_id=f"request-{req.id}"):
                    systems.append(_dataset_summary(rep.to_dict()))
        with transaction(self.ctx) as conn:
            if req.subject_id is not None:
                if req.kind is RequestKind.close_account:
                    execution.close_relationship(conn, self.ctx, req.subject_id)
                systems.insert(0, execution.erase_in_store(conn, self.ctx, req.subject_id))
            else:
                systems.insert(0, {"system": "troth", "found": 0, "deleted": 0, "kept": 0})
            summary = [
                f"{s['system']}: {s['found']} found, {s.get('deleted', 0)} deleted,"
                f" {s.get('masked', 0)} masked, {s.get('kept', 0)} kept"
                for s in systems
            ]
            summary += [k["reason"] for s in systems for k in s.get("kept_because", [])]
            return self._complete(conn, req, {"systems": systems}, actor, summary=summary)

    def _correct(
        self, req: RequestRecord, connector: Connector | None, actor: Actor
    ) -> RequestRecord:
        changes = dict(req.details.get("changes") or {})
        values = self._values(req)
        mapped: set[str] = set()
        if connector is not None:
            for name in connector.datasets:
                for per in connector.runner(name).field_map().values():
                    mapped |= set(per.values())
        execution.check_corrections(self.ctx, values, changes, mapped)
        systems: list[dict[str, Any]] = []
        wanted = {k: v for k, v in changes.items() if k in mapped}
        if connector is not None and wanted:
            ids = identities_of(self.ctx, values, {"email": req.email})
            for rep in connector.correct(ids, wanted):
                systems.append(_dataset_summary(rep.to_dict()))
        with transaction(self.ctx) as conn:
            if req.subject_id is not None:
                systems.insert(
                    0, execution.correct_in_store(conn, self.ctx, req.subject_id, changes)
                )
            summary = [f"{s['system']}: {s.get('corrected', 0)} corrected" for s in systems]
            return self._complete(
                conn, req, {"systems": systems, "fields": sorted(changes)}, actor, summary=summary
            )

    def _restrict(self, req: RequestRecord, actor: Actor) -> RequestRecord:
        purposes = execution.check_purposes(self.ctx, list(req.details.get("purposes") or []))
        with transaction(self.ctx) as conn:
            new: list[str] = []
            if req.subject_id is not None:
                new = execution.restrict_in_store(
                    conn, self.ctx, req.subject_id, purposes, req.id, self.ctx.clock.now()
                )
            result = {"systems": [{"system": "troth", "restricted": purposes, "new": new}]}
            return self._complete(
                conn, req, result, actor, summary=[f"limited: {', '.join(purposes)}"]
            )

    def _object(self, req: RequestRecord, actor: Actor) -> RequestRecord:
        purposes = list(req.details.get("purposes") or execution.marketing_purposes(self.ctx))
        purposes = execution.check_purposes(self.ctx, purposes) if purposes else []
        method = {
            Channel.self_service: ConsentMethod.web_form,
            Channel.api: ConsentMethod.api,
        }.get(req.channel, ConsentMethod.staff)
        with transaction(self.ctx) as conn:
            part: dict[str, Any] = {"system": "troth", "withdrawn": [], "restricted": []}
            if req.subject_id is not None and purposes:
                part = execution.object_in_store(
                    conn, self.ctx, req.subject_id, purposes, req.id, method, actor.label
                )
            return self._complete(
                conn,
                req,
                {"systems": [part]},
                actor,
                summary=[f"no more marketing for: {', '.join(purposes) or 'none held'}"],
            )

    def lift_restriction(
        self, request_id: str, purposes: Iterable[str] | None = None, *, actor: Actor = SYSTEM
    ) -> builtins.list[str]:
        """Lift the restrictions a request placed (all, or the named purposes): the gate
        allows those uses again. Returns the purposes lifted."""
        req = self.get(request_id)
        if req.subject_id is None:
            return []
        r = restrictions.c
        with transaction(self.ctx) as conn:
            stmt = select(r.purpose).where(r.subject_id == req.subject_id, r.request_id == req.id)
            if purposes is not None:
                stmt = stmt.where(r.purpose.in_(list(purposes)))
            gone = sorted(conn.execute(stmt).scalars())
            if gone:
                conn.execute(
                    restrictions.delete().where(
                        r.subject_id == req.subject_id, r.request_id == req.id, r.purpose.in_(gone)
                    )
                )
            self._event(conn, req.id, actor.label, "lifted", None, None, {"purposes": gone})
            self._audit(conn, req, actor, "request.restriction_lifted", purposes=gone)
        return gone

    # -- exports -------------------------------------------------------------------------
    def export_tenant(self, tenant_id: str, *, actor: Actor = SYSTEM) -> ExportLink:
        """A tenant's complete data (P29) as the same ZIP; for the tenant's own admins,
        staff and troth itself."""
        if actor.kind in (ActorKind.tenant_admin, ActorKind.tenant_member):
            from troth.access import actor_facts

            with self.ctx.engine.connect() as conn:
                member, _ = actor_facts(conn, self.ctx, actor, tenant_id)
            if not member or actor.kind is not ActorKind.tenant_admin:
                raise PermissionDenied(
                    "only an active admin of this tenant may export its data",
                    code="not_tenant_admin",
                )
        elif actor.kind not in (ActorKind.staff, ActorKind.system):
            raise PermissionDenied("tenant exports are for the tenant's admins", code="forbidden")
        return self._export_tenant(tenant_id, actor)

    def _export_tenant(self, tenant_id: str, actor: Actor) -> ExportLink:
        """The export itself, for a caller that has decided ``actor`` may have it."""
        body = holdings.tenant_holdings(self.ctx, tenant_id)
        doc = package.document(self.ctx, body, tenant_id=tenant_id)
        data = package.build_zip(doc, f"Data of tenant {body['tenant']['name']}")
        with transaction(self.ctx) as conn:
            link = self._store_export(conn, data, request_id=None, tenant_id=tenant_id)
            append_entries(
                conn,
                self.ctx.clock.now(),
                [
                    AuditEntry(
                        action="tenant.export",
                        actor=actor.label,
                        tenant_id=tenant_id,
                        details={"subjects": len(body["subjects"]), "bytes": len(data)},
                    )
                ],
            )
        return link

    def download(self, token: str, *, actor: Actor) -> bytes:
        """The ZIP behind a download code, once. The export is bound to what it was made
        for: a person's only to that person (signed in), to an admin of the person's
        tenant, or to the vendor's office; a tenant's only to that tenant's admins or the
        office. Another's export, or a code already used, expired or purged, is NotFound
        (the refusal is audited); the file is deleted once it has been downloaded."""
        now = self.ctx.clock.now()
        h = _contact.hash_token(self.ctx.keys, token or "")
        gone = NotFound("no such download: the code is wrong or was removed", code="no_export")
        with self.ctx.engine.connect() as conn:
            row = conn.execute(
                select(request_exports).where(request_exports.c.token_hash == h)
            ).first()
            owner = None
            if row is not None and row.request_id is not None:
                owner = self._load(conn, row.request_id)
        if row is None:
            raise gone
        subject_id = owner.subject_id if owner is not None else None
        tenant_id = owner.tenant_id if owner is not None else row.tenant_id
        why = _not_yours(actor, subject_id, tenant_id)
        if why is not None:
            refuse(
                self.ctx,
                "request.download",
                actor,
                why,
                error=gone,
                subject_id=subject_id,
                tenant_id=tenant_id,
                details={"request": row.request_id},
            )
        if row.downloaded_at is not None:
            raise NotFound(
                f"this download was already used on {row.downloaded_at:%Y-%m-%d %H:%M} UTC;"
                " a download works once: make a new request for your data",
                code="export_used",
            )
        if row.purged_at is not None:
            raise gone
        if row.expires_at <= now:
            raise NotFound(
                f"this download expired on {row.expires_at:%Y-%m-%d %H:%M} UTC: make a"
                " new request for your data",
                code="export_expired",
            )
        path = Path(row.path)
        with transaction(self.ctx) as conn:
            taken = conn.execute(
                update(request_exports)
                .where(request_exports.c.token_hash == h, request_exports.c.downloaded_at.is_(None))
                .values(downloaded_at=now, purged_at=now)
            ).rowcount
            if taken != 1:  # a concurrent download of the same code won
                raise NotFound("this download was already used", code="export_used")
            data = _contact.open_file(token, path.read_bytes())
            append_entries(
                conn,
                now,
                [
                    AuditEntry(
                        action="request.download",
                        actor=actor.label,
                        subject_id=subject_id,
                        tenant_id=tenant_id,
                        details={"request": row.request_id, "bytes": len(data)},
                    )
                ],
            )
        path.unlink(missing_ok=True)
        return data

    def purge_exports(self) -> int:
        """Delete the files of expired links (the worker runs this); returns how many."""
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            rows = conn.execute(
                select(request_exports.c.token_hash, request_exports.c.path).where(
                    request_exports.c.expires_at <= now, request_exports.c.purged_at.is_(None)
                )
            ).all()
            for _, path in rows:
                Path(path).unlink(missing_ok=True)
            if rows:
                conn.execute(
                    update(request_exports)
                    .where(request_exports.c.token_hash.in_([h for h, _ in rows]))
                    .values(purged_at=now)
                )
        return len(rows)


def _not_yours(actor: Actor, subject_id: str | None, tenant_id: str | None) -> Reason | None:
    """Why ``actor`` may not download an export made for this person/tenant, or None.
    Whether the actor may manage requests at all is the edge's check (office, scope)."""
    if actor.kind is ActorKind.system:
        return None  # troth itself: the CLI on the home, with its key file
    if actor.kind is ActorKind.subject:
        return None if subject_id is not None and actor.id == subject_id else Reason.not_the_owner
    if actor.tenant_id is not None:
        if actor.kind is ActorKind.tenant_member:
            return Reason.role_not_allowed
        return None if tenant_id == actor.tenant_id else Reason.not_a_member
    if actor.kind in (ActorKind.staff, ActorKind.application, ActorKind.vendor_admin):
        return None
    return Reason.role_not_allowed
