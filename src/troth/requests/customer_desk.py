"""What a customer's side may do at the request desk (trial #17 F2).

A key bound to a customer with ``requests:admin`` (or ``admin``) administers that customer's
people's requests (:func:`troth.office.request_desk`). Two limits, whoever on the customer's
side asks (:func:`troth.gate.members.customer_side`):

- Under ``tenant_controller: organisation`` the organisation, not the customer, decides
  about the person's data: a customer may open (relay) a request, read it and pass on the
  code mailed to the person, never verify it itself, extend, refuse or execute it
  (``tenant_bound``): the organisation's request desk does.
- Where the policy has ``vendor_only`` purposes, a customer never carries out an erasure
  (``delete``, ``close_account``): it would erase what the organisation keeps for its own
  purposes (a legally required check), which is never the customer's to decide
  (``vendor_only``). Whether the person holds such data is not told: the rule is the
  policy's, the same for every person.

Every refusal is audited (``request.<step>``, deny, its reason) before anything changes.
"""

from __future__ import annotations

from troth.audit.refusals import refuse
from troth.context import Context
from troth.gate import Actor, Reason
from troth.gate.members import customer_side
from troth.policy.parties import customers_control
from troth.requests.record import RequestRecord
from troth.requests.states import RequestKind

# The kinds whose execution erases the person's data (theirs or their account's).
ERASING = frozenset({RequestKind.delete, RequestKind.close_account})

_DOING = {
    "verify_by_staff": "verify a request's identity itself",
    "execute": "execute a request",
    "extend": "extend a request",
    "refuse": "refuse a request",
}


def check_customer_step(ctx: Context, actor: Actor, req: RequestRecord, step: str) -> None:
    """Return when ``actor`` may take ``step`` (``verify_by_staff``, ``execute``,
    ``extend``, ``refuse``) on ``req``; refuse it, audited, when ``actor`` is on a
    customer's side and the policy keeps that step for the organisation's desk."""
    if not customer_side(actor):
        return
    idx = ctx.policy
    org = idx.policy.organisation
    contact = f" ({org.contact.email})" if org.contact.email else ""
    if not customers_control(idx.policy):
        doing = _DOING.get(step, step)
        _refused(
            ctx,
            actor,
            req,
            step,
            Reason.tenant_bound,
            f"{org.name} is the controller of its customers' people's data"
            f" (`tenant_controller: organisation` in its policy): a customer may open a"
            f" request and pass on the code mailed to the person, never {doing}; {org.name}'s"
            f" request desk{contact} verifies and carries it out",
        )
    if step == "execute" and req.kind in ERASING and idx.vendor_purposes:
        own = ", ".join(sorted(idx.vendor_purposes))
        _refused(
            ctx,
            actor,
            req,
            step,
            Reason.vendor_only,
            f"an erasure reaches what {org.name} keeps for its own purposes ({own}),"
            f" which is never a customer's to erase: {org.name}'s request desk{contact}"
            f" carries out request {req.id}",
        )


def _refused(
    ctx: Context, actor: Actor, req: RequestRecord, step: str, reason: Reason, message: str
) -> None:
    refuse(
        ctx,
        f"request.{step}",
        actor,
        reason,
        message,
        subject_id=req.subject_id,
        tenant_id=req.tenant_id,
        details={"request": req.id, "kind": req.kind.value},
    )


__all__ = ["ERASING", "check_customer_step"]
