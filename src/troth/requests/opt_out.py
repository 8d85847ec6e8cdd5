"""Requests to opt out of the sale or sharing of one's data (CCPA, 11 CCR 7026).

Under a regime with an opt-out rule of its own (:data:`~.deadlines.OPT_OUT_RULES`: CCPA),
an objection or a restriction that names a purpose the policy marks ``sale_or_sharing``
(or, an objection naming none, covers one by default: a marketing purpose that is also
sold or shared) is an opt-out of sale/sharing, and follows that rule instead of the
regime's request deadline (trial #19 F4: it took the 45 days of 7021 and waited for a
mailed code):

- it is due 15 business days after receipt (7026(f); :func:`~.deadlines.opt_out_due`),
  with no acknowledgement deadline and no extension;
- it is carried out without identity verification (7026(d): not a verifiable consumer
  request; the business asks only what finds the person): it is ``verified`` as it
  opens, ``verification: not_required`` (one made by an agent still waits for staff to
  check the agent's authority, 7026(j)), and the worker carries it out
  (:func:`waiting_opt_outs`);
- it is kept in the request log for 24 months like every request (7101)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from troth.context import Context
from troth.errors import TrothError
from troth.requests.deadlines import (
    OptOutRule,
    acknowledge_by,
    due_date,
    opt_out_due,
    opt_out_rule,
)
from troth.requests.record import RequestRecord
from troth.requests.states import RequestKind

# The kinds an opt-out is made as.
OPT_OUT_KINDS = frozenset({RequestKind.object, RequestKind.restrict})
# ``requests.verification`` of a request carried out without identity verification.
NOT_REQUIRED = "not_required"


def stopped_purposes(
    ctx: Context, kind: RequestKind, details: Mapping[str, Any] | None
) -> list[str]:
    """The purposes an objection or restriction stops: those named, else (an objection)
    every marketing purpose."""
    named = (details or {}).get("purposes")
    if isinstance(named, list) and named:
        return [p for p in named if isinstance(p, str)]
    if kind is RequestKind.object:
        from troth.requests.execution import marketing_purposes

        return marketing_purposes(ctx)
    return []


def opt_out_of(
    ctx: Context, kind: RequestKind, regime: str, details: Mapping[str, Any] | None
) -> OptOutRule | None:
    """The opt-out rule a request falls under (see the module), or None."""
    rule = opt_out_rule(regime)
    if rule is None or kind not in OPT_OUT_KINDS:
        return None
    purposes = ctx.policy.purposes
    sold = [
        p
        for p in stopped_purposes(ctx, kind, details)
        if p in purposes and purposes[p].sale_or_sharing
    ]
    return rule if sold else None


def dates_for(
    ctx: Context,
    kind: RequestKind,
    regime: str,
    details: Mapping[str, Any] | None,
    received: date,
) -> tuple[date | None, date, OptOutRule | None]:
    """A request's acknowledgement and answer deadlines (from the day received), and the
    opt-out rule it falls under (None: the regime's request rule, :data:`~.deadlines.RULES`)."""
    rule = opt_out_of(ctx, kind, regime, details)
    if rule is None:
        return acknowledge_by(regime, received), due_date(regime, received), None
    ack = None
    if rule.acknowledge_within is not None:
        ack = acknowledge_by(regime, received)
    return ack, opt_out_due(received, rule.regime), rule


def is_opt_out(ctx: Context, req: RequestRecord) -> bool:
    """Whether ``req`` is an opt-out of sale/sharing (see the module)."""
    return opt_out_of(ctx, req.kind, req.regime, req.details) is not None


def waiting_opt_outs(
    ctx: Context, ids: list[str], get: Callable[[str], RequestRecord]
) -> list[str]:
    """Of the waiting requests ``ids`` (verified, oldest first), the opt-outs: ``get`` reads
    a request by id. One that cannot be read (changed outside troth) is left to the office,
    who finds it flagged: it never stops the others."""
    out = []
    for request_id in ids:
        try:
            if is_opt_out(ctx, get(request_id)):
                out.append(request_id)
        except TrothError:
            continue
    return out
