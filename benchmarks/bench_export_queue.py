"""export_queue: throughput of 1,000 queued access requests (quick: 100): verified requests
executed by ``RequestService.execute_many`` (batches of 500: one read of troth's store and
one walk of the connected shop per batch, a ZIP per person, one completing transaction),
vs the same exports one by one through ``execute`` (``runner.execute`` each: a read and a
walk per person, a transaction each), in the same run. Two homes built alike over one
shop (a SQLite file, 10 people per person asking; exports only read it).

Both do everything an export is: troth's store read and decrypted, the shop's rows, the
ZIP, the sealed file, the link, the state moves, events, audit entries and the letter.
The ratio is one by one's rate over the bulk rate (below 1: bulk is faster).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from benchmarks import report
from benchmarks.bench_erase_queue import ENV, START, build_queue, build_shop
from troth.clock import ManualClock
from troth.engine import Troth
from troth.home import init_home
from troth.requests.service import RequestService

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import connected_schema as cs


def _home(root: Path, name: str, chosen: list[int]) -> tuple[Troth, list[str]]:
    ctx = init_home(root / name, example="mindlink", clock=ManualClock(START))
    t = Troth(ctx)
    folder = ctx.settings.resolved_datasets_dir
    folder.mkdir(exist_ok=True)
    cs.write_declaration(folder / "shop.yaml", ENV)
    return t, build_queue(t, chosen, kind="access")


def run(quick: bool) -> list[str]:
    n = 100 if quick else 1_000
    chosen = [k * 10 + 4 for k in range(n)]  # spread over the shop, every shape of person
    with tempfile.TemporaryDirectory(prefix="troth-bench-") as tmp:
        root = Path(tmp)
        shop_url = f"sqlite:///{root}/shop.db"
        build_shop(shop_url, 10 * n)
        bulk_t, bulk_queue = _home(root, "bulk", chosen)
        one_t, one_queue = _home(root, "one", chosen)

        bulk = RequestService(bulk_t.ctx, environ={ENV: shop_url})
        t0 = time.perf_counter()
        done = bulk.execute_many(bulk_queue)
        bulk_s = time.perf_counter() - t0
        assert not done.failed and len(done.completed) == n, done.failed

        one = RequestService(one_t.ctx, environ={ENV: shop_url})
        t0 = time.perf_counter()
        for rid in one_queue:
            one.execute(rid)
        one_s = time.perf_counter() - t0
        for service, queue in ((bulk, bulk_queue), (one, one_queue)):
            rows = sum(
                service.get(rid).result["systems"][1]["found"] for rid in queue[:10]
            )  # the shop was read for both (not two empty exports)
            assert rows > 0
        bulk_t.close()
        one_t.close()
    return [report("export_queue", n / bulk_s, n / one_s, "exports/s", "< 1: bulk faster; report")]


if __name__ == "__main__":
    print("\n".join(run(quick="--quick" in sys.argv)))
