"""What every page must satisfy, checked from the browser: a screenshot for reviewers
(``screenshots/``, ignored by git), no serious or critical axe-core violation (the axe
script ships inside axe-playwright-python; nothing is fetched), and no sideways scrolling
at the viewport's width (390 px phones included)."""

from __future__ import annotations

from typing import Any

from shots import shot

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def axe_problems(page: Any, upstream: frozenset[str] = frozenset()) -> list[str]:
    """The serious and critical axe-core violations on the page, one line each, less the
    rule ids in ``upstream`` (known faults of a third-party widget we serve unchanged)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    found = []
    for violation in results.response["violations"]:
        if violation.get("impact") in {"serious", "critical"} and violation["id"] not in upstream:
            targets = [", ".join(node["target"]) for node in violation["nodes"]][:3]
            found.append(f"{violation['id']} ({violation['impact']}): {targets}")
    return found


def sideways_overflow(page: Any) -> int:
    """How many pixels the page is wider than its viewport (0 when it fits)."""
    return int(
        page.evaluate(
            "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - window.innerWidth"
        )
    )


def widest(page: Any) -> list[str]:
    """The elements that reach past the viewport's right edge (tag, id, class, right edge)."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
            .slice(0, 6)
            .map(e => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`
                      + `:${Math.round(e.getBoundingClientRect().right)}`)"""
    )
    return found


def check_page(page: Any, name: str, *, upstream: frozenset[str] = frozenset()) -> None:
    """Screenshot the page as ``name`` and assert it is accessible and fits its width.
    ``upstream``: axe rule ids to pass over, only for pages that are a third party's UI
    (Swagger UI, ReDoc) whose markup troth does not write; say which and why."""
    shot(page, name)
    problems = axe_problems(page, upstream)
    assert not problems, f"{name}: axe-core found {problems}"
    overflow = sideways_overflow(page)
    assert overflow <= 0, (
        f"{name}: {overflow}px wider than the {page.viewport_size} viewport; widest: {widest(page)}"
    )
