"""P07 (ixanet: "every new use needs fresh consent"): a new version that lets data already
held serve a purpose resting on legitimate interest holds that data back until the person
consents, whatever the basis. Publish says which uses (point, purpose, category) wait for
what; the person can give that consent (Python, API, CLI, privacy centre), after which the
use is allowed; before, and after a withdrawal, it is refused with `no_consent` (or
`notice_period_running` while the notice runs). A consent to a purpose that waits for none
is still refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from _http import api_key, client_for
from outbox_helpers import outbox_mail
from troth.cli import main
from troth.clock import ManualClock
from troth.consent import ConsentLedger
from troth.engine import Troth
from troth.errors import Refused, ValidationError
from troth.gate import Actor, ActorKind
from troth.notices.publish import publish_policy

APP = Actor(ActorKind.application, "shop", scopes=frozenset({"admin"}))
UPDATES = {
    "id": "service_updates",
    "description": "Tell clients about changes to the services they use.",
    "legal_basis": "legitimate_interest",
    "categories": ["identity", "contact"],
}


def _v2(t: Any, tmp_path: Path, notice_days: int | None = None) -> Path:
    data = yaml.safe_load(t.ctx.settings.resolved_policy_file.read_text())
    data["version"] = "2019-06"
    data["purposes"].append(dict(UPDATES))
    point = next(p for p in data["collection_points"] if p["id"] == "marketing_optin")
    point["purposes"].append("service_updates")
    if notice_days is not None:
        data["notices"]["notice_period_days"] = notice_days
    data["effective"] = date(2026, 3, 2) if not notice_days else date(2026, 5, 1)
    path = tmp_path / "v2.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _refused(t: Any, sid: str) -> str:
    with pytest.raises(Refused) as exc:
        t.use(sid, purpose="service_updates", actor=APP)
    return str(exc.value.reason)


def test_p07_new_legitimate_interest_use_waits_for_fresh_consent(
    home: Any, db_url: str, tmp_path: Path
) -> None:
    t = home("ixanet", db_url)
    ledger = ConsentLedger(t.ctx)
    old = t.collect(
        "marketing_optin", {"name": "Cy", "email": "cy@example.com"}, consents=["marketing"]
    )
    result = publish_policy(t.ctx, _v2(t, tmp_path))
    waiting = {(w["point"], w["purpose"], w["category"]): w for w in result.waiting}
    assert set(waiting) == {
        ("marketing_optin", "service_updates", "identity"),
        ("marketing_optin", "service_updates", "contact"),
    }
    assert all(w["fresh_consent"] for w in waiting.values())
    assert result.warnings and "service_updates" in result.warnings[0]
    assert "fresh consent" in result.warnings[0]
    assert result.to_dict()["waiting"] == result.waiting
    # Data already held: held back until the person consents.
    assert _refused(t, old.subject_id) == "no_consent"
    # Data collected under the new version states the use: no consent needed (its basis).
    new = t.collect(
        "marketing_optin", {"name": "Di", "email": "di@example.com"}, consents=["marketing"]
    )
    assert t.use(new.subject_id, purpose="service_updates", actor=APP).get("name") == "Di"
    # The person consents (their choice, recorded with a receipt): the use is allowed.
    assert "service_updates" in ledger.fresh_consent_purposes()
    rec = ledger.grant(old.subject_id, "service_updates")
    assert rec.receipt_id
    assert t.use(old.subject_id, purpose="service_updates", actor=APP).get("name") == "Cy"
    ledger.withdraw(old.subject_id, "service_updates")
    assert _refused(t, old.subject_id) == "no_consent"


def test_p07_no_consent_for_a_purpose_that_waits_for_none(home: Any, db_url: str) -> None:
    t = home("ixanet", db_url)
    sid = t.collect(
        "marketing_optin", {"name": "Cy", "email": "cy@example.com"}, consents=["marketing"]
    ).subject_id
    ledger = ConsentLedger(t.ctx)
    assert ledger.fresh_consent_purposes() == frozenset()
    for purpose in ("legal_requirement", "no_such_purpose"):
        with pytest.raises(ValidationError) as err:
            ledger.grant(sid, purpose)
        assert err.value.code in ("not_consent_based", "unknown_purpose")
    assert ledger.state(sid).get("legal_requirement") is None


def test_p07_fresh_consent_and_notice_period_both_wait(
    home: Any, db_url: str, tmp_path: Path, clock: Any
) -> None:
    t = home("ixanet", db_url)
    old = t.collect(
        "marketing_optin", {"name": "Cy", "email": "cy@example.com"}, consents=["marketing"]
    )
    result = publish_policy(t.ctx, _v2(t, tmp_path, notice_days=30))
    # The notice runs to 1 Apr, but the version takes effect on 1 May (UTC): the new use
    # waits for that (before, version 1 rules and has no such purpose).
    assert {w["notice_until"][:10] for w in result.waiting} == {"2026-05-01"}
    assert result.warnings[0].startswith("version 2019-06 takes effect on 2026-05-01 00:00")
    assert "not before 2026-05-01" in result.warnings[1]
    # Consent may be given ahead (the purpose is the waiting version's).
    ConsentLedger(t.ctx).grant(old.subject_id, "service_updates")
    assert _refused(t, old.subject_id) == "notice_period_running"  # consent is not enough
    clock.advance(days=30)
    assert _refused(t, old.subject_id) == "notice_period_running"  # the notice ran, not v2
    clock.set(datetime(2026, 5, 1, tzinfo=UTC) - timedelta(seconds=1))
    assert _refused(t, old.subject_id) == "notice_period_running"
    clock.advance(seconds=1)
    assert t.use(old.subject_id, purpose="service_updates", actor=APP).get("name") == "Cy"


def test_p07_fresh_consent_over_http_and_cli(
    home: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t = home("ixanet")
    cy = t.collect(
        "marketing_optin", {"name": "Cy", "email": "cy@example.com"}, consents=["marketing"]
    ).subject_id
    bo = t.collect(
        "marketing_optin", {"name": "Bo", "email": "bo@example.com"}, consents=["marketing"]
    ).subject_id
    home_dir = str(t.ctx.home)

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main(["--home", home_dir, *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    # Before the change there is nothing to consent to: refused, one line, exit 1.
    code, _, err = run("consent", "grant", cy, "service_updates")
    assert code == 1 and "unknown purpose 'service_updates'" in err
    code, _, err = run("consent", "grant", cy, "legal_requirement")
    assert code == 1 and "not consent" in err
    today = datetime.now(UTC).date().isoformat()  # the CLI runs on the real clock
    code, out, _ = run("policy", "publish", str(_v2(t, tmp_path)), "--effective", today)
    assert code == 0 and "service_updates (contact): waits for" in out and "fresh consent" in out
    assert "warning:" in out
    t = Troth.open(t.ctx.home)  # the version the CLI published
    code, out, _ = run("consent", "grant", cy, "service_updates", "--actor", "ada")
    assert code == 0 and "receipt" in out
    assert t.use(cy, purpose="service_updates", actor=APP).get("name") == "Cy"
    code, _, err = run("consent", "grant", cy, "service_updates", "--method", "pigeon")
    assert code == 1 and "unknown consent method" in err
    with client_for(t.ctx) as c:
        key = api_key(c, ["collect"])
        r = c.post(f"/api/v1/subjects/{bo}/consents/service_updates/grant", headers=key)
        assert r.status_code == 201, r.text
        bad = c.post(f"/api/v1/subjects/{bo}/consents/legal_requirement/grant", headers=key)
        assert bad.status_code == 422 and bad.json()["code"] == "not_consent_based"
    assert t.use(bo, purpose="service_updates", actor=APP).get("name") == "Bo"
    code, _, _ = run("consent", "withdraw", bo, "service_updates")
    assert code == 0 and _refused(t, bo) == "no_consent"
    t.close()


def test_p07_fresh_consent_in_the_privacy_centre(home: Any, tmp_path: Path, db_url: str) -> None:
    import re

    from _http import challenge_from, csrf_from

    ctx = home("ixanet", db_url, clock=ManualClock(), context=True)  # 5 Jan 2026, UTC
    t = Troth(ctx)
    sid = t.collect(
        "marketing_optin", {"name": "Cy", "email": "cy@example.com"}, consents=["marketing"]
    ).subject_id
    path = _v2(t, tmp_path)
    text = path.read_text().replace("effective: 2026-03-02", "effective: 2026-01-05")
    path.write_text(text)
    publish_policy(ctx, path)

    def code_for(email: str) -> str:
        newest = outbox_mail(ctx, to=email, newest_first=True)
        body = (newest[0].body_text,) if newest else None
        assert body is not None
        found = re.search(r"\b(\d{6})\b", body[0])
        assert found
        return found.group(1)

    with client_for(ctx) as c:
        page = c.get("/privacy/signin").text
        code_page = c.post(
            "/privacy/signin",
            data={"email": "cy@example.com", "csrf_token": csrf_from(page)},
        ).text
        c.post(
            "/privacy/code",
            data={
                "challenge": challenge_from(code_page),
                "code": code_for("cy@example.com"),
                "csrf_token": csrf_from(code_page),
            },
        )
        me = c.get("/privacy/me").text
        assert UPDATES["description"] in me and 'value="service_updates"' in me
        assert _refused(t, sid) == "no_consent"
        r = c.post(
            "/privacy/me/consents",
            data={"purpose": "service_updates", "action": "grant", "csrf_token": csrf_from(me)},
        )
        assert r.status_code == 200
    assert t.use(sid, purpose="service_updates", actor=APP).get("name") == "Cy"
    ctx.engine.dispose()
