"""A purpose's legal minimum (P25, P28): it keeps only categories of its own purpose, for no
longer than the purpose keeps its data, and its ``only_with`` names records it keeps. Each
mistake is an error at its line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from troth.policy.durations import Duration
from troth.policy.validate_points import Add


def _names(value: Any) -> list[tuple[int, str]]:
    if not isinstance(value, list):
        return []
    return [(j, v) for j, v in enumerate(value) if isinstance(v, str)]


def _duration(value: Any) -> Duration | None:
    try:
        return Duration.model_validate(value) if value is not None else None
    except ValueError:
        return None


def legal_minimums(data: Mapping[str, Any], add: Add) -> None:
    """Report (through ``add``) every legal minimum longer than its purpose's retention,
    naming a category its purpose does not use, or with an ``only_with`` it does not keep."""
    purposes = data.get("purposes")
    for i, p in enumerate(purposes if isinstance(purposes, list) else []):
        retention = p.get("retention") if isinstance(p, Mapping) else None
        lm = retention.get("legal_minimum") if isinstance(retention, Mapping) else None
        if not isinstance(lm, Mapping) or not isinstance(retention, Mapping):
            continue
        path = ("purposes", i, "retention")
        keep, minimum = _duration(retention.get("keep_for")), _duration(lm.get("keep_for"))
        if keep and minimum and keep.approx_days() < minimum.approx_days():
            add(
                (*path, "keep_for"),
                f"keeps data {keep} but the law requires at least {minimum} "
                "(legal_minimum.keep_for): make keep_for at least as long",
                (),
            )
        own = [c for _, c in _names(p.get("categories"))]
        for j, cat in _names(lm.get("categories")):
            if cat not in own:
                add(
                    (*path, "legal_minimum", "categories", j),
                    f"purpose {p.get('id')!r} does not use category {cat!r}: a legal "
                    "minimum keeps only categories of its own purpose",
                    tuple(own),
                )
        kept = [c for _, c in _names(lm.get("categories"))]
        for j, cat in _names(lm.get("only_with")):
            if cat not in kept:
                add(
                    (*path, "legal_minimum", "only_with", j),
                    f"{cat!r} is not among the categories this legal minimum keeps: "
                    "only_with names the records the law requires keeping, so add it to "
                    "legal_minimum.categories or name one of those",
                    tuple(kept),
                )
