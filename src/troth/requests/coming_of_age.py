"""A parent's authority ends when the child comes of age (trial 10: a parent kept acting for
a son who had turned 18). For a request made on someone's behalf, the person's stored date
of birth (the policy's ``age_field`` values, read from troth's own store) says whether they
are an adult now, counted on the calendar date where the person is (their regime's time
zone, as :mod:`troth.collection.minors` counts). Such a request is flagged, never refused
(an agent may be an attorney): the record shows it before verification and the staff
verification's audit entry records it."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from troth.collection.validation import (
    age_of,
    local_today,
    parse_date,
    parse_datetime,
    person_zone,
)
from troth.errors import ValidationError
from troth.policy.model import FieldType
from troth.store.tables import subjects
from troth.store.values import read_values

if TYPE_CHECKING:
    from troth.context import Context

ADULT = 18


def warning(adult_since: date) -> str:
    """What the record and the staff verification step say."""
    return (
        f"the person came of age on {adult_since.isoformat()}: an authority a parent held has"
        " ended; check the person's own authorisation"
    )


def adult_since(conn: Connection, ctx: Context, subject_id: str) -> date | None:
    """The day the person turned 18, where a stored date of birth says they are an adult
    today (where they are); None when none does (no date of birth, a minor, an age given
    in years, or a person erased)."""
    idx = ctx.policy
    ages = {(cp.id, cp.age_field) for cp in idx.points.values() if cp.age_field}
    if not ages:
        return None
    juris = conn.execute(
        select(subjects.c.jurisdiction).where(subjects.c.id == subject_id)
    ).scalar()
    org = idx.policy.organisation
    zone = person_zone(org, juris)
    today = local_today(org, juris, ctx.clock.now())
    found: list[date] = []
    for v in read_values(conn, ctx, subject_id):
        if (v.collection_point, v.field) not in ages or v.collection_point is None:
            continue
        spec = idx.points[v.collection_point].fields.get(v.field)
        try:
            age = age_of(spec, v.value, today, zone) if spec else None
            born = _born(spec, v.value, zone)
        except (ValidationError, ValueError, TypeError):
            continue  # not a date of birth: nothing to say
        if age is not None and age >= ADULT and born is not None:
            found.append(_birthday(born, ADULT))
    return min(found) if found else None


def _born(spec: Any, value: Any, zone: Any) -> date | None:
    if spec.type is FieldType.date:
        return parse_date(value)
    if spec.type is FieldType.datetime:
        at = parse_datetime(value)
        return (at.astimezone(zone) if at.tzinfo else at).date()
    return None  # an age in years: no date to name


def _birthday(born: date, years: int) -> date:
    """The ``years``-th birthday (29 February's on 1 March in other years, as ages count)."""
    try:
        return born.replace(year=born.year + years)
    except ValueError:
        return date(born.year + years, 3, 1)
