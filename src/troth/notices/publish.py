"""Publishing a new version of the policy (P34, P35, P36, P07, P08).

``publish_policy`` diffs the new file against the version in force, records the version
with its effective date, and for material changes: posts a notice that holds back each new
use of data already collected for the policy's notice period (P08); asks for consent again
where a consent purpose's notice changed (P07); queues a notice e-mail to each customer's
primary address and to each person whose data a new use touches, when the policy says so
(P35, :mod:`troth.notices.policy_mail`); and keeps every stored value tagged with the
version it was collected under (P36). Running it again after an interruption finishes the
job and sends nothing twice. What it would do, before it is done:
:mod:`troth.notices.preview`; the history it leaves: :mod:`troth.notices.history`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from troth.audit.entry import AuditEntry
from troth.audit.log import append_entries, transaction
from troth.context import Context
from troth.errors import Conflict, ValidationError
from troth.gate import SYSTEM, Actor
from troth.notices.changes import (
    concerned,
    earliest_effective,
    new_uses,
    notice_text,
    preview_digest,
    reconsent_purposes,
)
from troth.notices.policy_mail import queue_notice_emails
from troth.notices.preview import held_diff
from troth.office import authorize
from troth.policy.changes import PolicyDiff
from troth.policy.index import PolicyIndex
from troth.policy.loader import parse_policy
from troth.policy.model import Policy, Power, check_effective
from troth.policy.schedule import effective_instant, follow_versions
from troth.policy.versions import (
    NewVersion,
    newest_effective,
    published_digest,
    record_version,
)
from troth.store.plain import plain_fields
from troth.store.tables import policy_notices


@dataclass
class PublishResult:
    version: str
    effective: date
    material: bool
    changes: list[dict[str, Any]]
    new_uses: list[tuple[str, str, str]] = field(default_factory=list)
    reconsent: list[str] = field(default_factory=list)
    emails_queued: int = 0
    already_published: bool = False
    waiting: list[dict[str, Any]] = field(default_factory=list)
    """Each new use of data already held and what it waits for: the end of the notice
    period (``notice_until``) and, where ``fresh_consent``, the person's consent."""
    warnings: list[str] = field(default_factory=list)
    takes_effect: datetime | None = None
    """The instant the version takes effect (midnight of ``effective`` in the
    organisation's time zone); until then the version before it rules every decision."""

    def to_dict(self) -> dict[str, Any]:
        return plain_fields(self)


@dataclass(frozen=True)
class _Candidate:
    """The policy file being published: its text, parsed and compiled, and the day it is
    to take effect."""

    text: str
    policy: Policy
    index: PolicyIndex
    when: date


@dataclass(frozen=True)
class _Change:
    """What the candidate changes against the version in force, decided at ``now``."""

    old: Policy
    diff: PolicyDiff
    uses: list[tuple[str, str, str]]
    again: list[str]
    now: datetime


def publish_policy(
    ctx: Context,
    path: Path | str,
    *,
    effective: date | None = None,
    actor: Actor = SYSTEM,
    expect_digest: str | None = None,
) -> PublishResult:
    """Publish the policy file at ``path`` as the version in force (see module doc), for
    an actor with the power ``publish_policy`` (troth.office). A file that does not
    validate raises PolicyError: nothing recorded, nothing sent. With ``expect_digest``
    (a :class:`~troth.notices.preview.PublishPreview`'s ``digest``), the text and effective
    date must be the ones previewed, or Conflict ``preview_stale`` is raised before
    anything is done."""
    authorize(ctx, actor, Power.publish_policy, details={"operation": "publish"})
    new = _read_candidate(path, effective, expect_digest)
    with ctx.engine.connect() as conn:
        existing = published_digest(conn, new.policy.version)
        floor = newest_effective(conn)
    if existing is not None:
        if existing != new.index.digest:
            raise Conflict(
                f"policy version {new.policy.version!r} is already published with other"
                " content; give the changed policy a new `version`"
            )
        # Interrupted after recording: make sure the file is in place, nothing else.
        _install(ctx, new.text, new.index)
        return PublishResult(new.policy.version, new.when, False, [], already_published=True)
    # Compared with the newest version, in effect or still waiting for its date.
    old_index = ctx.newest_policy
    diff = held_diff(ctx, old_index.policy, new.policy, new.when)
    change = _Change(
        old_index.policy,
        diff,
        new_uses(old_index, new.index),
        reconsent_purposes(old_index.policy, new.policy),
        ctx.clock.now(),
    )
    _check_when(new, change, floor or change.old.effective)
    with transaction(ctx) as conn:
        _record(conn, new, change)
        queued = 0
        if diff.has_material and new.policy.notices.email_customers:
            touched = concerned(old_index, new.index, diff, change.uses)
            queued = queue_notice_emails(
                conn, ctx, new.policy, new.when, diff, touched, actor.label
            )
        append_entries(conn, change.now, [_audit_entry(actor, new, change, queued)])
    _install(ctx, new.text, new.index)
    starts = effective_instant(new.when, new.policy)
    waiting, warnings = _waiting(new.policy, change.uses, change.now, starts)
    if starts > change.now:
        warnings.insert(0, _not_yet(ctx, new, starts))
    warnings += diff.warnings  # what a removal means for data held (counted)
    return PublishResult(
        new.policy.version,
        new.when,
        diff.has_material,
        diff.to_dict()["changes"],
        change.uses,
        change.again,
        queued,
        waiting=waiting,
        warnings=warnings,
        takes_effect=starts.astimezone(new.policy.organisation.zone()),
    )


def _read_candidate(path: Path | str, effective: date | None, expect: str | None) -> _Candidate:
    """The file at ``path``, checked against the preview's digest, parsed and compiled,
    with a valid effective date (``effective``, or the file's)."""
    text = Path(path).read_text()
    if expect is not None and not hmac.compare_digest(expect, preview_digest(text, effective)):
        raise Conflict(
            "the policy or its effective date changed since the preview: show the changes"
            " again and confirm what you see",
            code="preview_stale",
        )
    policy = parse_policy(text, str(path))
    index = PolicyIndex.build(policy, text)
    when = effective or policy.effective
    try:
        check_effective(when)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    return _Candidate(text, policy, index, when)


def _check_when(new: _Candidate, change: _Change, floor: date) -> None:
    """A new version takes effect no earlier than the newest one (``floor``, its recorded
    effective date, whether in force or waiting) and, when it changes something material,
    not before its notice period ends."""
    when = new.when
    if when < floor:
        raise ValidationError(
            f"effective date {when} is before the version in force ({floor});"
            " a new version cannot take effect in the past of the current one"
        )
    if not change.diff.has_material:
        return
    earliest = earliest_effective(new.policy, change.now)
    if when < earliest:
        zone = new.policy.organisation.zone()
        raise ValidationError(
            f"a material change cannot take effect on {when}: its notice period "
            f"({new.policy.notices.notice_period_days} days from publishing) runs until "
            f"{earliest} at the earliest ({zone.key}); set `effective` in the file, or "
            f"--effective, to {earliest} or later",
            code="effective_too_early",
            earliest=earliest.isoformat(),
        )


def _record(conn: Connection, new: _Candidate, change: _Change) -> None:
    """Record the version and the notices it posts: each new use, each re-consent."""
    policy, now = new.policy, change.now
    diff = change.diff
    record_version(
        conn,
        NewVersion(
            policy.version,
            new.when,
            now,
            new.index.digest,
            new.text,
            diff.to_dict()["changes"],
            diff.has_material,
        ),
    )
    # Each notice names its version and when it was posted; a new use names its point and
    # category, a purpose to consent to again the hash of its new notice.
    base = {"version": policy.version, "posted_at": now, "point": None, "category": None}
    needs_consent = policy.notices.new_purpose_needs_consent
    rows: list[dict[str, Any]] = [
        {
            **base,
            "kind": "new_use",
            "point": point,
            "purpose": purpose,
            "category": category,
            "needs_consent": needs_consent,
            "notice_hash": None,
        }
        for point, purpose, category in change.uses
    ]
    rows += [
        {
            **base,
            "kind": "reconsent",
            "purpose": purpose,
            "needs_consent": True,
            "notice_hash": hashlib.sha256(notice_text(policy, purpose).encode()).hexdigest(),
        }
        for purpose in change.again
    ]
    if rows:
        conn.execute(policy_notices.insert(), rows)


def _audit_entry(actor: Actor, new: _Candidate, change: _Change, queued: int) -> AuditEntry:
    return AuditEntry(
        action="policy.publish",
        actor=actor.label,
        details={
            "version": new.policy.version,
            "previous": change.old.version,
            "effective": new.when.isoformat(),
            # What troth.policy.logged and verify check the version's row against.
            "published_at": change.now.isoformat(),
            "digest": new.index.digest,
            "material": change.diff.has_material,
            "changes": len(change.diff.changes),
            "new_uses": len(change.uses),
            "reconsent": change.again,
            "emails_queued": queued,
        },
    )


def _not_yet(ctx: Context, new: _Candidate, starts: datetime) -> str:
    """The warning of a version published to take effect later."""
    local = starts.astimezone(new.policy.organisation.zone())
    return (
        f"version {new.policy.version} takes effect on {local:%Y-%m-%d %H:%M %Z}: until then"
        f" version {ctx.policy.version} rules every collection, use, disclosure and"
        " retention run; what the new version adds (a purpose, a recipient, a longer"
        " retention) waits for that day (notice_period_running)"
    )


def _waiting(
    policy: Policy, uses: list[tuple[str, str, str]], now: datetime, starts: datetime
) -> tuple[list[dict[str, Any]], list[str]]:
    """What each new use waits for, and the warnings an officer must read: the notice
    period from publishing (``now``), and never less than the version's taking effect."""
    notices = policy.notices
    until = max(starts, now + timedelta(days=notices.notice_period_days))
    local = until.astimezone(policy.organisation.zone())
    fresh = notices.new_purpose_needs_consent
    waiting = [
        {
            "point": point,
            "purpose": purpose,
            "category": category,
            "notice_until": local.isoformat(),
            "fresh_consent": fresh,
        }
        for point, purpose, category in uses
    ]
    warnings = []
    if fresh and uses:
        purposes = sorted({p for _, p, _ in uses})
        warnings.append(
            "data already held may serve "
            + ", ".join(purposes)
            + " only once each person has given fresh consent (privacy centre, API"
            " POST /api/v1/subjects/ID/consents/PURPOSE/grant, troth consent grant)"
            + (f", and not before {local:%Y-%m-%d %H:%M %Z}" if until > now else "")
        )
    return waiting, warnings


def install_policy(ctx: Context, text: str, index: PolicyIndex) -> None:
    """Make ``index`` (compiled from ``text``) the policy in force in ``ctx``: the policy
    file replaced atomically, the index swapped (a version another process published:
    :mod:`troth.policy.follow`)."""
    _install(ctx, text, index)


def _install(ctx: Context, text: str, index: PolicyIndex) -> None:
    """Make the new policy the one in force: replace the file atomically, swap the index."""
    target = ctx.settings.resolved_policy_file
    if not target.exists() or target.read_text() != text:
        # A file of this process's own: several processes may install the same version.
        tmp = target.with_name(f"{target.name}.publishing.{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, target)
    # Until its effective date the version before it rules (troth.policy.schedule).
    follow_versions(ctx, index)
