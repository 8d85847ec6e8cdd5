"""Records *about* a person, beside their values (consents, disclosures, requests, holds,
the audit): who may read or change them (:func:`decide_record`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from troth.gate.consents import consent_read_refusal
from troth.gate.decision import (
    PARTIES,
    live_grants,
    no_grant_reason,
    party_refusal,
    role_unknown,
    staff_need_grant,
)
from troth.gate.members import (
    MEMBERS,
    member_role_refusal,
    self_grant_refusal,
    vendor_clock_refusal,
    vendor_only_refusal,
)
from troth.gate.model import Actor, ActorKind, Decision, Facts, Reason
from troth.policy.index import PolicyIndex


class Record(StrEnum):
    """Records *about* a person, beside their values: who may read or change them is
    decided by :func:`decide_record`. Stored in the audit log: never rename a value."""

    lookup = "lookup"  # that a person is known: their id, found by an identifier
    consents = "consents"
    disclosures = "disclosures"
    requests = "requests"
    holds = "holds"
    audit = "audit"
    relationship = "relationship"  # that the relationship with the person ended (or resumed)


# The powers that reach each kind of record for staff of the vendor's office.
RECORD_POWERS: Mapping[Record, frozenset[str]] = {
    Record.lookup: frozenset({"manage_requests", "legal_demands", "manage_holds"}),
    Record.consents: frozenset({"manage_requests"}),
    Record.disclosures: frozenset({"manage_requests", "legal_demands"}),
    Record.requests: frozenset({"manage_requests"}),
    Record.holds: frozenset({"manage_holds"}),
    Record.audit: frozenset({"read_audit"}),
    # The office answers account closures: it records the end of a relationship too.
    Record.relationship: frozenset({"manage_requests"}),
}

# The API-key scopes that reach each kind of record (``admin`` reaches all of them), for
# reading and for changing it.
RECORD_SCOPES: Mapping[tuple[Record, bool], frozenset[str]] = {
    (Record.lookup, False): frozenset({"use"}),
    (Record.lookup, True): frozenset(),
    (Record.consents, False): frozenset({"use", "collect"}),
    (Record.consents, True): frozenset({"collect"}),
    (Record.disclosures, False): frozenset({"disclose", "use"}),
    (Record.disclosures, True): frozenset({"disclose"}),
    (Record.requests, False): frozenset({"requests:admin"}),
    (Record.requests, True): frozenset({"requests:admin"}),
    (Record.holds, False): frozenset(),
    (Record.holds, True): frozenset(),
    (Record.audit, False): frozenset(),
    (Record.audit, True): frozenset(),
    (Record.relationship, False): frozenset({"use", "collect"}),
    # The application that collects about the person (hires, rejects) says it ended.
    (Record.relationship, True): frozenset({"collect"}),
}


def decide_record(
    index: PolicyIndex,
    actor: Actor,
    record: Record,
    facts: Facts,
    now: datetime,
    *,
    write: bool = False,
    categories: frozenset[str] = frozenset(),
    purpose: str | None = None,
) -> Decision:
    """May ``actor`` read (or, with ``write``, change) a record about the person of
    ``facts``? (:func:`_decide_record`.) Reading one consent (``Record.consents`` with the
    ``purpose`` of a ledger entry) is decided by that purpose too: need to know
    (:mod:`troth.gate.consents`)."""
    d = _decide_record(
        index, actor, record, facts, now, write=write, categories=categories, purpose=purpose
    )
    if d.allowed and record is Record.consents and not write and purpose is not None:
        role = index.roles.get(actor.role or "") if actor.kind is ActorKind.staff else None
        office = role is not None and bool(set(role.powers) & RECORD_POWERS[record])
        refused = consent_read_refusal(index, actor, facts, purpose, now, office=office)
        if refused is not None:
            return refused
    return d


def _decide_record(
    index: PolicyIndex,
    actor: Actor,
    record: Record,
    facts: Facts,
    now: datetime,
    *,
    write: bool = False,
    categories: frozenset[str] = frozenset(),
    purpose: str | None = None,
) -> Decision:
    """May ``actor`` read (or, with ``write``, change) a record about the person of
    ``facts``? The same rules as a use, for records that are not values: the person only
    themself; a tenant's members and tenant-bound keys only their tenant's people; keys
    only with a scope for the record; the vendor's admins only under a live grant; the
    vendor's staff under a live grant wherever the policy requires grants for this person
    (:func:`staff_need_grant`), the privacy office excepted (it answers requests and
    legal demands, obligations of the vendor's own). ``categories`` are the categories
    the record reveals (a disclosure's): a grant or a role must cover them all.
    ``purpose``: the purpose a change is for (a consent given): a ``vendor_only`` one is
    never a customer's to record (:func:`troth.gate.members.vendor_only_refusal`), nor
    one only the person may give (:func:`troth.gate.members.self_grant_refusal`)."""
    kind = actor.kind
    if kind is ActorKind.system:
        return Decision(True, categories=categories)
    if facts.subject_id is None:
        return Decision.deny(Reason.not_a_member, "no such person")
    if kind in PARTIES:
        refused = party_refusal(actor, facts, "records")
        if refused is None and write:
            refused = _vendor_change_refusal(index, actor, record, purpose)
        if refused is None and kind in MEMBERS:
            refused = _member_record_refusal(index, actor, record, facts, categories)
        if refused is not None:
            return refused
        if (
            kind is ActorKind.application
            and "admin" not in actor.scopes
            and not (actor.scopes & RECORD_SCOPES[(record, write)])
        ):
            return Decision.deny(
                Reason.scope_missing, f"the API key's scopes do not reach {record.value}"
            )
        return Decision(True, categories=categories)
    office = False
    if kind is ActorKind.staff:
        role = index.roles.get(actor.role or "")
        if role is None:
            return role_unknown(actor)
        # The office reaches records about people through the powers the policy gives
        # its role (answering requests and legal demands, holds, the audit), never by a
        # flag; what it may *read* of the values stays its categories (P12).
        office = bool(set(role.powers) & RECORD_POWERS[record])
        if record is Record.lookup and not office and not could_serve(index, role.id, facts):
            # That a person is known is itself their data (a dating app's member): staff
            # find only someone their role may act for now, never an erased person, one
            # who withdrew the consent its purposes need, or one who restricted them.
            return Decision.deny(
                Reason.role_not_allowed,
                f"role {role.id!r} has no purpose it may serve for this person now",
            )
        if not office and not staff_need_grant(index, facts.subject_tenant):
            outside = categories - index.role_categories[role.id]
            if outside:
                return Decision.deny(
                    Reason.role_not_allowed,
                    f"role {role.id!r} may not see {', '.join(sorted(outside))}",
                )
            return Decision(True, categories=categories)
    if office:
        return Decision(True, categories=categories)
    # Vendor admins, and staff where grants are required: a live grant covering it.
    grant = next(live_grants(facts, now, categories), None)
    if grant is not None:
        return Decision(True, categories=categories, grant_id=grant.id)
    reason = no_grant_reason(facts, now)
    return Decision.deny(
        reason,
        f"the vendor's staff see a customer's {record.value} only under the customer's grant",
    )


def _vendor_change_refusal(
    index: PolicyIndex, actor: Actor, record: Record, purpose: str | None
) -> Decision | None:
    """A customer's side changing a record for a ``vendor_only`` purpose (a consent to
    it), recording a grant of a consent only the person gives (``consent_self_grant``),
    or ending the relationship that runs such a purpose's clock where the
    organisation is the controller (:mod:`troth.gate.members`); None otherwise."""
    if purpose is not None:
        doing = f"this {record.value} change"
        refused = vendor_only_refusal(index, actor, purpose, doing) or self_grant_refusal(
            index, actor, purpose
        )
        if refused is not None:
            return refused
    return vendor_clock_refusal(index, actor) if record is Record.relationship else None


def _member_record_refusal(
    index: PolicyIndex, actor: Actor, record: Record, facts: Facts, categories: frozenset[str]
) -> Decision | None:
    """A customer's member's role bounds the records they read as a staff role does: a
    look-up only of someone the role may act for now, a record only of the role's
    categories; a member the policy wants a role of and who has none reads none."""
    refused = member_role_refusal(index, actor, facts)
    if refused is not None:
        return refused
    role = facts.member_role
    if role is None:
        return None
    if record is Record.lookup and not could_serve(index, role, facts, customer=True):
        return Decision.deny(
            Reason.role_not_allowed,
            f"your role {role!r} has no purpose it may serve for this person now",
        )
    outside = categories - index.role_categories[role]
    if outside:
        return Decision.deny(
            Reason.role_not_allowed,
            f"your role {role!r} may not see {', '.join(sorted(outside))}",
        )
    return None


def could_serve(index: PolicyIndex, role: str, facts: Facts, *, customer: bool = False) -> bool:
    """May staff of ``role`` act for some purpose of theirs on the person of ``facts``
    now: a purpose of the role, not aggregate-only nor restricted by the person, that
    reaches a category of the role, with the consent it needs (or for a category exempt
    from consent: P05); for an erased person, only a purpose whose legal minimum keeps a
    category of the role (the gate lets that purpose use what is kept). A ``customer``'s
    member role never acts for a ``vendor_only`` purpose."""
    cats = index.role_categories.get(role, frozenset())
    skip = index.aggregate_purposes | (index.vendor_purposes if customer else frozenset())
    for purpose in index.role_purposes.get(role, frozenset()):
        if purpose in facts.restricted or purpose in skip:
            continue
        reach = index.purpose_categories.get(purpose, frozenset()) & cats
        if facts.erased:
            reach &= index.legally_kept.get(purpose, frozenset())
        elif purpose in index.consent_purposes and purpose not in facts.consented:
            reach = frozenset(c for c in reach if index.exempt_from(c, "consent"))
        if reach:
            return True
    return False
