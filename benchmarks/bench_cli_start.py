"""cli_start: the wall time of `troth --help` and of `troth find --email ...` (a home with a
person in it) against `python -c pass`, each the median of several fresh processes, in
the same run. Targets: `troth --help` within 0.3 s and `troth find` within 0.5 s."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import report

TROTH = [sys.executable, "-c", "from troth.cli import main; main()"]


def _wall(argv: list[str], n: int) -> float:
    times = []
    for _ in range(n):
        began = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, timeout=120)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def run(quick: bool) -> list[str]:
    from troth.home import init_home

    n = 3 if quick else 9
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        ctx = init_home(home, example="itechno")
        from troth.engine import Troth

        t = Troth(ctx)
        t.collect("newsletter_signup", {"name": "Ann", "email": "ann@example.com"},
                  consents=["product_news"])  # fmt: skip
        t.close()
        _wall(TROTH + ["--help"], 1)  # warm the file cache and the bytecode
        base = _wall([sys.executable, "-c", "pass"], n)
        helped = _wall(TROTH + ["--help"], n)
        found = _wall(TROTH + ["--home", str(home), "find", "--email", "ann@example.com"], n)
    return [
        report("cli_start --help", helped, base, "s", "troth <= 0.3 s"),
        report("cli_start find", found, base, "s", "troth <= 0.5 s"),
    ]
