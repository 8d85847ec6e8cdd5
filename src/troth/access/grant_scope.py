"""What a support grant may ask for (P14): the policy's categories, named one by one, the
customer's own people, for at most the policy's ``max_days``; and, asked by a staff
member of the vendor, only categories their role reads. A staff member sees nothing of a
category their role never reads, grant or not (the gate refuses it ``role_not_allowed``),
so a grant for it would show them nothing while telling the customer it was shown:
asking for one is refused, naming the categories the role reads, and a grant that asks
for one since the role (or the policy) changed is refused at approval alike. A staff
member asking for no categories in particular asks for their role's, named, so the
customer approves what the grant really opens.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from troth.access.tables import users
from troth.audit.refusals import refuse
from troth.context import Context
from troth.errors import Conflict, ValidationError
from troth.gate import Actor, Reason
from troth.store.tables import subjects

# A category's name is an id of the policy: longer text is no category (and is not echoed).
_MAX_NAME = 64


def _named(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= _MAX_NAME else text[:_MAX_NAME] + "...")


def checked_categories(ctx: Context, categories: Iterable[Any]) -> list[str]:
    """``categories`` as the policy's category ids, sorted and once each; ValidationError
    for one that is not a string of the policy's categories (named, shortened), with the
    policy's categories to choose from."""
    if isinstance(categories, str):
        categories = [categories]  # one category's name, not its letters
    asked = list(categories)
    bad = [c for c in asked if not isinstance(c, str) or c not in ctx.policy.categories]
    if bad:
        raise ValidationError(
            f"unknown categor{'y' if len(bad) == 1 else 'ies'}"
            f" {', '.join(_named(c) for c in bad[:5])}"
            f" (the policy has: {', '.join(sorted(ctx.policy.categories))})",
            field="categories",
        )
    return sorted(set(asked))


def checked_people(ctx: Context, tenant_id: str, subject_ids: Iterable[Any]) -> list[str]:
    """``subject_ids`` as people of ``tenant_id``, sorted and once each; ValidationError
    naming the first that is not (another customer's person is answered as no person)."""
    sids = list(subject_ids)
    if any(not isinstance(s, str) for s in sids):
        raise ValidationError("a grant names people by their id (text)", field="subject_ids")
    sids = sorted(set(sids))
    if not sids:
        return sids
    with ctx.engine.connect() as conn:
        found = set(
            conn.execute(
                select(subjects.c.id).where(
                    subjects.c.id.in_(sids), subjects.c.tenant_id == tenant_id
                )
            ).scalars()
        )
    missing = [s for s in sids if s not in found]
    if missing:
        raise ValidationError(f"{_named(missing[0])} is not a person of this customer")
    return sids


def check_duration(ctx: Context, duration: timedelta, by: Actor, tenant_id: str) -> None:
    """A grant lasts a positive time (else ValidationError), at most the policy's
    ``max_days`` (else refused ``grant_too_long``, audited)."""
    max_days = ctx.policy.policy.support_access.max_days
    if duration <= timedelta(0):
        raise ValidationError("a grant must last a positive time")
    if duration > timedelta(days=max_days):
        refuse(
            ctx,
            "grant_request",
            by.label,
            error=ValidationError(
                f"a support grant may last at most {max_days} days under the policy;"
                f" ask for {max_days} days or less",
                code="grant_too_long",
            ),
            tenant_id=tenant_id,
            reason=Reason.grant_too_long,
            details={"seconds": int(duration.total_seconds())},
        )


def staff_role(ctx: Context, account_id: str) -> tuple[bool, str | None]:
    """Whether ``account_id`` is a staff member of the vendor, and their role now."""
    with ctx.engine.connect() as conn:
        row = conn.execute(
            select(users.c.kind, users.c.role).where(users.c.id == account_id)
        ).first()
    if row is None or row.kind != "staff":
        return False, None
    return True, row.role


def role_reads(ctx: Context, role: str | None) -> list[str]:
    """The categories a staff role reads under the policy in force (none: a role it does
    not declare)."""
    return sorted(ctx.policy.roles[role].categories) if role in ctx.policy.roles else []


def beyond_role(ctx: Context, role: str | None, categories: Iterable[str]) -> list[str]:
    """Those of ``categories`` a staff member of ``role`` never reads."""
    reads = set(role_reads(ctx, role))
    return [c for c in categories if c not in reads]


def reads_words(ctx: Context, role: str | None) -> str:
    """What ``role`` reads, in words for a message."""
    reads = role_reads(ctx, role)
    if role not in ctx.policy.roles:
        return f"the policy declares no staff role {role!r}, so it reads nothing"
    if not reads:
        return f"role {role!r} reads no category"
    return f"role {role!r} reads {', '.join(reads)}"


def within_role(
    ctx: Context, by: Actor, tenant_id: str, categories: list[str], action: str
) -> list[str]:
    """The categories a staff member ``by`` asks ``tenant_id`` for, within what their role
    reads (none asked: the role's, named); a vendor admin reads any under a grant. Asking
    beyond the role is refused (``role_not_allowed``, audited), naming what it reads."""
    staff, role = staff_role(ctx, by.id)
    if not staff:
        return categories
    cats = categories or role_reads(ctx, role)
    beyond = beyond_role(ctx, role, cats) if cats else ["any category"]
    if beyond:
        message = (
            f"your {reads_words(ctx, role)}: a grant for {', '.join(beyond)} would show you"
            " nothing of it while telling the customer it did. Ask only for categories your"
            " role reads, or ask a colleague whose role reads them"
        )
        refuse(
            ctx,
            action,
            by.label,
            error=ValidationError(message, code="grant_beyond_role", field="categories"),
            tenant_id=tenant_id,
            reason=Reason.role_not_allowed,
            details={"role": role, "categories": beyond[:20]},
        )
    return cats


def still_within_role(ctx: Context, grant: Any, by: Actor, action: str) -> None:
    """A ``grant`` (troth.access.grants.SupportGrant) a staff member asked for whose
    categories their role no longer reads (their role, or the policy, changed since) is
    refused at approval (``role_not_allowed``, audited), naming what the role reads now:
    it would show them nothing of those."""
    staff, role = staff_role(ctx, grant.requested_by)
    beyond = beyond_role(ctx, role, grant.categories) if staff else []
    if not beyond:
        return
    refuse(
        ctx,
        action,
        by.label,
        error=Conflict(
            f"this grant asks for {', '.join(beyond)}, which the vendor's staff member who"
            f" asked for it no longer reads ({reads_words(ctx, role)}): it would show them"
            " nothing of it. Refuse it; they may ask again for what their role reads",
            code="grant_beyond_role",
        ),
        tenant_id=grant.tenant_id,
        reason=Reason.role_not_allowed,
        details={"grant": grant.id, "role": role, "categories": beyond[:20]},
    )
