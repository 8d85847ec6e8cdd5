"""The vendor's privacy office: one audited decision for every office function.

Publishing the policy, retention runs and holds, the breach register, legal demands,
everyone's audit entries, the request desk across tenants and tenant administration are
the office's functions. Each domain service asks :func:`authorize` first, with the whole
actor, so the HTTP API, the console and the CLI are decided alike. The decision itself is
the pure :func:`troth.gate.decide_power`; a refusal is audited here (action
``office.<power>``, outcome deny, its reason code) in its own transaction, before
anything is changed, and raised as :class:`troth.errors.Refused` (403).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, NoReturn

from troth.audit.entries import EntryFilter, LoggedEntry, count_entries, list_entries
from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import refuse
from troth.audit.verify import VerifyReport, verify_log
from troth.context import Context
from troth.gate import Actor, ActorKind, Reason, decide_power
from troth.policy.model import Power

__all__ = [
    "Power",
    "audit_per_day",
    "audit_read",
    "authorize",
    "count_audit",
    "may",
    "read_audit",
    "request_desk",
    "verify_audit",
]


def may(ctx: Context, actor: Actor, power: Power) -> bool:
    """Whether ``actor`` holds ``power`` (for showing a menu; nothing is audited)."""
    return decide_power(ctx.policy, actor, power).allowed


def authorize(
    ctx: Context,
    actor: Actor,
    power: Power,
    *,
    subject_id: str | None = None,
    tenant_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Return when ``actor`` may exercise ``power``; otherwise audit the refusal and raise
    :class:`Refused` with the reason (``tenant_bound``, ``scope_missing``,
    ``power_not_granted``, ``role_not_allowed``)."""
    decision = decide_power(ctx.policy, actor, power)
    if not decision.allowed:
        _refuse(
            ctx,
            actor,
            power,
            decision.reason or Reason.power_not_granted,
            decision.detail,
            subject_id=subject_id,
            tenant_id=tenant_id,
            details=details,
        )


def _refuse(
    ctx: Context,
    actor: Actor,
    power: Power,
    reason: Reason,
    message: str,
    *,
    subject_id: str | None = None,
    tenant_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> NoReturn:
    """Audit a refused office function in its own transaction (nothing else is written),
    then raise it. A caller bound to a tenant is refused under its own tenant, with the
    tenant it named in the details: never in another tenant's log."""
    extra: dict[str, Any] = {}
    filed = tenant_id or actor.tenant_id
    if actor.tenant_id is not None and tenant_id not in (None, actor.tenant_id):
        filed = actor.tenant_id
        extra["tenant_named"] = str(tenant_id)[:64]
    if actor.tenant_id is not None and subject_id is not None:
        # A person named by a caller bound to a tenant: the id asked for, in the caller's
        # log, never the person's (another tenant's person would learn who tried).
        extra["subject_named"] = subject_id[:64]
        subject_id = None
    refuse(
        ctx,
        f"office.{power.value}",
        actor,
        reason,
        message,
        subject_id=subject_id,
        tenant_id=filed,
        details={"power": power.value, **extra, **dict(details or {})},
        shown={"power": power.value},
    )


def read_audit(
    ctx: Context,
    actor: Actor,
    *,
    subject_id: str | None = None,
    by: str | None = None,
    limit: int = 100,
    after_seq: int | None = None,
    outcome: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
) -> list[LoggedEntry]:
    """Everyone's audit entries, newest first (power ``read_audit``); filters as
    :func:`troth.audit.entries.list_entries`. A person's own entries are read by the privacy
    centre through the person's session, not here. The read is audited once it is made
    (a walk by ``after_seq`` at its first page only): see :func:`_audit_look`."""
    authorize(ctx, actor, Power.read_audit, subject_id=subject_id, details={"operation": "read"})
    rows = list_entries(
        ctx,
        subject_id=subject_id,
        actor=by,
        limit=limit,
        after_seq=after_seq,
        newest_first=True,
        outcome=outcome,
        action=action,
        since=since,
        until=until,
        offset=offset,
    )
    if after_seq is None:  # a walk through the log (a CSV) is one look, at its first page
        asked = {"by": by, "outcome": outcome, "action": action, "since": since, "until": until}
        _audit_look(ctx, actor, subject_id, asked)
    return rows


def _audit_look(
    ctx: Context, actor: Actor, subject_id: str | None, asked: Mapping[str, Any]
) -> None:
    """Audit an allowed read of the log. Of one person's entries, as ``read_audit`` of
    their records under the person's tenant, like any look at a record about them (so a
    customer sees the vendor's office read a customer's trail, except while a gag on the
    person runs); else as :func:`audit_read`."""
    from troth.errors import NotFound
    from troth.store.subjects import lookup_subject

    if subject_id is None:
        return audit_read(ctx, actor, Power.read_audit, "read", asked)
    try:
        tenant = lookup_subject(ctx, subject_id).tenant_id
    except NotFound:  # nobody has that id: the look names no one
        return audit_read(
            ctx, actor, Power.read_audit, "read", {**asked, "unknown_subject": subject_id[:64]}
        )
    details = {"power": Power.read_audit.value, "record": "audit", **_shown(asked)}
    _append(
        ctx,
        AuditEntry(
            "read_audit",
            actor.label,
            Outcome.allow,
            subject_id=subject_id,
            tenant_id=tenant,
            details=details,
        ),
    )


def audit_read(
    ctx: Context, actor: Actor, power: Power, operation: str, asked: Mapping[str, Any]
) -> None:
    """Audit an allowed read by an office function once it is made (P17: every access is
    in the log): ``office.<power>``, outcome allow, with the operation and what was asked
    (each value cut to 64 characters). A read that fails to be audited is not returned."""
    details = {"power": power.value, "operation": operation, **_shown(asked)}
    tenant = actor.tenant_id
    _append(
        ctx,
        AuditEntry(
            f"office.{power.value}", actor.label, Outcome.allow, tenant_id=tenant, details=details
        ),
    )


def _shown(asked: Mapping[str, Any]) -> dict[str, str]:
    """The filters a read was asked with, for its entry: those given, cut to 64 chars."""
    return {k: str(v)[:64] for k, v in asked.items() if v is not None and v != ""}


def _append(ctx: Context, entry: AuditEntry) -> None:
    with transaction(ctx) as conn:
        append_entries(conn, ctx.clock.now(), [entry])


def count_audit(
    ctx: Context,
    actor: Actor,
    *,
    subject_id: str | None = None,
    by: str | None = None,
    outcome: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """How many entries :func:`read_audit` with these filters pages through (power
    ``read_audit``)."""
    authorize(ctx, actor, Power.read_audit, subject_id=subject_id, details={"operation": "count"})
    return count_entries(ctx, EntryFilter(subject_id, by, since, until, outcome, action))


def audit_per_day(ctx: Context, actor: Actor, days: list[datetime]) -> list[int]:
    """How many entries each of ``days`` (the start of a UTC day) holds (power
    ``read_audit``): the dashboard's chart, one indexed count a day."""
    authorize(ctx, actor, Power.read_audit, details={"operation": "count"})
    return [count_entries(ctx, EntryFilter(since=d, until=d + timedelta(days=1))) for d in days]


def verify_audit(
    ctx: Context, actor: Actor, progress: Callable[[int, int], None] | None = None
) -> VerifyReport:
    """Verify the whole log against its heads (power ``read_audit``)."""
    authorize(ctx, actor, Power.read_audit, details={"operation": "verify"})
    return verify_log(ctx, progress=progress)


def at_request_desk(ctx: Context, actor: Actor) -> bool:
    """Whether ``actor`` may administer requests (:func:`request_desk` would let them in),
    asked without auditing: such a caller reads every request, the person it is about
    included; any other (a key that may only open requests) is told nothing of the
    person from the answer to opening one."""
    if actor.kind is ActorKind.application and actor.tenant_id is not None:
        return "admin" in actor.scopes or "requests:admin" in actor.scopes
    return decide_power(ctx.policy, actor, Power.manage_requests).allowed


def request_desk(ctx: Context, actor: Actor) -> str | None:
    """Who may administer data-subject requests, and over which tenant: the vendor office
    (power ``manage_requests``) over every tenant (None), or an API key bound to a tenant
    with ``requests:admin`` (or ``admin``) over that tenant's requests only (its id).
    Anyone else is refused, audited."""
    if actor.kind is ActorKind.application and actor.tenant_id is not None:
        if "admin" in actor.scopes or "requests:admin" in actor.scopes:
            return actor.tenant_id
        _refuse(
            ctx,
            actor,
            Power.manage_requests,
            Reason.scope_missing,
            "this API key lacks the scope for that: requests:admin (its own tenant's requests)",
        )
    authorize(ctx, actor, Power.manage_requests)
    return None
