"""Classify one column from its name, type, comment and a sample of its values.

Structured columns: the share of sampled values each detector recognises decides (at
least :data:`STRONG_SHARE` of the non-empty values); weak detectors (bare digits) and the
column's name count only together. Free-text columns (prose): every value is searched for
kinds pasted into it (a card number in a support note), and the optional nlp extra adds
names and places. Only masked shapes and counts leave this module, never a value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from troth.discovery.detectors import (
    CATEGORY_OF,
    Detectors,
    Kind,
    card_shaped,
    is_free_text,
    is_network_type,
    mask,
)
from troth.discovery.names import kind_of_name

STRONG_SHARE = 0.6
NAME_BACKED_SHARE = 0.2


@dataclass
class ColumnResult:
    """What a column holds, with evidence (counts and a masked example)."""

    column: str
    type: str
    sampled: int = 0
    kind: Kind | None = None
    category: str | None = None
    by: str = ""  # "values", "name", "values+name", "type", "free_text", "pasted"
    share: float = 0.0
    hits: dict[str, int] = field(default_factory=dict)
    free_text: bool = False
    pasted: dict[str, int] = field(default_factory=dict)  # kind -> values with one pasted in
    example: str | None = None  # masked shape only
    name_kind: Kind | None = None
    bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "type": self.type,
            "sampled": self.sampled,
            "kind": self.kind.value if self.kind else None,
            "category": self.category,
            "by": self.by,
            "share": round(self.share, 3),
            "hits": dict(self.hits),
            "free_text": self.free_text,
            "pasted": dict(self.pasted),
            "example": self.example,
            "name_kind": self.name_kind.value if self.name_kind else None,
            "bytes": self.bytes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnResult:
        return cls(
            column=d["column"],
            type=d["type"],
            sampled=d["sampled"],
            kind=Kind(d["kind"]) if d.get("kind") else None,
            category=d.get("category"),
            by=d.get("by", ""),
            share=d.get("share", 0.0),
            hits=dict(d.get("hits", {})),
            free_text=d.get("free_text", False),
            pasted=dict(d.get("pasted", {})),
            example=d.get("example"),
            name_kind=Kind(d["name_kind"]) if d.get("name_kind") else None,
            bytes=d.get("bytes", 0),
        )


class Classifier:
    """Classifies columns with a policy's detectors; ``nlp`` (optional) finds names and
    places in free text (:mod:`troth.discovery.nlp`)."""

    def __init__(self, detectors: Detectors, nlp: Any = None) -> None:
        self.detectors = detectors
        self.nlp = nlp

    def column(
        self, name: str, type_: str, values: Sequence[object], comment: str | None = None
    ) -> ColumnResult:
        present = [v for v in values if v is not None and v != ""]
        out = ColumnResult(column=name, type=type_, sampled=len(present))
        out.name_kind = kind_of_name(name, comment)
        out.bytes = sum(len(v) if isinstance(v, str | bytes) else 8 for v in present)
        if not present:
            self._by_name(out)
            self._by_type(out)
            return out
        if is_free_text(present):
            self._free_text(out, present)
            return out
        strong: Counter[Kind] = Counter()
        weak: Counter[Kind] = Counter()
        first: dict[Kind, str] = {}
        classify = self.detectors.classify
        for v in present:
            s, w = classify(v)
            for k in s:
                strong[k] += 1
                if k not in first:
                    first[k] = str(v)
            for k in w:
                weak[k] += 1
                if k not in first:
                    first[k] = str(v)
        n = len(present)
        out.hits = {k.value: c for k, c in (strong + weak).items()}
        best = strong.most_common(1)
        if best and best[0][1] / n >= STRONG_SHARE:
            kind, count = best[0]
            out.kind, out.share, out.by = kind, count / n, "values"
            if out.name_kind is kind:
                out.by = "values+name"
        elif out.name_kind is not None and (
            (strong[out.name_kind] + weak[out.name_kind]) / n >= NAME_BACKED_SHARE
        ):
            kind = out.name_kind
            out.kind = kind
            out.share = (strong[kind] + weak[kind]) / n
            out.by = "values+name"
        elif out.name_kind in (Kind.name, Kind.address) and _texty(present):
            self._by_name(out)
        if out.kind is not None:
            out.category = CATEGORY_OF[out.kind]
            sample = first.get(out.kind)
            out.example = mask(sample) if sample is not None else None
        self._by_type(out)
        if out.by not in ("values", "values+name"):
            self._pasted_in_text(out, present)
        return out

    def _by_type(self, out: ColumnResult) -> None:
        if out.kind is None and is_network_type(out.type):
            out.kind, out.category, out.by = Kind.ip, CATEGORY_OF[Kind.ip], "type"

    def _pasted_in_text(self, out: ColumnResult, present: Sequence[object]) -> None:
        """Texts too short to be prose (``Karte 4111 1111 1111 1111 bitte``), whatever
        the column's type: kinds pasted inside a value with other text around them. A value
        that *is* a card or an id counts above, by share. Card numbers count only when at
        least half the card-shaped numbers in those texts pass Luhn: one in ten random
        order numbers does."""
        pasted: Counter[Kind] = Counter()
        cards = 0
        texts: list[str] = []
        first: dict[Kind, str] = {}
        embedded = self.detectors.embedded
        for v in present:
            if not isinstance(v, str):
                continue
            s = v.strip()
            if not any(ch.isdigit() for ch in s) and "@" not in s:
                continue
            texts.append(s)
            for kind, spans in embedded(s).items():
                inside = [(a, b) for a, b in spans if b - a < len(s)]
                if not inside:
                    continue
                pasted[kind] += 1
                cards += len(inside) if kind is Kind.card else 0
                a, b = inside[0]
                first.setdefault(kind, f"{mask(s[a:b])} inside a {len(s)}-character text")
        if cards and cards * 2 < sum(card_shaped(s) for s in texts):
            del pasted[Kind.card]
        if not pasted:
            return
        for kind in (Kind.card, *self.detectors.national_ids):
            if out.example is None and kind in pasted:
                out.example = first[kind]
        out.pasted = {k.value: c for k, c in pasted.items()}
        if out.kind is None:
            out.by = "pasted"

    def _by_name(self, out: ColumnResult) -> None:
        if out.name_kind is not None:
            out.kind = out.name_kind
            out.category = CATEGORY_OF[out.name_kind]
            out.by = "name"

    def _free_text(self, out: ColumnResult, present: Sequence[object]) -> None:
        out.free_text = True
        pasted: Counter[Kind] = Counter()
        for v in present:
            if not isinstance(v, str):
                continue
            found = self.detectors.embedded(v)
            if self.nlp is not None:
                for kind in self.nlp.kinds(v):
                    found.setdefault(kind, [])
            for kind, spans in found.items():
                pasted[kind] += 1
                if out.example is None and kind in (Kind.card, *self.detectors.national_ids):
                    a, b = spans[0] if spans else (0, 0)
                    out.example = f"{mask(v[a:b])} inside a {len(v)}-character text"
        out.pasted = {k.value: c for k, c in pasted.items()}
        # Free text about people is itself personal (support, notes): its category comes
        # from the declaration; the name says what it is when it is undeclared.
        out.by = "free_text"


def _texty(values: Sequence[object]) -> bool:
    strs = [v for v in values if isinstance(v, str)]
    if len(strs) < len(values) * 0.8:
        return False
    alpha = sum(1 for v in strs if sum(ch.isalpha() for ch in v) >= len(v) * 0.5)
    return alpha >= len(strs) * 0.8
