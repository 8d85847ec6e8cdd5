"""What publishing a policy would do, before anything is done (P34, P35): the changes,
the effective date, how many notice e-mails would go to whom, and the digest that binds a
confirmation to exactly what was shown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from troth.context import Context
from troth.gate import SYSTEM, Actor
from troth.notices.changes import concerned, earliest_effective, new_uses, preview_digest
from troth.notices.policy_mail import notice_addresses, notice_mail
from troth.office import authorize
from troth.policy.changes import PolicyDiff
from troth.policy.diff import diff_policies
from troth.policy.dropped import dropped_warnings, held_kinds
from troth.policy.index import PolicyIndex
from troth.policy.loader import parse_policy
from troth.policy.model import Policy, Power, check_effective
from troth.policy.parties import customers_control
from troth.policy.versions import newest_effective, published_digest


@dataclass
class PublishPreview:
    """What publishing a text would do, before anything is done: the changes, the
    effective date, and how many notice e-mails would go to how many people and
    customers, with the notice itself. ``digest`` binds a confirmation to this text."""

    version: str
    effective: date
    earliest: date | None
    diff: PolicyDiff
    people: int
    tenants: int
    mail: bool
    subject: str
    body: str
    digest: str
    problem: str | None = None

    @property
    def emails(self) -> int:
        return self.people + self.tenants if self.mail else 0


def _date_problem(floor: date, when: date, earliest: date | None) -> str | None:
    """Why ``when`` cannot be the effective date (None: it can)."""
    problem: str | None = None
    try:
        check_effective(when)
    except ValueError as exc:
        problem = str(exc)
    if when < floor:
        problem = f"effective date {when} is before the version in force ({floor})"
    elif earliest is not None and when < earliest:
        problem = (
            f"a material change cannot take effect on {when}: its notice period runs until"
            f" {earliest} at the earliest; set the effective date to {earliest} or later"
        )
    return problem


def preview_publish(
    ctx: Context,
    text: str,
    name: str = "policy.yaml",
    *,
    effective: date | None = None,
    actor: Actor = SYSTEM,
) -> PublishPreview:
    """What :func:`troth.notices.publish.publish_policy` would do with ``text`` (power
    ``publish_policy``); raises PolicyError when it does not validate. ``problem`` says why
    publishing it as it stands would be refused (an effective date too early, a version
    already used)."""
    authorize(ctx, actor, Power.publish_policy, details={"operation": "preview"})
    new_policy = parse_policy(text, name)
    new_index = PolicyIndex.build(new_policy, text)
    newest = ctx.newest_policy  # in effect, or waiting for its effective date
    when = effective or new_policy.effective
    diff = held_diff(ctx, newest.policy, new_policy, when)
    uses = new_uses(newest, new_index)
    earliest = earliest_effective(new_policy, ctx.clock.now()) if diff.has_material else None
    with ctx.engine.connect() as conn:
        floor = newest_effective(conn) or newest.policy.effective
        problem = _date_problem(floor, when, earliest)
        if published_digest(conn, new_policy.version) is not None:
            problem = f"version {new_policy.version!r} is already published; give it a new version"
        addresses = notice_addresses(
            conn,
            ctx.keys,
            concerned(newest, new_index, diff, uses),
            customers_people=not customers_control(new_policy),
        )
    subject, body = notice_mail(new_policy, when, diff)
    return PublishPreview(
        version=new_policy.version,
        effective=when,
        earliest=earliest,
        diff=diff,
        people=sum(1 for sid in addresses.values() if sid is not None),
        tenants=sum(1 for sid in addresses.values() if sid is None),
        mail=diff.has_material and new_policy.notices.email_customers,
        subject=subject,
        body=body,
        digest=preview_digest(text, effective),
        problem=problem,
    )


def diff_candidate(ctx: Context, new: Policy, *, actor: Actor = SYSTEM) -> PolicyDiff:
    """What publishing ``new`` would change against the policy in force (power
    ``publish_policy``)."""
    authorize(ctx, actor, Power.publish_policy, details={"operation": "diff"})
    return held_diff(ctx, ctx.newest_policy.policy, new, new.effective)


def held_diff(ctx: Context, old: Policy, new: Policy, when: date) -> PolicyDiff:
    """:func:`diff_policies`, its warnings counting the values a removal concerns."""
    diff = diff_policies(old, new)
    if diff.warnings:
        with ctx.engine.connect() as conn:
            held = held_kinds(conn)
        diff.warnings = dropped_warnings(old, new, held, when.isoformat())
    return diff
