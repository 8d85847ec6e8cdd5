"""An end of a relationship is bounded, and moving one takes more than ending one (the
Pillbox trial): a `collect` key backdated a person's end to 1971 with `correct`, and the
next retention run deleted their contact data at once; `end-relationship --at 2010-01-01`
was taken for data collected that day.

An end is never before the day troth first knew the person (their row, or their first
value, whichever is earlier; the day in the person's zone), never after now; an end
already recorded is replaced only by troth itself, the privacy office, the customer's
admins or an `admin` key; every refusal is audited with the old and the asked end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from _http import api_key, client_for, is_problem
from cli_runner import run
from troth.access import actor_for
from troth.audit.entries import list_entries
from troth.errors import Refused, ValidationError
from troth.gate import Actor, ActorKind
from troth.store.subject_seals import update_subjects
from troth.store.subjects import lookup_subject
from troth.store.tables import records, subjects

POLICY = Path(__file__).parent / "hirewell.yaml"
API = "/api/v1/subjects"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the tests' clock: 20:00 on 2 March in Sydney
OFFICE = Actor(ActorKind.staff, "po", role="privacy_office")
PW = "a long test password 1"


def _people(t: Any) -> tuple[str, str, str, str]:
    acme = t.access.tenants.create_tenant("Acme", "hr@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "hr@bolt.example")
    data = {"name": "Rob", "email": "rob@a.ex", "cv_text": "welder"}
    rob = t.collect("application", data, tenant_id=acme).subject_id
    bo = t.collect("application", {"name": "Bo", "email": "bo@b.ex"}, tenant_id=bolt).subject_id
    return acme, bolt, rob, bo


def _held(t: Any, sid: str) -> set[str]:
    with t.ctx.engine.connect() as conn:
        q = select(records.c.category).where(records.c.subject_id == sid)
        return set(conn.execute(q).scalars())


def _ended(t: Any, sid: str) -> datetime | None:
    return lookup_subject(t.ctx, sid).relationship_ended_at


def test_a_collect_key_cannot_backdate_an_end_and_empty_the_store(home: Any, db_url: str) -> None:
    ctx = home(db=db_url, policy=POLICY, context=True)
    from troth.engine import Troth

    t = Troth(ctx)
    acme, _bolt, rob, bo = _people(t)
    end = f"{API}/{rob}/relationship/end"
    trial = {"at": "1971-01-01", "reason": "oops", "correct": True}
    with client_for(ctx) as c:
        shop = api_key(c, ["collect"])  # the trial's key: any tenant's people
        own = api_key(c, ["collect"], tenant_id=acme)
        for key in (shop, own):
            body = is_problem(c.post(end, json=trial, headers=key), 422, "time_before_person")
            assert body["earliest"] == "2026-03-02" and body["field"] == "at"
            assert "earliest end allowed is 2026-03-02" in body["detail"]
        assert _ended(t, rob) is None
        # Ending today is the collecting key's to say.
        r = c.post(end, json={"reason": "rejected"}, headers=shop)
        assert r.status_code == 200 and r.json()["ended_at"] == START.isoformat()
        # Moving the end it recorded, even to a time inside the bounds, is not.
        for key in (shop, own):
            moved = c.post(end, json={"at": "2026-03-02", "correct": True}, headers=key)
            assert is_problem(moved, 403)["reason"] == "scope_missing"
        # Acme's key on Bolt's person: unknown, whatever the body says.
        other = c.post(f"{API}/{bo}/relationship/end", json=trial, headers=own)
        is_problem(other, 404, "not_found")
    assert _ended(t, rob) == START and _ended(t, bo) is None
    ctx.clock.advance(days=1)
    assert t.retention.run().total == 0
    assert _held(t, rob) == {"identity", "contact", "cv"}
    # Every refusal is in the log: the bad times, the corrections with both ends, the probe.
    bad = list_entries(ctx, action="relationship.end", outcome="deny", limit=20)
    reasons = sorted(e.entry.reason or "" for e in bad)
    assert reasons == ["scope_missing"] * 2 + ["time_before_person"] * 2
    moves = [e.entry for e in bad if e.entry.reason == "scope_missing"]
    assert all(e.subject_id == rob and e.tenant_id == acme for e in moves)
    assert moves[0].details == {
        "operation": "correct",
        "previous_ended_at": START.isoformat(),
        "asked_ended_at": "2026-03-01T13:00:00+00:00",
    }
    # The probe is filed in the caller's own log, naming the id asked for (not Bo's).
    probes = list_entries(ctx, action="change_relationship", limit=50)
    named = [e.entry for e in probes if e.entry.details.get("subject_named") == bo]
    assert [(e.outcome, e.reason, e.subject_id) for e in named] == [("deny", "not_a_member", None)]


def test_cli_refuses_an_end_before_the_person(
    home: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    t = home(policy=POLICY)  # the people are collected at START; the CLI runs on today's clock
    _acme, _bolt, rob, _bo = _people(t)
    h = str(t.ctx.home)
    for at in ("2010-01-01", "2026-03-01", "2026-03-01T23:59", "2026-03-01T12:59:59+00:00"):
        code, _out, err = run(capsys, "--home", h, "subjects", "end-relationship", rob, "--at", at)
        assert code == 1 and "the earliest end allowed is 2026-03-02" in err, (at, err)
    assert _ended(t, rob) is None
    # The day troth first knew the person is allowed, from its midnight in Sydney.
    code, out, err = run(capsys, "--home", h, "subjects", "end-relationship", rob, "--at",
                         "2026-03-02", "-q")  # fmt: skip
    assert (code, out) == (0, "2026-03-01T13:00:00+00:00\n"), err


def test_bounds_are_the_persons_days_in_their_zone(home: Any, tmp_path: Path, clock: Any) -> None:
    policy = yaml.safe_load(POLICY.read_text())
    policy["organisation"]["time_zones"] = {"uk_gdpr": "Europe/London"}
    path = tmp_path / "hirewell.yaml"
    path.write_text(yaml.safe_dump(policy))
    t = home(policy=path)
    acme = t.access.tenants.create_tenant("Acme", "hr@acme.example")
    # 20:00 on 2 March in London is already 07:00 on 3 March in Sydney.
    clock.set(datetime(2026, 3, 2, 20, 0, tzinfo=UTC))
    syd = t.collect("application", {"name": "A", "email": "a@a.ex"}, tenant_id=acme).subject_id
    lon = t.collect("application", {"name": "B", "email": "b@a.ex"}, tenant_id=acme,
                    jurisdiction="uk_gdpr").subject_id  # fmt: skip
    clock.set(datetime(2026, 3, 10, 0, 0, tzinfo=UTC))
    with pytest.raises(ValidationError) as err:
        t.subjects.end_relationship(syd, at="2026-03-02", actor=OFFICE)
    assert err.value.code == "time_before_person" and err.value.details["earliest"] == "2026-03-03"
    r = t.subjects.end_relationship(lon, at="2026-03-02", actor=OFFICE)
    assert r.ended_at == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # midnight in London (GMT)
    r = t.subjects.end_relationship(syd, at="2026-03-03", actor=OFFICE)
    assert r.ended_at == datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
    # Never after now, in the person's zone as anywhere: later today is still the future.
    with pytest.raises(ValidationError) as err:
        t.subjects.end_relationship(lon, at="2026-03-10T00:30", actor=OFFICE, correct=True)
    assert err.value.code == "time_in_future"


def test_the_first_value_counts_when_older_than_the_row(t_hire: Any, clock: Any) -> None:
    t = t_hire
    _acme, _bolt, rob, _bo = _people(t)
    # The row says later than the values (re-created by a restore, say): the values count.
    with t.ctx.engine.begin() as conn:
        later = START + timedelta(days=20)
        update_subjects(conn, t.ctx.keys, subjects.c.id == rob, created_at=later)
    clock.advance(days=30)
    with pytest.raises(ValidationError) as err:  # still never before the first value's day
        t.subjects.end_relationship(rob, at="2026-03-01", actor=OFFICE)
    assert err.value.details["earliest"] == "2026-03-02"
    r = t.subjects.end_relationship(rob, at="2026-03-05", actor=OFFICE)
    assert r.ended_at == datetime(2026, 3, 4, 13, 0, tzinfo=UTC)


@pytest.fixture
def t_hire(home: Any, db_url: str) -> Any:
    return home(db=db_url, policy=POLICY)


def test_who_may_correct_a_recorded_end(t_hire: Any, clock: Any) -> None:
    t = t_hire
    acme, _bolt, rob, _bo = _people(t)
    members = {}
    for role in ("admin", "member"):
        tok, _ = t.access.tenants.invite(acme, f"{role}@acme.example", role=role)
        members[role] = actor_for(t.access.tenants.accept_invitation(tok, PW))
    collect = Actor(ActorKind.application, "ats", tenant_id=acme, scopes=frozenset({"collect"}))
    admin_key = Actor(ActorKind.application, "hq", tenant_id=acme, scopes=frozenset({"admin"}))
    # A first end with `correct` asked is an end, the collecting key's to record.
    clock.advance(days=10)
    first = t.subjects.end_relationship(rob, at="2026-03-05", actor=collect, correct=True)
    assert first.changed and first.previous is None
    refused = {"scope_missing": collect, "role_not_allowed": members["member"]}
    for reason, actor in refused.items():
        with pytest.raises(Refused) as err:
            t.subjects.end_relationship(rob, at="2026-03-03", actor=actor, correct=True)
        assert err.value.reason == reason
        out = t.subjects.end_relationships([rob], at="2026-03-03", actor=actor, correct=True)
        assert [(o.outcome, o.reason) for o in out] == [("refused", reason)]
    assert _ended(t, rob) == first.ended_at
    # Asked again without `correct`, the first end stands, for anyone who may end.
    assert not t.subjects.end_relationship(rob, at="2026-03-03", actor=collect).changed
    days = ["2026-03-03", "2026-03-04", "2026-03-06", "2026-03-07"]
    for day, actor in zip(days, (members["admin"], admin_key, OFFICE, None), strict=True):
        kw = {} if actor is None else {"actor": actor}  # None: troth itself (the CLI's default)
        r = t.subjects.end_relationship(rob, at=day, correct=True, **kw)
        assert r.changed and r.previous is not None and _ended(t, rob) == r.ended_at, actor
    done = [
        e.entry.details
        for e in list_entries(t.ctx, action="relationship.end", outcome="info", limit=20)
        if e.entry.details.get("corrected")
    ]
    assert [(d["previous_ended_at"][:10], d["ended_at"][:10]) for d in done] == [
        ("2026-03-04", "2026-03-02"),
        ("2026-03-02", "2026-03-03"),
        ("2026-03-03", "2026-03-05"),
        ("2026-03-05", "2026-03-06"),
    ]
    denied = list_entries(t.ctx, action="relationship.end", outcome="deny", limit=20)
    assert (
        sorted(e.entry.reason or "" for e in denied)
        == ["role_not_allowed"] * 2 + ["scope_missing"] * 2
    )
