"""Bulk execution (issue 19): the same scenarios run one by one and in bulk end in the same
stores (troth's and the connected shop's) and the same audit trail per person; legal holds,
legal minimums, consents and queued mail are honoured alike; a run killed with SIGKILL at a
fault point resumes with no step done twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import connected_schema as cs
from cli_runner import run
from requests_helpers import SHOP_ENV, buy, connect_shop, shop_db, verified
from troth.audit.tables import audit_entries as audit_log
from troth.consent.tables import consent_state
from troth.engine import Troth
from troth.notices.outbox import outbox
from troth.requests.tables import request_events, requests
from troth.store.tables import records, subject_keys, subjects

PEOPLE = range(1, 9)


def _scenario(t: Troth, url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Eight shop customers; six in troth. One on legal hold, one closing their account,
    one with a newsletter consent and queued newsletter mail, one unknown to troth (only
    the shop has them). Returns what the comparison needs."""
    shop = connect_shop(t, url, monkeypatch, PEOPLE)
    sids = {i: buy(t, cs.email_of(i), name=f"Person {i}") for i in (1, 2, 3, 4, 5, 6)}
    t.consent.grant(sids[3], "newsletter")
    t.retention.place_hold(reason="case 42", subject_id=sids[2])
    rids = {}
    for i in (1, 2, 3, 4, 6, 7):
        rids[i] = verified(t, "delete", cs.email_of(i))
    rids[5] = verified(t, "close_account", cs.email_of(5))
    return {"shop": shop, "sids": sids, "rids": rids}


def _norm_shop(engine: sa.Engine) -> dict[str, list[tuple[str, ...]]]:
    # Hashes are keyed per home: only that a value was hashed is compared.
    return {
        t: [tuple("h:" if v.startswith("h:") else v for v in row) for row in rows]
        for t, rows in cs.snapshot(engine).items()
    }


def _state(t: Troth, sc: dict[str, Any]) -> dict[str, Any]:
    """troth's store and audit trail per person, with ids replaced by the person's number."""
    who = {sid: i for i, sid in sc["sids"].items()}
    req_of = {rid: i for i, rid in sc["rids"].items()}
    out: dict[str, Any] = {}
    with t.ctx.engine.connect() as conn:
        for sid, i in who.items():
            s = conn.execute(sa.select(subjects).where(subjects.c.id == sid)).mappings().one()
            out[f"subject {i}"] = (
                s["status"],
                s["erased_at"] is not None,
                s["relationship_ended_at"] is not None,
                s["email_bidx"] is None,
                s["legal_hold"],
            )
            out[f"records {i}"] = sorted(
                (r.field, r.category, r.restricted_to, str(r.restricted_until))
                for r in conn.execute(sa.select(records).where(records.c.subject_id == sid))
            )
            out[f"keys {i}"] = conn.execute(
                sa.select(sa.func.count()).where(subject_keys.c.subject_id == sid)
            ).scalar()
            out[f"consent {i}"] = sorted(
                (r.purpose, r.granted, r.kind)
                for r in conn.execute(
                    sa.select(consent_state).where(consent_state.c.subject_id == sid)
                )
            )
            out[f"mail {i}"] = sorted(
                (r.kind, r.status, r.purpose)
                for r in conn.execute(sa.select(outbox).where(outbox.c.subject_id == sid))
            )
        trail: dict[int, list[tuple[Any, ...]]] = {}
        for e in conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)).mappings():
            d = json.loads(e["details"])
            i = who.get(e["subject_id"])
            if i is None:
                i = req_of.get(d.get("request_id"))
            if i is None:
                continue
            details = {
                k: v
                for k, v in d.items()
                if k
                not in (
                    "request_id",
                    "batch",
                    "result",
                    "outbox_id",
                    "receipt_id",
                    "hold",
                    "legal_holds",
                )
            }
            trail.setdefault(i, []).append(
                (e["action"], e["outcome"], e["reason"], e["purpose"], sorted(details.items()))
            )
        out["audit"] = trail
        for i, rid in sc["rids"].items():
            r = conn.execute(sa.select(requests).where(requests.c.id == rid)).mappings().one()
            out[f"request {i}"] = (r["state"], r["result"]["systems"][0])
            out[f"events {i}"] = [
                (e.event, e.from_state, e.to_state)
                for e in conn.execute(
                    sa.select(request_events)
                    .where(request_events.c.request_id == rid)
                    .order_by(request_events.c.id)
                )
            ]
    return out


def test_bulk_ends_where_one_by_one_ends(
    home: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    two_dbs: tuple[str | None, str | None],
) -> None:
    one = home("mindlink", two_dbs[0], name="one")
    sc1 = _scenario(one, shop_db(tmp_path, "shop1"), monkeypatch)
    for rid in sc1["rids"].values():
        one.requests.execute(rid)
    many = home("mindlink", two_dbs[1], name="many")
    sc2 = _scenario(many, shop_db(tmp_path, "shop2"), monkeypatch)
    report = many.requests.execute_many(list(sc2["rids"].values()), batch_size=4)
    # Person 2 is on legal hold: their deletion is deferred, not "completed" (it once was).
    assert not report.failed and len(report.completed) == 6 and len(report.jobs) == 2
    assert report.deferred == [sc2["rids"][2]]

    assert _norm_shop(sc1["shop"]) == _norm_shop(sc2["shop"])
    a, b = _state(one, sc1), _state(many, sc2)
    assert a.keys() == b.keys()
    for key in a:
        if key == "audit":
            for i in a[key]:
                for x, y in zip(a[key][i], b[key][i], strict=False):
                    assert x == y, (i, x, y)
                assert len(a[key][i]) == len(b[key][i]), i
        assert a[key] == b[key], key
    # What the scenario is about actually happened (not two equally wrong runs).
    assert a["subject 2"][4] == "case 42" and a["subject 2"][0] != "erased"
    assert a["records 2"] and all(r[2] is None for r in a["records 2"])
    assert a["request 2"][0] == "awaiting_hold" and a["subject 2"][1] is False
    assert cs.email_of(2) in str(cs.snapshot(sc2["shop"]))  # the hold keeps the shop's too
    assert a["subject 1"][0] == "erased" and a["keys 1"] == 0
    assert a["records 1"] and all(r[2] == "sales" for r in a["records 1"])  # legal minimum
    assert a["subject 5"][0] == "erased" and a["subject 5"][2]  # closed, then erased
    assert ("newsletter", False, "erasure") in a["consent 3"]
    shop = cs.snapshot(sc2["shop"])
    assert shop["newsletter_signups"] == []  # 1, 3, 5 and 7 signed up; all four asked
    assert cs.email_of(8) in str(shop["customers"]) and cs.email_of(1) not in str(shop)
    # One entry per person per step, in bulk as one by one.
    for i in sc2["rids"]:
        actions = Counter(x[0] for x in b["audit"][i])
        assert actions["request.started"] == 1
        assert actions["request.completed"] == (0 if i == 2 else 1)
        assert actions["request.deferred"] == (1 if i == 2 else 0)


def test_bulk_refuses_what_execute_refuses(home: Any) -> None:
    t = home("mindlink")
    sid = buy(t, "ann@example.com")
    assert sid
    unverified = t.requests.open("delete", email="ann@example.com").id
    done = verified(t, "delete", "ann@example.com")
    t.requests.execute(done)
    report = t.requests.execute_many([unverified, done, "nope"])
    assert set(report.failed) == {unverified, done, "nope"}
    assert "not verified" in report.failed[unverified]
    assert "already completed" in report.failed[done]
    assert t.requests.get(unverified).state.value == "identity_unverified"
    with pytest.raises(Exception, match="batch_size"):
        t.requests.execute_many([], batch_size=0)


def _cli(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("troth")
    return subprocess.run(
        [str(exe), "--home", str(home), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("fault", ["bulk.started", "bulk.connected"])
def test_killed_mid_batch_resumes_with_no_step_done_twice(
    home: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    t = home("mindlink")
    url = shop_db(tmp_path)
    sc = _scenario(t, url, monkeypatch)
    t.ctx.engine.dispose()
    env = {**os.environ, SHOP_ENV: url, "TROTH_TEST_FAULT": fault}
    killed = _cli(t.ctx.settings.home, env, "requests", "execute", "--all", "--batch-size", "4")
    assert killed.returncode == -9, killed.stderr
    states = Counter(t.requests.get(r).state.value for r in sc["rids"].values())
    assert states == {"in_progress": 4, "verified": 3}
    env.pop("TROTH_TEST_FAULT")
    rerun = _cli(t.ctx.settings.home, env, "requests", "execute", "--all", "--batch-size", "4")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    # Person 2's deletion waits for their legal hold (it was once counted completed).
    assert "6 completed, 0 left open, 1 waiting for a legal hold to end" in rerun.stdout
    with t.ctx.engine.connect() as conn:
        entries = conn.execute(
            sa.select(audit_log.c.action, audit_log.c.details).where(
                audit_log.c.action.like("request.%")
            )
        ).all()
        jobs = conn.execute(sa.text("SELECT id, state FROM connector_jobs")).all()
    for i, rid in sc["rids"].items():
        mine = Counter(a for a, d in entries if json.loads(d).get("request_id") == rid)
        done = 0 if i == 2 else 1  # person 2 is on legal hold: deferred
        assert mine["request.started"] == 1, (rid, mine)
        assert mine["request.completed"] == done, (rid, mine)
        assert mine["request.delete"] + mine["request.close_account"] == done, (rid, mine)
        assert mine["request.deferred"] == 1 - done, (rid, mine)
    assert len(jobs) == 2 and all(s == "complete" for _, s in jobs)
    # The shop is erased for everyone asked (person 8 never asked: untouched).
    shop = cs.snapshot(sc["shop"])
    assert cs.email_of(8) in str(shop["customers"])
    for i in (1, 3, 4, 5, 6, 7):
        assert cs.email_of(i) not in str(shop["customers"]), i


def test_connector_and_schemas_are_kept_per_home(
    home: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from troth.requests.connected import shared_connector

    t = home("mindlink")
    sc = _scenario(t, shop_db(tmp_path), monkeypatch)
    t.requests.execute(sc["rids"][1])
    first = shared_connector(t.ctx)
    assert first is not None
    tables = first.runner("shop")._tables
    assert tables is not None  # reflected by the first request
    t.requests.execute(sc["rids"][3])
    assert shared_connector(t.ctx) is first and first.runner("shop")._tables is tables
    # Another URL for the dataset, or another declaration: a new connector.
    monkeypatch.setenv(SHOP_ENV, shop_db(tmp_path, "elsewhere"))
    assert shared_connector(t.ctx) is not first
    for f in t.ctx.settings.resolved_datasets_dir.glob("*.yaml"):
        f.unlink()
    assert shared_connector(t.ctx) is None


def test_execute_usage_errors_say_what_to_fix(
    home: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # In this process, as `troth` runs it (the subprocess runs are the killed ones above).
    t = home("mindlink")
    t.ctx.engine.dispose()
    home_dir = str(t.ctx.settings.home)
    for args, says in (
        ([], "name one request, or give --all"),
        (["some-id", "--all"], "name one request, or give --all"),
        (["some-id", "--batch-size", "9"], "go with --all"),
        (["--all", "--change", "email=a@b.c"], "are for one request"),
        (["--all", "--kind", "dance"], "dance"),
        (["--all", "--batch-size", "0"], "batch_size must be 1 to 5000"),
    ):
        code, out, err = run(capsys, "--home", home_dir, "requests", "execute", *args)
        assert code == 1, (args, out, err)
        assert says in out + err, (args, out, err)
    code, out, err = run(capsys, "--home", home_dir, "requests", "execute", "--all", "--json")
    assert code == 0 and json.loads(out) == {
        "completed": 0,
        "failed": {},
        "jobs": [],
        "deferred": 0,
    }


def test_bulk_needs_the_request_desk_power(home: Any) -> None:
    from troth.audit.entries import list_entries
    from troth.errors import Refused
    from troth.gate import Actor, ActorKind

    t = home("mindlink")
    buy(t, "ann@example.com")
    rid = verified(t, "delete", "ann@example.com")
    for who, reason in (
        (Actor(ActorKind.staff, "sam", role="support"), "power_not_granted"),
        (Actor(ActorKind.tenant_admin, "boss", tenant_id="t1"), "tenant_bound"),
    ):
        with pytest.raises(Refused) as err:
            t.requests.execute_many([rid], actor=who)
        assert err.value.reason == reason
        last = list_entries(t.ctx, newest_first=True, limit=1)[0].entry
        assert last.action == "office.manage_requests" and last.reason == reason
    assert t.requests.get(rid).state.value == "verified"
    office = Actor(ActorKind.staff, "pat", role="privacy_office")
    assert t.requests.execute_many([rid], actor=office).completed == [rid]
    assert t.requests.get(rid).state.value == "completed"
