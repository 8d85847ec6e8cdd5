"""A use for a purpose that declares its categories, of a person who holds no value of
them, is refused ``nothing_held``, not ``purpose_not_declared_for_category`` (trial 19,
F10: the wrong code sent an operator to fix a policy with nothing wrong). The same answer
whatever else the person holds; the neighbouring reasons keep theirs; the audit entry, the
HTTP problem and the CLI line say the same."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cli_runner import run
from troth.app import create_app
from troth.audit.entries import list_entries
from troth.engine import Troth
from troth.errors import Refused
from troth.gate import Actor, ActorKind, Reason

READER = Actor(ActorKind.application, "reader", scopes=frozenset({"use"}))
TRACKING = {"browser": "Firefox", "auth_id": "a-1"}
APPLICANT = {"name": "Ann", "email": "ann@example.com", "cv": "Ten years of Python."}
WORDS = "this person holds nothing 'recruitment' may use (contact, identity, job_application)"


@pytest.fixture
def t(home: Any, db_url: str) -> Troth:
    return home("mindlink", db_url)  # type: ignore[no-any-return]


def _refused(t: Troth, sid: str, **kwargs: Any) -> Refused:
    with pytest.raises(Refused) as exc:
        t.use(sid, purpose="recruitment", actor=READER, **kwargs)
    return exc.value


def test_a_person_holding_none_of_what_the_purpose_uses_is_nothing_held(t: Troth) -> None:
    visitor = t.collect("website_tracking", TRACKING).subject_id
    err = _refused(t, visitor)
    assert err.reason == Reason.nothing_held
    assert str(err) == f"{WORDS}: nothing_held"
    assert "technical" not in str(err) and "credentials" not in str(err)  # not what is held
    (entry,) = list_entries(t.ctx, subject_id=visitor, action="use", outcome="deny")
    assert entry.entry.reason == "nothing_held" and entry.entry.purpose == "recruitment"
    # A person who also holds a card (kept for sales) gets the very same answer.
    carded = t.collect("website_tracking", TRACKING).subject_id
    t.collect(
        "purchase",
        {"name": "Cy", "email": "cy@example.com", "address": "x", "product": "P"},
        subject_id=carded,
    )
    assert _refused(t, carded).reason == Reason.purpose_not_of_collection  # a name is held
    again = t.collect("website_tracking", {**TRACKING, "ip_address": "192.0.2.7"}).subject_id
    assert str(_refused(t, again)) == str(err)


def test_the_neighbouring_reasons_keep_theirs(t: Troth) -> None:
    applicant = t.collect("job_application", APPLICANT).subject_id
    assert t.use(applicant, purpose="recruitment", actor=READER).get("cv")
    # A name and address held, collected for the newsletter, not for recruitment.
    reader = t.collect(
        "newsletter_signup", {"name": "Bo", "email": "bo@example.com"}, consents=["newsletter"]
    ).subject_id
    assert _refused(t, reader).reason == Reason.purpose_not_of_collection
    # A category the purpose does not declare, asked by name.
    err = _refused(t, applicant, categories=["cookies"])
    assert err.reason == Reason.purpose_not_declared_for_category
    # A key without the scope: the key, not the person, is the reason.
    key = Actor(ActorKind.application, "sales", scopes=frozenset({"use:sales"}))
    visitor = t.collect("website_tracking", TRACKING).subject_id
    with pytest.raises(Refused) as exc:
        t.use(visitor, purpose="recruitment", actor=key)
    assert exc.value.reason == Reason.scope_missing


def test_http_and_cli_say_nothing_held(
    t: Troth, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    visitor = t.collect("website_tracking", TRACKING).subject_id
    key, _ = t.access.keys.create_api_key("reader", ["use"])
    with TestClient(create_app(t.ctx), raise_server_exceptions=False) as c:
        r = c.get(
            f"/api/v1/subjects/{visitor}?purpose=recruitment",
            headers={"Authorization": f"Bearer {key}"},
        )
    assert r.status_code == 403, r.text
    assert r.json()["reason"] == "nothing_held" and WORDS in r.json()["detail"]
    monkeypatch.setenv("TROTH_HOME", str(t.ctx.home))
    monkeypatch.setenv("COLUMNS", "300")
    code, _, err = run(capsys, "use", visitor, "--purpose", "recruitment", "--actor", "app:x")
    assert code == 3 and "refused (nothing_held)" in err, err
