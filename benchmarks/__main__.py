"""Run every benchmark: ``python -m benchmarks [--quick] [NAME...]``."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import benchmarks


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    quick = "--quick" in sys.argv
    names = sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )
    for name in names:
        if args and name.removeprefix("bench_") not in args:
            continue
        module = importlib.import_module(f"benchmarks.{name}")
        for line in module.run(quick):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
