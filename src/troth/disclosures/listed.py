"""A legal demand's row in the demands' list when it holds a value troth never writes (an
empty or garbled gag, a status no troth knows: changed outside troth): listed flagged,
not refused, so one such row never hides the others (:func:`troth.disclosures.demands.
list_demands`, which audits the rows met once per process). Each such field is None, its
column named in ``unreadable``, never the value; every step on the demand still reads it
strictly (:func:`~troth.disclosures.demands.demand_row`) and is refused."""

from __future__ import annotations

from enum import Enum
from typing import Any

from sqlalchemy import Connection, select

from troth.disclosures.demands import DemandStatus, LegalDemand, LegalInstrument
from troth.disclosures.tables import legal_demands
from troth.errors import NotFound
from troth.stored import is_unreadable, member, tolerating


def listed_demand(conn: Connection, demand_id: str) -> LegalDemand:
    """The demand ``demand_id`` as the list shows it (see the module)."""
    with tolerating():
        row = conn.execute(select(legal_demands).where(legal_demands.c.id == demand_id)).first()
    if row is None:
        raise NotFound(f"no legal demand {demand_id!r}")
    bad: list[str] = []

    def read(name: str, of: type[Enum] | None = None) -> Any:
        value = getattr(row, name)
        if is_unreadable(value):
            bad.append(value.column)
            return None
        return member(of, value, f"legal_demands.{name}") if of is not None else value

    categories = read("categories")
    return LegalDemand(
        row.id,
        row.authority,
        row.recipient,
        read("instrument", LegalInstrument),
        row.reference,
        row.scope,
        read("received_at"),
        read("gag_until"),
        read("status", DemandStatus),
        read("notified_at"),
        tuple(categories) if isinstance(categories, list) else None,
        read("period_from"),
        read("period_until"),
        unreadable=tuple(bad),
    )
