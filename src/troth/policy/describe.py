"""The policy read back in plain words: what is collected where, why, on what legal basis,
who receives it and where, how long it is kept (``troth policy show``)."""

from __future__ import annotations

from typing import Any

from troth.policy.consent_by import consentable, recorded_by, recorded_by_words
from troth.policy.durations import Duration
from troth.policy.index import transaction_categories
from troth.policy.loader import dump_policy
from troth.policy.model import (
    CollectedField,
    CollectionPoint,
    LegalBasis,
    Policy,
    Power,
    Purpose,
    Regime,
    Retention,
    RetentionAction,
    RetentionClock,
    SourceKind,
)
from troth.policy.taxonomy import BUILTIN_BY_ID

# The office powers in plain words (policy show); a power never widens what a role reads.
POWER_WORDS: dict[Power, str] = {
    Power.manage_requests: "handle every customer's privacy requests (manage_requests)",
    Power.read_audit: "read and verify the whole audit log (read_audit)",
    Power.manage_breaches: "keep the breach register and tell the people affected"
    " (manage_breaches)",
    Power.legal_demands: "record legal demands (legal_demands)",
    Power.publish_policy: "change and publish this policy, read the record of processing"
    " (publish_policy)",
    Power.run_retention: "run retention (run_retention)",
    Power.manage_holds: "place and lift legal holds (manage_holds)",
    Power.run_discovery: "scan connected databases for undeclared personal data (run_discovery)",
    Power.manage_tenants: "create and administer customer accounts (manage_tenants)",
}

BASIS_WORDS: dict[LegalBasis, str] = {
    LegalBasis.consent: "your consent",
    LegalBasis.contract: "our contract with you",
    LegalBasis.legal_obligation: "a legal obligation",
    LegalBasis.legitimate_interest: "our legitimate interest",
    LegalBasis.vital_interest: "someone's vital interest",
    LegalBasis.public_task: "a public task",
}

REGIME_WORDS: dict[Regime, str] = {
    Regime.gdpr: "the EU GDPR (answer within one month)",
    Regime.uk_gdpr: "the UK GDPR (answer within one month)",
    Regime.ccpa: "the CCPA/CPRA (answer within 45 days)",
    Regime.pipeda: "PIPEDA (answer within 30 days)",
    Regime.nz: "the NZ Privacy Act 2020 (answer within 20 working days)",
    Regime.au: "the Australian Privacy Act (answer within 30 days)",
}

SOURCE_WORDS: dict[SourceKind, str] = {
    SourceKind.subject: "from the person",
    SourceKind.third_party: "from a third party",
    SourceKind.observed: "observed as you use our services",
}


def source_words(cp: CollectionPoint) -> str | None:
    """Where a collection point's data comes from, in words, as its ``source`` (and
    ``supplier``) say; None when the policy does not say (``source`` left out: troth
    treats it as the person's own, but the text must not claim what the policy does not,
    as for a form an employer fills in)."""
    if "source" not in cp.model_fields_set:
        return None
    return SOURCE_WORDS[cp.source] + (f" ({cp.supplier})" if cp.supplier else "")


def _duration(d: Duration) -> str:
    parts = [
        f"{n} {unit}{'s' if n != 1 else ''}"
        for n, unit in ((d.years, "year"), (d.months, "month"), (d.days, "day"))
        if n
    ]
    return " ".join(parts) or "no time"


def opt_out_words(policy: Policy, p: Purpose) -> str | None:
    """What else ends a purpose's retention period, in words, or None: for a purpose on
    consent, the person's consent ending; for a marketing or mailing-list purpose on
    another basis, an unsubscription or objection (the clocks of
    :func:`troth.retention.rules.compile_rules`)."""
    if p.legal_basis is LegalBasis.consent:
        return "you withdraw your consent"
    if p.marketing or any(lst.purpose == p.id for lst in policy.lists):
        return "you unsubscribe or object"
    return None


def retention_words(r: Retention | None, ends: str | None = None) -> str:
    """``kept 7 years after collection, then deleted (the law requires 7 years)``;
    ``ends`` (:func:`opt_out_words`) is what else starts the period: ``kept until the
    relationship ends or you withdraw your consent, whichever comes first, ...``."""
    if r is None:
        return "no retention period set"
    then = {
        RetentionAction.delete: "deleted",
        RetentionAction.anonymise: "anonymised",
        RetentionAction.crypto_shred: "made unreadable (key destroyed)",
    }[r.then]
    now = r.keep_for.approx_days() == 0
    if r.after is RetentionClock.relationship_end:
        start = (
            "until the relationship ends"
            if now
            else f"{_duration(r.keep_for)} after the relationship ends"
        )
    else:
        start = f"{_duration(r.keep_for)} after collection"
    if ends is not None:
        start += f" or {'' if now else 'after '}{ends}, whichever comes first"
    out = f"kept {start}, then {then}"
    lm = r.legal_minimum
    if lm is not None:
        beside = f", only beside a kept {' or '.join(lm.only_with)}" if lm.only_with else ""
        out += (
            f" (the law requires keeping {', '.join(lm.categories)} for"
            f" {_duration(lm.keep_for)}{beside}: {lm.law})"
        )
    return out


def _category_words(policy: Policy, cid: str) -> str:
    declared = {c.id: c for c in policy.categories}
    c = declared.get(cid)
    if c is not None and c.description:
        return c.description
    builtin = BUILTIN_BY_ID.get(cid)
    return builtin.description if builtin else cid


def _purpose_dict(policy: Policy, p: Purpose) -> dict[str, Any]:
    return {
        "id": p.id,
        "description": p.description,
        "legal_basis": p.legal_basis.value,
        "legal_basis_words": BASIS_WORDS[p.legal_basis],
        "categories": list(p.categories),
        "aggregate_only": p.aggregate_only,
        "dimensions": list(p.dimensions),
        "marketing": p.marketing,
        "sale_or_sharing": p.sale_or_sharing,
        "vendor_only": p.vendor_only,
        "consent_by": None if p.vendor_only or not consentable(p) else recorded_by(policy, p),
        "retention": retention_words(p.retention, opt_out_words(policy, p)),
        "withdraw": p.withdraw,
    }


def policy_summary(policy: Policy) -> dict[str, Any]:
    """The plain-words reading as data (``troth policy show --json``)."""
    org = policy.organisation
    return {
        "id": policy.id,
        "organisation": org.name,
        "version": policy.version,
        "effective": policy.effective.isoformat(),
        "contact": org.contact.model_dump(exclude_none=True),
        "jurisdictions": [REGIME_WORDS[j] for j in org.jurisdictions],
        "categories": {
            cid: _category_words(policy, cid)
            for cid in sorted({c for p in policy.purposes for c in p.categories})
        },
        "collection_points": [
            {
                "id": cp.id,
                "description": cp.description,
                "source": source_words(cp),
                "fields": {name: f.category for name, f in cp.fields.items()},
                # Shown masked to people, and those the person's own copy holds whole.
                "masked": {n: f.mask.value for n, f in cp.fields.items() if f.mask},
                "person_copy_whole": [
                    n for n, f in cp.fields.items() if f.mask and f.person_copy == "whole"
                ],
                "purposes": list(cp.purposes),
            }
            for cp in policy.collection_points
        ],
        "purposes": [_purpose_dict(policy, p) for p in policy.purposes],
        "recipients": [
            {
                "id": r.id,
                "name": r.name,
                "kind": r.kind.value,
                "role": r.role,
                "location": r.location,
                "safeguard": r.safeguard,
                "statutory_duty": r.statutory_duty,
                "individual_transactions": r.individual_transactions,
                "never_receives": (
                    [] if r.individual_transactions else sorted(transaction_categories(policy))
                ),
                "receives": [
                    {
                        "purpose": d.purpose,
                        "categories": list(d.categories),
                        "fields": list(d.fields),
                    }
                    for d in r.receives
                ],
            }
            for r in policy.recipients
        ],
        "locations": {
            "allowed": list(policy.locations.allowed),
            "default": policy.locations.default or policy.locations.allowed[0],
            "transfers": {t.to: t.safeguard for t in policy.locations.transfers},
        },
        "minimum_age": minimum_age(policy),
        "roles": {
            r.id: {
                "categories": list(r.categories),
                "purposes": list(r.purposes),
                "powers": [w.value for w in r.powers],
                "masked": list(r.masked),
                "for": r.for_.value,
            }
            for r in policy.roles
        },
        "lists": {lst.id: lst.purpose for lst in policy.lists},
        "support_access": policy.support_access.model_dump(),
        "notices": policy.notices.model_dump(),
        "business_contact_exempt_from": list(policy.business_contact_exempt_from),
    }


def describe_policy(policy: Policy) -> str:
    """The policy in plain words, section by section, for a person to read."""
    out: list[str] = []
    for section in _SECTIONS:
        out += section(policy)
    return "\n".join(out) + "\n"


def _intro(policy: Policy) -> list[str]:
    org = policy.organisation
    out = [
        f"{org.name} privacy policy, version {policy.version}, "
        f"effective {policy.effective:%d %B %Y}.".replace(" 0", " ", 1)
    ]
    contact = ", ".join(v for v in (org.contact.name, org.contact.email, org.contact.phone) if v)
    if contact:
        out.append(f"Privacy contact: {contact}.")
    if org.dpo is not None:
        out.append(
            f"Data protection officer: {org.dpo.name or ''} {org.dpo.email or ''}".rstrip() + "."
        )
    out.append(
        "Your rights are set by " + "; ".join(REGIME_WORDS[j] for j in org.jurisdictions) + "."
    )
    if policy.multi_tenant and policy.tenant_controller == "organisation":
        out.append(
            f"{org.name} is the controller of its customers' people's data: it decides about"
            " that data, and its staff see it as their roles allow; each customer sees only"
            f" its own people's data, and the people it invites; ask {org.name} about yours."
        )
    elif policy.multi_tenant:
        out.append("Each customer's data is seen only by that customer and the people it invites.")
        if policy.tenant_controller == "customer":
            out.append(
                f"{org.name} holds its customers' people's data for them: each customer decides"
                " about its own people's data; ask it about your data held for it."
            )
    return out


def _section(heading: str, body: list[str], empty: str) -> list[str]:
    """A section: a blank line, its heading, and its lines (``empty`` when it has none)."""
    return ["", heading, *(body or [empty])]


def _field_words(f: CollectedField) -> str:
    """A field's category, and how people are shown it where it is masked: "payment_card,
    shown masked (last4)"; "national_id, shown masked (last4), whole in the person's own
    copy of their data" (``person_copy: whole``)."""
    if f.mask is None:
        return f.category
    whole = ", whole in the person's own copy of their data" if f.person_copy == "whole" else ""
    return f"{f.category}, shown masked ({f.mask.value}){whole}"


def _collected(policy: Policy) -> list[str]:
    out: list[str] = []
    for cp in policy.collection_points:
        fields = ", ".join(f"{name} ({_field_words(f)})" for name, f in cp.fields.items())
        source = source_words(cp)
        said = f", {source}" if source else ""
        out.append(f"- {(cp.description or cp.id).rstrip('.')} [{cp.id}]{said}: {fields}.")
        out.append(f"    used only for: {', '.join(cp.purposes)}.")
    return _section("What we collect, and where", out, "  (no collection points declared)")


def _purpose_words(policy: Policy, p: Purpose) -> list[str]:
    out = [
        f"- {p.id}: {p.description}",
        f"    legal basis: {BASIS_WORDS[p.legal_basis]}; data used: {', '.join(p.categories)}.",
    ]
    extra = []
    if p.aggregate_only:
        extra.append("only in aggregate, never row by row")
        extra.append(
            "grouped only by " + ", ".join(p.dimensions)
            if p.dimensions
            else "totals only, never grouped"
        )
    if p.marketing:
        extra.append("marketing")
    if p.sale_or_sharing:
        extra.append("shared with others for their offers")
    if p.vendor_only:
        extra.append("ours alone: never done by or for our customers")
    if extra:
        out.append(f"    {'; '.join(extra)}.")
    out.append(f"    {retention_words(p.retention, opt_out_words(policy, p))}.")
    who = recorded_by_words(policy, p)
    if who:
        out.append(f"    {who}.")
    if p.withdraw:
        out.append(f"    to withdraw: {p.withdraw}")
    return out


def _purposes(policy: Policy) -> list[str]:
    out = ["", "Why we use it"]
    for p in policy.purposes:
        out += _purpose_words(policy, p)
    return out


def _recipients(policy: Policy) -> list[str]:
    out: list[str] = []
    for r in policy.recipients:
        role = f", {r.role}" if r.role else ""
        out.append(
            f"- {r.name} ({r.kind.value.replace('_', '-')}{role}), in {r.location}"
            + (f", safeguard: {r.safeguard}" if r.safeguard else "")
            + "."
        )
        for d in r.receives:
            only = f" (only the fields {', '.join(d.fields)})" if d.fields else ""
            out.append(f"    for {d.purpose}: {', '.join(d.categories)}{only}.")
        if r.statutory_duty:
            out.append(
                f"    we must report to it by law ({r.statutory_duty}), without a court order."
            )
        if not r.individual_transactions:
            tx = ", ".join(sorted(transaction_categories(policy))) or "none is named"
            out.append(f"    never sees records of individual transactions ({tx}).")
    return _section("Who receives it, and where", out, "- Nobody: your data is not passed on.")


def _places_and_children(policy: Policy) -> list[str]:
    loc = policy.locations
    out = ["", "Where your data is kept"]
    out.append(f"- In {', '.join(loc.allowed)} (by default {loc.default or loc.allowed[0]}).")
    out += [f"- Transfers to {t.to}: {t.safeguard}." for t in loc.transfers]
    return out + _children(policy)


def _children(policy: Policy) -> list[str]:
    """What the policy says of children, and only that (P34): nothing where it declares no
    ``minors`` and no point asks an age; where it declares none but points ask one, the
    age troth refuses below (the default) at those points."""
    m, asking = policy.minors, [cp.id for cp in policy.collection_points if cp.age_field]
    if minimum_age(policy) is None:
        return []
    first = f"We do not collect data from anyone under {m.minimum_age}."
    if "minors" not in policy.model_fields_set:
        first = f"Where we ask your age ({', '.join(asking)}), {first[0].lower()}{first[1:]}"
    elif not any((m.minimum_age, *m.by_jurisdiction.values())):
        first = "We set no minimum age."
    more = [f"- Under {r.value}: {age}." for r, age in m.by_jurisdiction.items()]
    return ["", "Children", f"- {first}", *more]


def minimum_age(policy: Policy) -> int | None:
    """The minimum age the policy sets (``minors``), else the one troth applies where a
    point asks an age (``age_field``); None where neither (no collection checks an age)."""
    asked = any(cp.age_field for cp in policy.collection_points)
    return policy.minors.minimum_age if "minors" in policy.model_fields_set or asked else None


def _staff_mail_cookies(policy: Policy) -> list[str]:
    out: list[str] = []
    staff_roles = [r for r in policy.roles if not r.for_members]
    if staff_roles:
        out += ["", "Who on our staff sees what"]
        for staff in staff_roles:
            cats = ", ".join(staff.categories) or "no personal data"
            out.append(f"- {staff.id}: {cats}.")
            if staff.powers:
                out.append(f"    may also: {', '.join(POWER_WORDS[p] for p in staff.powers)}.")
    member_roles = [r for r in policy.roles if r.for_members]
    if member_roles:
        out += [
            "",
            "Who at each customer sees what (the customer's admin gives each member a role)",
        ]
        for role in member_roles:
            cats = ", ".join(role.categories) or "no personal data"
            masked = f" ({', '.join(role.masked)} masked)" if role.masked else ""
            fors = ", ".join(role.purposes) or "no purpose"
            out.append(f"- {role.id}: {cats}{masked}, for {fors}.")
        out.append("- A member without a role sees nothing.")
        vendor = [p.id for p in policy.purposes if p.vendor_only]
        if vendor:
            out.append(
                f"- No one at a customer, admins and their systems included, acts for"
                f" {', '.join(vendor)}: those are ours alone."
            )
    if policy.lists:
        out += ["", "Emails we send (unsubscribe in one click from any of them)"]
        for lst in policy.lists:
            out.append(
                f"- {(lst.description or lst.id).rstrip('.')} [{lst.id}], for {lst.purpose}."
            )
    if policy.cookies:
        out += [
            "",
            "Cookies (you choose per category, a Global Privacy Control signal opts you out)",
        ]
        for c in policy.cookies:
            names = f" ({', '.join(c.names)})" if c.names else ""
            out.append(f"- {c.category.value}{names}: {c.description or c.purpose or ''}")
    return out


def _support_and_changes(policy: Policy) -> list[str]:
    sa = policy.support_access
    out = ["", "Our staff and your detailed data"]
    if sa.requires_customer_grant:
        out.append(f"- Only with your permission, for at most {sa.max_days} days at a time.")
    else:
        out.append("- Support staff may see it when needed to help you.")
    if policy.business_contact_exempt_from:
        out.append("")
        out.append(
            "Business contact information is not treated as personal information for: "
            + ", ".join(policy.business_contact_exempt_from)
            + "."
        )
    n = policy.notices
    out += ["", "Changes to this policy"]
    how = [
        h
        for h, on in (
            ("posted on our website", n.post_on_website),
            ("emailed to each customer", n.email_customers),
        )
        if on
    ]
    out.append(
        f"- {' and '.join(how).capitalize() or 'Published'}; "
        f"a new use of your data waits {n.notice_period_days} days after the notice"
        + ("; it also needs your fresh consent." if n.new_purpose_needs_consent else ".")
    )
    return out


_SECTIONS = (
    _intro,
    _collected,
    _purposes,
    _recipients,
    _places_and_children,
    _staff_mail_cookies,
    _support_and_changes,
)


__all__ = [
    "describe_policy",
    "dump_policy",
    "opt_out_words",
    "policy_summary",
    "retention_words",
    "source_words",
]
