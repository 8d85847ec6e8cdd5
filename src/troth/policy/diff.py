"""What changed between two versions of a policy, each change classified material or minor (P34).

Material changes widen what is done with personal data (a new purpose, a new category for a
purpose, a new recipient or what it receives, longer retention, a new location or transfer,
a new field collected, a weaker legal basis...): they need a notice and, where the policy says
so, fresh consent. Removals and wording are minor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from troth.policy.model import Duration, LegalBasis, Policy


class ChangeKind(StrEnum):
    added = "added"
    removed = "removed"
    changed = "changed"


class Severity(StrEnum):
    material = "material"
    minor = "minor"


@dataclass(frozen=True, slots=True)
class Change:
    """One difference. ``item`` names the part of the element (``categories[billing]``,
    ``retention.keep_for``); ``before``/``after`` carry changed values."""

    kind: ChangeKind
    section: str
    id: str
    detail: str
    severity: Severity
    item: str = ""
    before: str | None = None
    after: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.section, self.id, self.item)

    @property
    def sentence(self) -> str:
        """The change read on its own: what it is about (the purpose, collection point,
        recipient... by id) and then ``detail``, e.g. ``purpose 'billing': categories
        used now includes 'destination_numbers'``. An element added or removed already
        names itself."""
        if not self.id or (self.kind is not ChangeKind.changed and not self.item):
            return self.detail
        noun = _NOUNS.get(self.section, self.section.replace("_", " "))
        return f"{noun} {self.id!r}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "section": self.section,
            "id": self.id,
            "item": self.item,
            "detail": self.detail,
            "severity": self.severity.value,
            "before": self.before,
            "after": self.after,
        }


@dataclass(slots=True)
class PolicyDiff:
    """Every change from ``old_version`` to ``new_version``."""

    old_version: str
    new_version: str
    changes: list[Change] = field(default_factory=list)
    # (purpose, category) pairs the new version allows and the old did not (P07, P08).
    new_uses: list[tuple[str, str]] = field(default_factory=list)
    # Consent purposes of the new version that the old did not ask consent for (P07).
    new_consent_purposes: list[str] = field(default_factory=list)

    @property
    def material(self) -> list[Change]:
        return [c for c in self.changes if c.severity is Severity.material]

    @property
    def minor(self) -> list[Change]:
        return [c for c in self.changes if c.severity is Severity.minor]

    @property
    def has_material(self) -> bool:
        return any(c.severity is Severity.material for c in self.changes)

    def __bool__(self) -> bool:
        return bool(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "material": self.has_material,
            "counts": {"material": len(self.material), "minor": len(self.minor)},
            "changes": [c.to_dict() for c in self.changes],
            "new_uses": [{"purpose": p, "category": c} for p, c in self.new_uses],
            "new_consent_purposes": list(self.new_consent_purposes),
        }


# What an element of each section is called in a sentence.
_NOUNS = {
    "categories": "category",
    "purposes": "purpose",
    "collection_points": "collection point",
    "recipients": "recipient",
    "locations": "location",
    "transfers": "transfer",
    "roles": "role",
    "cookies": "cookie",
    "lists": "list",
    "subjects": "kind of person",
}

# How much a legal basis protects the person: moving down this scale is material.
_BASIS_STRENGTH: dict[LegalBasis, int] = {
    LegalBasis.consent: 5,
    LegalBasis.contract: 4,
    LegalBasis.legal_obligation: 3,
    LegalBasis.vital_interest: 3,
    LegalBasis.public_task: 3,
    LegalBasis.legitimate_interest: 1,
}

_M, _m = Severity.material, Severity.minor


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_text(v) for v in value) or "none"
    return str(value)


class _Differ:
    def __init__(self) -> None:
        self.changes: list[Change] = []

    def add(
        self,
        kind: ChangeKind,
        section: str,
        ident: str,
        detail: str,
        severity: Severity,
        item: str = "",
        before: Any = None,
        after: Any = None,
    ) -> None:
        b = _text(before) if kind is ChangeKind.changed else None
        a = _text(after) if kind is ChangeKind.changed else None
        self.changes.append(Change(kind, section, ident, detail, severity, item, b, a))

    def elements(
        self,
        section: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        noun: str,
        added_severity: Severity,
        compare: Callable[[str, Any, Any], None] | None = None,
    ) -> None:
        """Added/removed elements of a keyed list; ``compare`` diffs those in both."""
        for key in new.keys() - old.keys():
            self.add(ChangeKind.added, section, key, f"new {noun} {key!r}", added_severity)
        for key in old.keys() - new.keys():
            self.add(ChangeKind.removed, section, key, f"{noun} {key!r} removed", _m)
        if compare is not None:
            for key in sorted(old.keys() & new.keys()):
                compare(key, old[key], new[key])

    def members(
        self,
        section: str,
        ident: str,
        item: str,
        old: Iterable[str],
        new: Iterable[str],
        what: str,
        added_severity: Severity,
    ) -> None:
        """Added/removed members of a set-valued attribute of one element."""
        o, n = set(old), set(new)
        for v in sorted(n - o):
            self.add(
                ChangeKind.added,
                section,
                ident,
                f"{what} now includes {v!r}",
                added_severity,
                f"{item}[{v}]",
            )
        for v in sorted(o - n):
            self.add(
                ChangeKind.removed,
                section,
                ident,
                f"{what} no longer includes {v!r}",
                _m,
                f"{item}[{v}]",
            )

    def value(
        self,
        section: str,
        ident: str,
        item: str,
        old: Any,
        new: Any,
        what: str,
        material: Callable[[Any, Any], bool] | bool = False,
    ) -> None:
        if old == new:
            return
        is_material = material(old, new) if callable(material) else material
        self.add(
            ChangeKind.changed,
            section,
            ident,
            f"{what} changed from {_text(old)} to {_text(new)}",
            _M if is_material else _m,
            item,
            old,
            new,
        )


def _keeps_more(old: Any, new: Any) -> bool:
    """A legal minimum that keeps more categories, or keeps them longer, is material."""
    if new is None:
        return False
    if old is None:
        return True
    longer = new.keep_for.approx_days() > old.keep_for.approx_days()
    return longer or not set(new.categories) <= set(old.categories)


def _became_true(old: Any, new: Any) -> bool:
    return bool(new) and not bool(old)


def _became_false(old: Any, new: Any) -> bool:
    return bool(old) and not bool(new)


def _longer(old: Duration | None, new: Duration | None) -> bool:
    if new is None:
        return old is not None  # no retention limit at all now
    return old is not None and new.approx_days() > old.approx_days()


def _lower(old: int, new: int) -> bool:
    return new < old


def _higher(old: int, new: int) -> bool:
    return new > old


def diff_policies(old: Policy, new: Policy) -> PolicyDiff:
    """Every change from ``old`` to ``new``; ``diff_policies(a, a)`` is empty."""
    d = _Differ()
    _top(d, old, new)
    _categories(d, old, new)
    _purposes(d, old, new)
    _points(d, old, new)
    _recipients(d, old, new)
    _locations(d, old, new)
    _rest(d, old, new)
    old_pairs = {(p.id, c) for p in old.purposes for c in p.categories}
    new_pairs = {(p.id, c) for p in new.purposes for c in p.categories}
    old_consent = {p.id for p in old.purposes if p.legal_basis is LegalBasis.consent}
    return PolicyDiff(
        old_version=old.version,
        new_version=new.version,
        changes=sorted(d.changes, key=lambda c: (c.section, c.id, c.item, c.kind.value)),
        new_uses=sorted(new_pairs - old_pairs),
        new_consent_purposes=sorted(
            p.id
            for p in new.purposes
            if p.legal_basis is LegalBasis.consent and p.id not in old_consent
        ),
    )


def _top(d: _Differ, old: Policy, new: Policy) -> None:
    for name in ("id", "version", "effective", "multi_tenant"):
        d.value("policy", "", name, getattr(old, name), getattr(new, name), name)
    o, n = old.organisation, new.organisation
    for name in (
        "name",
        "website",
        "policy_url",
        "contact",
        "dpo",
        "representative",
        "default_jurisdiction",
    ):
        d.value(
            "organisation", "", name, getattr(o, name), getattr(n, name), name.replace("_", " ")
        )
    d.members(
        "organisation",
        "",
        "jurisdictions",
        (j.value for j in o.jurisdictions),
        (j.value for j in n.jurisdictions),
        "jurisdictions",
        _m,
    )


def _categories(d: _Differ, old: Policy, new: Policy) -> None:
    def compare(cid: str, o: Any, n: Any) -> None:
        d.value("categories", cid, "description", o.description, n.description, "description")
        d.value(
            "categories",
            cid,
            "sensitive",
            o.sensitive,
            n.sensitive,
            "sensitive flag",
            lambda a, b: a is True and b is not True,
        )
        d.value(
            "categories",
            cid,
            "business_contact",
            o.business_contact,
            n.business_contact,
            "business-contact flag",
            _became_true,
        )
        d.value(
            "categories",
            cid,
            "aggregate_only",
            o.aggregate_only,
            n.aggregate_only,
            "aggregate-only flag",
            _became_false,
        )

    d.elements(
        "categories",
        {c.id: c for c in old.categories},
        {c.id: c for c in new.categories},
        "category",
        _M,
        compare,
    )
    d.elements(
        "subjects",
        {s.id: s for s in old.subjects},
        {s.id: s for s in new.subjects},
        "kind of data subject",
        _m,
        lambda i, o, n: d.value(
            "subjects", i, "description", o.description, n.description, "description"
        ),
    )


def _purposes(d: _Differ, old: Policy, new: Policy) -> None:
    def compare(pid: str, o: Any, n: Any) -> None:
        s = "purposes"
        d.members(s, pid, "categories", o.categories, n.categories, "categories used", _M)
        d.value(
            s,
            pid,
            "legal_basis",
            o.legal_basis,
            n.legal_basis,
            "legal basis",
            lambda a, b: _BASIS_STRENGTH[b] < _BASIS_STRENGTH[a],
        )
        for name in ("description", "notice", "withdraw"):
            d.value(s, pid, name, getattr(o, name), getattr(n, name), name)
        d.value(
            s,
            pid,
            "aggregate_only",
            o.aggregate_only,
            n.aggregate_only,
            "aggregate only",
            _became_false,
        )
        # A new dimension splits the statistics finer (P09): material.
        d.members(s, pid, "dimensions", o.dimensions, n.dimensions, "aggregate dimensions", _M)
        d.value(
            s,
            pid,
            "sale_or_sharing",
            o.sale_or_sharing,
            n.sale_or_sharing,
            "sale or sharing",
            _became_true,
        )
        d.value(s, pid, "marketing", o.marketing, n.marketing, "marketing", _became_true)
        ro, rn = o.retention, n.retention
        d.value(
            s,
            pid,
            "retention.keep_for",
            ro.keep_for if ro else None,
            rn.keep_for if rn else None,
            "retention",
            _longer,
        )
        d.value(
            s,
            pid,
            "retention.legal_minimum",
            ro.legal_minimum if ro else None,
            rn.legal_minimum if rn else None,
            "legal minimum",
            _keeps_more,
        )
        for name in ("after", "then"):
            d.value(
                s,
                pid,
                f"retention.{name}",
                getattr(ro, name, None),
                getattr(rn, name, None),
                f"retention {name.replace('_', ' ')}",
            )

    d.elements(
        "purposes",
        {p.id: p for p in old.purposes},
        {p.id: p for p in new.purposes},
        "purpose",
        _M,
        compare,
    )


def _points(d: _Differ, old: Policy, new: Policy) -> None:
    def compare(cid: str, o: Any, n: Any) -> None:
        s = "collection_points"
        d.members(s, cid, "fields", o.fields, n.fields, "fields collected", _M)
        for fname in sorted(o.fields.keys() & n.fields.keys()):
            fo, fn = o.fields[fname], n.fields[fname]
            d.value(
                s,
                cid,
                f"fields.{fname}.category",
                fo.category,
                fn.category,
                f"category of field {fname!r}",
                True,
            )
            for attr in ("type", "required", "max_length", "identifies", "description"):
                d.value(
                    s,
                    cid,
                    f"fields.{fname}.{attr}",
                    getattr(fo, attr),
                    getattr(fn, attr),
                    f"{attr.replace('_', ' ')} of field {fname!r}",
                )
        d.members(s, cid, "purposes", o.purposes, n.purposes, "purposes served", _M)
        d.members(s, cid, "subjects", o.subjects, n.subjects, "subjects", _m)
        d.value(s, cid, "source", o.source, n.source, "source", True)
        d.value(s, cid, "supplier", o.supplier, n.supplier, "supplier", True)
        d.value(s, cid, "location", o.location, n.location, "location", lambda a, b: b is not None)
        for name in ("description", "age_field"):
            d.value(s, cid, name, getattr(o, name), getattr(n, name), name.replace("_", " "))

    d.elements(
        "collection_points",
        {c.id: c for c in old.collection_points},
        {c.id: c for c in new.collection_points},
        "collection point",
        _M,
        compare,
    )


def _grants(r: Any) -> dict[str, tuple[set[str], set[str]]]:
    out: dict[str, tuple[set[str], set[str]]] = {}
    for disc in r.receives:
        cats, fields = out.setdefault(disc.purpose, (set(), set()))
        cats.update(disc.categories)
        fields.update(disc.fields)
    return out


def _recipients(d: _Differ, old: Policy, new: Policy) -> None:
    def compare(rid: str, o: Any, n: Any) -> None:
        s = "recipients"
        go, gn = _grants(o), _grants(n)
        d.members(s, rid, "purposes", go, gn, "purposes it receives data for", _M)
        for pid in sorted(go.keys() & gn.keys()):
            (co, fo), (cn, fn) = go[pid], gn[pid]
            d.members(
                s, rid, f"receives.{pid}.categories", co, cn, f"categories received for {pid!r}", _M
            )
            # An empty field list means every field: going to it, or adding one, widens.
            widened = bool(fo) and (not fn or bool(fn - fo))
            d.value(
                s,
                rid,
                f"receives.{pid}.fields",
                sorted(fo) or "every field",
                sorted(fn) or "every field",
                f"fields received for {pid!r}",
                widened,
            )
        d.value(s, rid, "location", o.location, n.location, "location", True)
        d.value(
            s,
            rid,
            "individual_transactions",
            o.individual_transactions,
            n.individual_transactions,
            "access to individual transactions",
            _became_true,
        )
        for name in ("name", "kind", "role", "url", "safeguard"):
            d.value(s, rid, name, getattr(o, name), getattr(n, name), name)

    d.elements(
        "recipients",
        {r.id: r for r in old.recipients},
        {r.id: r for r in new.recipients},
        "recipient",
        _M,
        compare,
    )


def _locations(d: _Differ, old: Policy, new: Policy) -> None:
    o, n = old.locations, new.locations
    d.members("locations", "", "allowed", o.allowed, n.allowed, "allowed data locations", _M)
    d.value("locations", "", "default", o.default, n.default, "default location")
    to = {t.to: t.safeguard for t in o.transfers}
    tn = {t.to: t.safeguard for t in n.transfers}
    d.elements(
        "transfers",
        to,
        tn,
        "transfer to",
        _M,
        lambda k, a, b: d.value("transfers", k, "safeguard", a, b, "safeguard"),
    )


def _rest(d: _Differ, old: Policy, new: Policy) -> None:
    d.value(
        "minors",
        "",
        "minimum_age",
        old.minors.minimum_age,
        new.minors.minimum_age,
        "minimum age",
        _lower,
    )
    bo = {k.value: v for k, v in old.minors.by_jurisdiction.items()}
    bn = {k.value: v for k, v in new.minors.by_jurisdiction.items()}
    d.elements(
        "minors",
        bo,
        bn,
        "minimum age for jurisdiction",
        _m,
        lambda k, a, b: d.value("minors", k, "minimum_age", a, b, f"minimum age in {k}", _lower),
    )

    def role(rid: str, o: Any, n: Any) -> None:
        d.members("roles", rid, "categories", o.categories, n.categories, "categories seen", _m)
        d.members("roles", rid, "purposes", o.purposes, n.purposes, "purposes", _m)
        old_powers, new_powers = [p.value for p in o.powers], [p.value for p in n.powers]
        d.members("roles", rid, "powers", old_powers, new_powers, "office powers", _m)
        d.value("roles", rid, "description", o.description, n.description, "description")

    d.elements(
        "roles", {r.id: r for r in old.roles}, {r.id: r for r in new.roles}, "role", _m, role
    )
    no, nn = old.notices, new.notices
    d.value(
        "notices",
        "",
        "notice_period_days",
        no.notice_period_days,
        nn.notice_period_days,
        "notice period (days)",
        _lower,
    )
    d.value(
        "notices",
        "",
        "new_purpose_needs_consent",
        no.new_purpose_needs_consent,
        nn.new_purpose_needs_consent,
        "fresh consent for new purposes",
        _became_false,
    )
    d.value(
        "notices",
        "",
        "email_customers",
        no.email_customers,
        nn.email_customers,
        "email customers about changes",
    )
    d.value(
        "notices",
        "",
        "post_on_website",
        no.post_on_website,
        nn.post_on_website,
        "post changes on the website",
    )

    def mailing(lid: str, o: Any, n: Any) -> None:
        d.value("lists", lid, "purpose", o.purpose, n.purpose, "purpose", True)
        d.value("lists", lid, "marketing", o.marketing, n.marketing, "marketing", _became_true)
        d.value("lists", lid, "description", o.description, n.description, "description")

    d.elements(
        "lists",
        {x.id: x for x in old.lists},
        {x.id: x for x in new.lists},
        "mailing list",
        _M,
        mailing,
    )
    d.elements(
        "cookies",
        _cookies(old),
        _cookies(new),
        "cookie use",
        _M,
        lambda k, a, b: d.members("cookies", k, "names", a, b, "cookie names", _M),
    )
    so, sn = old.support_access, new.support_access
    d.value(
        "support_access",
        "",
        "requires_customer_grant",
        so.requires_customer_grant,
        sn.requires_customer_grant,
        "customer grant required",
        _became_false,
    )
    d.value(
        "support_access", "", "max_days", so.max_days, sn.max_days, "longest grant (days)", _higher
    )
    d.value(
        "support_access",
        "",
        "emergency_access",
        so.emergency_access,
        sn.emergency_access,
        "emergency access",
        _became_true,
    )
    d.value(
        "aggregates",
        "",
        "min_group_size",
        old.aggregates.min_group_size,
        new.aggregates.min_group_size,
        "smallest group shown",
        _lower,
    )
    d.members(
        "business_contact",
        "",
        "exempt_from",
        old.business_contact_exempt_from,
        new.business_contact_exempt_from,
        "business contact exempt from",
        _M,
    )


def _cookies(policy: Policy) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for c in policy.cookies:
        out.setdefault(f"{c.category.value}:{c.purpose or ''}", set()).update(c.names)
    return out
