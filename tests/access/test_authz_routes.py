"""The route-derived authorisation test: every route of the app and every CLI command has
an entry in troth.access.routes (a new one fails here until it is given one), and each
probed route is called with every kind of credential against ids of the caller's own
tenant, another tenant, unknown and malformed ones. Each outcome must be what the table
says; the count of unauthorised reads and writes must be 0.

One home per database is built once per module and shared by every case: the probes that
write (consents, GPC) do not change who may do what."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from fastapi.testclient import TestClient

from dbs import PG_ADMIN_URL, need, schema_url
from outbox_helpers import bodies
from troth.access import actor_for, signin
from troth.access.routes import COMMANDS, ROUTES, Credential, Rule, Target, may
from troth.app import create_app
from troth.cli import _register
from troth.cli import app as cli_app
from troth.clock import ManualClock
from troth.engine import Troth
from troth.home import init_home
from troth.web.session import csrf_for_session

PW = "route-matrix-password-1"
SCOPES = ("admin", "use", "collect", "disclose", "requests:admin", "export")
PURPOSE = "support"  # the purpose a value read asks for


def _walk(routes: Any) -> Iterator[Any]:
    for r in routes:
        if hasattr(r, "effective_candidates"):  # an included router
            yield from _walk(r.effective_candidates())
        elif getattr(r, "methods", None):
            yield r


def app_routes(app: Any) -> set[str]:
    return {f"{m} {r.path}" for r in _walk(app.routes) for m in r.methods if m != "HEAD"}


def cli_commands() -> set[str]:
    _register()

    def walk(group: Any, prefix: str = "") -> Iterator[str]:
        for name, cmd in group.commands.items():
            path = f"{prefix} {name}".strip()
            if hasattr(cmd, "commands"):
                yield from walk(cmd, path)
            else:
                yield path

    return set(walk(typer.main.get_command(cli_app)))


# -- every door has an entry -------------------------------------------------------------
def test_every_route_has_an_entry(home: Any) -> None:
    ctx = home("phone-service", clock=ManualClock(), context=True)
    routes = app_routes(create_app(ctx))
    assert len(routes) > 90
    missing = sorted(routes - set(ROUTES))
    assert not missing, f"add these routes to troth.access.routes.ROUTES: {missing}"
    stale = sorted(set(ROUTES) - routes)
    assert not stale, f"these ROUTES entries name no route: {stale}"


def test_every_cli_command_has_an_entry() -> None:
    commands = cli_commands()
    assert len(commands) > 50
    missing = sorted(commands - set(COMMANDS))
    assert not missing, f"add these commands to troth.access.routes.COMMANDS: {missing}"
    assert not sorted(set(COMMANDS) - commands)


# -- the world ---------------------------------------------------------------------------
@dataclass
class World:
    t: Troth
    client: TestClient
    tenant: dict[Target, str]
    subject: dict[Target, str]
    creds: dict[str, tuple[Credential, dict[str, str], dict[str, str]]]  # headers, cookies
    value_roles: frozenset[str]
    csrf: dict[str, str] = field(default_factory=dict)


def _credentials(t: Troth, a: str, b: str, person_email: str) -> dict[str, Any]:
    acc = t.access
    idx = t.ctx.policy
    out: dict[str, tuple[Credential, dict[str, str], dict[str, str]]] = {}
    csrf: dict[str, str] = {}

    def session(name: str, cred: Credential, user: Any) -> None:
        token, _ = acc.sessions.start_session(user)
        out[name] = (cred, {}, {"troth_session": token})
        csrf[name] = csrf_for_session(t.ctx, acc.sessions.session_csrf(token))

    out["anonymous"] = (Credential("anonymous", "anonymous"), {}, {})
    challenge = signin.start_signin(t.ctx, person_email)
    (body,) = bodies(t, to=person_email)
    code = re.search(r"(\d{6})", body)  # in the body: never in a subject line
    assert code is not None
    ptoken, _ = signin.finish_signin(t.ctx, challenge, code.group(1))
    out["the person"] = (Credential("the person", "person"), {}, {"troth_privacy": ptoken})
    for role in ("admin", "member"):
        tok, _ = acc.tenants.invite(a, f"{role}@a.example", role=role)
        user = acc.tenants.accept_invitation(tok, PW)
        kind = f"tenant_{role}"
        session(f"tenant {role}", Credential(f"tenant {role}", kind), user)
    admin_a = actor_for(acc.accounts.authenticate("admin@a.example", PW, a))
    for scope in SCOPES:
        for bound in (False, True):
            name = f"{'tenant-bound ' if bound else ''}key [{scope}]"
            key, _ = acc.keys.create_api_key(name, [scope], tenant_id=a if bound else None)
            out[name] = (
                Credential(name, "key", scope=scope, bound=bound),
                {"Authorization": f"Bearer {key}"},
                {},
            )
    for role in idx.roles.values():
        for grant in (False, True):
            name = f"staff ({role.id}){' + grant' if grant else ''}"
            user = acc.accounts.add_user(
                f"{role.id}{'-g' if grant else ''}@vendor.example",
                kind="staff",
                role=role.id,
                password=PW,
            )
            if grant:
                g = acc.grants.request_grant(
                    a, by=actor_for(user), reason="ticket 1", duration=timedelta(days=3)
                )
                acc.grants.approve_grant(g.id, by=admin_a)
            office = "manage_requests" in role.powers
            cred = Credential(name, "staff", role=role.id, office=office, grant=grant)
            session(name, cred, user)
    for grant in (False, True):
        name = f"vendor admin{' + grant' if grant else ''}"
        user = acc.accounts.add_user(
            f"va{'-g' if grant else ''}@vendor.example", kind="vendor_admin", password=PW
        )
        if grant:
            g = acc.grants.request_grant(
                a, by=actor_for(user), reason="ticket 2", duration=timedelta(days=3)
            )
            acc.grants.approve_grant(g.id, by=admin_a)
        session(name, Credential(name, "vendor_admin", grant=grant), user)
    return {"creds": out, "csrf": csrf}


def build_world(t: Troth) -> World:
    acc = t.access
    a = acc.tenants.create_tenant("Acme", "office@acme.example")
    b = acc.tenants.create_tenant("Bolt", "office@bolt.example")
    sids = {}
    for tid, n in ((a, "a"), (b, "b")):
        sid = t.collect(
            "customer_signup",
            {"company_name": f"Co {n}", "name": f"Pat {n}", "email": f"pat@{n}.example"},
            tenant_id=tid,
        ).subject_id
        t.collect(
            "call_record_import",
            {"extension": "10", "duration_seconds": 60, "destination_number": "+441234567890"},
            subject_id=sid,
            tenant_id=tid,
        )
        sids[n] = sid
    made = _credentials(t, a, b, "pat@a.example")
    idx = t.ctx.policy
    client = TestClient(create_app(t.ctx), raise_server_exceptions=False)
    return World(
        t,
        client,
        {
            Target.own: a,
            Target.other: b,
            Target.unknown: uuid.uuid4().hex,
            Target.malformed: "not an id!",
        },
        {
            Target.own: sids["a"],
            Target.other: sids["b"],
            Target.unknown: uuid.uuid4().hex,
            Target.malformed: "x" * 65,
        },
        made["creds"],
        frozenset(r.id for r in idx.roles.values() if PURPOSE in r.purposes),
        made["csrf"],
    )


@pytest.fixture(scope="module")
def sqlite_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("routes") / "home"
    t = Troth(init_home(home, example="phone-service", clock=ManualClock()))
    w = build_world(t)
    with w.client:
        yield w
    t.close()


@pytest.fixture(scope="module")
def pg_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    need(PG_ADMIN_URL, "PostgreSQL")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = schema_url(schema)
    home = tmp_path_factory.mktemp("routes-pg") / "home"
    t = Troth(init_home(home, example="phone-service", database_url=url, clock=ManualClock()))
    try:
        w = build_world(t)
        with w.client:
            yield w
    finally:
        t.close()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


# -- the probes --------------------------------------------------------------------------
API = "/api/v1"
# (method, path, query) of the routes probed over HTTP; {s} is a person's id, {t} a
# tenant's. Routes that need a token of their own, or whose writes would change who may
# do what (publishing, revoking, grants), are covered by their own tests.
PROBES: tuple[tuple[str, str, str], ...] = (
    ("GET", f"{API}/subjects/{{s}}", f"purpose={PURPOSE}"),
    ("POST", f"{API}/search/subjects", "body:email={e}"),
    ("GET", f"{API}/subjects/{{s}}/consents", ""),
    ("GET", f"{API}/subjects/{{s}}/disclosures", ""),
    ("POST", f"{API}/subjects/{{s}}/consents/{{purpose}}/withdraw", ""),
    ("POST", f"{API}/subjects/{{s}}/gpc", ""),
    ("POST", f"{API}/subjects/{{s}}/relationship/end", ""),
    ("GET", f"{API}/tenants", ""),
    ("GET", f"{API}/tenants/{{t}}/members", ""),
    ("GET", f"{API}/tenants/{{t}}/grants", ""),
    ("GET", f"{API}/tenants/{{t}}/vendor-accesses", ""),
    ("GET", f"{API}/audit", ""),
    ("GET", f"{API}/breaches", ""),
    ("GET", f"{API}/legal-demands", ""),
    ("GET", f"{API}/retention/plan", ""),
    ("GET", f"{API}/requests", ""),
    ("GET", f"{API}/policy/history", ""),
    ("GET", f"{API}/ropa", ""),
    ("GET", f"{API}/policy", ""),
    ("GET", "/console", ""),
    ("GET", "/console/support", ""),
    ("GET", "/console/audit", ""),
    ("GET", "/console/requests", ""),
    ("GET", "/console/breaches", ""),
    ("GET", "/console/demands", ""),
    ("GET", "/tenant", ""),
    ("GET", "/tenant/export.json", ""),
    ("GET", "/privacy/me", ""),
    ("GET", "/privacy/me/export.json", ""),
    ("GET", "/metrics", ""),
)
# The PostgreSQL smoke subset: the person's records and values, and a tenant's.
PG_PROBES = PROBES[:4] + PROBES[8:9]

CRED_NAMES = (
    "anonymous",
    "the person",
    "tenant admin",
    "tenant member",
    *(f"{b}key [{s}]" for s in SCOPES for b in ("", "tenant-bound ")),
    *(
        f"staff ({r}){g}"
        for r in ("privacy_office", "support", "accounts", "vendor_admin")
        for g in ("", " + grant")
    ),
    "vendor admin",
    "vendor admin + grant",
)


def rule_of(method: str, path: str) -> Rule:
    template = path.replace("{s}", "{subject_id}").replace("{t}", "{tenant_id}")
    return ROUTES[f"{method} {template}"]


EMAILS = {
    Target.own: "pat@a.example",
    Target.other: "pat@b.example",
    Target.unknown: "nobody@c.example",
    Target.malformed: "not an e-mail",
}


def targets(path: str, query: str = "") -> tuple[Target, ...]:
    if "{s}" in path or "{t}" in path or "{e}" in query:
        return (Target.own, Target.other, Target.unknown, Target.malformed)
    return (Target.none,)


def passed(status: int, location: str) -> bool | None:
    """Did the call get through? None: an answer that is neither (a server error)."""
    if 200 <= status < 300:
        return True
    if status in (409, 422):
        return True  # through the door, then the input was refused
    if status in (401, 403, 404):
        return False
    if status in (302, 303, 307) and ("login" in location or "signin" in location):
        return False
    return None


def probe(w: World, method: str, path: str, query: str, cred_name: str) -> list[str]:
    """Call one route as one credential with every target; the wrong outcomes."""
    cred, headers, cookies = w.creds[cred_name]
    rule = rule_of(method, path)
    wrong = []
    for target in targets(path, query):
        url = path.replace("{s}", w.subject.get(target, "")).replace(
            "{t}", w.tenant.get(target, "")
        )
        q = query.replace("{e}", EMAILS.get(target, ""))
        body: dict[str, str] | None = None
        if q.startswith("body:"):  # a JSON body of key=value, never the URL
            key, _, value = q.removeprefix("body:").partition("=")
            body, q = {key: value}, ""
        url = url.replace("{purpose}", PURPOSE) + (f"?{q}" if q else "")
        h = dict(headers)
        if method != "GET" and cred_name in w.csrf:
            h["X-CSRF-Token"] = w.csrf[cred_name]
        w.client.cookies.clear()
        for k, v in cookies.items():
            w.client.cookies.set(k, v)
        r = w.client.request(method, url, headers=h, json=body, follow_redirects=False)
        got = passed(r.status_code, r.headers.get("location", ""))
        want = may(rule, cred, target, value_roles=w.value_roles)
        if target in (Target.unknown, Target.malformed) and r.status_code == 422:
            got = False  # a malformed id refused as input
        if got is None or got != want:
            kind = "UNAUTHORISED " + ("write" if rule.write else "read") if got else "refused"
            wrong.append(f"{kind}: {cred_name} {method} {url} -> {r.status_code} (want {want})")
    return wrong


def _cases(probes: tuple[tuple[str, str, str], ...]) -> list[Any]:
    out = []
    for method, path, query in probes:
        for name in CRED_NAMES:
            out.append(pytest.param(method, path, query, name, id=f"{method} {path} | {name}"))
    return out


@pytest.mark.parametrize(("method", "path", "query", "cred"), _cases(PROBES))
def test_route_as_credential_sqlite(
    sqlite_world: World, method: str, path: str, query: str, cred: str
) -> None:
    wrong = probe(sqlite_world, method, path, query, cred)
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(("method", "path", "query", "cred"), _cases(PG_PROBES))
def test_route_as_credential_postgresql(
    pg_world: World, method: str, path: str, query: str, cred: str
) -> None:
    wrong = probe(pg_world, method, path, query, cred)
    assert not wrong, "\n".join(wrong)


# -- asserted actors ---------------------------------------------------------------------
# Names a request could use to claim who it acts as. No HTTP path may take one: the actor
# comes from the credential alone (an API key or a session), never from what the caller
# says. (The CLI's --actor is such a claim, made by whoever holds the key file.)
CLAIMS = re.compile(
    r"^(x-)?(troth-)?(actor|acting[-_]as|as|on[-_]behalf[-_]of|impersonate|role|user)$", re.I
)


def test_no_http_path_takes_an_asserted_actor(home: Any) -> None:
    ctx = home("phone-service", clock=ManualClock(), context=True)
    spec = create_app(ctx).openapi()
    schemas = spec.get("components", {}).get("schemas", {})
    claims = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for p in op.get("parameters", []):
                if CLAIMS.match(p["name"]):
                    claims.append(f"{method.upper()} {path} {p['in']} {p['name']}")
            body = op.get("requestBody", {}).get("content", {})
            for media in body.values():
                ref = media.get("schema", {}).get("$ref", "")
                props = schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})
                claims += [f"{method.upper()} {path} body {n}" for n in props if CLAIMS.match(n)]
    # Reviewed: fields whose names look like a claim but name no actor of troth.
    data_not_actors = {
        # The person's authorised agent, recorded on the request; it grants nothing.
        f"POST {API}/requests body on_behalf_of",
        # The role the invitee will hold in the tenant, given by an admin of that tenant.
        f"POST {API}/tenants/{{tenant_id}}/invitations body role",
        # The policy role an admin gives a member of their tenant (what the member reads).
        f"PUT {API}/tenants/{{tenant_id}}/members/{{user_id}}/role body role",
    }
    claims = [c for c in claims if c not in data_not_actors]
    assert claims == [], f"these take an asserted actor: {claims}"


def test_a_claimed_actor_changes_nothing(sqlite_world: World) -> None:
    """Claims in a header, the query or the body are ignored or refused: the key's own
    scope decides (a `collect` key may not read; anonymous is 401)."""
    w = sqlite_world
    sid = w.subject[Target.own]
    _, key, _ = w.creds["key [collect]"]
    office = "staff:dpo@privacy_office"
    w.client.cookies.clear()
    for headers in (
        {},
        {"X-Actor": office, "X-Troth-Actor": office, "X-Forwarded-User": "dpo"},
    ):
        r = w.client.get(f"{API}/subjects/{sid}?purpose={PURPOSE}&actor={office}", headers=headers)
        assert r.status_code == 401
        r = w.client.get(
            f"{API}/subjects/{sid}?purpose={PURPOSE}&actor={office}&as=system",
            headers={**key, **headers},
        )
        assert r.status_code == 403 and r.json()["reason"] == "scope_missing"
        assert (
            w.client.get(f"{API}/audit?actor={office}", headers={**key, **headers}).status_code
            == 403
        )
    r = w.client.post(
        f"{API}/collect/customer_signup",
        headers=key,
        json={"data": {"company_name": "C", "name": "N", "email": "n@c.example"}, "actor": office},
    )
    assert r.status_code == 422  # an unknown body field is refused, not obeyed
