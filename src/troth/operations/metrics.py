"""Prometheus metrics (``/metrics``).

Counted as things happen, in each server process:

- ``troth_http_requests_total{method,route,status}`` and
  ``troth_http_request_duration_seconds{method,route}``: ``route`` is the route's
  *template* (``/api/v1/subjects/{subject_id}``), never the path: no ids, tokens or
  addresses in labels. A path no route matches is ``<unmatched>``.
- ``troth_gate_decisions_total{outcome,reason}``: every allow and deny the audit log
  records (``reason`` is the refusal's code, ``none`` for an allow without one).
- ``troth_audit_appends_total{outcome}``: entries appended (allow, deny, info).

  Both count what the server processes append (``troth worker`` and the CLI are not
  counted here; the log itself has everything).

Read from the database and the heads file when scraped (the same in every process;
``troth_figures_up`` is 0 and the rest absent when the database cannot be read):

- ``troth_audit_head_age_seconds``, ``troth_audit_entries``, ``troth_audit_head_entries``:
  the newest signed tree head's age, the entries in the log and those it covers.
- ``troth_outbox_messages{status}`` (queued, sending, failed) and
  ``troth_outbox_oldest_age_seconds``.
- ``troth_requests_open{due}``: open requests by how soon they are due (overdue, today,
  week, month, later).

Several server processes (``troth serve --workers N``): each counts into files in one
folder (prometheus-client's multiprocess mode; ``PROMETHEUS_MULTIPROC_DIR``, which ``troth
serve`` sets to a fresh folder unless the environment names one), and any process answers
``/metrics`` with the sum. One process: counted in memory.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from troth.audit.entry import AuditEntry
from troth.context import Context

log = logging.getLogger("troth.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED = "<unmatched>"

HTTP_REQUESTS = Counter(
    "troth_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
    registry=None,
)
HTTP_DURATION = Histogram(
    "troth_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
    registry=None,
)
GATE_DECISIONS = Counter(
    "troth_gate_decisions",
    "Decisions recorded in the audit log, by outcome (allow, deny) and reason code.",
    ["outcome", "reason"],
    registry=None,
)
AUDIT_APPENDS = Counter(
    "troth_audit_appends",
    "Entries appended to the audit log, by outcome.",
    ["outcome"],
    registry=None,
)
_COUNTED = (HTTP_REQUESTS, HTTP_DURATION, GATE_DECISIONS, AUDIT_APPENDS)

_REASON = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_children: dict[tuple[str, str], Any] = {}


def _reason_label(reason: str | None) -> str:
    if not reason:
        return "none"
    return reason if _REASON.match(reason) else "other"  # a code, never free text


def observe_appends(items: Sequence[tuple[datetime, AuditEntry]]) -> None:
    """Count appended entries (installed into troth.audit.log.APPEND_OBSERVERS)."""
    for _at, entry in items:
        outcome = str(entry.outcome)
        key = (outcome, entry.reason or "")
        pair = _children.get(key)
        if pair is None:
            decision = (
                GATE_DECISIONS.labels(outcome, _reason_label(entry.reason))
                if outcome in ("allow", "deny")
                else None
            )
            pair = _children[key] = (AUDIT_APPENDS.labels(outcome), decision)
        pair[0].inc()
        if pair[1] is not None:
            pair[1].inc()


def install() -> None:
    """Start counting audit appends in this process (idempotent)."""
    from troth.audit.log import APPEND_OBSERVERS

    if observe_appends not in APPEND_OBSERVERS:
        APPEND_OBSERVERS.append(observe_appends)


_http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request (label children cached: this runs for every request)."""
    m = method if method in METHODS else "OTHER"  # a client's method is not a label
    key = (m, route, status)
    pair = _http_children.get(key)
    if pair is None:
        pair = _http_children[key] = (
            HTTP_REQUESTS.labels(m, route, str(status)),
            HTTP_DURATION.labels(m, route),
        )
    pair[0].inc()
    pair[1].observe(seconds)


class _Figures(Collector):
    """What the database and the heads file say, read when scraped."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from troth.operations.checks import DUE_BUCKETS, snapshot

        try:
            snap = snapshot(self.ctx)
        except Exception:  # the database is down: the counters still answer
            log.warning("metrics: the database figures could not be read", exc_info=True)
            yield GaugeMetricFamily(
                "troth_figures_up", "1 when the database figures could be read.", value=0
            )
            return
        yield GaugeMetricFamily(
            "troth_figures_up", "1 when the database figures could be read.", value=1
        )
        outbox = GaugeMetricFamily(
            "troth_outbox_messages", "Outgoing messages by status.", labels=["status"]
        )
        for status, count in sorted(snap.outbox.items()):
            outbox.add_metric([status], count)
        outbox.add_metric(["failed"], snap.outbox_failed)
        yield outbox
        yield GaugeMetricFamily(
            "troth_outbox_oldest_age_seconds",
            "Age of the oldest message waiting to be sent (0 when none waits).",
            value=snap.outbox_oldest_seconds or 0.0,
        )
        due = GaugeMetricFamily(
            "troth_requests_open",
            "Open requests by how soon they are due (overdue, today, within a week, within"
            " 30 days, later).",
            labels=["due"],
        )
        for bucket in DUE_BUCKETS:
            due.add_metric([bucket], snap.requests_due.get(bucket, 0))
        yield due
        yield GaugeMetricFamily(
            "troth_audit_entries", "Entries in the audit log.", value=snap.audit_size
        )
        if snap.head_size is not None:
            yield GaugeMetricFamily(
                "troth_audit_head_entries",
                "Entries covered by the newest signed tree head.",
                value=snap.head_size,
            )
            yield GaugeMetricFamily(
                "troth_audit_head_age_seconds",
                "Seconds since the newest signed tree head was signed.",
                value=snap.head_age_seconds or 0.0,
            )


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def registry_for(ctx: Context) -> CollectorRegistry:
    """The registry ``/metrics`` renders for this app's process."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        from prometheus_client import PROCESS_COLLECTOR

        for metric in _COUNTED:
            registry.register(metric)
        registry.register(PROCESS_COLLECTOR)
    registry.register(_Figures(ctx))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
