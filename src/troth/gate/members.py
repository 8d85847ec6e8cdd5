"""A customer's members before the gate (:func:`troth.gate.decide`): the role (``for:
tenant_members``) a member holds decides their purposes and categories as a staff role
does; where the policy declares such roles a member without one is refused; what the
policy sends to an authority is the vendor's office's to read out; and a purpose the policy
marks ``vendor_only`` is the vendor's alone, refused to everyone on a customer's side."""

from __future__ import annotations

from dataclasses import dataclass

from troth.gate.model import Actor, ActorKind, Ask, Decision, Facts, Operation, Reason
from troth.policy.index import PolicyIndex
from troth.policy.model import Organisation

# A customer's people: its admins and members (troth.access.tenants).
MEMBERS = frozenset({ActorKind.tenant_admin, ActorKind.tenant_member})

# The operations that read a person's data out (need to know applies to them first).
_READS = frozenset({Operation.use, Operation.disclose, Operation.export})


def customer_side(actor: Actor) -> bool:
    """Is ``actor`` on a customer's side: its admin or member (a session, or the CLI's
    ``--actor``), or an API key bound to it (whatever its scopes)?"""
    kind = actor.kind
    return kind in MEMBERS or (kind is ActorKind.application and actor.tenant_id is not None)


def _vendor(index: PolicyIndex) -> tuple[Organisation, str]:
    """The organisation and its privacy contact as a refusal names it (`` (ADDRESS)``, or
    nothing where the policy gives none)."""
    org = index.policy.organisation
    return org, f" ({org.contact.email})" if org.contact.email else ""


def vendor_only_refusal(
    index: PolicyIndex, actor: Actor, purpose: str, doing: str
) -> Decision | None:
    """The refusal of a customer-side actor (:func:`customer_side`) asking anything for a
    purpose the policy marks ``vendor_only`` (the vendor's own: its fraud checks, its
    health insights), whatever their role or scopes; None otherwise. ``doing`` names what
    was asked in the message (``this use``, ``this consent``)."""
    if purpose not in index.vendor_purposes or not customer_side(actor):
        return None
    org, contact = _vendor(index)
    return Decision.deny(
        Reason.vendor_only,
        f"purpose {purpose!r} is {org.name}'s own (`vendor_only` in its policy): no"
        " customer, its admins, members or API keys, may use, collect, correct, disclose,"
        f" export or aggregate data for it, so {doing} is refused; act for one of your"
        f" organisation's purposes, or ask {org.name}{contact} if you believe your"
        " organisation needs this",
    )


def self_grant_refusal(index: PolicyIndex, actor: Actor, purpose: str) -> Decision | None:
    """The refusal of a customer-side actor (:func:`customer_side`) recording a *grant* of
    a consent only the person may give (``index.person_consent``: ``consent_by: person``,
    or a purpose that reads the vendor's own categories): the customer would authorise
    itself to read what the person never agreed to show it. None otherwise; a withdrawal
    is never refused here (it widens nothing)."""
    if not customer_side(actor):
        return None
    found = index
    while purpose not in found.person_consent and found.coming is not None:
        found = found.coming  # a purpose of a version waiting for its date
    if purpose not in found.person_consent:
        return None
    org, contact = _vendor(index)
    shared = sorted(found.person_consent[purpose])
    why = (
        f"it lets your organisation read {', '.join(shared)}, which {org.name} holds for"
        " its own purposes"
        if shared
        else "the policy says `consent_by: person`"
    )
    return Decision.deny(
        Reason.consent_self_grant,
        f"consent to {purpose!r} may be given only by the person themself ({why}): no"
        " customer, its admins, members or API keys, may record it for them. Ask the"
        f" person to give it in {org.name}'s privacy centre, or {org.name}'s privacy"
        f" office{contact} to record it with the person's evidence; withdrawing it stays"
        " open to you",
    )


def vendor_clock_refusal(index: PolicyIndex, actor: Actor) -> Decision | None:
    """The refusal of a customer-side actor ending (or resuming) the relationship with a
    person where the organisation is their controller (``tenant_controller:
    organisation``) and a ``vendor_only`` purpose keeps its data ``after:
    relationship_end``: the one end would start (or stop) the clocks of the vendor's own
    purposes, which is never a customer's to decide; None otherwise. Where the customer
    is the controller, its end is the end of the relationship it decides about."""
    policy = index.policy
    if policy.tenant_controller == "customer" or not customer_side(actor):
        return None
    own = sorted(
        p.id
        for p in policy.purposes
        if p.vendor_only and p.retention is not None and p.retention.after == "relationship_end"
    )
    if not own:
        return None
    org, contact = _vendor(index)
    return Decision.deny(
        Reason.vendor_only,
        f"{org.name} is the controller of its customers' people (`tenant_controller:"
        f" organisation`), and the end of the relationship starts the retention of its own"
        f" purposes ({', '.join(own)}): a customer may not end or resume it; ask"
        f" {org.name}{contact}, whose office records it",
    )


def member_role_refusal(index: PolicyIndex, actor: Actor, facts: Facts) -> Decision | None:
    """The refusal of a customer's member (or admin) for their role alone, whatever they
    ask: where the policy declares roles ``for: tenant_members``, a member holding none
    (an admin holding none reads as before: every category the purposes allow); a role
    the policy no longer declares. None when the role (or having none) lets them go on."""
    role = facts.member_role
    roles = ", ".join(sorted(index.member_roles))
    if role is None:
        if actor.kind is ActorKind.tenant_member and index.member_roles:
            return Decision.deny(
                Reason.role_not_allowed,
                "you have no role at your organisation, and the policy lets its members see"
                " only what their role allows: ask an admin of your organisation to give"
                f" you one (roles: {roles})",
            )
        return None
    if role not in index.member_roles:
        return Decision.deny(
            Reason.role_not_allowed,
            f"your role {role!r} is not in the policy: ask an admin of your organisation"
            f" to give you another (roles: {roles or 'none'})",
        )
    return None


def member_check(index: PolicyIndex, ask: Ask, facts: Facts) -> Decision | None:
    """A customer's member of the person's tenant: their role (``facts.member_role``)
    decides the purposes, as a staff role does; without one, a purpose whose data goes to
    an authority (a legal obligation of the vendor's) is refused to read out."""
    refused = member_role_refusal(index, ask.actor, facts)
    if refused is not None:
        return refused
    role = facts.member_role
    if role is not None:
        if ask.purpose not in index.role_purposes[role]:
            return Decision.deny(
                Reason.role_not_allowed,
                f"your role {role!r} may not act for purpose {ask.purpose!r}",
            )
        return None
    if ask.purpose in index.authority_purposes and ask.operation in _READS:
        return Decision.deny(
            Reason.role_not_allowed,
            f"purpose {ask.purpose!r} is a legal obligation whose data goes to an authority:"
            " the vendor's privacy office acts on it, under a legal demand; a customer's"
            " member only with a role that lists it",
        )
    return None


@dataclass(frozen=True, slots=True)
class Reach:
    """What a customer's admin or member may read of its people: each (purpose, category)
    pair their role lets them read, and those of them read whole (a category the role
    reads ``masked`` is read as each field's mask). ``everything``: an admin without a
    role, who reads every category the purposes allow."""

    everything: bool = False
    pairs: frozenset[tuple[str, str]] = frozenset()
    whole: frozenset[tuple[str, str]] = frozenset()


def member_reach(index: PolicyIndex, *, admin: bool, role: str | None) -> Reach:
    """What a customer's member would read holding ``role`` (None: no role), an admin
    (``admin``) or not, as :func:`member_check` and the masks decide: an admin without a
    role everything; a member without one nothing where the policy declares roles ``for:
    tenant_members`` (else every purpose's categories but an authority's, as before); a
    role the policy does not declare nothing."""
    if role is None:
        if admin:
            return Reach(everything=True)
        if index.member_roles:
            return Reach()
        pairs = frozenset(
            (p, c)
            for p, cats in index.purpose_categories.items()
            if p not in index.authority_purposes
            for c in cats
        )
        return Reach(pairs=pairs, whole=pairs)
    declared = index.member_roles.get(role)
    if declared is None:
        return Reach()
    cats = frozenset(declared.categories)
    pairs = frozenset(
        (p, c)
        for p in declared.purposes
        for c in index.purpose_categories.get(p, frozenset()) & cats
    )
    masked = frozenset(declared.masked)
    return Reach(pairs=pairs, whole=frozenset((p, c) for p, c in pairs if c not in masked))


def beyond_reach(mine: Reach, theirs: Reach) -> str | None:
    """What ``theirs`` reads beyond ``mine``, in words (None: nothing): "everything" for an
    admin without a role, else each category read for a purpose ``mine`` does not reach
    ("health for wellbeing"), then each one read whole that ``mine`` reads masked."""
    if mine.everything:
        return None
    if theirs.everything:
        return "every category of every purpose, as an admin without a role"
    extra = sorted(theirs.pairs - mine.pairs)
    whole = sorted((theirs.whole - mine.whole) - set(extra))
    said = [f"{c} for {p}" for p, c in extra] + [f"{c} unmasked for {p}" for p, c in whole]
    if not said:
        return None
    more = f" and {len(said) - 6} more" if len(said) > 6 else ""
    return ", ".join(said[:6]) + more
