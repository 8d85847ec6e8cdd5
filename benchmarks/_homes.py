"""Throw-away troth homes for benchmarks (SQLite in a temp directory)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from troth.clock import ManualClock
from troth.engine import Troth
from troth.home import init_home


def bench_home(example: str = "itechno", database_url: str | None = None) -> Troth:
    """A new home from an example policy; the caller closes it."""
    tmp = Path(tempfile.mkdtemp(prefix="troth-bench-"))
    ctx = init_home(tmp / "home", example=example, database_url=database_url, clock=ManualClock())
    return Troth(ctx)


def order(i: int) -> dict[str, Any]:
    return {
        "name": f"Person {i}",
        "email": f"person{i}@example.com",
        "address": f"{i} Long Road",
        "card_number": f"4{i:015d}",
        "card_expiry": "12/29",
        "order_items": "1 widget",
    }
