"""Health checks of a running troth and of a home: what ``/readyz`` answers, what
``troth doctor`` prints, and the figures ``/metrics`` reports at scrape time (outbox depth,
requests by how soon they are due, the newest signed tree head). Every query lives here,
not in the edges."""

from __future__ import annotations

import functools
import os
import stat
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, select, text

from troth.context import Context
from troth.db import reading
from troth.dialects import dialect_for

Status = Literal["ok", "warn", "fail"]

# Open requests, by how soon they are due (the ``due`` label of troth_requests_open).
DUE_BUCKETS = ("overdue", "today", "week", "month", "later")
OUTBOX_WAITING = ("queued", "sending")
OUTBOX_OLD = timedelta(hours=1)  # a message waiting longer than this: the worker is stuck
HEAD_STALE = timedelta(minutes=5)  # entries past the newest signed head for longer: warn


@dataclass(frozen=True, slots=True)
class Check:
    """One check: its name, ok/warn/fail, what was found and what to do about it."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@functools.cache
def _head_revision() -> str:
    from troth.migrations import head_revision

    return head_revision()


def schema_revision(ctx: Context) -> str | None:
    """The alembic revision troth's database is at (None: no troth schema)."""
    with reading(ctx.engine) as conn:
        try:
            found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except Exception:  # no such table: no troth schema
            return None
    return None if found is None else str(found)


def _readable(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError:
        return False
    return True


def _writable(path: Path) -> bool:
    """Whether the heads file can be appended to (or created in its folder)."""
    if path.exists():
        return path.is_file() and os.access(path, os.W_OK)
    return path.parent.is_dir() and os.access(path.parent, os.W_OK | os.X_OK)


# -- readiness: cheap, answers only with check names and ok/fail -------------------------
def readiness(ctx: Context) -> dict[str, bool]:
    """``/readyz``: the database answers, the key file reads, the heads file can be
    written, the schema is this troth's. Names only: no paths, no messages."""
    out: dict[str, bool] = {}
    try:
        revision = schema_revision(ctx)
        out["database"] = True
    except Exception:
        revision = None
        out["database"] = False
    out["key_file"] = _readable(ctx.settings.resolved_key_file)
    out["heads_file"] = _writable(ctx.settings.resolved_heads_file)
    out["migrations"] = out["database"] and revision == _head_revision()
    return out


# -- the figures /metrics and doctor share -----------------------------------------------
@dataclass(slots=True)
class Snapshot:
    """Operational figures read from the database and the heads file at one moment."""

    outbox: dict[str, int] = field(default_factory=dict)  # waiting messages by status
    outbox_failed: int = 0
    outbox_oldest_seconds: float | None = None  # the oldest waiting message's age
    requests_due: dict[str, int] = field(default_factory=dict)
    audit_size: int = 0  # entries in the log
    head_size: int | None = None  # entries the newest signed head covers
    head_age_seconds: float | None = None


def snapshot(ctx: Context) -> Snapshot:
    """The figures, from one read transaction (and the heads file's tail)."""
    from troth.audit.log import read_state
    from troth.notices.outbox import outbox
    from troth.requests.states import DUE_STATES
    from troth.requests.tables import requests

    now = ctx.clock.now()
    snap = Snapshot()
    with reading(ctx.engine) as conn:
        rows = conn.execute(
            select(outbox.c.status, func.count(), func.min(outbox.c.created_at))
            .where(outbox.c.status.in_((*OUTBOX_WAITING, "failed")))
            .group_by(outbox.c.status)
        ).all()
        oldest: datetime | None = None
        for status, count, first in rows:
            if status == "failed":
                snap.outbox_failed = int(count)
                continue
            snap.outbox[status] = int(count)
            if first is not None:
                first = _aware(first)
                oldest = first if oldest is None else min(oldest, first)
        for status in OUTBOX_WAITING:
            snap.outbox.setdefault(status, 0)
        if oldest is not None:
            snap.outbox_oldest_seconds = max(0.0, (now - oldest).total_seconds())
        due = func.coalesce(requests.c.extended_due_at, requests.c.due_at)
        counts = conn.execute(
            select(due, func.count()).where(requests.c.state.in_(sorted(DUE_STATES))).group_by(due)
        ).all()
        snap.requests_due = dict.fromkeys(DUE_BUCKETS, 0)
        today = now.astimezone(UTC).date()
        for day, count in counts:
            snap.requests_due[_bucket(_as_date(day), today)] += int(count)
        snap.audit_size = read_state(conn)[0]
    head = newest_head(ctx)
    if head is not None:
        snap.head_size = head[0]
        snap.head_age_seconds = max(0.0, (now - head[1]).total_seconds())
    return snap


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _bucket(due: date, today: date) -> str:
    if due < today:
        return "overdue"
    if due == today:
        return "today"
    if due <= today + timedelta(days=7):
        return "week"
    if due <= today + timedelta(days=30):
        return "month"
    return "later"


def newest_head(ctx: Context) -> tuple[int, datetime] | None:
    """(size, signed at) of the largest head signed with the home's key among the heads
    file's last lines; None when there is none (or the file cannot be read)."""
    from troth.audit.heads import newest_signed_head

    try:
        # any line that does not parse, a torn or foreign one, is not a head
        best = newest_signed_head(ctx, skip=(Exception,))
    except OSError:
        return None
    if best is None:
        return None
    at = datetime.fromisoformat(best.at.replace("Z", "+00:00"))
    return best.size, _aware(at)


# -- doctor: a home, check by check -------------------------------------------------------
def _mode_check(name: str, path: Path, *, required: bool) -> Check:
    try:
        st = path.stat()
    except FileNotFoundError:
        if required:
            return Check(name, "fail", f"{path} is missing", "restore it from your backup")
        return Check(name, "warn", f"{path} does not exist yet", "it appears with the first head")
    except OSError as exc:
        return Check(name, "fail", f"{path}: {exc.strerror}", "check the path and its folder")
    if not stat.S_ISREG(st.st_mode):
        return Check(name, "fail", f"{path} is not a file", "point the setting at a file")
    loose = stat.S_IMODE(st.st_mode) & 0o077
    if loose:
        return Check(
            name,
            "fail",
            f"{path} is mode {stat.S_IMODE(st.st_mode):04o}: others may read it",
            f"chmod 600 {path}",
        )
    if st.st_uid != os.getuid():
        return Check(
            name, "warn", f"{path} belongs to another user", "run troth as the file's owner"
        )
    return Check(name, "ok", f"{path} (0600)")


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def doctor(home: Path | str | None) -> list[Check]:
    """Every check of a home, in order; never raises for what it finds."""
    from troth.errors import DatabaseVersionError, TrothError
    from troth.home import open_context
    from troth.settings import Settings

    checks: list[Check] = []
    try:
        settings = Settings.for_home(home)
    except TrothError as exc:
        return [Check("settings", "fail", exc.message, "fix troth.toml or the TROTH_* variables")]
    except Exception as exc:  # pydantic's ValidationError: a setting of the wrong kind
        first = str(exc).splitlines()
        return [
            Check(
                "settings",
                "fail",
                " ".join(first[:3]),
                "fix troth.toml or the TROTH_* variables",
            )
        ]
    checks += _settings_checks(settings)
    checks.append(_mode_check("key file", settings.resolved_key_file, required=True))
    heads = settings.resolved_heads_file
    checks.append(_mode_check("heads file", heads, required=False))
    if not _writable(heads):
        checks.append(
            Check("heads file writable", "fail", f"{heads} cannot be written", "fix its mode")
        )
    try:
        ctx = open_context(home)
    except DatabaseVersionError as exc:
        return [*checks, Check("migrations", "fail", exc.message, "run `troth db migrate`")]
    except TrothError as exc:  # the home cannot be opened: the later checks cannot run
        return [*checks, Check("home", "fail", exc.message, "fix this first, then run again")]
    except Exception as exc:
        line = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return [
            *checks,
            Check("database", "fail", f"cannot be reached ({line})", "check database_url"),
        ]
    try:
        checks.append(Check("database", "ok", f"reachable ({dialect_for(ctx.engine).name})"))
        checks.append(Check("migrations", "ok", f"at schema {schema_revision(ctx)} (head)"))
        checks += _figures(ctx, snapshot(ctx))
    finally:
        ctx.engine.dispose()
    return checks


def _settings_checks(settings: Any) -> list[Check]:
    out: list[Check] = []
    issues: list[tuple[Status, str, str]] = []
    url = settings.public_url
    if url.startswith("http://") and not any(
        h in url for h in ("://127.0.0.1", "://localhost", "://[::1]")
    ):
        issues.append(
            ("warn", f"public_url {url} is not https", "serve troth behind TLS; set https://")
        )
    if settings.metrics_access == "open":
        issues.append(
            (
                "warn",
                "metrics_access is open: anyone who reaches the port reads /metrics",
                "only on a private bind or network; else metrics_access = key",
            )
        )
    cfg = settings.home / "troth.toml"
    try:
        written = tomllib.loads(cfg.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        written = {}
    if _has_password(written.get("database_url")):
        issues.append(
            (
                "warn",
                "database_url in troth.toml holds a password",
                "set TROTH_DATABASE_URL in the environment instead and remove it from the file",
            )
        )
    if "smtp_password" in written:
        issues.append(
            (
                "warn",
                "smtp_password is written in troth.toml",
                "set TROTH_SMTP_PASSWORD in the environment instead",
            )
        )
    if settings.smtp_host is None:
        issues.append(
            ("warn", "no smtp_host: mail is written as .eml files", "set smtp_host to send mail")
        )
    if not issues:
        return [Check("settings", "ok", "read and sane")]
    for status, detail, fix in issues:
        out.append(Check("settings", status, detail, fix))
    return out


def _has_password(url: Any) -> bool:
    from sqlalchemy import make_url

    try:
        return isinstance(url, str) and bool(make_url(url).password)
    except Exception:
        return False


def _figures(ctx: Context, snap: Snapshot) -> list[Check]:
    out: list[Check] = []
    waiting = sum(snap.outbox.values())
    if snap.outbox_oldest_seconds is not None and snap.outbox_oldest_seconds > (
        OUTBOX_OLD.total_seconds()
    ):
        out.append(
            Check(
                "outbox",
                "warn",
                f"{waiting} waiting, the oldest for {_age(snap.outbox_oldest_seconds)}",
                "run `troth worker` (or check the SMTP server): `troth outbox list`",
            )
        )
    else:
        age = (
            ""
            if snap.outbox_oldest_seconds is None
            else f", the oldest for {_age(snap.outbox_oldest_seconds)}"
        )
        out.append(Check("outbox", "ok", f"{waiting} waiting{age}"))
    if snap.outbox_failed:
        out.append(
            Check(
                "outbox failures",
                "warn",
                f"{snap.outbox_failed} message(s) failed for good",
                "see `troth outbox list`",
            )
        )
    overdue = snap.requests_due.get("overdue", 0)
    open_count = sum(snap.requests_due.values())
    if overdue:
        out.append(
            Check(
                "requests",
                "fail",
                f"{overdue} of {open_count} open request(s) past their deadline",
                "answer them now: `troth requests list`",
            )
        )
    else:
        soon = snap.requests_due.get("today", 0) + snap.requests_due.get("week", 0)
        out.append(Check("requests", "ok", f"{open_count} open, {soon} due within 7 days"))
    out.append(_head_check(ctx, snap))
    return out


def _head_check(ctx: Context, snap: Snapshot) -> Check:
    if snap.head_size is None:
        if snap.audit_size == 0:
            return Check("signed head", "ok", "the log is empty")
        return Check(
            "signed head",
            "fail",
            f"{snap.audit_size} audit entries and no signed tree head",
            "restore the heads file from a backup (or check the log against your witness);"
            " `troth audit head` signs the log as it is now, but `troth audit verify` fails"
            " on a heads file started again after the log's first entries",
        )
    age = _age(snap.head_age_seconds or 0.0)
    behind = snap.audit_size - snap.head_size
    if behind > 0 and (snap.head_age_seconds or 0.0) > max(
        HEAD_STALE.total_seconds(), 2 * ctx.settings.audit_head_every_seconds
    ):
        return Check(
            "signed head",
            "warn",
            f"the newest signed head ({age} old) covers {snap.head_size} of"
            f" {snap.audit_size} entries",
            "run `troth audit head` (a process may have stopped before signing)",
        )
    if behind < 0:
        return Check(
            "signed head",
            "fail",
            f"a signed head covers {snap.head_size} entries, the database has"
            f" {snap.audit_size}: entries are missing",
            "run `troth audit verify` and restore the database from a backup",
        )
    return Check("signed head", "ok", f"covers {snap.head_size} entries, signed {age} ago")


def worst(checks: list[Check]) -> Status:
    if any(c.status == "fail" for c in checks):
        return "fail"
    if any(c.status == "warn" for c in checks):
        return "warn"
    return "ok"


__all__ = [
    "DUE_BUCKETS",
    "Check",
    "Snapshot",
    "doctor",
    "newest_head",
    "readiness",
    "schema_revision",
    "snapshot",
    "worst",
]
