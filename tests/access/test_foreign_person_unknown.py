"""To a credential bound to a tenant, a person of another tenant (or one of the
organisation's own) is unknown in the Python API too: `t.use` raises the very NotFound an
id naming nobody gets, where it used to raise ``Refused(not_a_member, "this person's data
belongs to another customer")``, an existence oracle (trial 19, F11). The audit log keeps
the truth (``not_a_member`` under the caller's tenant, never in the person's log); HTTP
and the CLI answer 404 for both, as before."""

from __future__ import annotations

from typing import Any

import pytest

from _http import api_key, client_for
from cli_runner import run
from troth.audit.entries import list_entries
from troth.engine import Troth
from troth.errors import NotFound
from troth.gate import Actor, ActorKind
from unknown_helpers import NOBODY, assert_unknown_to

PW = "a long test password"
ANN = {"company_name": "Gym A Ltd", "name": "Ann Lee", "email": "ann@gyma.example"}
BO = {"company_name": "Gym B Ltd", "name": "Bo Chan", "email": "bo@gymb.example"}


@pytest.fixture
def gyms(home: Any) -> tuple[Troth, str, str, str, str, str]:
    """A phone-service home: Gym A's person, Gym B's, and one of the organisation's own."""
    t: Troth = home("phone-service")
    a = t.access.tenants.create_tenant("Gym A", "office@gyma.example")
    b = t.access.tenants.create_tenant("Gym B", "office@gymb.example")
    ann = t.collect("customer_signup", ANN, tenant_id=a).subject_id
    bo = t.collect("customer_signup", BO, tenant_id=b).subject_id
    own = t.collect("customer_signup", {**ANN, "email": "own@vendor.example"}).subject_id
    return t, a, b, ann, bo, own


def _member(t: Troth, tenant: str, email: str, *, admin: bool = False) -> Actor:
    user = t.access.accounts.add_user(
        email,
        kind="tenant_member",
        tenant_id=tenant,
        tenant_role="admin" if admin else "member",
        password=PW,
    )
    kind = ActorKind.tenant_admin if admin else ActorKind.tenant_member
    return Actor(kind, user.id, tenant_id=tenant)


def test_another_tenants_person_is_unknown_to_every_tenant_bound_actor(gyms: Any) -> None:
    t, a, _b, ann, bo, own = gyms
    actors = [
        _member(t, a, "m@gyma.example"),
        _member(t, a, "boss@gyma.example", admin=True),
        Actor(ActorKind.application, "gym-a-app", tenant_id=a, scopes=frozenset({"use"})),
    ]
    for actor in actors:
        # Their own person: read as before.
        assert t.use(ann, purpose="provide_service", actor=actor).get("name") == "Ann Lee"
        for other in (bo, own):  # Gym B's person; the organisation's own
            assert_unknown_to(t, other, "provide_service", actor)
            assert_unknown_to(t, other, "provide_service", actor, categories=["identity"])
    # Nothing of it is in Gym B's person's log (it would tell them who tried).
    assert not [
        e for e in list_entries(t.ctx, subject_id=bo, limit=1000) if e.entry.action == "use"
    ]


def test_even_a_purpose_the_policy_does_not_declare_tells_nothing(gyms: Any) -> None:
    t, a, _b, _ann, bo, _own = gyms
    actor = _member(t, a, "m@gyma.example")
    assert_unknown_to(t, bo, "no_such_purpose", actor)


def test_a_member_actor_without_its_tenant_finds_no_one(gyms: Any) -> None:
    """A customer-side actor built without its tenant (a caller's mistake) reaches no
    person, and is told so as of an unknown id, not "belongs to another customer"."""
    t, a, _b, ann, bo, own = gyms
    user = _member(t, a, "m@gyma.example")
    bare = Actor(ActorKind.tenant_member, user.id)
    for sid in (ann, bo, own):
        with pytest.raises(NotFound):
            t.use(sid, purpose="provide_service", actor=bare)


def test_http_and_cli_still_answer_404_for_both(
    gyms: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    t, a, _b, _ann, bo, _own = gyms
    with client_for(t.ctx) as c:
        key = api_key(c, ["use"], tenant_id=a)
        for sid in (bo, NOBODY):
            r = c.get(f"/api/v1/subjects/{sid}?purpose=provide_service", headers=key)
            assert r.status_code == 404 and r.json()["code"] == "not_found", r.text
    monkeypatch.setenv("TROTH_HOME", str(t.ctx.home))
    monkeypatch.setenv("COLUMNS", "300")
    _member(t, a, "m@gyma.example")
    said = []
    for sid in (bo, NOBODY):
        code, _, err = run(capsys, "use", sid, "--purpose", "provide_service",
                           "--actor", "tenant_member:m@gyma.example@Gym A")  # fmt: skip
        assert code == 1 and "not_found" in err, err
        said.append(" ".join(err.split()).replace(sid, "ID"))
    assert said[0] == said[1]
