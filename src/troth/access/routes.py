"""Who may call each door into troth: every HTTP route (API and web pages) and every CLI
command has an entry here, and ``tests/access/test_authz_matrix.py`` fails when the app or the
CLI has one without an entry (or the table names one that no longer exists). The same
test probes the routes over HTTP with every kind of credential against ids of the
caller's own tenant, another tenant, unknown and malformed ones, and compares each
outcome with :func:`may`; ``docs/authorization-matrix.md`` is rendered from this table.

This is data and a statement of the rules, independent of the code that enforces them
(the gate, the services): a route is *allowed* for a credential when the rules let that
credential reach it with that id; anything else must be refused (401, 403 or 404)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from troth.access.commands import COMMANDS as COMMANDS


class Door(StrEnum):
    """What kind of door a route is, which fixes who may pass it."""

    public = "public"  # anyone, no credentials (forms, published lists, the policy)
    # The link's one-time token or code is the credential (a door, not a secret).
    token = "token"  # noqa: S105
    person = "person"  # the person's privacy-centre session, about themself only
    values = "values"  # a person's values for a purpose: the gate (use)
    record = "record"  # a record about a person: the gate (decide_record)
    disclose = "disclose"  # a person's data to a recipient: the gate (disclose)
    collect = "collect"  # new data through a collection point
    lookup = "lookup"  # look a person up, within the caller's reach
    office = "office"  # the vendor's privacy office (and unbound keys with a scope)
    requests = "requests"  # people's requests: the office; keys with the scope (bound: own tenant)
    tenant = "tenant"  # one tenant's administration: its admins, its admin key, the office
    # The breach register: the office; a customer's key or admins read their own share.
    breaches = "breaches"
    tenant_pages = "tenant_pages"  # /tenant: an admin of that tenant, signed in
    # Giving a tenant's members their roles: its admins, the office; never the tenant's key.
    tenant_roles = "tenant_roles"
    console = "console"  # /console: the vendor's staff and admins, signed in
    console_office = "console_office"  # /console pages of the privacy office only
    session = "session"  # ends the caller's own session
    # An old shape (a secret or an address in the URL), kept only to refuse it with a 422.
    retired = "retired"
    # /metrics: an API key with the ``metrics`` scope bound to no tenant (the default
    # ``metrics_access = "key"``); ``open`` lets anyone who reaches the port read it.
    metrics = "metrics"


@dataclass(frozen=True, slots=True)
class Rule:
    door: Door
    scopes: tuple[str, ...] = ()  # API-key scopes that reach it (``admin`` always does)
    write: bool = False
    note: str = ""


def _r(door: Door, *scopes: str, write: bool = False, note: str = "") -> Rule:
    return Rule(door, tuple(scopes), write, note)


API = "/api/v1"
# "METHOD path" -> rule, for every route of troth.app.create_app.
ROUTES: dict[str, Rule] = {
    # -- the API: a person's values and the records about them -----------------------------
    f"POST {API}/collect/{{point}}": _r(Door.collect, "collect", write=True),
    f"GET {API}/subjects/{{subject_id}}": _r(Door.values, "use"),
    f"GET {API}/subjects": _r(Door.retired, note="422 personal_data_in_url"),
    f"POST {API}/search/subjects": _r(Door.lookup, "use"),
    f"GET {API}/subjects/{{subject_id}}/consents": _r(
        Door.record,
        "use",
        "collect",
        note="each consent as the gate decides it: a role's own purposes; the office: all;"
        " a customer's side: never a vendor_only purpose",
    ),
    f"POST {API}/subjects/{{subject_id}}/consents/{{purpose}}/grant": _r(
        Door.record, "collect", write=True
    ),
    f"POST {API}/subjects/{{subject_id}}/consents/{{purpose}}/withdraw": _r(
        Door.record, "collect", write=True
    ),
    f"POST {API}/subjects/{{subject_id}}/gpc": _r(Door.record, "collect", write=True),
    f"POST {API}/subjects/{{subject_id}}/relationship/end": _r(Door.record, "collect", write=True),
    f"POST {API}/subjects/{{subject_id}}/relationship/resume": _r(
        Door.record, "collect", write=True
    ),
    f"GET {API}/subjects/{{subject_id}}/disclosures": _r(Door.record, "disclose", "use"),
    f"POST {API}/subjects/{{subject_id}}/disclosures": _r(Door.disclose, "disclose", write=True),
    # -- published, for anyone -------------------------------------------------------------
    f"GET {API}/policy": _r(Door.public),
    f"GET {API}/policy/versions": _r(Door.public),
    f"GET {API}/disclosures/subprocessors": _r(Door.public),
    f"GET {API}/disclosures/subprocessors.html": _r(Door.public),
    # -- the vendor's office ---------------------------------------------------------------
    f"GET {API}/audit": _r(Door.office),
    f"POST {API}/audit/verify": _r(Door.office, write=True),
    f"POST {API}/requests": _r(Door.requests, "requests", "requests:admin", write=True),
    f"GET {API}/requests": _r(Door.requests, "requests:admin"),
    f"GET {API}/requests/{{request_id}}": _r(Door.requests, "requests:admin"),
    f"POST {API}/requests/{{request_id}}/verify": _r(
        Door.requests, "requests", "requests:admin", write=True
    ),
    f"POST {API}/requests/{{request_id}}/verify-by-staff": _r(
        Door.requests, "requests:admin", write=True
    ),
    f"POST {API}/requests/{{request_id}}/extend": _r(Door.requests, "requests:admin", write=True),
    f"POST {API}/requests/{{request_id}}/execute": _r(Door.requests, "requests:admin", write=True),
    f"POST {API}/requests/{{request_id}}/refuse": _r(Door.requests, "requests:admin", write=True),
    f"GET {API}/exports/{{token}}": _r(Door.retired, note="422 secret_in_url"),
    f"POST {API}/exports": _r(
        Door.token, write=True, note="the code; the person, their tenant's admin or the office"
    ),
    f"GET {API}/retention/plan": _r(Door.office),
    f"POST {API}/retention/run": _r(Door.office, write=True),
    f"GET {API}/retention/holds": _r(Door.office),
    f"POST {API}/retention/holds": _r(Door.office, write=True),
    f"DELETE {API}/retention/holds/{{hold_id}}": _r(Door.office, write=True),
    f"POST {API}/breaches": _r(Door.office, write=True),
    f"GET {API}/breaches": _r(Door.breaches, "breaches"),
    f"GET {API}/breaches/{{breach_id}}": _r(Door.breaches, "breaches"),
    f"POST {API}/breaches/{{breach_id}}/notify-controllers": _r(Door.office, write=True),
    f"POST {API}/breaches/{{breach_id}}/regulator-notified": _r(Door.office, write=True),
    f"POST {API}/breaches/{{breach_id}}/notify": _r(Door.office, write=True),
    f"POST {API}/breaches/{{breach_id}}/public-notice": _r(Door.office, write=True),
    f"GET {API}/breaches/{{breach_id}}/affected": _r(
        Door.breaches,
        "breaches",
        note="a customer's key: its own people of a breach it was told of, contact as the gate"
        " allows",
    ),
    f"POST {API}/breaches/{{breach_id}}/exclude": _r(Door.office, write=True),
    f"POST {API}/legal-demands": _r(Door.office, write=True),
    f"GET {API}/legal-demands": _r(Door.office),
    f"POST {API}/legal-demands/{{demand_id}}/lift-gag": _r(Door.office, write=True),
    f"POST {API}/policy/diff": _r(Door.office),
    f"POST {API}/policy/publish": _r(Door.office, write=True),
    f"GET {API}/policy/history": _r(Door.office),
    f"GET {API}/ropa": _r(Door.office),
    f"GET {API}/aggregates": _r(
        Door.office, "aggregate", note="aggregate-only purposes, groups of at least k"
    ),
    f"POST {API}/tenants": _r(Door.office, write=True),
    # -- one tenant's administration -------------------------------------------------------
    f"GET {API}/tenants": _r(Door.tenant, note="a tenant's admin or key sees its own only"),
    f"POST {API}/tenants/{{tenant_id}}/invitations": _r(Door.tenant, write=True),
    f"GET {API}/tenants/{{tenant_id}}/members": _r(Door.tenant),
    f"DELETE {API}/tenants/{{tenant_id}}/members/{{user_id}}": _r(Door.tenant, write=True),
    f"PUT {API}/tenants/{{tenant_id}}/members/{{user_id}}/role": _r(Door.tenant_roles, write=True),
    f"GET {API}/tenants/{{tenant_id}}/grants": _r(Door.tenant),
    f"GET {API}/tenants/{{tenant_id}}/vendor-accesses": _r(Door.tenant),
    # -- the web: public pages, sign-in forms, links ---------------------------------------
    "GET /openapi.json": _r(Door.public),
    "GET /docs": _r(Door.public),
    "GET /docs/oauth2-redirect": _r(Door.public),
    "GET /redoc": _r(Door.public),
    "GET /": _r(Door.public),
    "GET /.well-known/gpc.json": _r(Door.public),
    # -- operations: probes and metrics (names and numbers only, no paths, no secrets) -----
    "GET /healthz": _r(Door.public, note="alive; touches nothing"),
    "GET /readyz": _r(Door.public, note="each check's name and ok/fail, 503 when not ready"),
    "GET /metrics": _r(Door.metrics, "metrics", note="metrics_access: key (default), open, off"),
    "POST /cookies": _r(Door.public, write=True, note="the browser's own cookie choices"),
    "GET /u/{token}": _r(Door.token),
    "POST /u/{token}": _r(Door.token, write=True),
    "GET /privacy": _r(Door.public),
    "GET /privacy/signin": _r(Door.public),
    "POST /privacy/signin": _r(Door.public, write=True),
    "GET /privacy/code": _r(Door.public),
    "POST /privacy/code": _r(Door.public, write=True),
    "POST /privacy/signout": _r(Door.session, write=True),
    "GET /privacy/cookies": _r(Door.public),
    "GET /privacy/download": _r(Door.public, note="the page; the code after # stays client-side"),
    "POST /privacy/download": _r(
        Door.token, write=True, note="the code and the person's privacy-centre session"
    ),
    "GET /privacy/download/{rest:path}": _r(Door.retired, note="422 secret_in_url"),
    "GET /console/login": _r(Door.public),
    "POST /console/login": _r(Door.public, write=True),
    "POST /console/logout": _r(Door.session, write=True),
    "GET /tenant/login": _r(Door.public),
    "POST /tenant/login": _r(Door.public, write=True),
    "POST /tenant/login/choose": _r(
        Door.token, write=True, note="the signed note of a password proven a moment ago"
    ),
    "POST /tenant/logout": _r(Door.session, write=True),
    "GET /invitations": _r(Door.public, note="the page; the code after # stays client-side"),
    "POST /invitations": _r(Door.token, write=True, note="the invitation's code"),
    "GET /invitations/{rest:path}": _r(Door.retired, note="422 secret_in_url"),
    "POST /invitations/{rest:path}": _r(Door.retired, note="422 secret_in_url"),
    # -- the privacy centre: the person, about themself ------------------------------------
    "GET /privacy/me": _r(Door.person),
    "GET /privacy/me/export.json": _r(Door.person),
    "POST /privacy/me/consents": _r(Door.person, write=True),
    "POST /privacy/me/unsubscribe": _r(Door.person, write=True),
    "POST /privacy/me/requests": _r(Door.person, write=True),
    "POST /privacy/me/export": _r(Door.person, write=True),
    "POST /privacy/me/record": _r(
        Door.person, write=True, note="another live record of the same address, or 404"
    ),
    # -- the console: the vendor's staff ---------------------------------------------------
    "GET /console": _r(Door.console),
    "GET /console/subjects": _r(Door.console, note="a use: the gate decides per role and grant"),
    "POST /console/subjects": _r(
        Door.console, note="a look-up, then a use: the gate decides per role and grant"
    ),
    "GET /console/people": _r(Door.console, note="the list of people: the office only"),
    "GET /console/people.csv": _r(Door.console_office, note="ids and statuses, formula-safe"),
    "POST /console/people": _r(
        Door.console, note="a look-up by e-mail, phone or id in the form: the gate decides"
    ),
    "GET /console/people/{subject_id}": _r(
        Door.console,
        note="each section through the gate (lookup, a use, consents, requests, audit)",
    ),
    "GET /console/policy": _r(Door.console),
    "GET /console/recipients": _r(Door.console),
    "GET /console/support": _r(Door.console),
    "POST /console/support": _r(Door.console, write=True, note="ask a customer for a grant"),
    "GET /console/audit": _r(Door.console_office),
    "GET /console/audit.csv": _r(Door.console_office, note="the filtered list, formula-safe cells"),
    "POST /console/audit/verify": _r(Door.console_office, write=True),
    "GET /console/requests": _r(Door.console_office),
    "GET /console/requests.csv": _r(Door.console_office, note="the filtered list, formula-safe"),
    "GET /console/requests/{request_id}": _r(Door.console_office),
    "POST /console/requests/{request_id}/{action}": _r(Door.console_office, write=True),
    "GET /console/breaches": _r(Door.console_office),
    "GET /console/breaches.csv": _r(Door.console_office, note="the register, formula-safe"),
    "POST /console/breaches": _r(Door.console_office, write=True, note="record and scope a breach"),
    "POST /console/breaches/{breach_id}/regulator": _r(
        Door.console_office, write=True, note="mark the authority told"
    ),
    "POST /console/breaches/{breach_id}/notify/preview": _r(
        Door.console_office, note="render the notice; nothing is sent"
    ),
    "POST /console/breaches/{breach_id}/notify": _r(
        Door.console_office, write=True, note="send only the previewed notice, confirmed"
    ),
    "GET /console/breaches/{breach_id}": _r(Door.console_office),
    "POST /console/breaches/{breach_id}/exclude": _r(Door.console_office, write=True),
    "GET /console/ropa.html": _r(Door.console_office),
    "GET /console/ropa.csv": _r(Door.console_office),
    "GET /console/policy/publish": _r(Door.console_office),
    "POST /console/policy/diff": _r(Door.console_office),
    "POST /console/policy/publish": _r(Door.console_office, write=True),
    "GET /console/discovery": _r(Door.console_office),
    "POST /console/discovery": _r(Door.console_office, write=True),
    "GET /console/demands": _r(Door.console_office),
    "GET /console/disclosures": _r(Door.console_office),
    "GET /console/disclosures.csv": _r(Door.console_office, note="the filtered list, formula-safe"),
    "GET /console/consents": _r(Door.console_office),
    "GET /console/consents.csv": _r(Door.console_office, note="the filtered list, formula-safe"),
    "POST /console/demands": _r(Door.console_office, write=True),
    # -- the tenant pages: a customer's admins ---------------------------------------------
    "GET /tenant": _r(Door.tenant_pages),
    "POST /tenant/invitations": _r(Door.tenant_pages, write=True),
    "POST /tenant/invitations/{invitation_id}/revoke": _r(Door.tenant_pages, write=True),
    "POST /tenant/members/{user_id}/revoke": _r(Door.tenant_pages, write=True),
    "POST /tenant/members/{user_id}/role": _r(Door.tenant_pages, write=True),
    "POST /tenant/grants/{grant_id}/{decision}": _r(Door.tenant_pages, write=True),
    "GET /tenant/export.json": _r(Door.tenant_pages),
    "GET /tenant/breaches/{breach_id}": _r(
        Door.tenant_pages, note="its own people of a breach it was told of"
    ),
}


@dataclass(frozen=True, slots=True)
class Credential:
    """One kind of caller, as the route probe builds it."""

    name: str
    kind: str  # anonymous, person, tenant_member, tenant_admin, key, staff, vendor_admin
    scope: str | None = None  # for keys
    bound: bool = False  # a key bound to the caller's tenant
    role: str | None = None  # for staff
    office: bool = False  # a role flagged privacy_office
    grant: bool = False  # holds a live grant of the own tenant (staff, vendor admins)


class Target(StrEnum):
    """Whose id the call names."""

    none = "none"  # the route names no person or tenant
    own = "own"  # the caller's tenant (or the person themself)
    other = "other"  # another tenant's
    unknown = "unknown"  # well formed, no such id
    malformed = "malformed"


def may(
    rule: Rule,
    cred: Credential,
    target: Target,
    *,
    value_roles: frozenset[str] = frozenset(),
    grants_required: bool = True,
) -> bool:
    """The rules, stated apart from the code: may ``cred`` pass ``rule`` for ``target``?
    ``value_roles``: the staff roles that act for the purpose a value read asks for;
    ``grants_required``: the person belongs to a customer whose grant the policy requires.
    Unknown and malformed ids are never *allowed* (there is nothing to reach)."""
    if target in (Target.unknown, Target.malformed):
        return False
    k = cred.kind
    door = rule.door
    if door is Door.public:
        return True
    if door is Door.retired:
        return False
    if door is Door.metrics:  # the default setting: metrics_access = "key"
        return k == "key" and not cred.bound and (cred.scope or "") in ("admin", "metrics")
    if door in (Door.token, Door.session):
        return False  # probed elsewhere: a token of one's own, a session of one's own
    if door is Door.person:
        return k == "person"
    if door is Door.console:
        return k in ("staff", "vendor_admin")
    if door is Door.console_office:
        return k == "staff" and cred.office
    if door is Door.tenant_pages:
        return k == "tenant_admin"
    if k == "key":
        s = cred.scope or ""
        scoped = s == "admin" or s in rule.scopes
        if door is Door.office:
            return scoped and not cred.bound  # a tenant-bound key never reaches the vendor's office
        if door is Door.requests:
            return scoped  # a tenant-bound key: its tenant's requests only (a filter)
        if door is Door.breaches:  # bound: its own people's breaches only (a filter)
            return s == "admin" or (cred.bound and s in rule.scopes)
        if door is Door.tenant:
            return s == "admin" and (not cred.bound or target in (Target.own, Target.none))
        if door is Door.tenant_roles:
            return s == "admin" and not cred.bound
        if door is Door.values and s.startswith("use:"):
            scoped = True  # checked per purpose/category by the gate
        return scoped and (not cred.bound or target is not Target.other)
    if door in (Door.office, Door.requests, Door.breaches):
        return (k == "staff" and cred.office) or (door is Door.breaches and k == "tenant_admin")
    if door in (Door.tenant, Door.tenant_roles):
        if k == "tenant_admin":
            return target in (Target.own, Target.none)
        return k == "staff" and cred.office
    if door in (Door.values, Door.record, Door.disclose, Door.collect, Door.lookup):
        if k in ("tenant_member", "tenant_admin"):
            return target in (Target.own, Target.none)
        if k == "vendor_admin":
            return cred.grant and target is Target.own
        if k == "staff":
            if door in (Door.record, Door.lookup) and cred.office:
                return True  # the office answers requests and legal demands for everyone
            if door is Door.values:
                # A value read: the role acts for the purpose asked, under a grant where
                # the policy requires grants (the office too: its purposes are its own).
                return (
                    cred.role in value_roles
                    and (cred.grant or not grants_required)
                    and target is Target.own
                )
            return (cred.grant or not grants_required) and target is Target.own
        return False
    return False


WHO = {
    Door.public: "anyone",
    Door.token: "whoever holds the link's token (see the export and invitation rules)",
    Door.person: "the person, signed in to the privacy centre, about themself",
    Door.values: "the gate (use): the person's tenant's members; keys with the scope (a"
    " tenant-bound key: its tenant only); staff whose role acts for the purpose, under the"
    " customer's grant where required; vendor admins under a grant",
    Door.record: "the gate (records): the person's tenant's members; keys with the scope"
    " (tenant-bound: own tenant only); the privacy office; other staff and vendor admins"
    " under the customer's grant where required",
    Door.disclose: "the gate (disclose): as a use, to a recipient the policy lists",
    Door.collect: "keys with the scope (tenant-bound: into their tenant); the tenant's"
    " members; the vendor's people under a grant",
    Door.lookup: "keys with the scope (tenant-bound: their tenant's people only); members of"
    " the tenant",
    Door.office: "the privacy office; keys with the scope that are bound to no tenant",
    Door.requests: "the privacy office; keys with the scope (a tenant-bound key: its tenant's"
    " requests only)",
    Door.breaches: "the privacy office; unbound `admin` keys; a customer's admins and its"
    " key with the scope: the breaches affecting its own people, its own counts only",
    Door.tenant: "that tenant's admins and its `admin` key; the privacy office; unbound"
    " `admin` keys",
    Door.tenant_pages: "an admin of the tenant, signed in",
    Door.tenant_roles: "that tenant's admins, signed in; the privacy office; unbound `admin`"
    " keys; never a key bound to the tenant",
    Door.console: "the vendor's staff and admins, signed in",
    Door.console_office: "the privacy office, signed in",
    Door.session: "the caller's own session",
    Door.metrics: "API keys with the `metrics` scope (or `admin`) bound to no tenant; anyone"
    " who reaches the port when `metrics_access = open`; nobody when `off`",
    Door.retired: "nobody: an old shape that put a secret or an address in the URL, refused",
}
