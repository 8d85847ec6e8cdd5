"""What a use may say about what it withheld, for one person. A masked list or a refusal
that names a field or category the person holds tells the reader the person holds it:
"allergies: masked" on one patient and nothing on another says who has allergies. So
what is said about the withheld never depends on data the actor may not see:

- the categories asked for a person (when the caller names none) are those held that the
  actor could ever see for the purpose (:func:`reachable_categories`: the purpose's, and
  the staff role's or the key's scopes'), or, when the person holds none of them, the
  purpose's own: a fixed list for everyone (a refusal may name those: it says what the
  policy keeps from the actor, not what the person holds);
- a masked field is named (:func:`named_masks`) only when the actor could see its category
  for this purpose, lifted by a consent or a grant or not; and, for a sensitive category,
  only when the category itself is allowed and the value alone was held back (what is
  said of health data never depends on a consent or grant the actor lacks);
- a refusal of what the person holds names only such categories (:func:`person_refusal`),
  else none.

And how what is revealed reads (:func:`shown_to`): a field that declares ``mask:`` (a card
number) is read masked by a staff role or a customer's member role that lists its category
in ``masked``, and by everyone on a customer's side that no member role lets read it whole:
a customer's admin or member without a role, and a key bound to a customer (it has scopes,
never a role). Nobody at a customer reads a card number in clear unless the policy gives
them a role that reads its category unmasked (PCI DSS 3.4).

And what a disclosure hands over (:func:`disclosed_to`), once :func:`troth.gate.decide`
let the actor make it: for a purpose whose legal basis is a legal obligation (a hotel's
guest register to the police, a report under a statutory duty or a legal demand) each
value as held, whoever makes it (the law requires the value, not its mask: a masked
passport number is a false filing); for any other purpose, a customer's people pass on
what they read (:func:`shown_to`), and the fields that went masked are named, so that the
register and the person's list never claim a value was sent whole when its mask was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

from troth.gate.binding import StoredValueLike, value_reason
from troth.gate.decision import explain, names_categories, scope_allows, telling_reason
from troth.gate.members import MEMBERS
from troth.gate.model import Actor, ActorKind, Decision, Facts, Operation, Reason
from troth.policy.index import PolicyIndex
from troth.policy.masking import masked_for_role, shown
from troth.policy.model import LegalBasis

if TYPE_CHECKING:
    from troth.store.values import StoredValue


def reachable_categories(index: PolicyIndex, actor: Actor, purpose: str) -> frozenset[str]:
    """The categories ``actor`` could ever be shown for ``purpose`` (the policy alone, not
    the person): those the purpose declares; for staff (and a customer's member with a
    role), of those their role's; for an API key, of those its scopes cover."""
    declared = index.purpose_categories.get(purpose, frozenset())
    if actor.kind is ActorKind.staff or (actor.kind in MEMBERS and actor.role is not None):
        return declared & index.role_categories.get(actor.role or "", frozenset())
    if actor.kind is ActorKind.application:
        return frozenset(c for c in declared if scope_allows(actor, Operation.use, purpose, c))
    return declared


def person_ask(
    index: PolicyIndex, actor: Actor, purpose: str, held: Iterable[str]
) -> tuple[tuple[str, ...], bool]:
    """The categories to ask the gate for when a use names none, sorted, and whether they
    are the person's: those they hold that the actor could ever see; else (they hold
    none) the purpose's own, a list fixed by the policy (not the person's)."""
    if purpose not in index.purposes and index.coming is not None:
        index = index.coming  # a purpose a version waiting for its date adds: its categories
    reach = reachable_categories(index, actor, purpose)
    mine = reach.intersection(held)
    if mine:
        return tuple(sorted(mine)), True
    return tuple(sorted(index.purpose_categories.get(purpose, frozenset()))), False


class FieldValueLike(StoredValueLike, Protocol):
    """A stored value with its field's name."""

    @property
    def field(self) -> str: ...


_V = TypeVar("_V", bound=FieldValueLike)


def sort_values(
    index: PolicyIndex,
    actor: Actor,
    purpose: str,
    decision: Decision,
    facts: Facts,
    now: datetime,
    stored: Sequence[_V],
) -> tuple[list[_V], dict[str, str], list[tuple[str, Reason]]]:
    """Sort a person's values for an allowed use: those that may be revealed; field ->
    reason for the withheld fields that may be named (:func:`named_masks`, none also
    revealed: one field may hold values that serve the purpose and values that do not);
    and (category, why) of each withheld value the actor could see for the purpose, for
    :func:`troth.gate.telling_reason` should nothing be revealed."""
    if not decision.allowed:
        return [], {}, []
    reach = reachable_categories(index, actor, purpose)
    visible: list[_V] = []
    masked: dict[str, tuple[str, str]] = {}
    hidden: list[tuple[str, Reason]] = []
    for v in stored:
        if v.category in decision.categories:
            why = value_reason(index, v, purpose, now, facts)
        else:
            why = decision.masked.get(v.category, Reason.purpose_not_declared_for_category)
        if why is None:
            visible.append(v)
            continue
        masked[v.field] = (v.category, why.value)
        if v.category in reach:
            hidden.append((v.category, why))
    shown = {v.field for v in visible}
    named = named_masks(index, actor, purpose, decision, masked)
    return visible, {f: why for f, why in named.items() if f not in shown}, hidden


def nothing_revealed(
    index: PolicyIndex,
    purpose: str,
    asked: Sequence[str],
    decision: Decision,
    hidden: Sequence[tuple[str, Reason]],
) -> Decision:
    """The refusal of an allowed use of a person's values that reveals none of them: the
    most telling reason of those withheld (:func:`troth.gate.telling_reason`); when the
    person holds none the actor could see for the purpose, ``nothing_held`` (the purpose
    does declare what was asked: nothing is wrong with the policy), naming only what was
    asked (the purpose's own categories, the same for everyone, when the caller named
    none: :func:`person_ask`)."""
    if not hidden:
        return Decision(
            False,
            Reason.nothing_held,
            frozenset(),
            decision.masked,
            f"this person holds nothing {purpose!r} may use ({', '.join(asked)}):"
            f" {Reason.nothing_held.value}",
        )
    first, _ = telling_reason(index, purpose, hidden)
    return Decision(
        False,
        first,
        frozenset(),
        decision.masked,
        f"none of this person's data may serve {purpose!r}: {first.value}",
    )


def nameable(
    index: PolicyIndex, actor: Actor, purpose: str, decision: Decision, category: str
) -> bool:
    """May a withheld value of ``category`` be named to ``actor``? See the module."""
    if category not in reachable_categories(index, actor, purpose):
        return False
    return not index.is_sensitive(category) or category in decision.categories


def named_masks(
    index: PolicyIndex,
    actor: Actor,
    purpose: str,
    decision: Decision,
    masked: Mapping[str, tuple[str, str]],
) -> dict[str, str]:
    """Of ``masked`` (field -> (category, reason)), field -> reason for those that may be
    named (:func:`nameable`)."""
    return {
        f: why for f, (cat, why) in masked.items() if nameable(index, actor, purpose, decision, cat)
    }


def person_refusal(index: PolicyIndex, actor: Actor, purpose: str, decision: Decision) -> Decision:
    """``decision`` (a refusal of everything asked for a person) with a message naming
    only the categories that may be named, or none."""
    reason = decision.reason
    if decision.allowed or reason is None or not decision.masked or not names_categories(reason):
        return decision
    named = tuple(
        sorted(
            c
            for c, r in decision.masked.items()
            if r is reason and nameable(index, actor, purpose, decision, c)
        )
    )
    detail = explain(reason, purpose, named or (UNNAMED,))
    return Decision(False, reason, frozenset(), decision.masked, detail)


# What a refusal says in place of categories it may not name: the same for everyone.
UNNAMED = "the data held"


def customer_side(actor: Actor) -> bool:
    """Is ``actor`` one of a customer's: its admin or member, or a key bound to it?"""
    return actor.kind in MEMBERS or (
        actor.kind is ActorKind.application and actor.tenant_id is not None
    )


def as_held(actor: Actor, facts: Facts) -> Actor:
    """``actor`` with the role a customer's member holds now (``facts.member_role``, read
    with their membership), not the one their session began with."""
    if actor.kind in MEMBERS and actor.role != facts.member_role:
        return replace(actor, role=facts.member_role)
    return actor


def shown_to(index: PolicyIndex, actor: Actor, values: list[StoredValue]) -> list[StoredValue]:
    """``values`` (those the gate lets a use or a disclosure reveal) as ``actor`` reads
    them (a member's ``role`` the one held now: :func:`as_held`). Staff, and a customer's
    member with a role the policy declares for members: each value of a category the role
    reads ``masked`` is its field's mask. Anyone else on a customer's side (an admin or a
    member without a role, a key bound to the customer): each value whose field declares
    ``mask:``. The vendor's keys, its admins, the person and troth itself: unchanged."""
    if actor.kind is ActorKind.staff:
        return masked_for_role(index, actor.role, values)
    if not customer_side(actor):
        return values
    if actor.kind in MEMBERS and actor.role in index.member_roles:
        return masked_for_role(index, actor.role, values)
    return [replace(v, value=shown(index, v.collection_point, v.field, v.value)) for v in values]


def disclosed_to(
    index: PolicyIndex, actor: Actor, facts: Facts, purpose: str, values: list[StoredValue]
) -> tuple[list[StoredValue], tuple[str, ...]]:
    """``values`` (those the gate lets a disclosure by ``actor`` send for ``purpose``) as
    the recipient gets them, and the fields sent as their mask, once each (none: every
    value went as held). For a legal obligation, as held: the discloser's reading masks
    say what their screen shows, not what the law makes them hand over, and the gate has
    already decided they may make the disclosure (their role or their key's scopes). For
    any other purpose, on a customer's side, as the actor reads them (:func:`shown_to`)."""
    declared = index.purposes.get(purpose)
    lawful = declared is not None and declared.legal_basis is LegalBasis.legal_obligation
    if lawful or not customer_side(actor):
        return values, ()
    sent = shown_to(index, as_held(actor, facts), values)
    masked = (s.field for s, v in zip(sent, values, strict=True) if s.value != v.value)
    return sent, tuple(dict.fromkeys(masked))
