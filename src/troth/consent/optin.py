"""Opting back in after an opt-out of the sale or sharing of one's data.

A person who opted out of a purpose the policy marks ``sale_or_sharing`` (a GPC signal, a
withdrawal, an imported opt-out) may not be asked to opt back in for 12 months (CCPA,
11 CCR 7026(k): :data:`troth.requests.deadlines.CCPA_OPT_OUT`). In that time a grant of that
purpose is taken only as the person's own two-step opt-in (11 CCR 7028: they first ask to
opt in, then separately confirm it): the caller says so (``two_step=True``; the privacy
centre asks the person to confirm on a page of its own). Anything else is refused
``opted_out_recently``, audited, nothing recorded: one API call with an empty body can no
longer undo a person's opt-out.

A cookie category whose cookies serve a ``sale_or_sharing`` purpose (third-party
advertising cookies are "sharing" under the CPRA) follows the same rule: turning it back on
in the cookie banner while the person's opt-out covers it (a GPC signal, a withdrawal of
the purpose, a refusal of the category itself, less than 12 months ago) is taken only as
their two-step opt-in (:func:`cookie_waits`, :func:`refuse_cookies_unless_two_step`;
trial #19 F3: one click re-enabled the advertising cookies right after a GPC opt-out)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import Connection, select

from troth.audit.refusals import Refusal, refuse
from troth.clock import utc
from troth.consent.append import subjects
from troth.consent.events import ConsentKind, cookie_purpose
from troth.consent.tables import consent_state
from troth.context import Context
from troth.gate import Reason
from troth.policy.model import Regime
from troth.requests.deadlines import CCPA_OPT_OUT, may_ask_to_opt_in


def opted_out_on(conn: Connection, ctx: Context, subject_id: str, purpose: str) -> date | None:
    """The day (in the organisation's CCPA time) the person's standing opt-out of a
    ``sale_or_sharing`` purpose began, if there is one; None otherwise."""
    return _opt_outs(conn, ctx, [subject_id], [purpose]).get((subject_id, purpose))


def _opt_outs(
    conn: Connection, ctx: Context, subject_ids: Sequence[str], purposes: Iterable[str]
) -> dict[tuple[str, str], date]:
    """(person, purpose) -> the day their standing opt-out of that ``sale_or_sharing``
    purpose began, for those of ``subject_ids`` x ``purposes`` that have one."""
    sold = sorted(
        {p for p in purposes if (pp := ctx.policy.purposes.get(p)) and pp.sale_or_sharing}
    )
    if not sold or not subject_ids:
        return {}
    zone = ctx.policy.policy.organisation.zone(Regime.ccpa)
    s = consent_state.c
    out: dict[tuple[str, str], date] = {}
    people = sorted(set(subject_ids))
    for start in range(0, len(people), 500):
        rows = conn.execute(
            select(s.subject_id, s.purpose, s.granted, s.kind, s.at).where(
                s.subject_id.in_(people[start : start + 500]), s.purpose.in_(sold)
            )
        )
        for row in rows:
            if not row.granted and row.kind != ConsentKind.erasure.value:
                out[(str(row.subject_id), str(row.purpose))] = utc(row.at).astimezone(zone).date()
    return out


def _today(ctx: Context) -> date:
    return ctx.clock.now().astimezone(ctx.policy.policy.organisation.zone(Regime.ccpa)).date()


def in_wait(ctx: Context, subject_id: str, purpose: str) -> date | None:
    """The opt-out day when ``purpose`` may not yet be asked for again (12 months), else
    None (no opt-out, another kind of purpose, or the wait is over)."""
    with ctx.engine.connect() as conn:
        since = opted_out_on(conn, ctx, subject_id, purpose)
    return None if since is None or may_ask_to_opt_in(since, _today(ctx)) else since


def _message(purpose: str, since: date) -> str:
    return (
        f"this person opted out of {purpose!r} (sale or sharing of their data) on {since}:"
        f" for {CCPA_OPT_OUT.reask_after_months} months it may be granted again only as their"
        " own two-step opt-in (they asked to opt in, then confirmed it): say so with"
        " two_step=True (API: two_step_confirmed; CLI: --two-step-confirmed)"
    )


def wait_refusal(
    conn: Connection, ctx: Context, subject_ids: Sequence[str], purposes: Sequence[str]
) -> Refusal | None:
    """Inside a transaction that would record grants of ``purposes`` for ``subject_ids``
    in one step (a consent ticked on a collection form): the refusal when one of them
    opted out of one of those sale/sharing purposes less than 12 months ago, else None.
    A ticked box is one step; the person's two-step opt-in is recorded on its own
    (``consent.grant(two_step=True)``), and the data may then be collected with it."""
    today = _today(ctx)
    for (sid, purpose), since in sorted(_opt_outs(conn, ctx, subject_ids, purposes).items()):
        if not may_ask_to_opt_in(since, today):
            message = _message(purpose, since).replace(
                "say so with", "collect without that consent, or record their opt-in with"
            )
            return Refusal(
                Reason.opted_out_recently,
                message,
                subject_id=sid,
                details={"purpose": purpose, "opted_out_on": since.isoformat()},
            )
    return None


def refuse_unless_two_step(
    ctx: Context, subject_id: str, purpose: str, actor: str | None, *, two_step: bool
) -> None:
    """Return when a grant of ``purpose`` may be recorded; else audit and raise Refused
    ``opted_out_recently`` (see the module)."""
    since = in_wait(ctx, subject_id, purpose)
    if since is None or two_step:
        return
    refuse(
        ctx,
        "consent.refused",
        actor or "system",
        Reason.opted_out_recently,
        _message(purpose, since),
        subject_id=subject_id,
        purpose=purpose,
        details={"opted_out_on": since.isoformat()},
        shown={"purpose": purpose, "opted_out_on": since.isoformat()},
    )


def sold_cookies(ctx: Context) -> dict[str, frozenset[str]]:
    """Cookie category -> the ``sale_or_sharing`` purposes its cookies serve, for the
    categories that serve one."""
    sold = {p.id for p in ctx.policy.policy.purposes if p.sale_or_sharing}
    out: dict[str, set[str]] = {}
    for c in ctx.policy.policy.cookies:
        if c.purpose in sold:
            out.setdefault(c.category.value, set()).add(c.purpose)
    return {category: frozenset(purposes) for category, purposes in out.items()}


def cookie_waits(ctx: Context, subject_id: str, categories: Iterable[str]) -> dict[str, date]:
    """Of ``categories`` (to be turned on), those serving a sale/sharing purpose that the
    person's standing opt-out covers since less than 12 months: category -> the day it
    began (the category's own, or a purpose's it serves; the latest). Empty for a person
    erased or unknown (their refusal is another's to make)."""
    served = {c: ps for c, ps in sold_cookies(ctx).items() if c in set(categories)}
    if not served:
        return {}
    keys = {cookie_purpose(c) for c in served}.union(*served.values())
    zone = ctx.policy.policy.organisation.zone(Regime.ccpa)
    s = consent_state.c
    with ctx.engine.connect() as conn:
        live = conn.execute(
            select(subjects.c.id).where(subjects.c.id == subject_id, subjects.c.erased_at.is_(None))
        ).first()
        if live is None:
            return {}
        rows = conn.execute(
            select(s.purpose, s.granted, s.kind, s.at).where(
                s.subject_id == subject_id, s.purpose.in_(sorted(keys))
            )
        ).all()
    since = {
        str(r.purpose): utc(r.at).astimezone(zone).date()
        for r in rows
        if not r.granted and r.kind != ConsentKind.erasure.value
    }
    today = _today(ctx)
    out: dict[str, date] = {}
    for category, purposes in sorted(served.items()):
        days = [since[k] for k in (cookie_purpose(category), *purposes) if k in since]
        if days and not may_ask_to_opt_in(max(days), today):
            out[category] = max(days)
    return out


def refuse_cookies_unless_two_step(
    ctx: Context, subject_id: str, turned_on: Sequence[str], *, two_step: bool
) -> None:
    """Return when cookie choices turning ``turned_on`` on may be recorded; else audit and
    raise Refused ``opted_out_recently`` naming the first category held back."""
    waits = {} if two_step else cookie_waits(ctx, subject_id, turned_on)
    if not waits:
        return
    category, since = next(iter(waits.items()))
    purposes = ", ".join(repr(p) for p in sorted(sold_cookies(ctx)[category]))
    message = (
        f"this person opted out of the sale or sharing of their data on {since}: for"
        f" {CCPA_OPT_OUT.reask_after_months} months the {category!r} cookies (they serve"
        f" {purposes}) may be turned back on only as their own two-step opt-in (they asked,"
        " then confirmed it): say so with two_step=True"
    )
    refuse(
        ctx,
        "consent.refused",
        f"subject:{subject_id}",
        Reason.opted_out_recently,
        message,
        subject_id=subject_id,
        purpose=cookie_purpose(category),
        details={"opted_out_on": since.isoformat()},
        shown={"purpose": cookie_purpose(category), "opted_out_on": since.isoformat()},
    )
