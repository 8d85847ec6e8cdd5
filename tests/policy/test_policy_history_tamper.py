"""Trial #14, F10: a database writer without the key file back-dates the published policy
history (``policy_versions``: when a version was published, when it takes effect, its
digest or text; ``policy_notices``: when its notices were posted). Before, the privacy
centre showed the forged dates, a process opened afterwards decided on them (a version
waiting for its date ruled at once, a new use's notice period seemed to have run) and
``troth audit verify`` passed. Now verify fails naming the version, and troth decides on
(and shows) the dates the audit log recorded at publishing, auditing the edit
``record_tampered``. An honest publish lifecycle still verifies. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from troth.audit import verify_log
from troth.audit.entries import list_entries
from troth.engine import Troth
from troth.errors import Refused
from troth.gate import Actor, ActorKind
from troth.notices.publish import publish_policy
from troth.policy.versions import policy_versions, published_versions
from troth.store.tables import policy_notices

SUPPORT = Actor(ActorKind.staff, "sam", role="support")
ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 widget",
}
# Published 2 Mar 2026 09:00 UTC: 30 days' notice, so 2 Apr is the first day it may rule.
EFFECTIVE = date(2026, 4, 2)
FORGED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _v(t: Troth, tmp_path: Path, version: str, *, use: bool, effective: date) -> Path:
    """The home's policy as ``version``, with order data used for licence management
    (a new use of data already held: P08) or not."""
    data = yaml.safe_load(t.ctx.settings.resolved_policy_file.read_text())
    data["version"] = version
    data["effective"] = effective
    point = next(p for p in data["collection_points"] if p["id"] == "order_form")
    if use and "licence_management" not in point["purposes"]:
        point["purposes"].append("licence_management")
    if not use and "licence_management" in point["purposes"]:
        point["purposes"].remove("licence_management")
    path = tmp_path / f"v{version}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _sql(t: Troth, *stmts: Any) -> None:
    """What a database writer without the key file does."""
    with t.ctx.engine.begin() as conn:
        for stmt in stmts:
            conn.execute(stmt)


def _refusal(t: Troth, sid: str) -> str:
    with pytest.raises(Refused) as exc:
        t.use(sid, purpose="licence_management", actor=SUPPORT)
    return str(exc.value.reason)


def _tampered(t: Troth) -> list[Any]:
    return [
        e.entry
        for e in list_entries(t.ctx, limit=10_000)
        if e.entry.action == "policy.version" and e.entry.reason == "record_tampered"
    ]


def _published(t: Troth, tmp_path: Path) -> str:
    """Ann's order, then version 2.0 published: licence management waits for 2 Apr."""
    sid = str(t.collect("order_form", ORDER).subject_id)
    result = publish_policy(t.ctx, _v(t, tmp_path, "2.0", use=True, effective=EFFECTIVE))
    assert result.material and result.new_uses
    assert verify_log(t.ctx).ok
    return sid


def _back_date(t: Troth) -> None:
    """Version 2.0 published long ago and in effect since, its notice posted then."""
    v, n = policy_versions.c, policy_notices.c
    _sql(
        t,
        sa.update(policy_versions)
        .where(v.version == "2.0")
        .values(effective=date(2026, 2, 5), published_at=FORGED),
        sa.update(policy_notices).where(n.version == "2.0").values(posted_at=FORGED),
    )


def test_an_honest_publish_lifecycle_verifies(home: Any, db_url: str, clock: Any, tmp_path):
    t = home("itechno", db_url)
    _published(t, tmp_path)
    clock.set(datetime(2026, 4, 10, tzinfo=UTC))
    # The use withdrawn again in a later version (material too: 30 days' notice).
    publish_policy(t.ctx, _v(t, tmp_path, "3.0", use=False, effective=date(2026, 5, 11)))
    check = verify_log(t.ctx)
    assert check.ok, check.problem
    assert check.bad_versions == []
    again = Troth.open(t.ctx.home, clock=clock)
    try:
        assert again.policy.version == "2.0"
        shown = {p.version: p for p in published_versions(again.ctx)}
        assert shown["2.0"].effective == EFFECTIVE and shown["3.0"].effective == date(2026, 5, 11)
        assert _tampered(again) == []
    finally:
        again.close()


def test_a_back_dated_version_fails_verify_and_decides_on_the_logged_dates(
    home: Any, db_url: str, clock: Any, tmp_path: Path
) -> None:
    t = home("itechno", db_url)
    sid = _published(t, tmp_path)
    _back_date(t)
    check = verify_log(t.ctx)
    assert not check.ok and "2.0" in check.bad_versions
    assert "effective" in str(check.problem) and "published_at" in str(check.problem)
    assert "change notices" in str(check.problem)
    # A process opened now: version 1.0 still rules, the new use still waits.
    clock.set(datetime(2026, 3, 20, tzinfo=UTC))  # the forged notice ran out on 4 Feb
    again = Troth.open(t.ctx.home, clock=clock)
    try:
        assert again.policy.version == "1.0"
        assert _refusal(again, sid) == "notice_period_running"
        # The public history shows what the log recorded, not the forged dates.
        (v2,) = [p for p in published_versions(again.ctx) if p.version == "2.0"]
        assert v2.effective == EFFECTIVE
        assert v2.published_at.astimezone(UTC).date() == date(2026, 3, 2)
        (audited,) = _tampered(again)
        assert audited.details["version"] == "2.0"
        assert audited.details["effective_honoured"] == EFFECTIVE.isoformat()
        clock.set(datetime(2026, 4, 2, tzinfo=UTC) - timedelta(seconds=1))
        assert _refusal(again, sid) == "notice_period_running"
        clock.set(datetime(2026, 4, 2, tzinfo=UTC))  # the day the log recorded
        assert again.use(sid, purpose="licence_management", actor=SUPPORT).get("name")
    finally:
        again.close()
    assert len(_tampered(t)) == 1  # once per process


def test_a_digest_or_text_edit_fails_verify_and_moves_nothing(
    home: Any, db_url: str, clock: Any, tmp_path: Path
) -> None:
    t = home("itechno", db_url)
    sid = _published(t, tmp_path)
    v = policy_versions.c
    # The text and digest of 2.0 replaced by another file's (consistent with each other).
    other = _v(t, tmp_path, "2.0", use=True, effective=date(2026, 3, 2)).read_text()
    forged = hashlib.sha256(other.encode()).hexdigest()
    _sql(t, sa.update(policy_versions).where(v.version == "2.0").values(text=other, digest=forged))
    check = verify_log(t.ctx)
    assert not check.ok and check.bad_versions == ["2.0"]
    assert "digest" in str(check.problem)
    again = Troth.open(t.ctx.home, clock=clock)
    try:
        # The policy file is still the 2.0 the log recorded: it waits for 2 Apr.
        assert again.policy.version == "1.0"
        assert _refusal(again, sid) == "notice_period_running"
        assert _tampered(again)
    finally:
        again.close()
    # The text alone (the digest left as recorded).
    _sql(t, sa.update(policy_versions).where(v.version == "1.0").values(text="version: '1.0'\n"))
    check = verify_log(t.ctx)
    assert not check.ok and "1.0" in check.bad_versions and "text" in str(check.problem)


def test_a_notice_back_dated_alone_or_a_version_inserted_fails_verify(
    home: Any, db_url: str, tmp_path: Path
) -> None:
    t = home("itechno", db_url)
    _published(t, tmp_path)
    n = policy_notices.c
    _sql(t, sa.update(policy_notices).where(n.version == "2.0").values(posted_at=FORGED))
    check = verify_log(t.ctx)
    assert not check.ok and check.bad_versions == ["2.0"]
    assert "change notices" in str(check.problem)
    _sql(t, sa.update(policy_notices).values(posted_at=datetime(2026, 3, 2, 9, tzinfo=UTC)))
    assert verify_log(t.ctx).ok
    _sql(t, sa.delete(policy_notices).where(n.version == "2.0"))  # the new use forgotten
    check = verify_log(t.ctx)
    assert not check.ok and check.bad_versions == ["2.0"]
    text = "version: '0.9'\n"
    _sql(
        t,
        sa.insert(policy_versions).values(
            version="0.9",
            effective=date(2025, 1, 1),
            published_at=datetime(2025, 1, 1, tzinfo=UTC),
            digest=hashlib.sha256(text.encode()).hexdigest(),
            text=text,
            material=False,
        ),
    )
    check = verify_log(t.ctx)
    assert "0.9" in check.bad_versions and "never recorded" in str(check.problem)
