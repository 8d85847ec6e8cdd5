"""troth's benchmarks: `make bench` runs every `bench_*.py` module here.

Each module has ``run(quick: bool) -> list[str]`` returning lines made by :func:`report`,
measured in one run, troth beside its baseline.
"""

from __future__ import annotations


def report(name: str, troth: float, baseline: float, unit: str, target: str) -> str:
    """``NAME: troth VALUE UNIT, BASELINE VALUE UNIT, ratio R (target T)``; for rates
    (unit ending in /s) the ratio is baseline/troth so that bigger is always slower."""
    ratio = baseline / troth if unit.endswith("/s") else troth / baseline
    return (
        f"{name}: troth {troth:,.2f} {unit}, baseline {baseline:,.2f} {unit}, "
        f"ratio {ratio:.2f} (target {target})"
    )
