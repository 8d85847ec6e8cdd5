"""The decisions on operations: :func:`decide` (may this actor do this operation on these
categories of this person's data, for this purpose?) and :func:`decide_power` (may this
actor exercise a power of the vendor's privacy office?)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from troth.gate.members import MEMBERS, member_check, vendor_only_refusal
from troth.gate.model import (
    CREDENTIAL_TAMPERED,
    Actor,
    ActorKind,
    Ask,
    Decision,
    Facts,
    Grant,
    Operation,
    Reason,
)
from troth.gate.waiting import waiting_for_next
from troth.policy.index import DEFAULT_TRANSACTIONS, PolicyIndex
from troth.policy.model import LegalBasis, Power


def scope_allows(actor: Actor, operation: Operation, purpose: str, category: str) -> bool:
    """Do an API key's scopes cover ``operation`` on ``category`` for ``purpose``?"""
    s = actor.scopes
    return (
        "admin" in s
        or operation.value in s
        or f"{operation.value}:{purpose}" in s
        or f"{operation.value}:{category}" in s
    )


def decide(index: PolicyIndex, ask: Ask, facts: Facts) -> Decision:
    """Decide one operation. Never allows a purpose the policy does not declare for a
    category; masked categories are never in ``Decision.categories``. When every asked
    category is masked the refusal carries one reason, :func:`telling_reason`'s, and its
    message names only the categories that reason applies to. ``index`` is the version in
    effect at ``ask.now``: what only a version still waiting for its effective date allows
    (a new purpose, recipient or category) is refused ``notice_period_running``
    (:mod:`troth.gate.waiting`)."""
    decision = _decide(index, ask, facts)
    if index.coming is None or (decision.allowed and not decision.masked):
        return decision
    return waiting_for_next(index, ask, facts, decision, decide)


def _decide(index: PolicyIndex, ask: Ask, facts: Facts) -> Decision:
    """:func:`decide` on the one version ``index``."""
    if ask.purpose not in index.purposes:
        return Decision.deny(
            Reason.purpose_not_declared,
            f"the policy declares no purpose {ask.purpose!r}",
        )
    # After erasure or closure (P25, P28) only what a legal minimum keeps may still serve
    # its legal purpose; everything else about the person is refused.
    # (Refused after the actor check below, so no stranger learns that someone was erased.)
    kept = _kept_after_erasure(index, ask) if facts.erased else None
    refused = _refused_outright(index, ask, facts)
    if refused is not None:
        return refused
    actor_reason = _actor_check(index, ask, facts)
    if isinstance(actor_reason, Decision):
        return actor_reason
    if kept is not None and not kept:
        return Decision.deny(
            Reason.subject_erased,
            f"this person's data was erased: nothing of it may be used for {ask.purpose!r}"
            " (only what the law keeps, for its legal purpose)",
        )
    masked, grant_used = _masked_categories(index, ask, facts, kept)
    visible = frozenset(c for c in ask.categories if c not in masked)
    if not visible:
        # Every category hidden: refuse, with the most telling reason (:func:`telling_reason`).
        reason, named = telling_reason(index, ask.purpose, masked.items())
        return Decision(False, reason, frozenset(), masked, explain(reason, ask.purpose, named))
    return Decision(True, None, visible, masked, "", grant_used)


# The precedence of the reasons a category (or a stored value) is hidden for, when a
# refusal must name one (:func:`telling_reason`): first what stands on the person's side
# (erased, kept only for the law, no consent, a new use still in its notice period), then
# who asks (role, scope, grant), then to whom (the recipient), then what the data was
# collected for, and last a category the purpose does not declare at all.
REFUSAL_PRECEDENCE: tuple[Reason, ...] = (
    Reason.subject_erased,
    Reason.kept_for_legal_obligation,
    Reason.no_consent,
    Reason.notice_period_running,
    Reason.role_not_allowed,
    Reason.scope_missing,
    Reason.record_tampered,
    Reason.no_grant,
    Reason.grant_expired,
    Reason.recipient_not_listed,
    Reason.recipient_category_not_allowed,
    Reason.purpose_not_of_collection,
    Reason.purpose_not_declared_for_category,
)
_RANK = {r: i for i, r in enumerate(REFUSAL_PRECEDENCE)}


def telling_reason(
    index: PolicyIndex, purpose: str, hidden: Iterable[tuple[str, Reason]]
) -> tuple[Reason, tuple[str, ...]]:
    """The one reason of a refusal in which everything asked was hidden, and the categories
    it applies to (sorted). ``hidden`` pairs each hidden category (or the category of each
    hidden value) with why. Only the categories ``purpose`` declares count, where any was
    asked: those the purpose could reach explain the refusal, and a category it does not
    declare is no reason when it declares others (what else the person holds changes
    nothing). Among them the first in :data:`REFUSAL_PRECEDENCE`; so
    ``purpose_not_declared_for_category`` only when the purpose declares none of them."""
    pairs = list(hidden)
    if not pairs:
        return Reason.purpose_not_declared_for_category, ()
    declared = index.purpose_categories.get(purpose, frozenset())
    reachable = [(c, r) for c, r in pairs if c in declared] or pairs
    reason = min((r for _, r in reachable), key=lambda r: (_RANK.get(r, len(_RANK)), r.value))
    return reason, tuple(sorted({c for c, r in reachable if r is reason}))


def _refused_outright(index: PolicyIndex, ask: Ask, facts: Facts) -> Decision | None:
    """The refusals of the whole operation whoever asks: a place the policy does not
    allow, rows for an aggregate-only purpose, a purpose the person restricted."""
    # Location (P22): storing or sending outside the allowed places.
    if (
        ask.location is not None
        and ask.location not in index.allowed_locations
        and ask.location not in index.transfer_locations
    ):
        return Decision.deny(
            Reason.location_not_allowed,
            f"{ask.location} is not an allowed data location"
            f" (allowed: {', '.join(sorted(index.allowed_locations))})",
        )
    # Aggregate-only purposes (P09) never reveal rows.
    if ask.purpose in index.aggregate_purposes and ask.operation in (
        Operation.use,
        Operation.disclose,
        Operation.export,
    ):
        return Decision.deny(
            Reason.aggregate_only,
            f"purpose {ask.purpose!r} may only use aggregates over groups of at least"
            f" {index.policy.aggregates.min_group_size} people",
        )
    if (
        ask.purpose in facts.restricted
        and ask.operation is not Operation.erase
        # A legal obligation (a warrant, a tax inspection) is not the person's to limit
        # (GDPR Art. 18(2)); a restriction recorded on one before troth refused them.
        and index.purposes[ask.purpose].legal_basis is not LegalBasis.legal_obligation
    ):
        if ask.purpose in facts.deferred:
            return Decision.deny(
                Reason.restricted,
                "the erasure the person asked for is deferred under a legal hold: until it"
                f" is carried out their data may not be used for {ask.purpose!r} (only for"
                " what the law requires or the hold serves)",
            )
        return Decision.deny(
            Reason.restricted, f"the person limited the use of their data for {ask.purpose!r}"
        )
    return None


def _masked_categories(
    index: PolicyIndex, ask: Ask, facts: Facts, kept: frozenset[str] | None
) -> tuple[dict[str, Reason], str | None]:
    """Each asked category the actor may not see, and why; and the grant that let them see
    the others, if one did."""
    allowed_for_purpose = index.purpose_categories[ask.purpose]
    # Consent (P07): a consent purpose needs an active grant, unless business contact
    # information is exempt from consent by the policy (P05).
    # What a legal minimum keeps rests on the legal obligation, not on the ended consent.
    needs_consent = (
        ask.purpose in index.consent_purposes
        and ask.purpose not in facts.consented
        and kept is None
    )
    masked: dict[str, Reason] = {}
    grant_used: str | None = None
    for cat in ask.categories:
        if kept is not None and cat not in kept:
            masked[cat] = Reason.subject_erased
        elif cat not in allowed_for_purpose:
            masked[cat] = Reason.purpose_not_declared_for_category
        elif needs_consent and not index.exempt_from(cat, "consent"):
            masked[cat] = Reason.no_consent
        elif not _actor_category_ok(index, ask, facts, cat):
            masked[cat] = (
                Reason.scope_missing
                if ask.actor.kind is ActorKind.application
                else Reason.role_not_allowed
            )
        elif _needs_grant(index, ask, facts) or _customer_category(index, ask, cat):
            g = next(live_grants(facts, ask.now, frozenset({cat})), None)
            if g is None:
                masked[cat] = no_grant_reason(facts, ask.now)
            else:
                grant_used = g.id
        if cat in masked:
            continue
        if ask.operation is Operation.disclose:
            r = _recipient_check(index, ask, cat)
            if r is not None:
                masked[cat] = r
    return masked, grant_used


def _kept_after_erasure(index: PolicyIndex, ask: Ask) -> frozenset[str]:
    """The categories an erased person's data may still be used in for ``ask``: those the
    purpose's legal minimum keeps, and only to use or disclose them for that purpose (a
    tax inspection); never to export, correct, collect or aggregate. A disclosure under
    a recorded legal demand (a court's production order) reaches what any legal minimum
    keeps: what is still lawfully held may be compelled, whatever it is kept for (GDPR
    Art. 17(3)(e), 18(2))."""
    if ask.operation not in (Operation.use, Operation.disclose):
        return frozenset()
    if ask.operation is Operation.disclose and ask.under_demand:
        return frozenset().union(*index.legally_kept.values())
    return index.legally_kept.get(ask.purpose, frozenset())


def _actor_check(index: PolicyIndex, ask: Ask, facts: Facts) -> Decision | None:
    actor = ask.actor
    kind = actor.kind
    if kind is ActorKind.system:
        return None
    if kind in PARTIES:
        # Another customer's person first: its refusal tells nothing of the policy.
        refused = party_refusal(actor, facts, "data") or vendor_only_refusal(
            index, actor, ask.purpose, f"this {ask.operation.value}"
        )
        if refused is not None or kind not in MEMBERS:
            return refused
        return member_check(index, ask, facts)
    if kind is ActorKind.staff:
        if actor.role is None or actor.role not in index.roles:
            return role_unknown(actor)
        if ask.purpose not in index.role_purposes[actor.role]:
            return Decision.deny(
                Reason.role_not_allowed,
                f"role {actor.role!r} may not act for purpose {ask.purpose!r}",
            )
    # Left: staff of a role that may act for the purpose, and vendor admins.
    if _needs_grant(index, ask, facts) and not facts.grants:
        return Decision.deny(
            Reason.no_grant,
            "the vendor's staff see a customer's data only with the customer's grant",
        )
    return None


def role_unknown(actor: Actor) -> Decision:
    """The refusal of a staff actor whose role the policy does not declare."""
    return Decision.deny(Reason.role_not_allowed, f"staff role {actor.role!r} is not in the policy")


# The kinds of actor that reach only their own (the person) or their customer's people (a
# key, a tenant's admin or member), decided by :func:`party_refusal`.
PARTIES = frozenset(
    {ActorKind.subject, ActorKind.application, ActorKind.tenant_admin, ActorKind.tenant_member}
)


def party_refusal(actor: Actor, facts: Facts, noun: str) -> Decision | None:
    """The refusal of a person asking about someone else, or of a customer's key, admin or
    member asking about someone of another customer (or after their membership ended);
    None when they may go on. ``noun`` says what was asked for: ``data`` or ``records``."""
    kind = actor.kind
    if kind is ActorKind.subject:
        if not facts.subject_self:
            return Decision.deny(Reason.not_a_member, f"a person may only see their own {noun}")
        return None
    if kind is ActorKind.application:
        # A key issued to one customer reaches only that customer's data.
        if actor.tenant_id is not None and facts.subject_tenant != actor.tenant_id:
            return Decision.deny(Reason.not_a_member, "this API key belongs to another customer")
        return None
    if facts.subject_tenant is None or facts.subject_tenant != actor.tenant_id:
        belongs = "belongs" if noun == "data" else "belong"
        return Decision.deny(
            Reason.not_a_member, f"this person's {noun} {belongs} to another customer"
        )
    if facts.member_tampered:
        return Decision.deny(Reason.record_tampered, CREDENTIAL_TAMPERED)
    if not facts.member_active:
        return Decision.deny(Reason.not_a_member, "your membership was revoked")
    return None


def office_scope(power: Power) -> str:
    """The API-key scope that grants ``power`` alone (``admin`` grants every power)."""
    return f"office:{power.value}"


# Scopes older than ``office:<power>`` that grant one power (on an unbound key only).
_POWER_SCOPES = {Power.manage_requests: "requests:admin"}


def _key_has_power(actor: Actor, power: Power) -> bool:
    s = actor.scopes
    return "admin" in s or office_scope(power) in s or _POWER_SCOPES.get(power, "admin") in s


def decide_power(index: PolicyIndex, actor: Actor, power: Power) -> Decision:
    """May ``actor`` exercise the vendor office's ``power``? Staff by their role's
    declared ``powers``; an application key by the scope ``admin`` or
    ``office:<power>``, and only when it is bound to no tenant; troth itself (the CLI,
    the worker) always. A credential bound to a tenant (a member, a tenant admin, a
    tenant-bound key whatever its scopes) is never the vendor office; nor is a person or
    a vendor admin. Reading personal data is never decided here: that is
    :func:`decide`, with the role's categories and purposes."""
    kind = actor.kind
    if kind is ActorKind.system:
        return Decision(True)
    if actor.tenant_id is not None or kind in (ActorKind.tenant_admin, ActorKind.tenant_member):
        return Decision.deny(
            Reason.tenant_bound,
            f"{power.value} is the vendor's privacy office's; a credential bound to a"
            " customer acts only for that customer",
        )
    if kind is ActorKind.application:
        if _key_has_power(actor, power):
            return Decision(True)
        return Decision.deny(
            Reason.scope_missing,
            f"this API key lacks the scope for {power.value}: admin or {office_scope(power)}",
        )
    if kind is ActorKind.staff:
        role = index.roles.get(actor.role or "")
        if role is None:
            return role_unknown(actor)
        if power in role.powers:
            return Decision(True)
        return Decision.deny(
            Reason.power_not_granted,
            f"the policy does not give role {role.id!r} the power {power.value}"
            f" (its powers: {', '.join(role.powers) or 'none'})",
        )
    return Decision.deny(
        Reason.power_not_granted,
        f"{power.value} belongs to the staff roles the policy gives it to",
    )


def _actor_category_ok(index: PolicyIndex, ask: Ask, facts: Facts, cat: str) -> bool:
    actor = ask.actor
    if actor.kind is ActorKind.staff and actor.role is not None:
        return cat in index.role_categories[actor.role]
    if actor.kind in MEMBERS and facts.member_role is not None:
        return cat in index.role_categories.get(facts.member_role, frozenset())
    if actor.kind is ActorKind.application:
        return scope_allows(actor, ask.operation, ask.purpose, cat)
    return True


def _needs_grant(index: PolicyIndex, ask: Ask, facts: Facts) -> bool:
    """The vendor's people need the customer's grant for a customer's detailed data (P14):
    vendor admins always; staff too where the policy requires grants and the person is a
    customer's (:func:`staff_need_grant`), except for what the law obliges the vendor to do
    and for the vendor's own purposes (``vendor_only``): the grant is the customer's say
    over its data, never over the vendor's own processing; the role still decides."""
    kind = ask.actor.kind
    if kind is ActorKind.vendor_admin:
        return True
    if kind is not ActorKind.staff or not staff_need_grant(index, facts.subject_tenant):
        return False
    if ask.purpose in index.vendor_purposes:
        return False
    return index.purposes[ask.purpose].legal_basis is not LegalBasis.legal_obligation


def _customer_category(index: PolicyIndex, ask: Ask, cat: str) -> bool:
    """A category the policy declares a customer's own data (``support_access.
    customer_categories``): the vendor's staff see it only under a grant of the customer
    it belongs to, even on a person filed under no tenant (no grant can cover them), except
    for what the law obliges the vendor to do."""
    sa = index.policy.support_access
    return (
        ask.actor.kind is ActorKind.staff
        and sa.requires_customer_grant
        and cat in sa.customer_categories
        and index.purposes[ask.purpose].legal_basis is not LegalBasis.legal_obligation
    )


def staff_need_grant(index: PolicyIndex, subject_tenant: str | None) -> bool:
    """Does the vendor's staff need a customer grant for this person's data? Whenever the
    policy requires grants and the person belongs to a customer (a tenant), whatever
    ``multi_tenant`` says: a customer's people are the customer's, in a multi-tenant
    service or not (ilign: a customer's database). People of no tenant are the vendor's own."""
    return subject_tenant is not None and index.policy.support_access.requires_customer_grant


def no_grant_reason(facts: Facts, now: datetime) -> Reason:
    """``grant_expired`` only when every grant has ended; a live grant that does not
    cover the category is ``no_grant``; ``record_tampered`` when a grant that says it is
    live does not match its seal (it grants nothing)."""
    live = [
        g
        for g in facts.grants
        if not g.revoked and g.starts_at <= now < g.expires_at
        and g.tenant_id == facts.subject_tenant
    ]  # fmt: skip
    if any(g.tampered for g in live):
        return Reason.record_tampered
    return Reason.no_grant if live or not facts.grants else Reason.grant_expired


def live_grants(facts: Facts, now: datetime, categories: frozenset[str]) -> Iterator[Grant]:
    """The support-access grants live at ``now`` that cover the person of ``facts`` (their
    tenant; them, where a grant names people) and every one of ``categories``."""
    for g in facts.grants:
        if g.tampered or g.revoked or not (g.starts_at <= now < g.expires_at):
            continue
        if g.tenant_id != facts.subject_tenant:
            continue
        if g.categories and not categories <= g.categories:
            continue
        if g.subject_ids and facts.subject_id not in g.subject_ids:
            continue
        yield g


# The categories that record individual transactions where a policy marks none (P19: "no
# third party gets individual transaction data" unless the policy's recipient says
# individual_transactions: true); a policy's own are PolicyIndex.transaction_categories.
TRANSACTION_CATEGORIES = DEFAULT_TRANSACTIONS


def _recipient_check(index: PolicyIndex, ask: Ask, cat: str) -> Reason | None:
    """P18: only a recipient the policy lists for this purpose and category; P19: no
    individual transactions to a recipient that may not see them."""
    if ask.recipient is None or ask.recipient not in index.recipients:
        return Reason.recipient_not_listed
    grant = index.recipient_grants.get((ask.recipient, ask.purpose))
    if grant is None:
        return Reason.recipient_not_listed
    if cat not in grant.categories:
        return Reason.recipient_category_not_allowed
    if (
        cat in index.transaction_categories
        and not index.recipients[ask.recipient].individual_transactions
    ):
        return Reason.recipient_category_not_allowed
    return None


_EXPLAIN = {
    Reason.purpose_not_declared_for_category: "the policy does not allow purpose {p} to use {c}",
    Reason.no_consent: "purpose {p} needs the person's consent, and there is none",
    Reason.notice_period_running: "purpose {p} is a new use: its notice period is still running",
    Reason.role_not_allowed: "this role may not see {c}",
    Reason.scope_missing: "the API key's scopes do not cover {c} for {p}",
    Reason.record_tampered: "the support-access grant for {c} was changed outside troth",
    Reason.no_grant: "no support-access grant covers {c}",
    Reason.grant_expired: "the support-access grant expired or does not cover {c}",
    Reason.recipient_not_listed: "the policy does not list this recipient for purpose {p}",
    Reason.recipient_category_not_allowed: "the recipient may not receive {c}",
    Reason.subject_erased: "this person's data was erased: {c} is not kept for {p}",
}


def explain(reason: Reason, purpose: str, categories: tuple[str, ...]) -> str:
    """The message of a refusal for ``reason``, naming only the ``categories`` it applies to."""
    text = _EXPLAIN.get(reason, reason.value.replace("_", " "))
    return text.format(p=repr(purpose), c=", ".join(categories))


def names_categories(reason: Reason) -> bool:
    """Does :func:`explain`'s message for ``reason`` name categories?"""
    return "{c}" in _EXPLAIN.get(reason, "")
