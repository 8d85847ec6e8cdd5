"""Collection: data arriving through a collection point, checked against the policy
(fields, minors, location, the gate per purpose, consent), encrypted where sensitive,
stored tagged, and audited in the same transaction (P01-P07, P22). :class:`Troth` holds a
:class:`CollectionService` and calls it; refusals are audited in their own transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from troth.audit.refusals import Refusal, refuse, reject_input
from troth.collection.identities import IdentifierInUse
from troth.collection.phones import region_for
from troth.collection.storing import Batch, CollectResult, Unseen, store_batch
from troth.collection.validation import (
    age_of,
    check_customer_tenant,
    check_ids,
    check_payload,
    check_phones,
    check_value,
    local_today,
    named_supplier,
    parse_location,
    parse_regime,
    person_zone,
)
from troth.consent.events import ConsentMethod, parse_method
from troth.context import Context
from troth.errors import ValidationError
from troth.gate import SYSTEM, Actor, Reason
from troth.gate.members import self_grant_refusal
from troth.gate.waiting import waiting_version
from troth.policy.model import CollectionPoint, SourceKind

__all__ = ["CollectRequest", "CollectResult", "CollectionService"]


@dataclass(frozen=True)
class CollectRequest:
    """What a caller sends to collect (:meth:`troth.Troth.collect_many` says what each
    part means)."""

    point: str
    rows: Sequence[Mapping[str, object]]
    actor: Actor = SYSTEM
    subject_ids: Sequence[str] | None = None
    tenant_id: str | None = None
    jurisdiction: str | None = None
    location: str | None = None
    supplier: str | None = None
    consents: tuple[str, ...] = ()
    purposes: tuple[str, ...] | None = None
    consent_method: ConsentMethod | str = ConsentMethod.api


def without_blanks(row: object) -> Any:
    """A row with its blank text values (``""``, only spaces) read as not given: an
    optional field left empty on a form stores nothing, and a required one is missing."""
    if not isinstance(row, Mapping):
        return row  # refused by the checks, saying what a row must be
    return {k: None if isinstance(v, str) and not v.strip() else v for k, v in row.items()}


@dataclass(eq=False)
class CollectionService:
    """Collecting data through the policy's collection points (:meth:`collect`)."""

    ctx: Context

    def collect(self, req: CollectRequest) -> list[CollectResult]:
        """Validated as a whole, stored in one transaction with batched inserts (all or
        nothing); a refusal is audited and raised, and nothing is stored."""
        req = replace(req, rows=[without_blanks(r) for r in req.rows])
        idx = self.ctx.policy
        now = self.ctx.clock.now()
        cp = idx.points.get(req.point)
        coming = waiting_version(idx, lambda later: req.point in later.points)
        if cp is None and coming is not None:
            refuse(
                self.ctx,
                "collect",
                req.actor,
                Reason.notice_period_running,
                f"collection point {req.point!r} comes with {coming}: until then nothing is"
                " collected through it",
                details={"point": req.point},
            )
        if cp is None:
            refuse(
                self.ctx,
                "collect",
                req.actor,
                Reason.unknown_collection_point,
                f"no collection point {req.point!r} in the policy"
                f" (known: {', '.join(sorted(idx.points)) or 'none'})",
                details={"point": req.point},
            )
        if req.subject_ids is not None and len(req.subject_ids) != len(req.rows):
            raise ValidationError("subject_ids must have one entry per row")
        try:
            # "nz" and " NZ " are NZ; a code of another form is refused, saying the form.
            asked = parse_location(req.location)
        except ValidationError as exc:
            details = {"point": req.point, "problem": exc.message[:300]}
            reject_input(self.ctx, "collect", req.actor, exc, details=details)
        where = asked or cp.location or idx.default_location
        # P22: storing outside the allowed places is refused.
        if where not in idx.allowed_locations:
            refuse(
                self.ctx,
                "collect",
                req.actor,
                Reason.location_not_allowed,
                f"data may not be stored in {where}"
                f" (allowed: {', '.join(sorted(idx.allowed_locations))})",
                details={"point": req.point, "location": where},
            )
        juris = req.jurisdiction or idx.default_jurisdiction.value
        purposes = self._bound_purposes(cp, req)
        supplier, ages = self._checked(req, cp, juris, now)
        self._refuse_self_grant(req)
        # P04: no data from minors (the values are well-formed dates or ages by now).
        min_age = idx.minimum_age(juris) if ages else 0
        if ages and min(ages) < min_age:
            refuse(
                self.ctx,
                "collect",
                req.actor,
                Reason.minor,
                f"the person is under {min_age}; the policy forbids collecting data from minors",
                details={"point": req.point, "minimum_age": min_age},
            )
        batch = Batch(
            cp,
            req.rows,
            req.actor,
            req.subject_ids,
            req.tenant_id,
            juris,
            where,
            supplier,
            req.consents,
            purposes,
            now,
            parse_method(req.consent_method),
        )
        return self._store(req, batch)

    def _store(self, req: CollectRequest, batch: Batch) -> list[CollectResult]:
        """Store the batch (:func:`store_batch`); a refusal decided inside its transaction,
        which wrote nothing, is audited after it and raised."""
        try:
            stored = store_batch(self.ctx, batch)
        except (ValidationError, IdentifierInUse) as exc:
            # A person named under another tenant than theirs, or an identity of another
            # person: audited like bad input (the entry names the field, never the value).
            details = {"point": req.point, "problem": exc.message[:300]}
            if isinstance(exc, IdentifierInUse):
                details["field"] = exc.details["field"]
            reject_input(self.ctx, "collect", req.actor, exc, details=details)
        if isinstance(stored, Unseen):
            # Another tenant's person or tenant, to a credential bound to a tenant:
            # audited as refused, answered as an unknown id.
            refuse(
                self.ctx,
                "collect",
                req.actor,
                Reason.not_a_member,
                error=stored.error,
                tenant_id=stored.tenant_id,
                details={"point": req.point}
                | ({"subject_named": stored.subject_named} if stored.subject_named else {}),
            )
        if isinstance(stored, Refusal):
            # Decided inside the transaction, which wrote nothing: audited after it.
            refuse(
                self.ctx,
                "collect",
                req.actor,
                stored.reason,
                stored.message,
                error=stored.error,
                subject_id=stored.subject_id,
                tenant_id=stored.details.get("tenant_id"),
                details=stored.details,
            )
        return stored

    def _refuse_self_grant(self, req: CollectRequest) -> None:
        """A consent ticked on the form is a grant like any other: one only the person may
        give (:func:`troth.gate.members.self_grant_refusal`) is refused to a customer's
        side collecting, audited, and nothing is stored."""
        for purpose in req.consents:
            refused = self_grant_refusal(self.ctx.policy, req.actor, purpose)
            if refused is not None:
                refuse(
                    self.ctx,
                    "collect",
                    req.actor,
                    Reason.consent_self_grant,
                    refused.detail,
                    tenant_id=req.actor.tenant_id,
                    purpose=purpose,
                    details={"point": req.point, "consents": [purpose]},
                )

    def _checked(
        self, req: CollectRequest, cp: CollectionPoint, juris: str, now: datetime
    ) -> tuple[str | None, list[int]]:
        """Check the input (the regime, the supplier, each row's shape, then its fields,
        phones and customer, the consents and how they came) and return the supplier's
        name and the ages the rows give, on the date where the person is (the regime's
        zone, else the organisation's: P04). Bad input is refused like the gate refuses:
        audited, nothing stored; the entry names the problem, never the value."""
        idx = self.ctx.policy
        rows = req.rows
        ages: list[int] = []
        org = idx.policy.organisation
        zone, today = person_zone(org, juris), local_today(org, juris, now)
        try:
            if req.jurisdiction is not None:
                parse_regime(req.jurisdiction, "jurisdiction")
            check_ids(req.subject_ids, req.tenant_id)
            supplier = named_supplier(cp, req.supplier)
            region = region_for(idx.policy, juris)
            for i, data in enumerate(rows):
                # Shape first (an object of text keys, storable values), then each field.
                problem = check_payload(data)
                if problem:
                    where_row = f" (row {i})" if len(rows) > 1 else ""
                    raise ValidationError(f"{problem}{where_row}")
            for i, data in enumerate(rows):
                row = i if len(rows) > 1 else None
                self._check_fields(cp, data, req.actor, row=row)
                check_phones(cp, data, region, row=row)
                check_customer_tenant(idx, cp, data, req.tenant_id, row=row)
                if cp.age_field and cp.age_field in cp.fields:
                    age = age_of(cp.fields[cp.age_field], data.get(cp.age_field), today, zone)
                    if age is not None:
                        ages.append(age)
            # A consent purpose of a version waiting for its date may be consented to ahead.
            unknown = [p for p in req.consents if p not in idx.declaring(p).purposes]
            if unknown:
                raise ValidationError(f"unknown purpose {unknown[0]!r} in consents")
            parse_method(req.consent_method)
        except ValidationError as exc:
            details = {"point": req.point, "problem": exc.message[:300]}
            reject_input(self.ctx, "collect", req.actor, exc, details=details)
        return supplier, ages

    def _check_fields(
        self, cp: CollectionPoint, data: Mapping[str, Any], actor: Actor, row: int | None
    ) -> None:
        if not isinstance(data, Mapping):
            raise ValidationError("data must be a JSON object of field -> value")
        extra = sorted(set(data) - set(cp.fields))
        where = f" (row {row})" if row is not None else ""
        if extra:
            refuse(
                self.ctx,
                "collect",
                actor,
                Reason.field_not_declared,
                f"collection point {cp.id!r} does not declare field(s) {', '.join(extra)}{where};"
                f" it collects: {', '.join(sorted(cp.fields))}",
                details={"point": cp.id, "fields": extra},
            )
        missing = [f for f, spec in cp.fields.items() if spec.required and data.get(f) is None]
        if missing:
            raise ValidationError(
                f"collection point {cp.id!r} requires field(s) {', '.join(missing)}{where}",
                fields=missing,
            )
        for fname, value in data.items():
            if value is None:
                continue
            problem = check_value(cp.fields[fname], value, self.ctx.settings.max_value_bytes)
            if problem:
                raise ValidationError(f"field {fname!r}{where}: {problem}", field=fname)

    def _bound_purposes(self, cp: CollectionPoint, req: CollectRequest) -> list[str]:
        """The purposes data from this point may serve; a caller may narrow them (P03:
        third-party data is bound to the purpose it was supplied for)."""
        allowed = list(cp.purposes)
        if req.purposes is None:
            if cp.source is SourceKind.third_party and len(allowed) != 1:
                raise ValidationError(
                    f"collection point {cp.id!r} takes third-party data: name the one purpose"
                    f" it was supplied for (purposes=[...], one of {', '.join(allowed)})"
                )
            return allowed
        chosen = list(dict.fromkeys(req.purposes))
        bad = [p for p in chosen if p not in allowed]
        coming = waiting_version(
            self.ctx.policy,
            lambda later: bool(bad) and set(bad) <= set(later.point_purposes.get(cp.id, ())),
        )
        if bad and coming is not None:
            refuse(
                self.ctx,
                "collect",
                req.actor,
                Reason.notice_period_running,
                f"collection point {cp.id!r} collects for {', '.join(bad)} from {coming}:"
                f" until then it collects for {', '.join(allowed)}",
                details={"point": cp.id, "purposes": bad},
            )
        if bad:
            refuse(
                self.ctx,
                "collect",
                req.actor,
                Reason.purpose_not_of_collection,
                f"collection point {cp.id!r} does not collect for {', '.join(bad)}"
                f" (it collects for: {', '.join(allowed)})",
                details={"point": cp.id, "purposes": bad},
            )
        if not chosen:
            raise ValidationError("name at least one purpose")
        return chosen
