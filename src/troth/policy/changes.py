"""What a difference between two versions of a policy is: each :class:`Change`, classified
material or minor, and the :class:`PolicyDiff` that holds them (P34);
:class:`Differ` records them as :func:`troth.policy.diff.diff_policies` compares."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ChangeKind(StrEnum):
    added = "added"
    removed = "removed"
    changed = "changed"


class Severity(StrEnum):
    material = "material"
    minor = "minor"


@dataclass(frozen=True, slots=True)
class Change:
    """One difference. ``item`` names the part of the element (``categories[billing]``,
    ``retention.keep_for``); ``before``/``after`` carry changed values."""

    kind: ChangeKind
    section: str
    id: str
    detail: str
    severity: Severity
    item: str = ""
    before: str | None = None
    after: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.section, self.id, self.item)

    @property
    def sentence(self) -> str:
        """The change read on its own: what it is about (the purpose, collection point,
        recipient... by id) and then ``detail``, e.g. ``purpose 'billing': categories
        used now includes 'destination_numbers'``. An element added or removed already
        names itself."""
        if not self.id or (self.kind is not ChangeKind.changed and not self.item):
            return self.detail
        noun = _NOUNS.get(self.section, self.section.replace("_", " "))
        return f"{noun} {self.id!r}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "section": self.section,
            "id": self.id,
            "item": self.item,
            "detail": self.detail,
            "severity": self.severity.value,
            "before": self.before,
            "after": self.after,
        }


@dataclass(slots=True)
class PolicyDiff:
    """Every change from ``old_version`` to ``new_version``."""

    old_version: str
    new_version: str
    changes: list[Change] = field(default_factory=list)
    # (purpose, category) pairs the new version allows and the old did not (P07, P08).
    new_uses: list[tuple[str, str]] = field(default_factory=list)
    # Consent purposes of the new version that the old did not ask consent for (P07).
    new_consent_purposes: list[str] = field(default_factory=list)
    # What a removal means for data already held (troth.policy.dropped).
    warnings: list[str] = field(default_factory=list)

    @property
    def material(self) -> list[Change]:
        return [c for c in self.changes if c.severity is Severity.material]

    @property
    def minor(self) -> list[Change]:
        return [c for c in self.changes if c.severity is Severity.minor]

    @property
    def has_material(self) -> bool:
        return any(c.severity is Severity.material for c in self.changes)

    def __bool__(self) -> bool:
        return bool(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "material": self.has_material,
            "counts": {"material": len(self.material), "minor": len(self.minor)},
            "changes": [c.to_dict() for c in self.changes],
            "new_uses": [{"purpose": p, "category": c} for p, c in self.new_uses],
            "new_consent_purposes": list(self.new_consent_purposes),
            "warnings": list(self.warnings),
        }


# What an element of each section is called in a sentence.
_NOUNS = {
    "categories": "category",
    "purposes": "purpose",
    "collection_points": "collection point",
    "recipients": "recipient",
    "locations": "location",
    "transfers": "transfer",
    "roles": "role",
    "cookies": "cookie",
    "lists": "list",
    "subjects": "kind of person",
}

_M, _m = Severity.material, Severity.minor


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_text(v) for v in value) or "none"
    return str(value)


# An attribute compared by Differ.attrs: (name, what it is called, material rule).
Attr = tuple[str, str, "Callable[[Any, Any], bool] | bool"]


def same_words(*names: str) -> list[Attr]:
    """Attributes called by their own names (underscores read as spaces), never material."""
    return [(n, n.replace("_", " "), False) for n in names]


class Differ:
    """The changes found so far, and how an element, a member or a value is compared."""

    def __init__(self) -> None:
        self.changes: list[Change] = []

    def add(
        self,
        kind: ChangeKind,
        section: str,
        ident: str,
        detail: str,
        severity: Severity,
        item: str = "",
        before: Any = None,
        after: Any = None,
    ) -> None:
        b = _text(before) if kind is ChangeKind.changed else None
        a = _text(after) if kind is ChangeKind.changed else None
        self.changes.append(Change(kind, section, ident, detail, severity, item, b, a))

    def elements(
        self,
        section: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        noun: str,
        added_severity: Severity,
        compare: Callable[[str, Any, Any], None] | None = None,
    ) -> None:
        """Added/removed elements of a keyed list; ``compare`` diffs those in both."""
        for key in new.keys() - old.keys():
            self.add(ChangeKind.added, section, key, f"new {noun} {key!r}", added_severity)
        for key in old.keys() - new.keys():
            self.add(ChangeKind.removed, section, key, f"{noun} {key!r} removed", _m)
        if compare is not None:
            for key in sorted(old.keys() & new.keys()):
                compare(key, old[key], new[key])

    def by_id(
        self,
        section: str,
        old: Iterable[Any],
        new: Iterable[Any],
        noun: str,
        added_severity: Severity,
        compare: Callable[[str, Any, Any], None] | None = None,
    ) -> None:
        """:meth:`elements` of a list of elements keyed by their ``id``."""
        old_by = {x.id: x for x in old}
        self.elements(section, old_by, {x.id: x for x in new}, noun, added_severity, compare)

    def members(
        self,
        section: str,
        ident: str,
        item: str,
        old: Iterable[str],
        new: Iterable[str],
        what: str,
        added_severity: Severity,
    ) -> None:
        """Added/removed members of a set-valued attribute of one element."""
        o, n = set(old), set(new)
        for v in sorted(n - o):
            self.add(
                ChangeKind.added,
                section,
                ident,
                f"{what} now includes {v!r}",
                added_severity,
                f"{item}[{v}]",
            )
        for v in sorted(o - n):
            self.add(
                ChangeKind.removed,
                section,
                ident,
                f"{what} no longer includes {v!r}",
                _m,
                f"{item}[{v}]",
            )

    def value(
        self,
        section: str,
        ident: str,
        item: str,
        old: Any,
        new: Any,
        what: str,
        material: Callable[[Any, Any], bool] | bool = False,
    ) -> None:
        if old == new:
            return
        is_material = material(old, new) if callable(material) else material
        self.add(
            ChangeKind.changed,
            section,
            ident,
            f"{what} changed from {_text(old)} to {_text(new)}",
            _M if is_material else _m,
            item,
            old,
            new,
        )

    def attrs(self, section: str, ident: str, old: Any, new: Any, spec: Iterable[Attr]) -> None:
        """:meth:`value` for each attribute ``spec`` names: ``(attribute, what it is
        called, whether a change is material)``; the item is the attribute's name."""
        for name, what, material in spec:
            self.value(section, ident, name, getattr(old, name), getattr(new, name), what, material)
