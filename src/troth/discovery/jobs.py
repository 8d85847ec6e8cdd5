"""The worker's discovery task: once a day, scan the connected databases and troth's own
free text, or go on with a scan an earlier run left partial or a dead worker left
running; each run stays within ``discovery_budget`` seconds (default 10 minutes)."""

from __future__ import annotations

from troth.context import Context
from troth.discovery.service import DiscoveryService

WORKER_BUDGET_S = 600.0


def scheduled_scan(ctx: Context, budget_s: float = WORKER_BUDGET_S) -> str:
    svc = DiscoveryService(ctx)
    if not svc.datasets() and not svc.text_fields():
        return "nothing to scan (no datasets declared, no free-text fields)"
    report = svc.scan(budget_s=budget_s, resume=svc.resumable())
    counts = ", ".join(f"{n} {s}" for s, n in report.counts().items() if n) or "no drift"
    return (
        f"scan {report.scan_id} {report.state}: {report.tables_done}/{report.tables_total}"
        f" tables; {counts}"
    )
