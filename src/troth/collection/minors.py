"""Minors found after collection (P04): a person reported to be a minor, or found so by
their stored age field, has their data deleted in troth and in every connected dataset
(the deletion request's erasure), audited as ``minor.erase`` with the evidence.
:class:`troth.Troth` calls :class:`Minors` (``report_minor``, ``find_minors``,
``purge_minors``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.collection.validation import age_of, local_today, person_zone
from troth.context import Context
from troth.db import reading
from troth.errors import ConnectorError, ValidationError
from troth.gate import SYSTEM, Actor, Reason
from troth.policy.model import Power
from troth.store.seals import bad_seals
from troth.store.subject_seals import bad_subjects
from troth.store.subjects import get_subject, no_such_subject
from troth.store.tables import records, subjects

if TYPE_CHECKING:
    from troth.connectors import Connector
    from troth.engine import MinorErasure
    from troth.requests.erasure import Erasure


def makes_a_minor(ctx: Context, regime: str | None, changes: Mapping[str, Any]) -> bool:
    """Do ``changes`` (field -> new value, a correction's) give a date of birth under the
    minimum age of a person under ``regime``, counted on their own date (P04)? Only a
    field some collection point names as its age field counts."""
    idx = ctx.policy
    org = idx.policy.organisation
    today = local_today(org, regime, ctx.clock.now())
    for cp in idx.points.values():
        name = cp.age_field
        spec = cp.fields.get(name) if name else None
        if name is None or spec is None or name not in changes:
            continue
        try:
            age = age_of(spec, changes[name], today, person_zone(org, regime))
        except ValidationError:
            continue
        if age is not None and age < idx.minimum_age(regime):
            return True
    return False


@dataclass(eq=False)
class Minors:
    """Erasing minors' data wherever it is (P04)."""

    ctx: Context

    def _within_reach(self, subject_id: str, actor: Actor) -> None:
        """An actor bound to a tenant reports its own tenant's people only: another tenant's
        person is refused (``not_a_member``, filed in the caller's log naming the id asked
        for) and answered, as an unknown id is, :func:`no_such_subject`."""
        if actor.tenant_id is None:
            return
        from troth.audit.refusals import refuse

        with reading(self.ctx.engine) as conn:
            theirs = get_subject(conn, subject_id, self.ctx.keys).tenant_id
        if theirs != actor.tenant_id:
            refuse(
                self.ctx,
                "minor.erase",
                actor,
                Reason.not_a_member,
                error=no_such_subject(subject_id),
                tenant_id=actor.tenant_id,
                details={"subject_named": subject_id[:64]},
            )

    def report(
        self,
        subject_id: str,
        *,
        evidence: str,
        actor: Actor = SYSTEM,
        waited: str | None = None,
        connector: Connector | None = None,
    ) -> MinorErasure:
        """See :meth:`troth.Troth.report_minor`. A person under a legal hold is erased
        nowhere yet: the erasure waits for the hold to end (:meth:`_defer`). ``waited``:
        the id of the erasure that waited (troth.requests.held_erasures), done with this
        one; ``connector``: the caller's, kept open."""
        from troth.requests.erasure import erase_person

        evidence = (evidence or "").strip()
        if not evidence:
            raise ValidationError(
                "say how the person was found to be a minor (evidence), e.g. 'ticket 42:"
                " parent says the buyer is 15'",
                code="evidence_required",
            )
        self._within_reach(subject_id, actor)
        job_id = f"minor-{subject_id}"
        if self._held(subject_id):
            return self._defer(subject_id, evidence, job_id, actor)

        def record(conn: Connection, erasure: Erasure) -> MinorErasure:
            if waited is not None:
                from troth.requests.held_erasures import mark_done

                mark_done(conn, self.ctx, waited)
            return self._erased(conn, erasure, subject_id, evidence, job_id, actor)

        try:
            return erase_person(
                self.ctx, subject_id, job_id=job_id, finish=record, connector=connector
            )
        except ConnectorError as exc:
            details = {"evidence": evidence[:500], "error": exc.message[:500]}
            self._append(subject_id, actor, "minor.erase_interrupted", details)
            raise ConnectorError(
                f"{exc.message}. The minor's data in troth waits: run `troth minors report"
                f" {subject_id} --evidence ...` again to resume",
                code=exc.code,
                subject_id=subject_id,
            ) from exc

    def _held(self, subject_id: str) -> bool:
        """A legal hold holds the person (on them or on their tenant)."""
        from troth.requests.deferral import holds_on

        with self.ctx.engine.connect() as conn:
            get_subject(conn, subject_id, self.ctx.keys)  # NotFound before anything
            return bool(holds_on(conn, [subject_id]).get(subject_id))

    def _defer(self, subject_id: str, evidence: str, job_id: str, actor: Actor) -> MinorErasure:
        """A held minor: nothing erased, in troth or a connected dataset; what follows
        from them ends (consents, mail), their data is restricted, and the erasure is
        recorded to be done when the hold ends (troth.requests.held_erasures). The result
        says "legal hold", never which one nor why."""
        from troth.requests import execution
        from troth.requests.erasure import summarise
        from troth.requests.held_erasures import MINOR, defer_erasure
        from troth.store.values import read_values

        with transaction(self.ctx) as conn:
            values = read_values(conn, self.ctx, subject_id)
            report = execution.erasure_report(values)
            report.update(execution.end_what_follows(conn, self.ctx, subject_id))
            execution.held(report, values)
            defer_erasure(
                conn,
                self.ctx,
                subject_id,
                origin=MINOR,
                job_id=job_id,
                actor=actor.label,
                details={"evidence": evidence[:500]},
            )
        note = "waiting for a legal hold on this person to end; nothing was erased"
        return {
            "found": len(values),
            "deleted": 0,
            "masked": 0,
            "kept": len(values),
            "systems": [report],
            "summary": [*summarise([report]), note],
        }

    def _erased(
        self,
        conn: Connection,
        erasure: Erasure,
        subject_id: str,
        evidence: str,
        job_id: str,
        actor: Actor,
    ) -> MinorErasure:
        """Audit a finished erasure in its transaction (``minor.erase``); its totals."""
        subj = get_subject(conn, subject_id, self.ctx.keys)
        found, deleted, masked, kept = (
            erasure.total(k) for k in ("found", "deleted", "masked", "kept")
        )
        totals = {"found": found, "deleted": deleted, "masked": masked, "kept": kept}
        details = {
            "evidence": evidence[:500],
            "job_id": job_id,
            **totals,
            "systems": [_system_line(s) for s in erasure.systems],
        }
        entry = AuditEntry(
            action="minor.erase",
            actor=actor.label,
            subject_id=subject_id,
            tenant_id=subj.tenant_id,
            reason=Reason.minor.value,
            details=details,
        )
        append_entries(conn, self.ctx.clock.now(), [entry])
        result: MinorErasure = {
            "found": found,
            "deleted": deleted,
            "masked": masked,
            "kept": kept,
            "systems": list(erasure.systems),
            "summary": erasure.summary,
        }
        return result

    def _append(self, subject_id: str, actor: Actor, action: str, details: dict[str, Any]) -> None:
        entry = AuditEntry(
            action=action,
            actor=actor.label,
            outcome=Outcome.info,
            subject_id=subject_id,
            reason=Reason.minor.value,
            details=details,
        )
        with transaction(self.ctx) as conn:
            append_entries(conn, self.ctx.clock.now(), [entry])

    def find(self) -> list[str]:
        """See :meth:`troth.Troth.find_minors`."""
        idx = self.ctx.policy
        now = self.ctx.clock.now()
        org = idx.policy.organisation
        age_fields = {(cp.id, cp.age_field) for cp in idx.points.values() if cp.age_field}
        if not age_fields:
            return []
        found: dict[str, list[int]] = {}  # a minor: the dates of birth that make them one
        with reading(self.ctx.engine) as conn:
            q = (
                select(
                    records.c.id,
                    records.c.subject_id,
                    records.c.collection_point,
                    records.c.field,
                    records.c.value,
                    subjects.c.jurisdiction,
                )
                .join(subjects, subjects.c.id == records.c.subject_id)
                .where(
                    records.c.field.in_({f for _, f in age_fields}), records.c.value.is_not(None)
                )
            )
            for rid, sid, point, fname, value, juris in conn.execute(q):
                if (point, fname) not in age_fields:
                    continue
                spec = idx.points[point].fields.get(fname)
                try:
                    # On the date where the person is (their regime's zone: P04).
                    today = local_today(org, juris, now)
                    zone = person_zone(org, juris)
                    age = age_of(spec, json.loads(value), today, zone) if spec else None
                except ValidationError:
                    continue  # stored before dates of birth were checked: not a date
                if age is not None and age < idx.minimum_age(juris):
                    found.setdefault(sid, []).append(rid)
            # A date of birth or a regime a database writer changed makes no one a minor:
            # an erasure is never decided on a row that does not match its seal (`troth
            # audit verify` names it).
            rids = [rid for ids in found.values() for rid in ids]
            bad = set(bad_seals(conn, self.ctx.keys, rids))
            bad_people = set(bad_subjects(conn, self.ctx.keys, found))
        return sorted(s for s, ids in found.items() if s not in bad_people and not set(ids) <= bad)

    def purge(self, *, dry_run: bool = False, actor: Actor = SYSTEM) -> list[str]:
        """See :meth:`troth.Troth.purge_minors`. A sweep of everyone's stored ages is the
        office's (``manage_requests``); one person reported with evidence is anyone's
        (:meth:`report`: support hears it from a parent)."""
        from troth.office import authorize

        authorize(self.ctx, actor, Power.manage_requests, details={"operation": "minors"})
        minors = self.find()
        if minors:
            # Already erased: what is left is kept by law (restricted); don't erase again.
            with reading(self.ctx.engine) as conn:
                erased = set(
                    conn.execute(
                        select(subjects.c.id).where(
                            subjects.c.id.in_(minors), subjects.c.status == "erased"
                        )
                    ).scalars()
                )
            minors = [sid for sid in minors if sid not in erased]
        if dry_run:
            return minors
        waiting: list[str] = []
        for sid in minors:
            try:
                self.report(sid, evidence="stored age field below the minimum age", actor=actor)
            except ConnectorError:
                waiting.append(sid)
        if waiting:
            raise ConnectorError(
                f"{len(waiting)} minor(s) wait for a connected database that is down:"
                f" {', '.join(waiting)}; run `troth minors purge` again when it is back",
                code="minors_waiting",
                subjects=waiting,
            )
        return minors


def _system_line(system: Mapping[str, Any]) -> dict[str, Any]:
    """A system's erasure counts for the audit entry (no values, no reasons' details)."""
    keys = ("system", "found", "deleted", "masked", "kept")
    return {k: system[k] for k in keys if k in system}
