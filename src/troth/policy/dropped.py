"""What a removal means for data already held (P30, P36): a purpose a new version drops,
or a category it no longer uses for a purpose, keeps nothing once that version is in
effect, so a value none of whose purposes is left is removed at the next retention run
(:mod:`troth.retention.versions`). A removal is a minor change, but not a silent one:
:func:`dropped_warnings` says what happens to the data, with how many values are held
where the home's data is at hand (:func:`held_kinds`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from sqlalchemy import Connection, Text, cast, func, select

from troth.policy.model import Policy

# Values held, by (purposes, category): the purposes as a tuple.
Held = Mapping[tuple[tuple[str, ...], str], int]


def _uses(policy: Policy) -> set[tuple[str, str]]:
    return {(p.id, c) for p in policy.purposes for c in p.categories}


def dropped_uses(old: Policy, new: Policy) -> list[tuple[str, str]]:
    """(purpose, category) pairs ``old`` has and ``new`` does not: a dropped purpose, a
    category a purpose no longer uses, a category removed from the policy."""
    return sorted(_uses(old) - _uses(new))


def held_kinds(conn: Connection) -> Held:
    """How many values (not yet anonymised) are held for each (purposes, category)."""
    from troth.retention.rules import purpose_list
    from troth.store.tables import records

    r = records.c
    text = cast(r.purposes, Text)
    out: Counter[tuple[tuple[str, ...], str]] = Counter()
    for purposes, category, n in conn.execute(
        select(text, r.category, func.count())
        .where(r.anonymised.is_(False))
        .group_by(text, r.category)
    ):
        out[(tuple(purpose_list(purposes)), str(category))] += int(n)
    return out


def dropped_warnings(
    old: Policy, new: Policy, held: Held | None = None, when: str | None = None
) -> list[str]:
    """One sentence per purpose a removal leaves without data it served: what becomes of
    the values (with ``held``, how many there are; ``when``, the day the new version takes
    effect)."""
    dropped = dropped_uses(old, new)
    if not dropped:
        return []
    new_uses = _uses(new)
    by_purpose: dict[str, list[str]] = {}
    for purpose, category in dropped:
        by_purpose.setdefault(purpose, []).append(category)
    kept = {p.id for p in new.purposes}
    start = f"once version {new.version} takes effect" + (f" ({when})" if when else "")
    then = (
        "deleted (or anonymised, as its retention says) at the first retention run after"
        " that, whatever period they had left (a legal minimum it named still holds)"
    )
    out = []
    for purpose, categories in sorted(by_purpose.items()):
        what = (
            f"purpose {purpose!r} is removed"
            if purpose not in kept
            else f"purpose {purpose!r} no longer uses {', '.join(categories)}"
        )
        held_here = "values that serve no other purpose are"
        if held is not None:
            total = gone = 0
            for (purposes, category), n in held.items():
                if purpose in purposes and category in categories:
                    total += n
                    if all((p, category) not in new_uses for p in purposes):
                        gone += n
            if not total:
                continue  # nothing held for it: nothing to say
            held_here = f"{total} value(s) are held for it, {gone} serving no other purpose:"
        keeps = "no data" if purpose not in kept else f"no {', '.join(categories)} data"
        out.append(f"{what}: {start} it keeps {keeps}; {held_here} {then}")
    return out
