"""P07, P08, P34, P35, P36: publishing a changed policy, through the CLI and the API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from outbox_helpers import bodies, outbox_mail
from troth.cli import main
from troth.clock import ManualClock
from troth.consent import ConsentLedger
from troth.errors import Conflict, PolicyError, Refused, ValidationError
from troth.gate import Actor, ActorKind
from troth.notices.history import notice_feed
from troth.notices.outbox import outbox
from troth.notices.publish import publish_policy
from troth.policy.versions import policy_history, policy_versions
from troth.store.tables import policy_notices, records

SUPPORT = Actor(ActorKind.staff, "sam", role="support")
APP = Actor(ActorKind.application, "shop", scopes=frozenset({"admin"}))
ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 widget",
}


def _policy(t) -> dict[str, Any]:
    return yaml.safe_load(t.ctx.settings.resolved_policy_file.read_text())


def _write(tmp_path: Path, data: dict[str, Any], name: str = "v2.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _point(data: dict[str, Any], pid: str) -> dict[str, Any]:
    return next(p for p in data["collection_points"] if p["id"] == pid)


def _purpose(data: dict[str, Any], pid: str) -> dict[str, Any]:
    return next(p for p in data["purposes"] if p["id"] == pid)


def test_p08_new_use_waits_for_the_notice_period(home, db_url, clock, tmp_path):
    t = home("itechno", db_url)
    before = t.collect("order_form", ORDER)
    with pytest.raises(Refused) as exc:
        t.use(before.subject_id, purpose="licence_management", actor=SUPPORT)
    assert exc.value.reason == "purpose_not_of_collection"
    data = _policy(t)
    data["version"] = "2.0"
    _point(data, "order_form")["purposes"].append("licence_management")
    # A material change: 30 days' notice from publishing (2 Mar 09:00 UTC) runs to 1 Apr
    # 09:00, so 2 Apr is the first whole day it may be in force.
    data["effective"] = date(2026, 4, 2)
    result = publish_policy(t.ctx, _write(tmp_path, data))
    assert result.material
    assert ("order_form", "licence_management", "contact") in result.new_uses
    # Posted today: the 30-day notice runs before data already held is used this way.
    with pytest.raises(Refused) as exc:
        t.use(before.subject_id, purpose="licence_management", actor=SUPPORT)
    assert exc.value.reason == "notice_period_running"
    # Until 2 Apr (UTC) version 1.0 rules: data collected now is collected under it, for
    # its purposes, and waits like the rest.
    during = t.collect("order_form", {**ORDER, "email": "cy@example.com"})
    assert "licence_management" not in during.purposes
    clock.set(datetime(2026, 4, 2, tzinfo=UTC) - timedelta(seconds=1))  # notice ran, v1 rules
    for sid in (before.subject_id, during.subject_id):
        with pytest.raises(Refused) as exc:
            t.use(sid, purpose="licence_management", actor=SUPPORT)
        assert exc.value.reason == "notice_period_running"
    clock.advance(seconds=1)  # 2 Apr 00:00 UTC: version 2.0 in effect
    view = t.use(before.subject_id, purpose="licence_management", actor=SUPPORT)
    assert view.get("email") == "ann@example.com"
    # Data collected under the new version states the new use: no wait.
    after = t.collect("order_form", {**ORDER, "email": "bo@example.com"})
    assert "licence_management" in after.purposes
    assert (
        t.use(after.subject_id, purpose="licence_management", actor=SUPPORT).get("name")
        == "Ann Lee"
    )


def test_p07_new_use_and_changed_notice_need_fresh_consent(home, db_url, clock, tmp_path):
    t = home("ixanet", db_url)
    ledger = ConsentLedger(t.ctx)
    r = t.collect(
        "marketing_optin", {"name": "Cy", "email": "cy@example.com"}, consents=["marketing"]
    )
    assert t.use(r.subject_id, purpose="marketing", actor=APP).get("email") == "cy@example.com"
    data = _policy(t)
    data["version"] = "2019-06"
    data["effective"] = date(2026, 3, 2)  # ixanet gives no notice period: today is allowed
    _purpose(data, "marketing")["notice"] = "We will also send offers by text message."
    data["purposes"].append(
        {
            "id": "product_research",
            "description": "Invite clients to research on future products.",
            "legal_basis": "consent",
            "categories": ["identity", "contact"],
            "withdraw": "Reply STOP or use the link in any e-mail.",
        }
    )
    _point(data, "marketing_optin")["purposes"].append("product_research")
    result = publish_policy(t.ctx, _write(tmp_path, data))
    assert result.reconsent == ["marketing"]
    # The old consent was given to another notice: not enough any more (P07).
    with pytest.raises(Refused) as exc:
        t.use(r.subject_id, purpose="marketing", actor=APP)
    assert exc.value.reason == "no_consent"
    with pytest.raises(Refused) as exc:
        t.use(r.subject_id, purpose="product_research", actor=APP)
    assert exc.value.reason == "no_consent"
    ledger.grant(r.subject_id, "marketing")  # shown the new notice
    ledger.grant(r.subject_id, "product_research")
    assert t.use(r.subject_id, purpose="marketing", actor=APP).get("email") == "cy@example.com"
    assert t.use(r.subject_id, purpose="product_research", actor=APP).get("name") == "Cy"
    ledger.withdraw(r.subject_id, "product_research")
    with pytest.raises(Refused):
        t.use(r.subject_id, purpose="product_research", actor=APP)


def test_p34_publish_records_versions_and_refuses_bad_files(home, db_url, tmp_path):
    t = home("itechno", db_url)
    data = _policy(t)
    broken = dict(data, version="2.0")
    broken["purposes"] = [dict(_purpose(data, "billing"), categories=["billing", "nonsense"])]
    with pytest.raises(PolicyError):
        publish_policy(t.ctx, _write(tmp_path, broken, "broken.yaml"))
    minor = dict(data, version="1.1")
    minor["organisation"] = dict(data["organisation"], name="iTechno Ltd")
    r = publish_policy(t.ctx, _write(tmp_path, minor, "minor.yaml"))
    assert not r.material and r.emails_queued == 0
    # The same version with other content is refused; the same file again is a no-op.
    changed = dict(minor, organisation=dict(minor["organisation"], name="Other"))
    with pytest.raises(Conflict, match="new `version`"):
        publish_policy(t.ctx, _write(tmp_path, changed, "clash.yaml"))
    assert publish_policy(t.ctx, tmp_path / "minor.yaml").already_published
    history = policy_history(t.ctx)
    assert [v["version"] for v in history] == ["1.1", "1.0"]
    assert t.ctx.settings.resolved_policy_file.read_text() == (tmp_path / "minor.yaml").read_text()
    with t.ctx.engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(policy_versions)).scalar_one() == 2
        )


def test_p35_material_change_emails_each_customer_once_and_posts_a_notice(
    home, db_url, tmp_path, capsys
):
    t = home("phone-service", db_url)
    for i in range(3):
        t.access.tenants.create_tenant(f"Customer {i}", f"admin{i}@customer{i}.example")
    data = _policy(t)
    data["version"] = "2027-01"
    # The CLI runs on the real clock: in force after the 30 days' notice from today.
    data["effective"] = date.today() + timedelta(days=40)
    data["recipients"].append(
        {
            "id": "call_analytics",
            "name": "CallStats Ltd",
            "kind": "sub_processor",
            "location": "GB",
            "receives": [{"purpose": "service_improvement", "categories": ["call_records"]}],
        }
    )
    path = _write(tmp_path, data)
    home_dir = str(t.ctx.home)
    with pytest.raises(SystemExit) as exit_:
        main(["--home", home_dir, "policy", "publish", str(path), "--json"])
    assert exit_.value.code == 0
    assert '"material": true' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--home", home_dir, "policy", "publish", str(path)])  # interrupted? run again
    mails = outbox_mail(t)
    assert sorted(m.to_addr for m in mails) == [f"admin{i}@customer{i}.example" for i in range(3)]
    # The new recipient by its name, never its id (what the people mailed read).
    assert all(m.kind == "notice" and "CallStats Ltd" in m.body_text for m in mails)
    assert not any("call_analytics" in m.body_text for m in mails)
    feed = notice_feed(t.ctx)
    assert feed[0]["version"] == "2027-01" and feed[0]["changes"]


def test_p36_values_keep_the_version_they_were_collected_under(home, db_url, tmp_path, capsys):
    t = home("itechno", db_url)
    old = t.collect("order_form", ORDER)
    data = _policy(t)
    data["version"] = "2.0"
    publish_policy(t.ctx, _write(tmp_path, data))
    new = t.collect("order_form", {**ORDER, "email": "new@example.com"})
    with t.ctx.engine.connect() as conn:
        tags = {
            sid: v
            for sid, v in conn.execute(
                sa.select(records.c.subject_id, records.c.policy_version).distinct()
            )
        }
    assert tags == {old.subject_id: "1.0", new.subject_id: "2.0"}
    counts = {v["version"]: v["values_collected_under"] for v in policy_history(t.ctx)}
    assert counts == {"1.0": 6, "2.0": 6}
    with pytest.raises(SystemExit):
        main(["--home", str(t.ctx.home), "policy", "history"])
    out = capsys.readouterr().out
    assert "2.0" in out and "1.0" in out and "6 value(s)" in out
    assert (
        t.use(old.subject_id, purpose="billing", actor=Actor(ActorKind.staff, "a", role="accounts"))
        .values[0]
        .policy_version
        == "1.0"
    )


def test_publish_effective_date_before_current_is_refused(home, tmp_path):
    from datetime import date

    from troth.errors import ValidationError

    t = home("itechno")
    data = dict(_policy(t), version="2.0")
    with pytest.raises(ValidationError, match="effective"):
        publish_policy(t.ctx, _write(tmp_path, data), effective=date(2000, 1, 1))


def _stored(t) -> tuple[int, int, int]:
    with t.ctx.engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in (policy_versions, policy_notices, outbox)
        )


def test_p08_material_change_cannot_take_effect_before_its_notice_ran(
    home, db_url, clock, tmp_path
):
    t = home("itechno", db_url)
    t.access.tenants.create_tenant("Customer", "admin@customer.example")
    t.collect("order_form", ORDER)
    data = _policy(t)
    data["version"] = "2.0"
    _point(data, "order_form")["purposes"].append("licence_management")
    before, text = _stored(t), t.ctx.settings.resolved_policy_file.read_text()
    # In the past (the 2025-01-01), today, and the last day of the notice.
    for when in (date(2025, 1, 1), date(2026, 3, 2), date(2026, 4, 1)):
        data["effective"] = when
        with pytest.raises(ValidationError) as err:
            publish_policy(t.ctx, _write(tmp_path, data))
        assert err.value.code == "effective_too_early"
        assert err.value.details["earliest"] == "2026-04-02"
        assert "2026-04-02" in str(err.value) and "30 days" in str(err.value)
        # --effective is checked the same way as the file's date.
        with pytest.raises(ValidationError, match="2026-04-02"):
            publish_policy(t.ctx, _write(tmp_path, data), effective=when)
    # Nothing stored, posted, mailed or installed.
    assert _stored(t) == before and t.ctx.policy.version == "1.0"
    assert t.ctx.settings.resolved_policy_file.read_text() == text
    data["effective"] = date(2026, 4, 2)
    result = publish_policy(t.ctx, _write(tmp_path, data))
    assert result.effective == date(2026, 4, 2) and result.material
    mails = _mail_bodies(t)
    assert mails and all("effective 2026-04-02" in body for body in mails)


def _mail_bodies(t) -> list[str]:
    return bodies(t)


def test_p08_earliest_date_is_in_the_organisations_time_zone(home, clock, tmp_path):
    # 12:00 UTC on 2 Mar is 01:00 on 3 Mar in Auckland; the notice ends 01:00 2 Apr there.
    clock.set(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    t = home("ilign")
    data = _policy(t)
    data["version"] = "2.0"
    data["recipients"].append(
        {
            "id": "mail_house",
            "name": "Mail House Ltd",
            "kind": "processor",
            "location": "NZ",
            "receives": [{"purpose": data["purposes"][0]["id"], "categories": ["contact"]}],
        }
    )
    data["effective"] = date(2026, 4, 2)  # fine in UTC, a day early in Auckland
    with pytest.raises(ValidationError) as err:
        publish_policy(t.ctx, _write(tmp_path, data))
    assert err.value.details["earliest"] == "2026-04-03"
    assert "Pacific/Auckland" in str(err.value)
    data["effective"] = date(2026, 4, 3)
    assert publish_policy(t.ctx, _write(tmp_path, data)).material


def test_non_material_change_may_keep_an_earlier_date(home, db_url, tmp_path):
    # A clarification changes nobody's rights: no notice is owed, and it may carry the date
    # it was agreed, but never one before the version in force.
    t = home("itechno", db_url)
    data = _policy(t)
    data["version"] = "1.1"
    data["purposes"][0]["description"] += " (clarified)"
    data["effective"] = date(2025, 1, 1)
    result = publish_policy(t.ctx, _write(tmp_path, data))
    assert not result.material and result.effective == date(2025, 1, 1)
    data["version"] = "1.2"
    data["effective"] = date(2023, 12, 31)
    with pytest.raises(ValidationError, match="before the version in force"):
        publish_policy(t.ctx, _write(tmp_path, data))


def test_p08_cli_publish_refuses_an_early_effective_date(home, tmp_path, capsys):
    t = home("itechno")
    data = _policy(t)
    data["version"] = "2.0"
    _point(data, "order_form")["purposes"].append("licence_management")
    path = _write(tmp_path, data)
    home_dir = str(t.ctx.home)
    earliest = date.today() + timedelta(days=31)
    with pytest.raises(SystemExit) as exit_:
        main(["--home", home_dir, "policy", "publish", str(path), "--effective", "2025-01-01"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "effective_too_early" in err and "2025-01-01" in err
    # The real clock: the earliest day is 31 days from today, or 30 if it is past midnight UTC
    # exactly (never); allow either side of a day change while the test runs.
    assert (
        str(earliest) in err
        or str(earliest - timedelta(days=1)) in err
        or (str(earliest + timedelta(days=1)) in err)
    )
    assert _stored(t) == (1, 0, 0)


def test_p08_api_publish_refuses_an_early_effective_date(home, db_url):
    import re

    from _http import api_key, client_for, is_problem

    ctx = home(
        "mindlink", db_url, clock=ManualClock(), context=True
    )  # clock: 5 Jan 2026 09:00 UTC, London
    text = ctx.settings.resolved_policy_file.read_text()
    changed = re.sub(r"(\n\s+keep_for: )\S+", r"\g<1>P20Y", text, count=1)
    changed = changed.replace('version: "1.0"', 'version: "1.1"', 1)
    yaml_type = {"Content-Type": "application/yaml"}
    with client_for(ctx) as c:
        h = {**api_key(c, ["admin"]), **yaml_type}
        for when in ("2025-01-01", "2026-02-04"):
            bad = c.post(f"/api/v1/policy/publish?effective={when}", content=changed, headers=h)
            problem = is_problem(bad, 422, "effective_too_early")
            assert problem["earliest"] == "2026-02-05" and "Europe/London" in problem["detail"]
        with ctx.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one() == 0
            versions = conn.execute(sa.select(policy_versions.c.version)).scalars().all()
        assert "1.1" not in versions and ctx.policy.version == "1.0"
        ok = c.post("/api/v1/policy/publish?effective=2026-02-05", content=changed, headers=h)
        assert ok.status_code == 200, ok.text
        assert ok.json()["effective"] == "2026-02-05"
    ctx.engine.dispose()


def test_p35_notice_goes_to_no_address_put_there_outside_troth(home, db_url, tmp_path):
    """A new use of held data mails each person it touches at the address they gave; an
    address a database writer put in place of Bo's (it no longer matches its seal) gets
    nothing, in the preview's count or the outbox."""
    from troth.notices.preview import preview_publish

    t = home("itechno", db_url)
    t.collect("order_form", ORDER)
    bo = t.collect("order_form", {**ORDER, "email": "bo@example.com"}).subject_id
    with t.ctx.engine.begin() as conn:
        conn.execute(
            sa.update(records)
            .where(records.c.subject_id == bo, records.c.field == "email")
            .values(value='"thief@example.net"')
        )
    data = _policy(t)
    data["version"] = "2.0"
    _point(data, "order_form")["purposes"].append("licence_management")
    data["effective"] = date(2026, 4, 2)
    path = _write(tmp_path, data)
    preview = preview_publish(t.ctx, path.read_text(), path.name)
    assert preview.people == 1  # Ann; Bo's address is not his
    publish_policy(t.ctx, path)
    with t.ctx.engine.connect() as conn:
        sent = set(conn.execute(sa.select(outbox.c.to_addr)).scalars())
    assert "ann@example.com" in sent and "thief@example.net" not in sent


def test_p35_notice_goes_to_those_whose_data_the_new_use_touches(home, db_url, tmp_path):
    """A new use of what the order form collected is told to the people who ordered, not
    to someone whose only data (of the same categories) came through another point."""
    from troth.notices.preview import preview_publish

    t = home("itechno", db_url)
    t.collect("order_form", ORDER)
    t.collect("account_signup", {"name": "Cy", "email": "cy@example.com", "username": "cy"})
    data = _policy(t)
    data["version"] = "2.0"
    _point(data, "order_form")["purposes"].append("licence_management")
    data["effective"] = date(2026, 4, 2)
    path = _write(tmp_path, data)
    assert preview_publish(t.ctx, path.read_text(), path.name).people == 1
    publish_policy(t.ctx, path)
    with t.ctx.engine.connect() as conn:
        sent = set(conn.execute(sa.select(outbox.c.to_addr)).scalars())
    assert "ann@example.com" in sent and "cy@example.com" not in sent


def test_p35_the_notice_names_things_in_words_not_ids(home, db_url, tmp_path):
    """What changed, as the people mailed read it: the collection point and the purpose by
    their descriptions from the policy, never their ids."""
    t = home("itechno", db_url)
    t.collect("order_form", ORDER)
    data = _policy(t)
    data["version"] = "2.0"
    _point(data, "order_form")["purposes"].append("licence_management")
    data["effective"] = date(2026, 4, 2)
    publish_policy(t.ctx, _write(tmp_path, data))
    (body,) = bodies(t, to="ann@example.com")
    changed = body.split("What changed:")[1].split("\n\n")[0]
    assert "'order_form'" not in changed and "'licence_management'" not in changed, changed
    assert _purpose(data, "licence_management")["description"] in changed, changed
    assert _point(data, "order_form")["description"] in changed, changed


def _new_courier(data: dict[str, Any]) -> dict[str, Any]:
    courier = {
        "id": "night_courier",
        "name": "Night Courier Ltd",
        "kind": "third_party",
        "role": "delivers orders overnight",
        "location": "US",
        "safeguard": "Contract limiting use to delivery",
        "receives": [
            {
                "purpose": "order_fulfilment",
                "categories": ["identity", "shipping_address"],
                "fields": ["name", "address"],
            }
        ],
    }
    data["recipients"].append(courier)
    return courier


def test_p35_a_new_recipient_is_told_to_those_whose_data_it_receives(home, db_url, tmp_path):
    """A new recipient starts no new use, yet it is a material change (P34): its notice goes
    to the people whose data it may receive (what the order form collected for order
    fulfilment), not to someone who only signed up for an account, and the privacy centre
    lists the change in words. Before, such a change mailed nobody and the centre said
    "No recent changes"."""
    from _http import client_for
    from troth.notices.preview import preview_publish

    t = home("itechno", db_url)
    t.collect("order_form", ORDER)
    t.collect("account_signup", {"name": "Cy", "email": "cy@example.com", "username": "cy"})
    data = _policy(t)
    data["version"] = "2.0"
    courier = _new_courier(data)
    data["effective"] = date(2026, 4, 2)
    path = _write(tmp_path, data)
    assert preview_publish(t.ctx, path.read_text(), path.name).people == 1
    result = publish_policy(t.ctx, path)
    assert result.material and result.emails_queued == 1, result
    mails = {m.to_addr: m.body_text for m in outbox_mail(t)}
    assert set(mails) == {"ann@example.com"}
    assert courier["name"] in mails["ann@example.com"]
    assert "night_courier" not in mails["ann@example.com"]
    with client_for(t.ctx) as c:
        notices = c.get("/privacy").text.split('id="notices-h"')[1].split("</section>")[0]
    assert "No recent changes" not in notices
    assert "Version 2.0" in notices and courier["name"] in notices
    assert "night_courier" not in notices


def test_p35_a_change_of_the_organisation_is_told_to_everyone(home, db_url, tmp_path):
    """A material change no single purpose, point or recipient is about (where data may be
    stored, here) concerns everyone troth holds an address for."""
    t = home("itechno", db_url)
    t.collect("order_form", ORDER)
    t.collect("account_signup", {"name": "Cy", "email": "cy@example.com", "username": "cy"})
    data = _policy(t)
    data["version"] = "2.0"
    data["locations"]["allowed"].append("IN")
    data["effective"] = date(2026, 4, 2)
    result = publish_policy(t.ctx, _write(tmp_path, data))
    assert result.material
    with t.ctx.engine.connect() as conn:
        sent = set(conn.execute(sa.select(outbox.c.to_addr)).scalars())
    assert sent == {"ann@example.com", "cy@example.com"}
