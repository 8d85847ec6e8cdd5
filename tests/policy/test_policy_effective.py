"""P08, P34, P36: a published version takes effect at midnight of its effective date in the
organisation's time zone; until then the version before it rules collection, use,
disclosure and consent (what only the new version allows is refused
``notice_period_running``), in this process, in one opened afterwards and across the
instant (a second before, the second itself), in a zone far from UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from troth.audit.entries import list_entries
from troth.engine import Troth
from troth.errors import Refused
from troth.gate import Actor, ActorKind
from troth.store.tables import records

APP = Actor(ActorKind.application, "shop", scopes=frozenset({"admin"}))
ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 widget",
}
AUDITOR = {
    "id": "auditor",
    "name": "Order auditor",
    "kind": "third_party",
    "location": "US",
    "safeguard": "Contract limiting use to auditing orders",
    "receives": [{"purpose": "order_fulfilment", "categories": ["identity"]}],
}
# 15 Apr 2026 00:00 in Auckland (NZST, UTC+12) is 14 Apr 12:00 UTC.
TAKES_EFFECT = datetime(2026, 4, 14, 12, 0, tzinfo=UTC)


def _auckland(data: dict[str, Any]) -> None:
    data["organisation"]["time_zone"] = "Pacific/Auckland"


def _v2(t: Troth, tmp_path: Path) -> Path:
    data = yaml.safe_load(t.ctx.settings.resolved_policy_file.read_text())
    data["version"] = "2.0"
    data["effective"] = date(2026, 4, 15)
    data["recipients"].append(dict(AUDITOR))
    path = tmp_path / "v2.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _refusal(t: Troth, sid: str) -> str:
    with pytest.raises(Refused) as exc:
        t.disclosures.disclose(sid, "auditor", "order_fulfilment", actor=APP)
    return str(exc.value.reason)


def _versions(t: Troth, sid: str) -> set[str]:
    with t.ctx.engine.connect() as conn:
        rows = conn.execute(
            sa.select(records.c.policy_version).where(records.c.subject_id == sid)
        ).scalars()
        return set(rows)


def test_a_new_recipient_waits_for_the_effective_instant(
    home: Any, db_url: str, clock: Any, tmp_path: Path
) -> None:
    t = home("itechno", db_url, edit=_auckland)
    sid = t.collect("order_form", ORDER).subject_id
    result = t.policy.publish(_v2(t, tmp_path))
    assert result.material and result.takes_effect is not None
    assert result.takes_effect.astimezone(UTC) == TAKES_EFFECT
    assert result.warnings[0].startswith("version 2.0 takes effect on 2026-04-15 00:00 NZST")
    # The day after publishing: version 1.0 rules, the new recipient gets nothing.
    clock.advance(days=1)
    assert t.policy.version == "1.0"
    assert _refusal(t, sid) == "notice_period_running"
    refused = [e.entry for e in list_entries(t.ctx, subject_id=sid)]
    refused = [e for e in refused if e.action == "disclose"]
    assert refused and refused[-1].outcome == "deny"
    assert refused[-1].reason == "notice_period_running"
    # A process opened now (the policy file already holds 2.0) decides on 1.0 too.
    again = Troth.open(t.ctx.home, clock=clock)
    try:
        assert again.policy.version == "1.0"
        assert _refusal(again, sid) == "notice_period_running"
        clock.set(TAKES_EFFECT - timedelta(seconds=1))  # 14 Apr 23:59:59 in Auckland
        assert _refusal(again, sid) == "notice_period_running"
        clock.set(TAKES_EFFECT)
        assert again.policy.version == "2.0"
        sent = again.disclosures.disclose(sid, "auditor", "order_fulfilment", actor=APP)
        assert [(v.field, v.value) for v in sent.values] == [("name", "Ann Lee")]
    finally:
        again.close()


def test_data_collected_before_the_instant_is_collected_under_the_old_version(
    home: Any, db_url: str, clock: Any, tmp_path: Path
) -> None:
    t = home("itechno", db_url, edit=_auckland)
    t.policy.publish(_v2(t, tmp_path))
    clock.set(TAKES_EFFECT - timedelta(seconds=1))
    before = t.collect("order_form", {**ORDER, "email": "bo@example.com"}).subject_id
    clock.set(TAKES_EFFECT)
    after = t.collect("order_form", {**ORDER, "email": "cy@example.com"}).subject_id
    assert _versions(t, before) == {"1.0"}
    assert _versions(t, after) == {"2.0"}


def test_an_unknown_recipient_is_still_not_listed(
    home: Any, db_url: str, clock: Any, tmp_path: Path
) -> None:
    # Only what the waiting version allows is "waiting": anything else is refused as ever.
    t = home("itechno", db_url, edit=_auckland)
    sid = t.collect("order_form", ORDER).subject_id
    t.policy.publish(_v2(t, tmp_path))
    with pytest.raises(Refused) as exc:
        t.disclosures.disclose(sid, "nobody", "order_fulfilment", actor=APP)
    assert exc.value.reason == "recipient_not_listed"
    with pytest.raises(Refused) as exc:
        t.disclosures.disclose(
            sid, "auditor", "order_fulfilment", actor=APP, categories=["shipping_address"]
        )
    assert exc.value.reason == "notice_period_running"  # the recipient waits, first
    clock.set(TAKES_EFFECT)
    with pytest.raises(Refused) as exc:
        t.disclosures.disclose(
            sid, "auditor", "order_fulfilment", actor=APP, categories=["shipping_address"]
        )
    assert exc.value.reason == "recipient_category_not_allowed"


def test_a_new_version_may_not_take_effect_before_a_waiting_one(
    home: Any, clock: Any, tmp_path: Path
) -> None:
    t = home("itechno", edit=_auckland)
    v2 = _v2(t, tmp_path)
    v2.write_text(v2.read_text().replace("2026-04-15", "2026-04-02"))
    t.policy.publish(v2, effective=date(2026, 4, 15))  # the date recorded, not the file's
    data = yaml.safe_load(t.ctx.settings.resolved_policy_file.read_text())
    data["version"] = "2.1"
    data["effective"] = date(2026, 4, 10)  # before 2.0's date, though after its notice
    data["organisation"]["name"] = "iTechno Ltd"
    path = tmp_path / "v21.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(Exception, match="before the version in force"):
        t.policy.publish(path)
