"""Opting back in after an opt-out of the sale or sharing of one's data.

A person who opted out of a purpose the policy marks ``sale_or_sharing`` (a GPC signal, a
withdrawal, an imported opt-out) may not be asked to opt back in for 12 months (CCPA,
11 CCR 7026(k): :data:`troth.requests.deadlines.CCPA_OPT_OUT`). In that time a grant of that
purpose is taken only as the person's own two-step opt-in (11 CCR 7028: they first ask to
opt in, then separately confirm it): the caller says so (``two_step=True``; the privacy
centre asks the person to confirm on a page of its own). Anything else is refused
``opted_out_recently``, audited, nothing recorded: one API call with an empty body can no
longer undo a person's opt-out."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, select

from troth.audit.refusals import refuse
from troth.clock import utc
from troth.consent.events import ConsentKind
from troth.consent.tables import consent_state
from troth.context import Context
from troth.gate import Reason
from troth.policy.model import Regime
from troth.requests.deadlines import CCPA_OPT_OUT, may_ask_to_opt_in


def opted_out_on(conn: Connection, ctx: Context, subject_id: str, purpose: str) -> date | None:
    """The day (in the organisation's CCPA time) the person's standing opt-out of a
    ``sale_or_sharing`` purpose began, if there is one; None otherwise."""
    p = ctx.policy.purposes.get(purpose)
    if p is None or not p.sale_or_sharing:
        return None
    s = consent_state.c
    row = conn.execute(
        select(s.granted, s.kind, s.at).where(s.subject_id == subject_id, s.purpose == purpose)
    ).first()
    if row is None or row.granted or row.kind == ConsentKind.erasure.value:
        return None
    zone = ctx.policy.policy.organisation.zone(Regime.ccpa)
    return utc(row.at).astimezone(zone).date()


def in_wait(ctx: Context, subject_id: str, purpose: str) -> date | None:
    """The opt-out day when ``purpose`` may not yet be asked for again (12 months), else
    None (no opt-out, another kind of purpose, or the wait is over)."""
    with ctx.engine.connect() as conn:
        since = opted_out_on(conn, ctx, subject_id, purpose)
    if since is None:
        return None
    zone = ctx.policy.policy.organisation.zone(Regime.ccpa)
    today = ctx.clock.now().astimezone(zone).date()
    return None if may_ask_to_opt_in(since, today) else since


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
        f"this person opted out of {purpose!r} (sale or sharing of their data) on {since}:"
        f" for {CCPA_OPT_OUT.reask_after_months} months it may be granted again only as their"
        " own two-step opt-in (they asked to opt in, then confirmed it): say so with"
        " two_step=True (API: two_step_confirmed; CLI: --two-step-confirmed)",
        subject_id=subject_id,
        purpose=purpose,
        details={"opted_out_on": since.isoformat()},
        shown={"purpose": purpose, "opted_out_on": since.isoformat()},
    )
