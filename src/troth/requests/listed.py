"""A request's row in a list, when it holds a value troth never writes (an empty or garbled
time, a list where its details belong, a kind no troth knows: changed outside troth).

One such row must not take the whole list down (the office would lose every deadline): the
lists (``list``, ``search``, ``of_subject``) show it flagged, ``tampered``, with the
columns troth cannot read named in ``unreadable`` and each of those fields None (its
``details`` empty), never the value; the rest of the row as it stands. Every step on it
is still refused (:class:`~troth.errors.TamperedValue`, 409), and the rows met are
audited once per process (``stored_value``, ``record_tampered``:
:func:`troth.audit.unreadable.audit_refusal`), after the list's connection is closed."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from troth.requests.record import RequestRecord
from troth.requests.states import Channel, RequestKind, RequestState
from troth.stored import Unreadable, is_unreadable, tampered_value

if TYPE_CHECKING:
    from troth.context import Context
    from troth.gate import Actor
    from troth.requests.steps import RequestSteps

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# What :meth:`RequestSteps.record` is given in place of a column it cannot go without; the
# field is then set to None (``details``: empty) on the record it makes.
_STAND_INS: dict[str, Any] = {
    "kind": RequestKind.access.value,
    "state": RequestState.received.value,
    "channel": Channel.api.value,
    "received_at": _EPOCH,
    "due_at": _EPOCH.date(),
    "details": {},
}
_FIELDS = frozenset(f.name for f in fields(RequestRecord))


def listed_record(steps: RequestSteps, row: Any) -> RequestRecord:
    """The record of ``row`` (read inside :func:`troth.stored.tolerating`) for a list:
    as :meth:`RequestSteps.record` makes it when troth reads every value; else flagged."""
    bad = {name: value for name, value in row.items() if is_unreadable(value)}
    if not bad:
        return steps.record(row)
    rec = steps.record({**row, **{n: _STAND_INS.get(n) for n in bad}})
    blank: dict[str, Any] = {n: None for n in bad if n in _FIELDS}
    if "received_at" in bad:
        blank["received_on"] = None
    if "details" in bad:
        blank["details"] = {}
    columns = tuple(sorted(v.column for v in bad.values() if isinstance(v, Unreadable)))
    return replace(rec, tampered=True, unreadable=columns, **blank)


def audit_listed(
    ctx: Context, records: list[RequestRecord], during: str, actor: Actor | None = None
) -> None:
    """Audit the rows troth could not read in a list just made (once per process for the
    same rows: :func:`troth.audit.unreadable.audit_refusal`)."""
    from troth.audit.unreadable import audit_refusal

    for column in sorted({c for r in records for c in r.unreadable}):
        audit_refusal(ctx, tampered_value(column), during, actor)
