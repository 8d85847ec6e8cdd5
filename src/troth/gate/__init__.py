"""The gate: one pure function decides every operation on personal data.

``decide(index, ask, facts)`` takes the compiled policy, the question (who wants to do
what with which categories of whose data, for what purpose, when) and the facts troth
knows (consent, restrictions, memberships, grants, notices) and returns a
:class:`Decision`: allowed, refused with a :class:`Reason`, or allowed with some
categories masked. It reads no database and no clock, so it is fast and exhaustively
testable; the engine gathers facts, asks, applies the answer and audits it.

``bind_record`` is the same reasoning one level down: may this stored value (collected at
a point, for purposes, under a version) serve this purpose now?

The rooms: :mod:`troth.gate.model` (what the gate reasons about: actors, asks, facts,
decisions, reasons), :mod:`troth.gate.decision` (``decide``, ``decide_power``, and
``telling_reason``, the one reason of a refusal in which everything asked was hidden),
:mod:`troth.gate.binding` (``bind_record``, ``value_reason``), :mod:`troth.gate.records`
(``decide_record``; one consent by its purpose: :mod:`troth.gate.consents`) and
:mod:`troth.gate.facts`, the one place facts are gathered and built
(it reads the database; the others read nothing). Import the public names from here.
"""

from __future__ import annotations

from troth.gate.binding import StoredValueLike, bind_record, value_reason
from troth.gate.decision import (
    REFUSAL_PRECEDENCE,
    TRANSACTION_CATEGORIES,
    decide,
    decide_power,
    office_scope,
    staff_need_grant,
    telling_reason,
)
from troth.gate.model import (
    SYSTEM,
    Actor,
    ActorKind,
    Ask,
    Decision,
    Facts,
    Grant,
    Operation,
    Reason,
)
from troth.gate.records import RECORD_POWERS, RECORD_SCOPES, Record, decide_record

__all__ = [
    "RECORD_POWERS",
    "RECORD_SCOPES",
    "REFUSAL_PRECEDENCE",
    "SYSTEM",
    "TRANSACTION_CATEGORIES",
    "Actor",
    "ActorKind",
    "Ask",
    "Decision",
    "Facts",
    "Grant",
    "Operation",
    "Reason",
    "Record",
    "StoredValueLike",
    "bind_record",
    "decide",
    "decide_power",
    "decide_record",
    "office_scope",
    "staff_need_grant",
    "telling_reason",
    "value_reason",
]
