"""What a legal demand asks for (P20), and a disclosure under it kept within that: the
categories the demand names and, where it states one, the period its data was collected
in.

An officer answers a production order for a rider's trips with their trips. Asked for
more (their health, their card), the disclosure is refused ``beyond_demand`` and audited,
and nothing is sent; asked for no categories in particular, what goes is what the demand
names, of what the recipient may receive. A value collected outside the demand's period
is held back and listed in the package's ``withheld`` (``outside_demand_period``).

The scope troth honours is the one the audit log recorded with the demand
(``legal_demand.record``): a row widened outside troth discloses nothing
(``record_tampered``), as a row whose gag was moved does (:mod:`troth.disclosures.logged`);
``troth audit verify`` names it (:mod:`troth.disclosures.crosscheck`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from troth.audit.refusals import Refusal
from troth.context import Context
from troth.disclosures.demands import DemandStatus, LegalDemand, authority_recipient, demand_row
from troth.disclosures.logged import Honoured, parse_time, same_time
from troth.errors import ValidationError
from troth.gate import Reason
from troth.policy.model import LegalBasis

# The reason a value collected outside the demand's period is held back (package.withheld).
OUTSIDE_PERIOD = "outside_demand_period"


@dataclass(frozen=True)
class DemandScope:
    """The categories a demand asks for, and the period (from inclusive, until exclusive)
    the values it asks for were collected in (None: open on that side)."""

    categories: tuple[str, ...]
    period_from: datetime | None = None
    period_until: datetime | None = None

    def holds(self, collected_at: datetime) -> bool:
        """Whether a value collected at ``collected_at`` is within the period."""
        if self.period_from is not None and collected_at < self.period_from:
            return False
        return self.period_until is None or collected_at < self.period_until

    def details(self) -> dict[str, Any]:
        """What the demand's audit entry records of it."""
        return {
            "categories": list(self.categories),
            "period_from": self.period_from.isoformat() if self.period_from else None,
            "period_until": self.period_until.isoformat() if self.period_until else None,
        }

    def period_words(self) -> str:
        """The period in words: "from 2026-03-01T00:00:00+00:00 until ..."."""
        parts = [
            f"{word} {at.isoformat()}"
            for word, at in (("from", self.period_from), ("until", self.period_until))
            if at is not None
        ]
        return " ".join(parts)


def demand_scope(
    ctx: Context,
    categories: Iterable[str] | None,
    period_from: datetime | None,
    period_until: datetime | None,
) -> DemandScope:
    """The scope of a demand being recorded, checked: one or more of the policy's
    categories (the demand says what it asks for, or nothing may go under it), and a
    period whose ends are timezone-aware, the start before the end. ValidationError
    saying what to write."""
    known = sorted(ctx.policy.categories)
    listed = ", ".join(known)
    # A string is one category's name, not a list of them: asked for as a list.
    got: list[Any] = [] if categories is None or isinstance(categories, str) else list(categories)
    if not got:
        raise ValidationError(
            "a legal demand names the categories of data it asks for (--category, one or"
            f" more of the policy's: {listed}); nothing beyond them is disclosed under it",
            field="categories",
        )
    bad = [c for c in got if not isinstance(c, str) or c not in ctx.policy.categories]
    if bad:
        raise ValidationError(
            f"a legal demand asks for the policy's categories, not {str(bad[0])[:80]!r}"
            f" (the policy's: {listed})",
            field="categories",
        )
    for name, at in (("period_from", period_from), ("period_until", period_until)):
        if at is not None and (not isinstance(at, datetime) or at.tzinfo is None):
            raise ValidationError(f"{name} must be a timezone-aware date and time", field=name)
    if period_from is not None and period_until is not None and period_until <= period_from:
        raise ValidationError(
            "the demand's period must end (period_until) after it starts (period_from)",
            field="period_until",
        )
    return DemandScope(tuple(sorted(set(got))), period_from, period_until)


def demand_for(
    ctx: Context, conn: Connection, demand_id: str, recipient: str, purpose: str
) -> LegalDemand:
    """The demand ``demand_id`` if this disclosure may go under it: a legal-obligation
    purpose, to the demand's own authority, a demand not closed. NotFound or
    ValidationError saying which."""
    demand = demand_row(conn, demand_id)
    idx = ctx.policy
    p = idx.purposes.get(purpose)
    if p is None or p.legal_basis is not LegalBasis.legal_obligation:
        legal = sorted(
            p.id for p in idx.purposes.values() if p.legal_basis is LegalBasis.legal_obligation
        )
        raise ValidationError(
            f"a disclosure under a legal demand uses a legal-obligation purpose"
            f" ({', '.join(legal) or 'the policy declares none'}), not {purpose!r}"
        )
    if demand.recipient is not None and demand.recipient != recipient:
        raise ValidationError(
            f"legal demand {demand_id} is from {demand.recipient!r}; disclose to that"
            f" recipient, not {recipient!r}"
        )
    authority_recipient(ctx, recipient)
    if demand.status == DemandStatus.closed:
        raise ValidationError(f"legal demand {demand_id} is closed")
    return demand


def honoured_scope(demand: LegalDemand, honoured: Honoured) -> DemandScope | Refusal:
    """The scope the audit log recorded for ``demand``, or why nothing goes under it: it
    was recorded before troth kept a demand's categories (``demand_required``: record it
    again with them), or its row's scope differs from the log's (``record_tampered``)."""
    d = honoured.recorded
    if "categories" not in d:
        return Refusal(
            Reason.demand_required,
            f"legal demand {demand.id} was recorded before troth kept what a demand asks"
            " for: record it again with the categories it names (`troth disclosures demand"
            " --category ...`, `categories` in POST /api/v1/legal-demands) and disclose"
            " under the new one",
        )
    cats = d["categories"]
    logged = DemandScope(
        tuple(str(c) for c in cats) if isinstance(cats, list) else (),
        parse_time(d.get("period_from")),
        parse_time(d.get("period_until")),
    )
    row = (demand.categories, demand.period_from, demand.period_until)
    same = (
        isinstance(cats, list)
        and list(row[0] or ()) == list(logged.categories)
        and same_time(row[1], logged.period_from)
        and same_time(row[2], logged.period_until)
    )
    if not same:
        return Refusal(
            Reason.record_tampered,
            f"legal demand {demand.id} differs from what the audit log recorded (the"
            " categories or period it asks for): changed outside troth, so nothing is"
            " disclosed under it. Run `troth audit verify`, then restore the row from a"
            " backup",
        )
    return logged


def within_demand(
    scope: DemandScope,
    demand_id: str,
    asked: tuple[str, ...] | None,
    offered: tuple[str, ...],
    to: str,
) -> tuple[str, ...] | Refusal:
    """The categories to disclose under the demand: those ``asked`` (all within what the
    demand asks for, else ``beyond_demand``), or, asked for none, those ``offered`` (what
    the recipient receives for the purpose) that the demand asks for."""
    allowed = frozenset(scope.categories)
    named = ", ".join(scope.categories)
    if asked is not None:
        beyond = [c for c in asked if c not in allowed]
        if beyond:
            return Refusal(
                Reason.beyond_demand,
                f"legal demand {demand_id} asks for {named} only: {', '.join(beyond)}"
                f" {'is' if len(beyond) == 1 else 'are'} beyond it, so nothing was"
                " disclosed. Disclose only what the demand asks for, or record the demand"
                " that compels more",
                categories=asked,
            )
        return asked
    narrowed = tuple(c for c in offered if c in allowed)
    if not narrowed:
        return Refusal(
            Reason.beyond_demand,
            f"legal demand {demand_id} asks for {named}, none of which may go to {to}"
            f" (it receives {', '.join(offered) or 'nothing'} for this purpose)",
            categories=offered,
        )
    return narrowed


def nothing_in_period(scope: DemandScope, demand_id: str, categories: Iterable[str]) -> Refusal:
    """The refusal of a disclosure whose every value was collected outside the period."""
    cats = tuple(sorted(categories))
    return Refusal(
        Reason.beyond_demand,
        f"no value of {', '.join(cats)} was collected within legal demand {demand_id}'s"
        f" period ({scope.period_words()}): nothing was disclosed",
        categories=cats,
    )
