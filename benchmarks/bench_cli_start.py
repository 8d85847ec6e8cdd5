"""cli_start: the wall time of `troth --help` and of `troth find --email ...` (a home with a
person in it) against `python -c pass`, each the median of several fresh processes, in
the same run. Targets: `troth --help` within 0.3 s and `troth find` within 0.5 s. On a loaded
machine the wall time mostly waits for a core, so the CPU time (user + sys) of the same
processes is printed too (median; no target of its own)."""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import report

TROTH = [sys.executable, "-c", "from troth.cli import main; main()"]


def _wall(argv: list[str], n: int) -> float:
    return _times(argv, n)[0]


def _times(argv: list[str], n: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + sys) of ``n`` fresh processes."""
    walls, cpus = [], []
    for _ in range(n):
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, timeout=120)
        walls.append(time.perf_counter() - began)
        now = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(now.ru_utime - used.ru_utime + now.ru_stime - used.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


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
        find = TROTH + ["--home", str(home), "find", "--email", "ann@example.com"]
        _wall(TROTH + ["--help"], 1)  # warm the file cache and the bytecode
        # The first lookup validates the policy and records that this text passed (later
        # ones read the record: README, "Finding a person"); that is the steady state timed.
        _wall(find, 1)
        base, base_cpu = _times([sys.executable, "-c", "pass"], n)
        helped, helped_cpu = _times(TROTH + ["--help"], n)
        found, found_cpu = _times(find, n)
    return [
        report("cli_start --help", helped, base, "s", "troth <= 0.3 s"),
        report("cli_start find", found, base, "s", "troth <= 0.5 s"),
        report("cli_start --help cpu", helped_cpu, max(base_cpu, 1e-3), "s", "user+sys, no target"),
        report("cli_start find cpu", found_cpu, max(base_cpu, 1e-3), "s", "user+sys, no target"),
    ]
