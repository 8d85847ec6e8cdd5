"""What a disclosure hands over: every value sent, one entry each (a person may hold two
names, both sent, or one sent and one withheld), and every value held back with why (its
value left out: what is not sent is not shown)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from troth.store.plain import plain_fields
from troth.store.values import StoredValue


@dataclass(frozen=True)
class DisclosedValue:
    """One value sent to the recipient."""

    field: str
    category: str
    value: Any
    collected_at: datetime

    @classmethod
    def of(cls, v: StoredValue) -> DisclosedValue:
        return cls(v.field, v.category, v.value, v.collected_at)

    def to_dict(self) -> dict[str, Any]:
        return plain_fields(self, verbatim=("value",))


@dataclass(frozen=True)
class WithheldValue:
    """One value of the categories disclosed that was not sent, and why (a reason code)."""

    field: str
    category: str
    collected_at: datetime
    reason: str

    @classmethod
    def of(cls, v: StoredValue, reason: str) -> WithheldValue:
        return cls(v.field, v.category, v.collected_at, reason)

    def to_dict(self) -> dict[str, Any]:
        return plain_fields(self)


@dataclass(frozen=True)
class DisclosurePackage:
    """What goes to the recipient: each value sent (``values``), nothing else; ``fields``
    and ``categories`` name them once each; ``withheld`` lists each value not sent;
    ``masked`` names the fields whose values went as their mask (``•••• 1111``), not as
    held (:func:`troth.gate.masks.disclosed_to`): the register and the person's list say
    the same."""

    id: str
    subject_id: str
    recipient: str
    purpose: str
    values: tuple[DisclosedValue, ...]
    categories: tuple[str, ...]
    fields: tuple[str, ...]
    at: datetime
    location: str
    transfer_safeguard: str | None = None
    legal_demand_id: str | None = None
    withheld: tuple[WithheldValue, ...] = ()
    # The law it was reported under, for a recipient with a standing statutory duty.
    statutory_duty: str | None = None
    # The fields sent masked (a customer's people pass on what they read, but for a
    # legal obligation); empty: every value went as held.
    masked: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return plain_fields(self)
