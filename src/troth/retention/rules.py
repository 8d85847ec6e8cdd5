"""The retention rules of the policy at one instant, as SQL: which stored values have
expired (every purpose they serve has passed its period, P30) and by which action, and
which of them a legal hold keeps; how anonymisation treats each field."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import (
    ColumnElement,
    Connection,
    Text,
    and_,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)

from troth.consent.tables import consent_state
from troth.context import Context
from troth.db import UtcDateTime
from troth.dialects import find_dialect, reported_name
from troth.errors import ValidationError
from troth.policy.index import PolicyIndex
from troth.policy.model import FieldType, RetentionAction, RetentionClock
from troth.retention.tables import legal_holds
from troth.store.tables import records, subjects

# Categories that identify a person: anonymisation drops them instead of generalising.
IDENTIFYING_CATEGORIES = frozenset(
    {
        "identity",
        "contact",
        "business_contact",
        "shipping_address",
        "payment_card",
        "financial",
        "credentials",
        "government_id",
        "location",
        "company",
    }
)
# Numbers are generalised to bands of this width (37 -> "30-39").
NUMBER_BAND = 10


class Disposition(StrEnum):
    """What anonymisation does to one collected field."""

    drop = "drop"
    keep = "keep"
    month = "month"  # dates and times -> "YYYY-MM"
    band = "band"  # numbers -> "30-39"


@dataclass(frozen=True)
class Rule:
    """One purpose's retention rule at one instant: its clock, its action, its cut."""

    purpose: str
    clock: RetentionClock
    action: RetentionAction
    cut: datetime  # anchor before this: keep_for has passed
    # Consent-based: the period also runs from the withdrawal, unsubscription or erasure
    # that ended the consent (no consent recorded: from collection) (P30).
    consent: bool = False
    # Marketing or a mailing list on another basis: an opt-out (unsubscribe, objection)
    # also starts the period.
    opt_out: bool = False
    # The purpose names a legal minimum: the law may be why its period is what it is.
    legal: bool = False


class Expiry:
    """Which rows have expired at one instant, by which action, and which are held."""

    def __init__(self, ctx: Context, now: datetime) -> None:
        self.ctx = ctx
        self.now = now
        dialect = find_dialect(ctx.engine)
        if dialect is None or not dialect.own_database:
            name = reported_name(ctx.engine)
            raise ValidationError(f"retention runs on SQLite and PostgreSQL, not {name}")
        self.dialect = dialect
        idx = ctx.policy_at(now)
        self.rules = compile_rules(idx, now)
        # Business contact details exempt from consent (P05) never needed one: no consent
        # recorded does not start their clock.
        self.consent_exempt = sorted(c for c in idx.categories if idx.exempt_from(c, "consent"))
        # The (purposes, version, category) kinds of row records actually carry (a handful):
        # each one's expiry and action are decided here (:class:`troth.retention.versions.
        # RuleSets`), so the per-row test is a few text comparisons and a date comparison.
        from troth.retention.versions import RuleSets

        p_text = cast(records.c.purposes, Text)
        with ctx.engine.connect() as conn:
            kinds = conn.execute(
                select(p_text, records.c.policy_version, records.c.category)
                .where(records.c.anonymised.is_(False))
                .distinct()
            ).all()
            self.sets = RuleSets(conn, idx, self.rules, now).build(kinds)
            # Held: the person's own mark, or an active hold on them in legal_holds (where
            # holds are recorded; a mark cleared outside troth keeps the data held).
            self.held_subjects = list(
                conn.execute(
                    select(subjects.c.id)
                    .where(subjects.c.legal_hold.is_not(None))
                    .union(_ACTIVE_PERSON_HOLDS)
                    .limit(1001)
                ).scalars()
            )
            self.tenant_holds = (
                conn.execute(
                    select(legal_holds.c.id)
                    .where(legal_holds.c.tenant_id.is_not(None), legal_holds.c.lifted_at.is_(None))
                    .limit(1)
                ).first()
                is not None
            )

    # -- building blocks -------------------------------------------------------------
    def _set_expired(self, r: Any, purposes: list[list[Rule]]) -> ColumnElement[bool]:
        """Every purpose of the set has passed its period (a purpose with two rules, its
        version's and the one in effect, when either has): plain single rules grouped by
        clock (the latest cut decides), the others each on their own, since a consent
        purpose's period may also run from the end of the person's consent."""
        conds: list[ColumnElement[bool]] = []
        coll: list[datetime] = []
        rel: list[datetime] = []
        for rules in purposes:
            if len(rules) == 1 and not rules[0].opt_out:
                only = rules[0]
                (coll if only.clock is RetentionClock.collection else rel).append(only.cut)
            else:
                conds.append(or_(*(self._rule_expired(r, rule) for rule in rules)))
        if coll:
            conds.append(r.c.collected_at < literal(min(coll), UtcDateTime))
        if rel:
            conds.append(self._relationship_ended(r, min(rel)))
        return and_(*conds)

    def _rule_expired(self, r: Any, rule: Rule) -> ColumnElement[bool]:
        clock = (
            r.c.collected_at < literal(rule.cut, UtcDateTime)
            if rule.clock is RetentionClock.collection
            else self._relationship_ended(r, rule.cut)
        )
        return or_(clock, self._consent_ended(r, rule)) if rule.opt_out else clock

    @staticmethod
    def _relationship_ended(r: Any, cut: datetime) -> ColumnElement[bool]:
        return exists(
            select(literal(1)).where(
                subjects.c.id == r.c.subject_id,
                subjects.c.relationship_ended_at < literal(cut, UtcDateTime),
            )
        )

    def _consent_ended(self, r: Any, rule: Rule) -> ColumnElement[bool]:
        """The person's consent to (or acceptance of) the purpose ended before the cut:
        withdrawn, unsubscribed, opted out or erased; for a consent purpose, also none ever
        recorded (counted from collection). A re-consent restarts the period."""
        s = consent_state.c
        mine = and_(s.subject_id == r.c.subject_id, s.purpose == rule.purpose)
        ended = exists(
            select(literal(1)).where(
                mine, s.granted.is_(False), s.at < literal(rule.cut, UtcDateTime)
            )
        )
        if not rule.consent:
            return ended
        never = and_(
            ~exists(select(literal(1)).where(mine)),
            r.c.collected_at < literal(rule.cut, UtcDateTime),
            r.c.category.not_in(self.consent_exempt) if self.consent_exempt else true(),
        )
        return or_(ended, never)

    def expired(self, r: Any, action: RetentionAction) -> ColumnElement[bool]:
        """Rows whose every purpose has expired and whose action is ``action``, plus, for
        delete, rows a deletion request kept until a day now past."""
        p_text = cast(r.c.purposes, Text)
        branches = [
            and_(p_text == kind.purposes, *kind.narrowed(r), self._set_expired(r, rules))
            for kind, (a, rules) in self.sets.items()
            if a is action
        ]
        if action is RetentionAction.delete:
            branches.append(
                and_(r.c.restricted_until.is_not(None), r.c.restricted_until < self.now.date())
            )
        if not branches:
            return false()
        return and_(r.c.anonymised.is_(False), or_(*branches))

    def not_held(self, r: Any) -> ColumnElement[bool]:
        conds: list[ColumnElement[bool]] = []
        if len(self.held_subjects) > 1000:
            conds.append(
                ~exists(
                    select(literal(1)).where(
                        subjects.c.id == r.c.subject_id, subjects.c.legal_hold.is_not(None)
                    )
                )
            )
            conds.append(r.c.subject_id.not_in(_ACTIVE_PERSON_HOLDS))
        elif self.held_subjects:
            conds.append(r.c.subject_id.not_in(self.held_subjects))
        if self.tenant_holds:
            held_tenants = select(legal_holds.c.tenant_id).where(
                legal_holds.c.tenant_id.is_not(None), legal_holds.c.lifted_at.is_(None)
            )
            conds.append(or_(r.c.tenant_id.is_(None), r.c.tenant_id.not_in(held_tenants)))
        return and_(true(), *conds)

    def held_counts(self, conn: Connection) -> Counter[str]:
        r = records.alias("r")
        any_expired = or_(*(self.expired(r, a) for a in RetentionAction))
        stmt = (
            select(r.c.category, func.count())
            .where(any_expired, not_(self.not_held(r)))
            .group_by(r.c.category)
        )
        return Counter({cat: n for cat, n in conn.execute(stmt)})

    def batch_ids(self, action: RetentionAction, after: int, n: int, extra: Any = None) -> Any:
        """The next ``n`` records due for ``action`` after the id ``after``: their ids and
        their people's (``extra``, a condition on the records, narrows them)."""
        r = records.alias("r")
        stmt = select(r.c.id, r.c.subject_id).where(
            r.c.id > after, self.expired(r, action), self.not_held(r)
        )
        if extra is not None:
            stmt = stmt.where(extra(r))
        return stmt.order_by(r.c.id).limit(n)


_ACTIVE_PERSON_HOLDS = select(legal_holds.c.subject_id).where(
    legal_holds.c.subject_id.is_not(None), legal_holds.c.lifted_at.is_(None)
)


def compile_rules(idx: PolicyIndex, now: datetime) -> dict[str, Rule]:
    """Each purpose's retention rule at ``now`` (a purpose without one keeps what it
    serves)."""
    list_purposes = {lst.purpose for lst in idx.policy.lists} | {
        p.id for p in idx.policy.purposes if p.marketing
    }
    rules: dict[str, Rule] = {}
    for p in idx.purposes.values():
        ret = p.retention
        if ret is None:
            continue
        keep = relativedelta(
            years=ret.keep_for.years, months=ret.keep_for.months, days=ret.keep_for.days
        )
        # The policy validator guarantees keep_for >= legal_minimum (P25, P30).
        consent = p.id in idx.consent_purposes
        rules[p.id] = Rule(
            p.id,
            ret.after,
            ret.then,
            now - keep,
            consent=consent,
            opt_out=consent or p.id in list_purposes,
            legal=ret.legal_minimum is not None,
        )
    return rules


def purpose_list(value: Any) -> list[str]:
    """A record's purposes, from their stored JSON text (or parsed); none for a value
    troth never writes (not a JSON list: changed outside troth), so that no rule acts on
    it (the run's seal check skips its row too, and `troth audit verify` names it)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    if value is not None and not isinstance(value, list):
        return []
    return [str(p) for p in value or ()]


def dispositions(ctx: Context) -> dict[tuple[str, str], Disposition]:
    """How anonymisation treats each (collection point, field) the policy declares."""
    out: dict[tuple[str, str], Disposition] = {}
    idx = ctx.policy
    for cp_id, fields in idx.point_fields.items():
        for fname, spec in fields.items():
            if (
                spec.identifies
                or spec.category in IDENTIFYING_CATEGORIES
                or idx.is_sensitive(spec.category)
                or spec.type in (FieldType.email, FieldType.phone, FieldType.text)
            ):
                d = Disposition.drop
            elif spec.type in (FieldType.date, FieldType.datetime):
                d = Disposition.month
            elif spec.type in (FieldType.integer, FieldType.number):
                d = Disposition.band
            else:
                d = Disposition.keep
            out[(cp_id, fname)] = d
    return out
