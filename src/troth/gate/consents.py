"""Need to know for a person's consents (trial #19 F7): that someone consented to "use my
sexual orientation to suggest matches", or to a face check, tells what the consent is
about, so a consent is read as the use it allows would be. :func:`consent_read_refusal`
decides one consent, by the purpose it is for (:func:`consent_purpose`), after
:func:`troth.gate.records.decide_record` has decided the person's consents as a record:

* the person themself, troth, and the office (a role with a power that reaches consents,
  ``manage_requests``: it answers requests and complaints) see every consent;
* a staff role, and a customer's member's role (``for: tenant_members``), see the
  consents for the purposes the role lists (what the gate lets it use data for); for an
  erased person, only those of a purpose whose legal minimum keeps a category of the
  role (as :func:`troth.gate.records.could_serve` finds them);
* a customer's side (its admins, members and keys) never sees a consent to one of the
  vendor's own purposes (``vendor_only``);
* where a grant is what lets the vendor look (its admins; its staff at a customer's
  person where grants are required), the grant must cover every category the purpose
  uses, as it must a disclosure's;
* a cookie choice (``cookie:<category>``) is for the purpose its cookie category declares
  in the policy; one that declares none is the office's alone among roles.
"""

from __future__ import annotations

from datetime import datetime

from troth.gate.decision import live_grants, no_grant_reason, staff_need_grant
from troth.gate.members import MEMBERS, vendor_only_refusal
from troth.gate.model import Actor, ActorKind, Decision, Facts, Reason
from troth.policy.index import PolicyIndex


def consent_purpose(index: PolicyIndex, purpose: str) -> str | None:
    """The policy purpose a consent (an entry of the ledger: a purpose id, or
    ``cookie:<category>``) is for; None for a cookie category that names no purpose."""
    from troth.consent.events import COOKIE_PREFIX  # the ledger's name of a cookie choice

    if not purpose.startswith(COOKIE_PREFIX):
        return purpose
    category = purpose.removeprefix(COOKIE_PREFIX)
    for cookie in index.policy.cookies:
        if cookie.category == category:
            return cookie.purpose
    return None


def consent_read_refusal(
    index: PolicyIndex,
    actor: Actor,
    facts: Facts,
    purpose: str,
    now: datetime,
    *,
    office: bool,
) -> Decision | None:
    """The refusal of ``actor`` reading the person's consent to ``purpose`` (a ledger
    entry's purpose), or None when they may; the person's consents as a record are
    decided first (:func:`troth.gate.records.decide_record`). ``office``: a staff role
    with a power that reaches consents."""
    kind = actor.kind
    if kind in (ActorKind.system, ActorKind.subject) or office:
        return None
    served = consent_purpose(index, purpose)
    if served is not None:
        refused = vendor_only_refusal(index, actor, served, "reading this consent")
        if refused is not None:
            return refused
    role = facts.member_role if kind in MEMBERS else actor.role
    if kind is ActorKind.staff or (kind in MEMBERS and role is not None):
        refused = _role_refusal(index, role or "", facts, served)
        if refused is not None:
            return refused
    if kind is ActorKind.vendor_admin or (
        kind is ActorKind.staff and staff_need_grant(index, facts.subject_tenant)
    ):
        cats = index.purpose_categories.get(served or "", frozenset())
        if next(live_grants(facts, now, cats), None) is None:
            return Decision.deny(
                no_grant_reason(facts, now),
                "no live grant of the customer covers what this consent is about",
            )
    return None


def _role_refusal(
    index: PolicyIndex, role: str, facts: Facts, purpose: str | None
) -> Decision | None:
    """A role sees a consent to a purpose it lists; of an erased person, only to one whose
    legal minimum keeps a category of the role."""
    if purpose is None or purpose not in index.role_purposes.get(role, frozenset()):
        return Decision.deny(
            Reason.role_not_allowed,
            f"role {role!r} does not act for {purpose or 'this cookie choice'!r}",
        )
    if facts.erased:
        kept = index.legally_kept.get(purpose, frozenset())
        if not kept & index.role_categories.get(role, frozenset()):
            return Decision.deny(
                Reason.subject_erased, "this person was erased: their consents are the office's"
            )
    return None
