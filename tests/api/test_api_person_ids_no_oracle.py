"""Every door that takes a person's id answers a caller bound to a tenant exactly alike for
another tenant's person, a random well-formed id naming nobody and a malformed id: the
whole answer (status, code, detail, every member; the id asked for is the only thing that
differs, and it is the caller's own input). A 404 with a ``subject_id`` member for an
unknown id beside one without it for another tenant's person, or a ``detail`` worded
otherwise, told a rival customer which ids are real people (trial 10, item 2).

The doors are found from the app itself (the OpenAPI document's path, query and body
parameters named ``subject_id``/``subject_ids``, and every page route with
``{subject_id}``) and from the CLI's commands (a person's id and an ``--actor``), so a new
one fails here until it is given a call below."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
import typer

from _http import PASSWORD, api_key, client_for, csrf_from
from cli_runner import run
from troth.app import create_app
from troth.audit.entries import list_entries
from troth.cli import _register
from troth.cli import app as cli_app
from troth.engine import Troth
from troth.gate import SYSTEM

ADA = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Hello"}
BOB = {"name": "Bob Byte", "email": "bob@example.com", "message": "Hi"}
MALFORMED = "not-an-id"
# An over-long id: the same 404, not a 422 telling the length rule (trial 18, F6).
LONG = "A" * 5000
SCOPES = ["use", "collect", "disclose", "requests", "requests:admin", "admin"]
PERSON = {"subject_id", "subject_ids"}

# Each HTTP door taking a person's id: how to call it with the id (``{id}``).
API_CALLS: dict[str, tuple[str, dict[str, Any] | None]] = {
    "GET /api/v1/subjects/{subject_id}": ("/api/v1/subjects/{id}?purpose=support", None),
    "GET /api/v1/subjects/{subject_id}/consents": ("/api/v1/subjects/{id}/consents", None),
    "POST /api/v1/subjects/{subject_id}/consents/{purpose}/grant": (
        "/api/v1/subjects/{id}/consents/support/grant",
        {},
    ),
    "POST /api/v1/subjects/{subject_id}/consents/{purpose}/withdraw": (
        "/api/v1/subjects/{id}/consents/support/withdraw",
        {},
    ),
    "GET /api/v1/subjects/{subject_id}/disclosures": ("/api/v1/subjects/{id}/disclosures", None),
    "POST /api/v1/subjects/{subject_id}/disclosures": (
        "/api/v1/subjects/{id}/disclosures",
        {"recipient": "law_enforcement", "purpose": "legal_compliance"},
    ),
    "POST /api/v1/subjects/{subject_id}/gpc": ("/api/v1/subjects/{id}/gpc", {}),
    "POST /api/v1/subjects/{subject_id}/relationship/end": (
        "/api/v1/subjects/{id}/relationship/end",
        {"reason": "left"},
    ),
    "POST /api/v1/subjects/{subject_id}/relationship/resume": (
        "/api/v1/subjects/{id}/relationship/resume",
        {},
    ),
    "POST /api/v1/collect/{point}": (
        "/api/v1/collect/support_request",
        {"data": {**ADA, "message": "again"}, "subject_id": "{id}"},
    ),
    "POST /api/v1/requests": ("/api/v1/requests", {"kind": "access", "subject_id": "{id}"}),
    "GET /api/v1/audit": ("/api/v1/audit?subject_id={id}", None),
    "POST /api/v1/retention/holds": (
        "/api/v1/retention/holds",
        {"reason": "Regulator inquiry", "subject_id": "{id}"},
    ),
    "POST /api/v1/breaches": (
        "/api/v1/breaches",
        {"title": "Leak", "discovered_at": "2024-01-01", "subject_ids": ["{id}"]},
    ),
    "POST /api/v1/breaches/{breach_id}/exclude": (
        "/api/v1/breaches/" + "0" * 32 + "/exclude",
        {"subject_ids": ["{id}"], "reason": "not affected"},
    ),
    "GET /console/people/{subject_id}": ("/console/people/{id}", None),
}

# Each CLI command taking a person's id and an --actor: its arguments (``{id}``, ``{actor}``).
CLI_CALLS: dict[str, list[str]] = {
    "use": ["use", "{id}", "--purpose", "support", "--actor", "{actor}"],
    "collect": [
        "collect",
        "support_request",
        "--data",
        json.dumps(ADA),
        "--subject",
        "{id}",
        "--actor",
        "{actor}",
    ],
    "disclosures send": [
        "disclosures",
        "send",
        "{id}",
        "--recipient",
        "law_enforcement",
        "--purpose",
        "legal_compliance",
        "--actor",
        "{actor}",
    ],
    "subjects end-relationship": ["subjects", "end-relationship", "{id}", "--actor", "{actor}"],
    "subjects resume-relationship": [
        "subjects",
        "resume-relationship",
        "{id}",
        "--actor",
        "{actor}",
    ],
    "requests open": ["requests", "open", "access", "--subject", "{id}", "--actor", "{actor}"],
    "consent grant": ["consent", "grant", "{id}", "support", "--yes", "--actor", "{actor}"],
    "consent withdraw": ["consent", "withdraw", "{id}", "support", "--actor", "{actor}"],
    "consent state": ["consent", "state", "{id}", "--actor", "{actor}"],
    "minors report": ["minors", "report", "{id}", "--evidence", "ticket 4", "--actor", "{actor}"],
    "retention hold": [
        "retention",
        "hold",
        "--subject",
        "{id}",
        "--reason",
        "inquiry",
        "--actor",
        "{actor}",
    ],
    "breaches record": [
        "breaches",
        "record",
        "--title",
        "Leak",
        "--subject",
        "{id}",
        "--category",
        "contact",
        "--actor",
        "{actor}",
    ],
    "breaches exclude": ["breaches", "exclude", "{breach}", "{id}", "--reason", "x"]
    + ["--actor", "{actor}"],
    "breaches notify": [
        "breaches",
        "notify",
        "{breach}",
        "--subject",
        "{id}",
        "--actor",
        "{actor}",
    ],
}
# ``audit show --actor`` filters by who acted; it does not act.
NOT_ACTING = {"audit show"}


def _props(doc: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    if "$ref" in schema:
        return _props(doc, doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    found = set(schema.get("properties", {}))
    for key in ("anyOf", "allOf", "oneOf"):
        for part in schema.get(key, []):
            found |= _props(doc, part)
    return found


def _walk(routes: Any) -> Any:
    for r in routes:
        if hasattr(r, "effective_candidates"):  # an included router
            yield from _walk(r.effective_candidates())
        elif getattr(r, "methods", None):
            yield r


def person_doors(app: Any) -> set[str]:
    """Every route of ``app`` that takes a person's id (path, query or body)."""
    doc = app.openapi()
    doors: set[str] = set()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            names = {p["name"] for p in op.get("parameters", [])}
            for content in op.get("requestBody", {}).get("content", {}).values():
                names |= _props(doc, content["schema"])
            if names & PERSON:
                doors.add(f"{method.upper()} {path}")
    for route in _walk(app.routes):  # pages are not in the OpenAPI document
        if "{subject_id}" in getattr(route, "path", "") and not route.path.startswith("/api"):
            doors |= {f"{m} {route.path}" for m in route.methods if m != "HEAD"}
    return doors


def person_commands() -> set[str]:
    """Every CLI command taking a person's id and an ``--actor``."""
    _register()

    def walk(group: Any, prefix: str = "") -> Any:
        for name, cmd in group.commands.items():
            path = f"{prefix} {name}".strip()
            if hasattr(cmd, "commands"):
                yield from walk(cmd, path)
            else:
                yield path, cmd

    found = set()
    for path, cmd in walk(typer.main.get_command(cli_app)):
        names = {p.name or "" for p in cmd.params}
        kinds = {getattr(p.callback, "id_kind", None) for p in cmd.params}
        person = any(n.startswith("subject") for n in names) or "subject" in kinds
        if person and "actor" in names:
            found.add(path)
    return found - NOT_ACTING


@pytest.fixture
def world(lite: Any) -> Any:
    t = Troth(lite)
    acme = t.access.tenants.create_tenant("Acme", "dpo@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "dpo@bolt.example")
    ada = t.collect("support_request", ADA, tenant_id=acme).subject_id
    t.collect("support_request", BOB, tenant_id=bolt)
    return t, acme, bolt, ada


def _seq(t: Troth) -> int:
    return list_entries(t.ctx, limit=1, newest_first=True)[0].seq


def _same_shape(text: str, asked: str) -> str:
    """The answer with the id asked for (the caller's own input) and per-request tokens
    (nonces, CSRF tokens, trace ids) taken out: what must not differ."""
    if len(asked) > 64:  # read as its first 64 characters and an ellipsis, so echoed
        text = text.replace(asked[:64] + "\u2026", "{id}").replace(asked[:64], "{id}")
    else:
        text = text.replace(asked, "{id}")
    text = re.sub(r'(nonce|csrf_token|value)="[^"]*"', r'\1="-"', text)
    return re.sub(r'"(instance|trace_id|request_id)":"[^"]*"', r'"\1":"-"', text)


def _outsider_probes_stay_home(t: Troth, before: int, acme: str, ada: str) -> None:
    """Nothing the probes wrote is in Acme's log or Ada's (it would tell Acme who tried)."""
    written = [e.entry for e in list_entries(t.ctx, after_seq=before, limit=1000)]
    assert all(e.tenant_id != acme and e.subject_id != ada for e in written), written


def test_the_doors_below_are_every_door_that_takes_a_persons_id(lite: Any) -> None:
    assert person_doors(create_app(lite)) == set(API_CALLS)
    assert person_commands() == set(CLI_CALLS)


@pytest.mark.parametrize("door", sorted(API_CALLS))
def test_another_tenants_person_is_answered_as_an_unknown_or_malformed_id(
    world: Any, door: str
) -> None:
    t, acme, bolt, ada = world
    path, body = API_CALLS[door]
    with client_for(t.ctx) as c:
        if door.split()[1].startswith("/console"):
            t.access.accounts.add_user(
                "eve@bolt.example", kind="tenant_member", tenant_id=bolt, password=PASSWORD
            )
            page = c.get("/tenant/login").text
            signed_in = c.post(
                "/tenant/login",
                data={
                    "email": "eve@bolt.example",
                    "password": PASSWORD,
                    "csrf_token": csrf_from(page),
                },
                follow_redirects=False,
            )
            assert signed_in.status_code == 303, signed_in.text
            key: dict[str, str] = {}
        else:
            key = api_key(c, SCOPES, tenant_id=bolt)
        before = _seq(t)
        answers = {}
        probes = (("other", ada), ("unknown", uuid.uuid4().hex), ("bad", MALFORMED))
        for name, sid in (*probes, ("long", LONG)):
            sent = json.loads(json.dumps(body).replace("{id}", sid)) if body is not None else None
            method = door.split()[0].lower()
            kwargs: dict[str, Any] = {"json": sent} if sent is not None else {}
            r = c.request(method, path.replace("{id}", sid), headers=key, **kwargs)
            assert r.status_code >= 400, (name, r.text)
            answers[name] = (r.status_code, r.headers.get("content-type"), _same_shape(r.text, sid))
        assert answers["other"] == answers["unknown"] == answers["bad"] == answers["long"], answers
        _outsider_probes_stay_home(t, before, acme, ada)


def test_a_read_of_another_tenants_person_is_still_filed_in_the_callers_log(world: Any) -> None:
    t, _acme, bolt, ada = world
    with client_for(t.ctx) as c:
        key = api_key(c, ["use"], tenant_id=bolt)
        before = _seq(t)
        c.get(f"/api/v1/subjects/{ada}?purpose=support", headers=key)
    entry = [e.entry for e in list_entries(t.ctx, after_seq=before, limit=10)][-1]
    assert (entry.action, entry.reason, entry.tenant_id) == ("use", "not_a_member", bolt)
    assert entry.details == {"subject_named": ada} and entry.subject_id is None


@pytest.mark.parametrize("command", sorted(CLI_CALLS))
def test_the_cli_answers_a_bound_actor_alike_for_another_tenants_person(
    world: Any, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    t, acme, bolt, ada = world
    home = str(t.ctx.home)
    held = t.use(ada, purpose="support", actor=SYSTEM).get("name")
    before = _seq(t)
    actor = f"tenant_admin:eve@{bolt}"
    answers = {}
    for name, sid in (("other", ada), ("unknown", uuid.uuid4().hex), ("bad", MALFORMED)):
        args = [a.replace("{id}", sid).replace("{actor}", actor) for a in CLI_CALLS[command]]
        args = [a.replace("{breach}", "0" * 32) for a in args]
        code, out, err = run(capsys, "--home", home, *args)
        assert code != 0, (name, out, err)
        answers[name] = (code, _same_shape(out, sid), _same_shape(err, sid))
    assert answers["other"] == answers["unknown"] == answers["bad"], answers
    _outsider_probes_stay_home(t, before, acme, ada)
    before = _seq(t)
    assert t.use(ada, purpose="support", actor=SYSTEM).get("name") == held  # Ada's data untouched


def test_a_bound_actor_never_completes_nor_lists_another_tenants_ids(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A start of an id is resolved among the actor's tenant's people only."""
    t, _acme, bolt, ada = world
    actor = f"tenant_admin:eve@{bolt}"
    code, out, err = run(
        capsys, "--home", str(t.ctx.home), "use", ada[:-4], "--purpose", "support", "--actor", actor
    )
    assert code == 1 and ada not in out + err
    assert f"no subject '{ada[:-4]}'" in err
