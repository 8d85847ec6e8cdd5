"""Collection: data arriving through a collection point, checked against the policy
(fields, minors, location, the gate per purpose, consent), encrypted where sensitive,
stored tagged, and audited in the same transaction (P01-P07, P22). ``Troth`` inherits
these methods; refusals are audited in their own transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NoReturn

from sqlalchemy import Connection

from troth.audit.entry import AuditEntry
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import Refusal, refuse, reject_input
from troth.collection.phones import region_for, to_e164
from troth.collection.validation import (
    check_payload,
    check_value,
    parse_date,
    parse_datetime,
    parse_regime,
)
from troth.context import Context
from troth.driver import insert_many
from troth.errors import ValidationError
from troth.gate import (
    SYSTEM,
    Actor,
    ActorKind,
    Ask,
    Decision,
    Facts,
    Operation,
    Reason,
    decide,
)
from troth.gate import facts as facts_mod
from troth.policy.index import PolicyIndex
from troth.policy.model import CollectedField, CollectionPoint, FieldType, SourceKind
from troth.store.crypto import encrypt_value
from troth.store.ids import new_id
from troth.store.keystore import ensure_data_keys
from troth.store.subjects import blind_index_lookup, get_subject
from troth.store.tables import records, subjects

# Stored values are JSON text; one encoder for all of them (json.dumps with options builds
# a new one per call).
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode
# The columns of each stored value that vary from value to value (the rest are common to
# the batch).
_RECORD_COLUMNS = (
    "subject_id",
    "category",
    "field",
    "value",
    "ciphertext",
    "key_version",
    "purposes",
)


@dataclass(frozen=True)
class CollectResult:
    subject_id: str
    stored: int
    purposes: tuple[str, ...]
    dropped_purposes: dict[str, str] = field(default_factory=dict)


class Collecting:
    """Collection and the refusal helpers every path of ``Troth`` uses."""

    ctx: Context

    # -- collection --------------------------------------------------------------------
    def collect(
        self,
        point: str,
        data: Mapping[str, object],
        *,
        actor: Actor = SYSTEM,
        subject_id: str | None = None,
        tenant_id: str | None = None,
        jurisdiction: str | None = None,
        location: str | None = None,
        supplier: str | None = None,
        consents: Iterable[str] = (),
        purposes: Iterable[str] | None = None,
    ) -> CollectResult:
        """Store ``data`` arriving through collection point ``point``.

        Every field must be declared by the point (P01); the values are bound to the
        point's purposes (P02) or, for third-party data, to the one purpose supplied for
        (P03); a minor is refused (P04); consent purposes need ``consents`` or an existing
        grant (P07). ``purposes`` narrows the point's purposes (third-party data: the one
        it was supplied for). Refusals are audited and nothing is stored."""
        results = self.collect_many(
            point,
            [data],
            actor=actor,
            subject_ids=[subject_id] if subject_id else None,
            tenant_id=tenant_id,
            jurisdiction=jurisdiction,
            location=location,
            supplier=supplier,
            consents=consents,
            purposes=purposes,
        )
        return results[0]

    def collect_many(
        self,
        point: str,
        rows: Sequence[Mapping[str, object]],
        *,
        actor: Actor = SYSTEM,
        subject_ids: Sequence[str] | None = None,
        tenant_id: str | None = None,
        jurisdiction: str | None = None,
        location: str | None = None,
        supplier: str | None = None,
        consents: Iterable[str] = (),
        purposes: Iterable[str] | None = None,
    ) -> list[CollectResult]:
        """Bulk collection: validated as a whole, stored in one transaction with batched
        inserts (all or nothing)."""
        ctx = self.ctx
        idx = ctx.policy
        now = ctx.clock.now()
        cp = idx.points.get(point)
        if cp is None:
            self._refuse(
                "collect",
                actor,
                Reason.unknown_collection_point,
                f"no collection point {point!r} in the policy"
                f" (known: {', '.join(sorted(idx.points)) or 'none'})",
                details={"point": point},
            )
        if subject_ids is not None and len(subject_ids) != len(rows):
            raise ValidationError("subject_ids must have one entry per row")
        consents = tuple(consents)
        where = location or cp.location or idx.default_location
        # P22: storing outside the allowed places is refused.
        if where not in idx.allowed_locations:
            self._refuse(
                "collect",
                actor,
                Reason.location_not_allowed,
                f"data may not be stored in {where}"
                f" (allowed: {', '.join(sorted(idx.allowed_locations))})",
                details={"point": point, "location": where},
            )
        juris = jurisdiction or idx.default_jurisdiction.value
        point_purposes = self._bound_purposes(cp, purposes, supplier, actor)
        ages: list[int] = []
        try:
            if jurisdiction is not None:
                parse_regime(jurisdiction, "jurisdiction")
            supplier = _named_supplier(cp, supplier)
            region = region_for(idx.policy, juris)
            for i, data in enumerate(rows):
                # Shape first (an object of text keys, storable values), then each field.
                problem = check_payload(data)
                if problem:
                    where_row = f" (row {i})" if len(rows) > 1 else ""
                    raise ValidationError(f"{problem}{where_row}")
            for i, data in enumerate(rows):
                row = i if len(rows) > 1 else None
                self._check_fields(cp, data, actor, row=row)
                _check_phones(cp, data, region, row=row)
                _check_customer_tenant(idx, cp, data, tenant_id, row=row)
                if cp.age_field and cp.age_field in cp.fields:
                    age = _age_of(cp.fields[cp.age_field], data.get(cp.age_field), now.date())
                    if age is not None:
                        ages.append(age)
            unknown = [p for p in consents if p not in idx.purposes]
            if unknown:
                raise ValidationError(f"unknown purpose {unknown[0]!r} in consents")
        except ValidationError as exc:
            # Bad input is refused like the gate refuses: audited, nothing stored. The
            # entry names the problem, never the value.
            reject_input(
                ctx, "collect", actor, exc, details={"point": point, "problem": exc.message[:300]}
            )
        # P04: no data from minors (the values are well-formed dates or ages by now).
        if ages:
            min_age = idx.minimum_age(juris)
            if min(ages) < min_age:
                self._refuse(
                    "collect",
                    actor,
                    Reason.minor,
                    f"the person is under {min_age}; the policy forbids collecting"
                    " data from minors",
                    details={"point": point, "minimum_age": min_age},
                )
        stored = self._store_rows(
            point,
            cp,
            rows,
            actor,
            subject_ids,
            tenant_id,
            juris,
            where,
            supplier,
            consents,
            point_purposes,
            now,
        )
        if isinstance(stored, Refusal):
            # Decided inside the transaction, which wrote nothing: audited after it.
            self._refuse(
                "collect", actor, stored.reason, stored.message, stored.subject_id, stored.details
            )
        return stored

    def _store_rows(
        self,
        point: str,
        cp: CollectionPoint,
        rows: Sequence[Mapping[str, Any]],
        actor: Actor,
        subject_ids: Sequence[str] | None,
        tenant_id: str | None,
        juris: str,
        where: str,
        supplier: str | None,
        consents: tuple[str, ...],
        point_purposes: list[str],
        now: datetime,
    ) -> list[CollectResult] | Refusal:
        """Store the rows in one transaction, or return the refusal the gate decided on
        the way (decided before anything is written: the transaction then writes nothing)."""
        ctx = self.ctx
        idx = ctx.policy
        dropped: dict[str, str] = {}
        results: list[CollectResult] = []
        with transaction(ctx) as conn:
            sids = list(subject_ids) if subject_ids else []
            new_subjects: list[dict[str, Any]] = []
            if not sids:
                sids, new_subjects = self._resolve_subjects(conn, cp, rows, tenant_id, juris)
            else:
                for sid in sids:
                    get_subject(conn, sid)
            # Every collection goes through the gate: may this actor collect for each of
            # the point's purposes, and which purposes has the person consented to (P07)?
            consented_by_subject = facts_mod.consented_purposes(conn, ctx, sids)
            point_cats = tuple(sorted({f.category for f in cp.fields.values()}))
            member_active, grants = facts_mod.actor_membership(conn, ctx, actor, tenant_id)
            allowed: dict[str, dict[str, frozenset[str]]] = {}
            # People with the same consents get the same answers: decide once per state.
            decided: dict[frozenset[str], dict[str, frozenset[str]]] = {}
            for sid in sids:
                have = consented_by_subject.get(sid, frozenset()) | frozenset(consents)
                if actor.kind is not ActorKind.subject and have in decided:
                    allowed[sid] = decided[have]
                    continue
                facts = Facts(
                    subject_id=sid,
                    subject_tenant=tenant_id,
                    subject_self=actor.kind is ActorKind.subject and actor.id == sid,
                    consented=have,
                    member_active=member_active,
                    grants=grants,
                )
                per: dict[str, frozenset[str]] = {}
                refusals: list[Decision] = []
                for p in point_purposes:
                    d = decide(idx, Ask(actor, Operation.collect, p, point_cats, now), facts)
                    if d.allowed:
                        per[p] = d.categories
                    else:
                        refusals.append(d)
                        dropped[p] = d.reason.value if d.reason else "refused"
                if not per and refusals:
                    first = next((d for d in refusals if d.reason in _ACTOR_REASONS), None)
                    if first is not None and first.reason is not None:
                        return Refusal(first.reason, first.detail, details={"point": point})
                allowed[sid] = per
                decided[have] = per
            # The purposes a field's category serves, per distinct answer of the gate (the
            # `per` dicts are shared by people with the same consents, see `decided`).
            serving_for: dict[tuple[int, str], list[str]] = {}
            unserved = self._unserved(cp, rows, sids, allowed, point_purposes, serving_for)
            if unserved is not None:
                return unserved
            # Decided: from here on the transaction writes.
            created = self._insert_subjects(conn, cp, new_subjects, tenant_id, juris, now)
            if consents:
                facts_mod.record_consents(conn, ctx, sids, consents, actor, point)
            sensitive_fields = {
                f for f, spec in cp.fields.items() if idx.is_sensitive(spec.category)
            }
            keys = ensure_data_keys(conn, ctx, sids, created) if sensitive_fields else {}
            out_rows: list[tuple[Any, ...]] = []  # in the order of _RECORD_COLUMNS
            audit: list[AuditEntry] = []
            for sid, data in zip(sids, rows, strict=True):
                per = allowed[sid]
                bound = frozenset(per)
                stored = 0
                cats: set[str] = set()
                for fname, value in data.items():
                    if value is None:
                        continue
                    spec = cp.fields[fname]
                    serving = serving_for[(id(per), spec.category)]
                    if not serving:
                        # Checked for the minimum age, not kept: no purpose needs it (P01).
                        continue
                    encoded = _ENCODE(_normalise(spec, value))
                    if fname in sensitive_fields:
                        version, dek = keys[sid]
                        sealed = encrypt_value(dek, sid, fname, version, encoded.encode())
                        out_rows.append((sid, spec.category, fname, None, sealed, version, serving))
                    else:
                        out_rows.append((sid, spec.category, fname, encoded, None, None, serving))
                    stored += 1
                    cats.add(spec.category)
                audit.append(
                    AuditEntry(
                        action="collect",
                        actor=actor.label,
                        subject_id=sid,
                        tenant_id=tenant_id,
                        categories=tuple(sorted(cats)),
                        details={
                            "point": point,
                            "fields": sorted(k for k, v in data.items() if v is not None),
                            "purposes": sorted(bound),
                            "location": where,
                            "policy_version": idx.version,
                        },
                    )
                )
                results.append(CollectResult(sid, stored, tuple(sorted(bound)), dict(dropped)))
            insert_many(
                conn,
                records,
                out_rows,
                names=_RECORD_COLUMNS,
                common={
                    "tenant_id": tenant_id,
                    "collection_point": point,
                    "source": cp.source.value,
                    "supplier": supplier,
                    "policy_version": idx.version,
                    "location": where,
                    "collected_at": now,
                    "restricted_to": None,
                    "restricted_until": None,
                    "anonymised": False,
                },
            )
            append_entries(conn, now, audit)
        return results

    def _unserved(
        self,
        cp: CollectionPoint,
        rows: Sequence[Mapping[str, Any]],
        sids: Sequence[str],
        allowed: Mapping[str, dict[str, frozenset[str]]],
        point_purposes: list[str],
        serving_for: dict[tuple[int, str], list[str]],
    ) -> Refusal | None:
        """The refusal of a field that would serve no purpose (the first found), or None;
        fills ``serving_for`` (the purposes each field's category serves, per gate answer).
        The gate already exempted business contact data from consent (P05)."""
        idx = self.ctx.policy
        for sid, data in zip(sids, rows, strict=True):
            per = allowed[sid]
            for fname, value in data.items():
                if value is None:
                    continue
                spec = cp.fields[fname]
                serving_key = (id(per), spec.category)
                serving = serving_for.get(serving_key)
                if serving is None:
                    serving = serving_for[serving_key] = sorted(
                        p for p, cats_ok in per.items() if spec.category in cats_ok
                    )
                if serving or fname == cp.age_field:
                    continue
                reason = (
                    Reason.no_consent
                    if any(idx.purpose_allows(p, spec.category) for p in point_purposes)
                    else Reason.purpose_not_declared_for_category
                )
                return Refusal(
                    reason,
                    f"field {fname!r} ({spec.category}) would serve no purpose: "
                    + (
                        "its purposes need consent and the person has not given it"
                        if reason is Reason.no_consent
                        else "no purpose of this collection point may use that category"
                    ),
                    subject_id=sid,
                    details={"point": cp.id, "field": fname},
                )
        return None

    def _check_fields(
        self, cp: CollectionPoint, data: Mapping[str, Any], actor: Actor, row: int | None
    ) -> None:
        if not isinstance(data, Mapping):
            raise ValidationError("data must be a JSON object of field -> value")
        extra = sorted(set(data) - set(cp.fields))
        where = f" (row {row})" if row is not None else ""
        if extra:
            self._refuse(
                "collect",
                actor,
                Reason.field_not_declared,
                f"collection point {cp.id!r} does not declare field(s) {', '.join(extra)}{where};"
                f" it collects: {', '.join(sorted(cp.fields))}",
                details={"point": cp.id, "fields": extra},
            )
        missing = [
            f for f, spec in cp.fields.items() if spec.required and data.get(f) in (None, "")
        ]
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

    def _bound_purposes(
        self,
        cp: CollectionPoint,
        purposes: Iterable[str] | None,
        supplier: str | None,
        actor: Actor,
    ) -> list[str]:
        """The purposes data from this point may serve; a caller may narrow them (P03:
        third-party data is bound to the purpose it was supplied for)."""
        allowed = list(cp.purposes)
        if purposes is None:
            if cp.source is SourceKind.third_party and len(allowed) != 1:
                raise ValidationError(
                    f"collection point {cp.id!r} takes third-party data: name the one purpose"
                    f" it was supplied for (purposes=[...], one of {', '.join(allowed)})"
                )
            return allowed
        chosen = list(dict.fromkeys(purposes))
        bad = [p for p in chosen if p not in allowed]
        if bad:
            self._refuse(
                "collect",
                actor,
                Reason.purpose_not_of_collection,
                f"collection point {cp.id!r} does not collect for {', '.join(bad)}"
                f" (it collects for: {', '.join(allowed)})",
                details={"point": cp.id, "purposes": bad},
            )
        if not chosen:
            raise ValidationError("name at least one purpose")
        return chosen

    def _resolve_subjects(
        self,
        conn: Connection,
        cp: CollectionPoint,
        rows: Sequence[Mapping[str, Any]],
        tenant_id: str | None,
        juris: str,
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """Find each row's person by their identity fields (one IN query per identity kind
        and chunk, within the same tenant), or give them a new id. Returns each row's
        subject id and the people to create (:meth:`_insert_subjects`, once decided)."""
        ctx = self.ctx
        ident_fields = {spec.identifies: f for f, spec in cp.fields.items() if spec.identifies}
        region = region_for(ctx.policy.policy, juris)
        hashes = [
            {
                kind: ctx.keys.blind_index(kind, str(data[f]), region=region)
                for kind, f in ident_fields.items()
                if data.get(f) not in (None, "")
            }
            for data in rows
        ]
        known: dict[tuple[str, str], str] = {}
        for kind in ident_fields:
            wanted = sorted({h[kind] for h in hashes if kind in h})
            for start in range(0, len(wanted), 900):
                q = blind_index_lookup(kind, wanted[start : start + 900])
                for h, sid, tenant, erased in conn.execute(q):
                    if tenant == tenant_id and erased is None:
                        known.setdefault((kind, h), str(sid))
        sids: list[str] = []
        new_rows: list[dict[str, Any]] = []
        for bidx in hashes:
            sid = next((known[(k, h)] for k, h in bidx.items() if (k, h) in known), None)
            if sid is None:
                sid = new_id()
                new_rows.append(
                    {
                        "id": sid,
                        "email_bidx": bidx.get("email"),
                        "phone_bidx": bidx.get("phone"),
                        "customer_id_bidx": bidx.get("customer_id"),
                    }
                )
            # Later rows of the same batch with the same identity are the same person.
            for k, h in bidx.items():
                known.setdefault((k, h), sid)
            sids.append(sid)
        return sids, new_rows

    def _insert_subjects(
        self,
        conn: Connection,
        cp: CollectionPoint,
        new_rows: list[dict[str, Any]],
        tenant_id: str | None,
        juris: str,
        now: datetime,
    ) -> set[str]:
        """Create the people :meth:`_resolve_subjects` did not find (one insert); returns
        their ids."""
        if new_rows:
            insert_many(
                conn,
                subjects,
                new_rows,
                common={
                    "tenant_id": tenant_id,
                    "kind": cp.subjects[0] if cp.subjects else None,
                    "jurisdiction": juris,
                    "status": "active",
                    "created_at": now,
                },
            )
        return {r["id"] for r in new_rows}

    # -- refusals ------------------------------------------------------------------------
    def _refuse(
        self,
        action: str,
        actor: Actor,
        reason: Reason,
        message: str,
        subject_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> NoReturn:
        """Audit a refusal in its own transaction (nothing else is written), then raise."""
        refuse(self.ctx, action, actor, reason, message, subject_id=subject_id, details=details)


# Refusals about who is asking (not about the data): they refuse the whole collection.
_ACTOR_REASONS = frozenset(
    {
        Reason.not_a_member,
        Reason.role_not_allowed,
        Reason.scope_missing,
        Reason.no_grant,
        Reason.grant_expired,
        Reason.location_not_allowed,
    }
)


MAX_AGE = 150


def _age_of(spec: CollectedField, value: Any, today: date) -> int | None:
    """The age in whole years that the age field gives (None when it is empty). A date of
    birth in the future or more than :data:`MAX_AGE` years ago is not a date of birth: the
    collection is refused as bad input, never waved through or taken for a minor."""
    if value is None or value == "":
        return None
    if spec.type in (FieldType.integer, FieldType.number):
        age = int(value)  # check_value made it a finite number
        if not 0 <= age <= MAX_AGE:
            raise ValidationError(f"the age field: not an age (0 to {MAX_AGE} years)")
        return age
    try:
        born = (
            parse_datetime(value).date() if spec.type is FieldType.datetime else parse_date(value)
        )
    except ValueError as exc:
        raise ValidationError(f"the age field: {exc}; the minimum age cannot be checked") from None
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if born > today or age > MAX_AGE:
        raise ValidationError(
            f"the age field: not a date of birth (in the future, or more than {MAX_AGE} years ago)"
        )
    return age


def _normalise(spec: CollectedField, value: Any) -> Any:
    if spec.type in (FieldType.date, FieldType.datetime) and isinstance(value, date | datetime):
        return value.isoformat()
    return value


def _named_supplier(cp: CollectionPoint, supplier: str | None) -> str | None:
    """Who supplied this data (P03): required, by name, for a third-party point (the
    policy's ``supplier`` describes the kind of source, it names no one); refused for data
    that does not come from a third party."""
    name = " ".join(supplier.split()) if isinstance(supplier, str) else None
    if cp.source is not SourceKind.third_party:
        if name:
            raise ValidationError(
                f"collection point {cp.id!r} collects {cp.source.value} data, not third-party"
                " data: leave out the supplier",
                code="supplier_not_third_party",
                field="supplier",
            )
        return None
    if not name:
        described = f" (the policy describes them as: {cp.supplier})" if cp.supplier else ""
        raise ValidationError(
            f"collection point {cp.id!r} takes third-party data: name the third party that"
            f' supplied it (supplier=..., --supplier, or "supplier" in the request body)'
            f"{described}",
            code="supplier_required",
            field="supplier",
        )
    if len(name) > 200:
        raise ValidationError(
            "supplier: at most 200 characters", code="supplier_too_long", field="supplier"
        )
    return name


def _check_customer_tenant(
    idx: PolicyIndex,
    cp: CollectionPoint,
    data: Mapping[str, Any],
    tenant_id: str | None,
    row: int | None,
) -> None:
    """A customer's own data (``support_access.customer_categories``) is filed under that
    customer: without the tenant, no grant of the customer could ever cover it."""
    if tenant_id is not None:
        return
    own = set(idx.policy.support_access.customer_categories)
    held = sorted({spec.category for f, spec in cp.fields.items() if f in data} & own)
    if held:
        where = f" (row {row})" if row is not None else ""
        raise ValidationError(
            f"collection point {cp.id!r} holds {', '.join(held)}, a customer's own data:"
            f" name the customer it belongs to (tenant_id, --tenant){where}",
            field="tenant_id",
        )


def _check_phones(
    cp: CollectionPoint, data: Mapping[str, Any], region: str | None, row: int | None
) -> None:
    """A number that identifies the person must be one (it is indexed in E.164)."""
    for fname, spec in cp.fields.items():
        value = data.get(fname)
        if spec.identifies == "phone" and value not in (None, ""):
            try:
                to_e164(str(value), region)
            except ValidationError as exc:
                where = f" (row {row})" if row is not None else ""
                raise ValidationError(
                    f"field {fname!r}{where}: {exc.message}", code="invalid_phone", field=fname
                ) from None
