"""What a valid policy does that deserves a second look: printed by ``troth policy
validate`` and never fatal, so a policy that opened before an upgrade still opens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from troth.policy.lawful import lawful_warnings
from troth.policy.model import FieldType, LegalBasis, Policy, SourceKind
from troth.policy.pitfalls import pitfall_warnings

if TYPE_CHECKING:
    from troth.policy.index import PolicyIndex


def policy_warnings(policy: Policy) -> list[str]:
    """What a valid policy does that deserves a second look (printed by ``policy
    validate``, never fatal): an optional field no purpose of its point uses (every form
    that fills it in is refused), a purpose no collection point serves (nothing stored is
    ever bound to it), a legal minimum that keeps a sensitive category past erasure (PCI
    DSS 3.2.1: no card data kept without a need), what fails or is decided silently only
    once data arrives (:func:`troth.policy.pitfalls.pitfall_warnings`) and what the law asks
    a second look at (:func:`troth.policy.lawful.lawful_warnings`)."""
    from troth.policy.index import PolicyIndex

    index = PolicyIndex.build(policy)
    out: list[str] = (
        _unused_optional_fields(policy)
        + _unserved_purposes(policy)
        + _unfindable(policy)
        + _kept_without_a_record(policy)
    )
    for i, p in enumerate(policy.purposes):
        lm = p.retention.legal_minimum if p.retention else None
        if lm is None:
            continue
        for j, cat in enumerate(lm.categories):
            if index.is_sensitive(cat):
                out.append(
                    f"purposes[{i}].retention.legal_minimum.categories[{j}]: purpose "
                    f"{p.id!r} keeps sensitive category {cat!r} after erasure for "
                    f"{lm.keep_for} ({lm.law}): make sure that law requires this very data"
                )
    return (
        out
        + _members_without_roles(policy, index)
        + vendor_only_warnings(policy, index)
        + transaction_warnings(policy, index)
        + pitfall_warnings(policy, index)
        + lawful_warnings(policy)
    )


def _risky(policy: Policy, index: PolicyIndex, categories: list[str]) -> list[str]:
    """Of ``categories``, the special (GDPR Art. 9) or sensitive ones, sorted."""
    special = {c.id for c in policy.categories if c.special}
    return sorted({c for c in categories if c in special or index.is_sensitive(c)})


def _members_without_roles(policy: Policy, index: PolicyIndex) -> list[str]:
    """A multi-tenant policy with sensitive or special categories that a customer may
    act for (a purpose not ``vendor_only``) and no role for a customer's members: every
    member of every customer reads all of it (need to know, GDPR Art. 5(1)(f), 25, 32)."""
    if not policy.multi_tenant or index.member_roles:
        return []
    # An authority's purpose is refused to a member without a role (gate/members.py).
    used = [
        c
        for p in policy.purposes
        if not p.vendor_only and p.id not in index.authority_purposes
        for c in p.categories
    ]
    risky = _risky(policy, index, used)
    if not risky:
        return []
    return [
        "roles: a multi-tenant policy with sensitive or special categories"
        f" ({', '.join(risky)}) and no role `for: tenant_members`: every member of a"
        " customer reads every category its purposes allow, for every purpose; declare"
        " roles for tenant_members (their purposes, categories, masked) and have each"
        " customer's admin give every member one (a member without one is then refused),"
        " and mark the purposes that are the vendor's own `vendor_only: true`"
    ]


def vendor_only_warnings(policy: Policy, index: PolicyIndex) -> list[str]:
    """``vendor_only`` in a policy that is not multi-tenant (it only ever keeps customers
    out); a member role listing a ``vendor_only`` purpose (no member acts for it); and, in
    a multi-tenant policy with member roles, a purpose not ``vendor_only`` that uses a
    special or sensitive category and that no member role lists: a customer's admin
    without a role and every key bound to a customer read it for that purpose, though the
    policy gives no customer role that need."""
    out: list[str] = []
    listed = {p for r in index.member_roles.values() for p in r.purposes}
    for i, p in enumerate(policy.purposes):
        if p.vendor_only and not policy.multi_tenant:
            out.append(
                f"purposes[{i}].vendor_only: purpose {p.id!r} is vendor_only, but the policy"
                " is not multi_tenant: the flag only keeps customers (tenants: their admins,"
                " members and keys) from acting for it; remove it if troth holds no"
                " customer's people, or say `multi_tenant: true` if it does"
            )
        risky = _risky(policy, index, p.categories)
        if not policy.multi_tenant or not index.member_roles or p.vendor_only or not risky:
            continue
        if p.aggregate_only or p.id in listed:
            continue
        if p.id in index.authority_purposes:
            out.append(_keys_read_authority_purpose(i, p.id, risky))
            continue
        out.append(
            f"purposes[{i}]: purpose {p.id!r} uses {', '.join(risky)} (special or"
            " sensitive) and no role `for: tenant_members` lists it, yet a customer's admin"
            " without a role and every API key bound to a customer read it for"
            f" {p.id!r}: if it is the vendor's own, say `vendor_only: true`; if customers"
            " need it, list it in the member roles that do and give their admins roles"
        )
    for i, r in enumerate(policy.roles):
        if not r.for_members:
            continue
        for j, pid in enumerate(r.purposes):
            if pid in index.vendor_purposes:
                out.append(
                    f"roles[{i}].purposes[{j}]: role {r.id!r} is for tenant_members, but"
                    f" purpose {pid!r} is vendor_only: no member ever acts for it (refused"
                    " vendor_only); remove it from the role"
                )
    return out


def transaction_warnings(policy: Policy, index: PolicyIndex) -> list[str]:
    """A recipient with ``individual_transactions: false``: one it is listed to receive
    that the flag then refuses (``recipient_category_not_allowed`` on every disclosure);
    and special or sensitive categories it receives person by person, which the flag does
    not cover (trial 18, F3: a research partner so marked got one person's genotype)."""
    tx = index.transaction_categories
    out: list[str] = []
    for i, r in enumerate(policy.recipients):
        if r.individual_transactions:
            continue
        named = ", ".join(sorted(tx)) or "the policy marks none `transactions: true`"
        for j, d in enumerate(r.receives):
            for cat in sorted(set(d.categories) & tx):
                out.append(
                    f"recipients[{i}].receives[{j}]: recipient {r.id!r} is listed for"
                    f" {cat!r}, a record of individual transactions, yet has"
                    " `individual_transactions: false`: every disclosure of it is refused;"
                    " drop one or the other"
                )
        risky = _risky(policy, index, [c for d in r.receives for c in d.categories])
        risky = [c for c in risky if c not in tx]
        if risky:
            out.append(
                f"recipients[{i}]: recipient {r.id!r} has `individual_transactions: false`,"
                f" which withholds only the records of individual transactions ({named}),"
                f" yet it receives {', '.join(risky)} (special or sensitive) of one person"
                " at a time: if it should get no individual's records, take them out of its"
                " `receives` (give it aggregates); mark a category `transactions: true` to"
                " withhold it too"
            )
    return out


def _keys_read_authority_purpose(i: int, pid: str, risky: list[str]) -> str:
    """The gate refuses a customer's admin or member without a role to read for a legal
    obligation whose data goes to an authority (``member_check``); a key bound to a
    customer has no role and is not refused (trial 17 F6, trial 18 D2)."""
    return (
        f"purposes[{i}]: purpose {pid!r} uses {', '.join(risky)} (special or sensitive) and"
        " is a legal obligation whose data goes to an authority: a customer's admin or"
        " member reads it only with a role that lists it (none does), but every API key"
        f" bound to a customer with the `use` scope reads it for {pid!r}: if only the"
        " vendor's privacy office acts on it, say `vendor_only: true`"
    )


def _unused_optional_fields(policy: Policy) -> list[str]:
    """The optional fields of collection points in a category none of the point's
    purposes uses (the required ones are errors: ``_Checker.point_field_rules``)."""
    cats = {p.id: set(p.categories) for p in policy.purposes}
    out = []
    for i, cp in enumerate(policy.collection_points):
        used = set().union(*(cats.get(p, set()) for p in cp.purposes))
        for name, f in cp.fields.items():
            if f.required or f.category in used or name == cp.age_field:
                continue
            out.append(
                f"collection_points[{i}].fields.{name}: collection point {cp.id!r}: optional"
                f" field {name!r} is in category {f.category!r}, which none of its purposes"
                f" ({', '.join(cp.purposes)}) uses, so every collection that fills it in is"
                f" refused: add {f.category!r} to one of those purposes, or remove the field"
            )
    return out


def _unserved_purposes(policy: Policy) -> list[str]:
    """The purposes no collection point lists. A stored value serves only the purposes of
    the point it came through (P02, ``troth.gate.binding.bind_record``), so every use,
    export, aggregate or list send for such a purpose is refused
    (``purpose_not_of_collection``), a customer's support grant or a person's consent for
    it included. Not said of a legal-obligation purpose (a disclosure the law obliges takes
    the data whatever it was collected for), nor of a cookie's purpose that nothing reads
    stored data for (no role, list or recipient names it and it is not aggregate-only: a
    session cookie's consent needs no collected data)."""
    served = {p for cp in policy.collection_points for p in cp.purposes}
    readers = (
        {p for r in policy.roles for p in r.purposes}
        | {lst.purpose for lst in policy.lists}
        | {d.purpose for rc in policy.recipients for d in rc.receives}
    )
    cookie_only = {c.purpose for c in policy.cookies} - readers
    out = []
    for i, p in enumerate(policy.purposes):
        if p.id in served or p.legal_basis is LegalBasis.legal_obligation:
            continue
        if p.id in cookie_only and not p.aggregate_only:
            continue
        out.append(
            f"purposes[{i}]: purpose {p.id!r} is listed by no collection point, so no stored"
            f" value is ever bound to it: every use, export, disclosure or aggregate for it is"
            f" refused (purpose_not_of_collection), even under a customer's support grant or"
            f" the person's consent: add {p.id!r} to the purposes of the collection points"
            f" whose data it needs, or remove the purpose"
        )
    return out


_IDENTIFIERS = {FieldType.email: "an e-mail address", FieldType.phone: "a phone number"}


def _unfindable(policy: Policy) -> list[str]:
    """A collection point that takes an e-mail address or a phone number but marks no
    field ``identifies``: the person is stored as someone new each time and no access,
    deletion or unsubscribe by that address ever finds them (only their subject id
    does). Not said of a point with another identifying field (a friend's e-mail beside
    the person's own is rightly not theirs), nor of a phone number a point observes (a
    call record's other party)."""
    out = []
    for i, cp in enumerate(policy.collection_points):
        if any(f.identifies for f in cp.fields.values()):
            continue
        for name, f in cp.fields.items():
            what = _IDENTIFIERS.get(f.type)
            if what is not None and not (
                f.type is FieldType.phone and cp.source is SourceKind.observed
            ):
                out.append(
                    f"collection_points[{i}].fields.{name}: collection point {cp.id!r}"
                    f" takes {what} but no field identifies the person, so each collection"
                    f" stores someone new and a request by that {f.type.value} never finds"
                    f" them (troth would answer that it holds nothing): add `identifies:"
                    f" {f.type.value}` to the field that is theirs"
                )
    return out


def _kept_without_a_record(policy: Policy) -> list[str]:
    """A legal minimum without ``only_with`` whose purpose is bound by points that collect
    different parts of what it keeps, so that a person who came through one point alone
    keeps its part after erasure for the law's period with no record beside it: a point
    that collects only part of what another collects (a sign-up form's name beside the
    purchase form's name and items: a sign-up who never bought, a child, keeps the name),
    or two points that collect nothing of it in common (a sign-up form's name and a report
    form's report: every member keeps their name, reported or not; trial 19, F9)."""
    out = []
    for i, p in enumerate(policy.purposes):
        lm = p.retention.legal_minimum if p.retention else None
        if lm is None or lm.only_with:
            continue
        kept = set(lm.categories)
        took = {
            cp.id: {f.category for f in cp.fields.values()} & kept
            for cp in policy.collection_points
            if p.id in cp.purposes
        }
        took = {point: cats for point, cats in took.items() if cats}
        where = f"purposes[{i}].retention.legal_minimum"
        held = f"after erasure for {lm.keep_for} ({lm.law})"
        warned = set()
        for small, cats in took.items():
            big = next((b for b, more in took.items() if cats < more), None)
            if big is None:
                continue
            warned.add(small)
            out.append(
                f"{where}: collection point {small!r} binds {p.id!r} and collects"
                f" {', '.join(sorted(cats))}, so everyone who comes through it keeps that"
                f" {held}, though only those who also come through {big!r} have the record"
                f" the law is about: name it with `only_with: [...]` (e.g."
                f" {sorted(took[big] - cats)[0]!r}), or remove {p.id!r} from {small!r}"
            )
        points = sorted(set(took) - warned)
        for n, a in enumerate(points):
            for b in points[n + 1 :]:
                if not took[a] & took[b]:
                    out.append(f"{where}: {_apart(policy, p.id, held, (a, b), took)}")
    return out


def _apart(
    policy: Policy,
    purpose: str,
    held: str,
    pair: tuple[str, str],
    took: dict[str, set[str]],
) -> str:
    """The warning of two points binding ``purpose`` that collect nothing in common of
    what its legal minimum keeps; the one whose categories fewer purposes declare is
    offered as the record (a report, an invoice; a name is declared by many)."""

    def spread(point: str) -> int:
        return min(sum(c in q.categories for q in policy.purposes) for c in took[point])

    a, b = sorted(pair, key=spread)
    named = " and ".join(f"{x!r} ({', '.join(sorted(took[x]))})" for x in pair)
    return (
        f"collection points {named} both bind {purpose!r} and collect nothing in common of"
        f" what its legal minimum keeps, so everyone who comes through one alone keeps what"
        f" it collected {held}, though the law is about one record: name the record with"
        f" `only_with` (e.g. `only_with: [{', '.join(sorted(took[a]))}]`, so that"
        f" {', '.join(sorted(took[b]))} from {b!r} is kept only beside"
        f" {', '.join(sorted(took[a]))} from {a!r}), or remove {purpose!r} from the point"
        " that holds no record"
    )
