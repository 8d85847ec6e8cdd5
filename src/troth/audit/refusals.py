"""Audited refusals: the one way troth says no.

Every refusal is recorded before it is raised. :func:`refuse` appends a ``deny`` entry
naming the :class:`troth.gate.Reason`, commits it in a transaction of its own (so the
refusal stays recorded although the refused operation writes nothing), then raises:
:class:`troth.errors.Refused` by default, or the error the caller names (an edge answers
401/404/409 where that tells the caller what to do). :func:`reject_input` does the same
for bad input, whose entry names the error's code.

A refusal decided inside a transaction is not raised there: the code returns a decision
value, leaves the transaction without writing, and calls :func:`refuse` after it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.errors import Refused, TrothError

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from troth.context import Context
    from troth.gate import Actor, Reason


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refusal decided inside a transaction: returned, not raised, so the transaction
    ends having written nothing; the caller hands it to :func:`refuse` after."""

    reason: Reason
    message: str
    subject_id: str | None = None
    categories: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    error: TrothError | None = None  # raised instead of Refused (see refuse's ``error``)


def denial(
    action: str,
    actor: Actor | str,
    reason: Reason,
    *,
    subject_id: str | None = None,
    tenant_id: str | None = None,
    purpose: str | None = None,
    categories: Iterable[str] = (),
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """The audit entry of a refusal (``outcome=deny``, the reason's value)."""
    return AuditEntry(
        action=action,
        actor=actor if isinstance(actor, str) else actor.label,
        outcome=Outcome.deny,
        subject_id=subject_id,
        tenant_id=tenant_id,
        purpose=purpose,
        categories=tuple(categories),
        reason=reason.value,
        details=dict(details or {}),
    )


def refuse(
    ctx: Context,
    action: str,
    actor: Actor | str,
    reason: Reason,
    message: str = "",
    *,
    error: TrothError | None = None,
    subject_id: str | None = None,
    tenant_id: str | None = None,
    purpose: str | None = None,
    categories: Iterable[str] = (),
    details: Mapping[str, Any] | None = None,
    shown: Mapping[str, Any] | None = None,
    conn: Connection | None = None,
) -> NoReturn:
    """Audit a refusal once, then raise it.

    The entry goes in a transaction of its own, committed before the raise; with
    ``conn`` it goes in the caller's transaction instead (it then stands or falls with
    that transaction: for a caller that catches the refusal and commits the rest).
    Raises ``error`` when given, else ``Refused(message, reason=reason, **shown)``."""
    entry = denial(
        action,
        actor,
        reason,
        subject_id=subject_id,
        tenant_id=tenant_id,
        purpose=purpose,
        categories=categories,
        details=details,
    )
    if conn is not None:
        append_entries(conn, ctx.clock.now(), [entry])
    else:
        with transaction(ctx) as own:
            append_entries(own, ctx.clock.now(), [entry])
    if error is not None:
        raise error
    raise Refused(message, reason=reason, **dict(shown or {}))


def reject_input(
    ctx: Context,
    action: str,
    actor: Actor | str,
    error: TrothError,
    *,
    details: Mapping[str, Any] | None = None,
) -> NoReturn:
    """Bad input is refused like the gate refuses: audited (the entry's reason is the
    error's code, its details name the problem, never the value), nothing stored, then
    ``error`` is raised."""
    entry = AuditEntry(
        action=action,
        actor=actor if isinstance(actor, str) else actor.label,
        outcome=Outcome.deny,
        reason=error.code,
        details=dict(details or {}),
    )
    with transaction(ctx) as conn:
        append_entries(conn, ctx.clock.now(), [entry])
    raise error
