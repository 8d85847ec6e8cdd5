"""Retention across versions of the policy (P30, P36): which rule ends each kind of stored
value, when the version it was collected under is not the one in effect.

- A value is never kept longer than the version it was collected under said: a purpose
  whose period a later version lengthened ends the value at the shorter of the two (the
  person was told the shorter one when the value was collected), unless the version in
  effect names a legal minimum for the purpose (the law may be why it is longer). A
  shorter period in the version in effect applies to every value.
- A purpose the version in effect no longer has, or that no longer uses the value's
  category, keeps nothing: once that version is in effect it counts as ended, so a value
  none of whose purposes is left is deleted (or anonymised, or crypto-shredded, as its
  version said) at the next retention run, audited like every removal. A purpose whose
  old rule named a legal minimum keeps that rule.
- A value collected under a version that was never published (a policy file edited by
  hand) follows the version in effect alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, select

from troth.errors import PolicyError
from troth.policy.index import PolicyIndex
from troth.policy.loader import parse_policy
from troth.policy.model import RetentionAction, RetentionClock
from troth.retention.rules import Rule, compile_rules, purpose_list

# What ends one kind of value: the action, and for each of its purposes the rules any one
# of which ends it there.
Decided = tuple[RetentionAction, list[list[Rule]]]


@dataclass(frozen=True)
class Kind:
    """Stored values by their purposes (as records carry them), narrowed, where the rules
    differ, to those collected under one version and of one category."""

    purposes: str
    version: str | None = None
    category: str | None = None

    def narrowed(self, r: Any) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.version is not None:
            out.append(r.c.policy_version == self.version)
        if self.category is not None:
            out.append(r.c.category == self.category)
        return out


@dataclass(frozen=True)
class _Version:
    index: PolicyIndex
    rules: dict[str, Rule]


class RuleSets:
    """The rules of each kind of stored value at ``now``, under the version in effect
    ``idx`` (whose rules are ``rules``) and the versions the values were collected under."""

    def __init__(
        self, conn: Connection, idx: PolicyIndex, rules: dict[str, Rule], now: datetime
    ) -> None:
        self.conn = conn
        self.idx = idx
        self.rules = rules
        self.now = now
        self._versions: dict[str, _Version | None] = {idx.version: _Version(idx, rules)}

    def build(self, kinds: Iterable[Sequence[Any]]) -> dict[Kind, Decided]:
        """The rules of each (purposes, version, category) found, grouped back to one kind
        per purposes where the version and category change nothing."""
        found: dict[str, dict[tuple[str, str], Decided | None]] = {}
        for text, version, category in kinds:
            if text is not None:
                found.setdefault(text, {})[(version, category)] = self.decide(
                    text, version, category
                )
        out: dict[Kind, Decided] = {}
        for text, by in found.items():
            if _same(by.values()):
                _put(out, Kind(text), next(iter(by.values())))
                continue
            versions = {v for v, _ in by}
            for version in versions:
                mine = {c: d for (v, c), d in by.items() if v == version}
                if _same(mine.values()):
                    _put(out, Kind(text, version), next(iter(mine.values())))
                else:
                    for category, d in mine.items():
                        _put(out, Kind(text, version, category), d)
        return out

    def decide(self, text: str, version: str, category: str) -> Decided | None:
        """The action and rules of values of ``category`` collected under ``version`` for
        the purposes ``text``; None when one purpose keeps what it serves (no period)."""
        purposes = purpose_list(text)
        if not purposes:
            return None
        then = self._version(version)
        chosen: list[list[Rule]] = []
        for p in purposes:
            rules = self._purpose_rules(p, category, then)
            if rules is None:
                return None
            chosen.append(rules)
        actions = {rules[0].action for rules in chosen}
        # Anonymise if any purpose anonymises (the statistics still need the rows;
        # anonymous data is not personal data), else crypto-shred, else delete.
        action = next(
            (a for a in (RetentionAction.anonymise, RetentionAction.crypto_shred) if a in actions),
            RetentionAction.delete,
        )
        return action, chosen

    def _purpose_rules(self, p: str, category: str, then: _Version | None) -> list[Rule] | None:
        old = then.rules.get(p) if then is not None else None
        if p not in self.idx.purposes or (
            then is not None
            and then.index.purpose_allows(p, category)
            and not self.idx.purpose_allows(p, category)
        ):
            # Dropped (the purpose, or its use of this category): it keeps nothing.
            if old is not None and old.legal:
                return [old]
            action = old.action if old is not None else RetentionAction.delete
            return [Rule(p, RetentionClock.collection, action, self.now)]
        current = self.rules.get(p)
        if current is None:
            return None if old is None else [old]
        if old is None or old == current or current.legal:
            return [current]
        # Whichever ends first: never longer than the version it was collected under.
        old = dataclasses.replace(old, action=current.action)
        if old.clock is current.clock and not (old.opt_out or current.opt_out):
            return [dataclasses.replace(current, cut=max(current.cut, old.cut))]
        return [current, old]

    def _version(self, version: str) -> _Version | None:
        """The version ``version`` as published, compiled once per run (None: it was never
        published, or no longer reads)."""
        if version not in self._versions:
            from troth.policy.versions import policy_versions

            v = policy_versions.c
            text = self.conn.execute(select(v.text).where(v.version == version)).scalar()
            found: _Version | None = None
            if text is not None:
                try:
                    index = PolicyIndex.build(
                        parse_policy(text, f"published {version}", lawful=False), text
                    )
                    found = _Version(index, compile_rules(index, self.now))
                except PolicyError:
                    found = None
            self._versions[version] = found
        return self._versions[version]


def _same(decisions: Iterable[Decided | None]) -> bool:
    items = list(decisions)
    return all(d == items[0] for d in items[1:])


def _put(out: dict[Kind, Decided], kind: Kind, decided: Decided | None) -> None:
    if decided is not None:
        out[kind] = decided
