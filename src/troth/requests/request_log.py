"""The request log (CCPA 11 CCR 7101): a request closed more than 24 months ago keeps
only what the log must (date, kind, channel, response and any reason for a denial)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import bindparam, select, update

from troth.access.seals import resealing
from troth.audit.entry import AuditEntry
from troth.audit.log import append_entry, transaction
from troth.context import Context
from troth.errors import ValidationError
from troth.gate import SYSTEM
from troth.requests.deadlines import CCPA_OPT_OUT
from troth.requests.states import RequestState
from troth.requests.tables import request_events, request_exports, requests


@dataclass(eq=False)
class RequestLog:
    """``purge_request_logs``."""

    ctx: Context

    def purge_request_logs(self, *, batch: int = 1_000) -> int:
        """Remove the personal details of requests closed more than 24 months ago (the
        CCPA log retention, ``deadlines.CCPA_OPT_OUT``), keeping the log: date, nature
        (kind), manner (channel), response date, response and reason for any denial.
        Their events and download files go too. The worker runs this; returns how many."""
        if batch < 1:
            raise ValidationError("batch is a number of requests >= 1")
        now = self.ctx.clock.now()
        # A request may go once request_log_keep_until(closed) has passed; a row purged is
        # touched again only 24 months after the purge (updated_at), so runs stay cheap.
        cutoff = datetime.combine(
            now.date() - relativedelta(months=CCPA_OPT_OUT.log_retention_months),
            time.min,
            tzinfo=UTC,
        )
        r = requests.c
        closed = [RequestState.completed.value, RequestState.refused.value]
        done = 0
        while True:
            with transaction(self.ctx) as conn:
                rows = conn.execute(
                    select(r.id, r.state, r.result)
                    .where(r.state.in_(closed), r.closed_at < cutoff, r.updated_at < cutoff)
                    .order_by(r.closed_at, r.id)
                    .limit(batch)
                ).all()
                if not rows:
                    return done
                ids = [row.id for row in rows]
                files = conn.execute(
                    select(request_exports.c.path).where(request_exports.c.request_id.in_(ids))
                ).scalars()
                for path in files:
                    Path(path).unlink(missing_ok=True)
                conn.execute(request_exports.delete().where(request_exports.c.request_id.in_(ids)))
                conn.execute(request_events.delete().where(request_events.c.request_id.in_(ids)))
                with resealing(conn, self.ctx.keys, requests, ids):
                    conn.execute(
                        update(requests)
                        .where(r.id == bindparam("rid"))
                        .values(result=bindparam("log"), updated_at=now, **_LOG_ONLY),
                        [
                            {"rid": row.id, "log": _log_result(row.state, row.result)}
                            for row in rows
                        ],
                    )
                append_entry(
                    conn,
                    now,
                    AuditEntry(
                        action="request.log_purged",
                        actor=SYSTEM.label,
                        details={
                            "requests": len(ids),
                            "closed_before": cutoff.date().isoformat(),
                            "rule": "CCPA request log kept 24 months (11 CCR 7101(a))",
                        },
                    ),
                )
            done += len(rows)
            if len(rows) < batch:
                return done


# What a request keeps after the log retention: no one can be told apart by it.
_LOG_ONLY: dict[str, Any] = {
    "subject_id": None,
    "email_bidx": None,
    "contact": None,
    "on_behalf_of": None,
    "agent_contact": None,
    "source_ref": None,
    "verified_by": None,
    "extension_reason": None,
    "code_hash": None,
    "code_expires_at": None,
    "details": {},
    "error": None,
}


def _log_result(state: str, result: Mapping[str, Any] | None) -> dict[str, Any]:
    """The response as the log keeps it (7101(a)): completed, or refused and why."""
    log: dict[str, Any] = {"response": state}
    if state == RequestState.refused.value and result and result.get("refused"):
        log["denial_reason"] = str(result["refused"])[:2000]
    return log
