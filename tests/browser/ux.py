"""What every page must satisfy, checked from the browser: a screenshot for reviewers
(``screenshots/``, ignored by git), no serious or critical axe-core violation (the axe
script ships inside axe-playwright-python; nothing is fetched), and no sideways scrolling
at the viewport's width (390 px phones included)."""

from __future__ import annotations

from typing import Any

from shots import shot

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def axe_problems(page: Any) -> list[str]:
    """The serious and critical axe-core violations on the page, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    found = []
    for violation in results.response["violations"]:
        if violation.get("impact") in {"serious", "critical"}:
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


def check_page(page: Any, name: str) -> None:
    """Screenshot the page as ``name`` and assert it is accessible and fits its width."""
    shot(page, name)
    problems = axe_problems(page)
    assert not problems, f"{name}: axe-core found {problems}"
    overflow = sideways_overflow(page)
    assert overflow <= 0, f"{name}: {overflow}px wider than the {page.viewport_size} viewport"
