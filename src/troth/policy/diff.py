"""What changed between two versions of a policy, each change classified material or minor (P34).

Material changes widen what is done with personal data (a new purpose, a new category for a
purpose, a new recipient or what it receives, longer retention, a new location or transfer,
a new field collected, a weaker legal basis, a purpose no longer ``vendor_only``...): they
need a notice and, where the policy says so, fresh consent. Removals and wording are minor;
a removal that leaves data held for a purpose without it is said in the diff's ``warnings``
(:mod:`troth.policy.dropped`).
"""

from __future__ import annotations

from typing import Any

from troth.policy.changes import Attr, Differ, PolicyDiff, Severity, same_words
from troth.policy.consent_by import CUSTOMER, recorded_by
from troth.policy.dropped import dropped_warnings
from troth.policy.durations import Duration
from troth.policy.model import LegalBasis, Policy

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


def _keeps_more(old: Any, new: Any) -> bool:
    """A legal minimum that keeps more categories, keeps them longer, or keeps them for
    more people (beside more kinds of record, or for everyone) is material."""
    if new is None:
        return False
    if old is None:
        return True
    longer = new.keep_for.approx_days() > old.keep_for.approx_days()
    # Kept beside fewer records, or for everyone (no only_with), is keeping more.
    wider = bool(old.only_with) and not (new.only_with and set(new.only_with) <= set(old.only_with))
    return longer or wider or not set(new.categories) <= set(old.categories)


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
    d = Differ()
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
        warnings=dropped_warnings(old, new),
    )


_ORGANISATION_ATTRS = same_words(
    "name", "website", "policy_url", "contact", "dpo", "representative", "default_jurisdiction"
)


def _top(d: Differ, old: Policy, new: Policy) -> None:
    top = ("id", "version", "effective", "multi_tenant")
    d.attrs("policy", "", old, new, [(n, n, False) for n in top])
    # Who decides about the customers' people's data: material, whichever way it moves.
    d.attrs("policy", "", old, new, [("tenant_controller", "tenant_controller", True)])
    o, n = old.organisation, new.organisation
    d.attrs("organisation", "", o, n, _ORGANISATION_ATTRS)
    d.members(
        "organisation",
        "",
        "jurisdictions",
        (j.value for j in o.jurisdictions),
        (j.value for j in n.jurisdictions),
        "jurisdictions",
        _m,
    )


_CATEGORY_ATTRS: list[Attr] = [
    ("description", "description", False),
    ("sensitive", "sensitive flag", lambda a, b: a is True and b is not True),
    ("special", "special-category flag", lambda a, b: a is not False and b is False),
    ("business_contact", "business-contact flag", _became_true),
    ("aggregate_only", "aggregate-only flag", _became_false),
    ("transactions", "individual-transactions flag", _became_false),
]


def _categories(d: Differ, old: Policy, new: Policy) -> None:
    d.by_id(
        "categories",
        old.categories,
        new.categories,
        "category",
        _M,
        lambda cid, o, n: d.attrs("categories", cid, o, n, _CATEGORY_ATTRS),
    )
    d.by_id(
        "subjects",
        old.subjects,
        new.subjects,
        "kind of data subject",
        _m,
        lambda i, o, n: d.attrs("subjects", i, o, n, same_words("description")),
    )


_PURPOSE_ATTRS: list[Attr] = [
    ("legal_basis", "legal basis", lambda a, b: _BASIS_STRENGTH[b] < _BASIS_STRENGTH[a]),
    *same_words("description", "notice", "withdraw"),
    ("aggregate_only", "aggregate only", _became_false),
    ("sale_or_sharing", "sale or sharing", _became_true),
    ("marketing", "marketing", _became_true),
    # No longer the vendor's own: customers may act for it (vendor_only removed) widens.
    ("vendor_only", "the vendor's own (no customer acts for it)", _became_false),
]


def _purposes(d: Differ, old: Policy, new: Policy) -> None:
    def compare(pid: str, o: Any, n: Any) -> None:
        s = "purposes"
        d.members(s, pid, "categories", o.categories, n.categories, "categories used", _M)
        d.attrs(s, pid, o, n, _PURPOSE_ATTRS)
        # A new dimension splits the statistics finer (P09): material.
        d.members(s, pid, "dimensions", o.dimensions, n.dimensions, "aggregate dimensions", _M)
        _retention(d, pid, o.retention, n.retention)
        # Who may record a grant, as the gate decides it (``consent_by``, or derived):
        # a customer's side now recording it widens what the customer may give itself.
        d.value(
            s, pid, "consent_by", recorded_by(old, o), recorded_by(new, n),
            "who may record a consent", lambda a, b: b == CUSTOMER,
        )  # fmt: skip

    d.by_id(
        "purposes",
        old.purposes,
        new.purposes,
        "purpose",
        _M,
        compare,
    )


def _retention(d: Differ, pid: str, ro: Any, rn: Any) -> None:
    """A purpose's retention (either side may have none)."""
    for name, what, material in (
        ("keep_for", "retention", _longer),
        ("legal_minimum", "legal minimum", _keeps_more),
        ("after", "retention after", False),
        ("then", "retention then", False),
    ):
        before, after = getattr(ro, name, None), getattr(rn, name, None)
        d.value("purposes", pid, f"retention.{name}", before, after, what, material)


_POINT_ATTRS: list[Attr] = [
    ("source", "source", True),
    ("supplier", "supplier", True),
    ("location", "location", lambda a, b: b is not None),
    *same_words("description", "age_field"),
]


def _points(d: Differ, old: Policy, new: Policy) -> None:
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
            # person_copy: what the person's own copy holds of a masked field (P23).
            for attr in (
                "type",
                "required",
                "max_length",
                "identifies",
                "description",
                "person_copy",
            ):
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
        d.attrs(s, cid, o, n, _POINT_ATTRS)

    d.by_id(
        "collection_points",
        old.collection_points,
        new.collection_points,
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


_RECIPIENT_ATTRS: list[Attr] = [
    ("location", "location", True),
    ("individual_transactions", "access to individual transactions", _became_true),
    # Reported to without a legal demand each time: material whenever it changes.
    ("statutory_duty", "standing statutory duty to report to it", True),
    *same_words("name", "kind", "role", "url", "safeguard"),
]


def _recipients(d: Differ, old: Policy, new: Policy) -> None:
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
        d.attrs(s, rid, o, n, _RECIPIENT_ATTRS)

    d.by_id(
        "recipients",
        old.recipients,
        new.recipients,
        "recipient",
        _M,
        compare,
    )


def _locations(d: Differ, old: Policy, new: Policy) -> None:
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


def _rest(d: Differ, old: Policy, new: Policy) -> None:
    """The sections after locations: minors, roles, notices, mailing lists, cookies,
    support access, aggregates and the business-contact exemption."""
    _minors(d, old, new)
    d.by_id("roles", old.roles, new.roles, "role", _m, lambda i, o, n: _role(d, i, o, n))
    d.attrs("notices", "", old.notices, new.notices, _NOTICE_ATTRS)
    d.by_id(
        "lists",
        old.lists,
        new.lists,
        "mailing list",
        _M,
        lambda lid, o, n: d.attrs("lists", lid, o, n, _LIST_ATTRS),
    )
    d.elements(
        "cookies",
        _cookies(old),
        _cookies(new),
        "cookie use",
        _M,
        lambda k, a, b: d.members("cookies", k, "names", a, b, "cookie names", _M),
    )
    d.attrs("support_access", "", old.support_access, new.support_access, _SUPPORT_ATTRS)
    d.attrs("aggregates", "", old.aggregates, new.aggregates, _AGGREGATE_ATTRS)
    d.members(
        "business_contact",
        "",
        "exempt_from",
        old.business_contact_exempt_from,
        new.business_contact_exempt_from,
        "business contact exempt from",
        _M,
    )


def _minors(d: Differ, old: Policy, new: Policy) -> None:
    d.attrs("minors", "", old.minors, new.minors, [("minimum_age", "minimum age", _lower)])
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


def _role(d: Differ, rid: str, o: Any, n: Any) -> None:
    d.members("roles", rid, "categories", o.categories, n.categories, "categories seen", _m)
    d.members("roles", rid, "purposes", o.purposes, n.purposes, "purposes", _m)
    d.members("roles", rid, "masked", o.masked, n.masked, "categories read masked", _m)
    old_powers, new_powers = [p.value for p in o.powers], [p.value for p in n.powers]
    d.members("roles", rid, "powers", old_powers, new_powers, "office powers", _m)
    d.value("roles", rid, "for", o.for_, n.for_, "whose role it is", True)
    d.attrs("roles", rid, o, n, same_words("description"))


_NOTICE_ATTRS: list[Attr] = [
    ("notice_period_days", "notice period (days)", _lower),
    ("new_purpose_needs_consent", "fresh consent for new purposes", _became_false),
    ("email_customers", "email customers about changes", False),
    ("post_on_website", "post changes on the website", False),
]
_LIST_ATTRS: list[Attr] = [
    ("purpose", "purpose", True),
    ("marketing", "marketing", _became_true),
    ("description", "description", False),
]
_SUPPORT_ATTRS: list[Attr] = [
    ("requires_customer_grant", "customer grant required", _became_false),
    ("max_days", "longest grant (days)", _higher),
    ("emergency_access", "emergency access", _became_true),
]
_AGGREGATE_ATTRS: list[Attr] = [("min_group_size", "smallest group shown", _lower)]


def _cookies(policy: Policy) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for c in policy.cookies:
        out.setdefault(f"{c.category.value}:{c.purpose or ''}", set()).update(c.names)
    return out
