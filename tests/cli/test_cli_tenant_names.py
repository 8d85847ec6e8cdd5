"""A tenant on the command line (README, "Tenants"): every command that takes one takes its
id, a unique start of it, or its name, through the one resolver (``troth.cli.ids``), and
acts on that tenant and no other. A name two tenants share, a start two ids share, or one
tenant's name that is the start of another's id names no one: refused (``ambiguous_id``),
never resolved to one of them; `tenants offboard` then exports and erases nothing."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from typer.utils import get_params_from_function

from cli_runner import run
from troth.cli import COMMANDS
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import NotFound
from troth.requests.tables import tenant_offboardings
from troth.retention.tables import legal_holds
from troth.store.tables import subjects, tenants

PW = "a long test password"
REVOKED, DISABLED = ("max", "sam", "kim"), ("dee", "eve", "fay")  # one for each way of typing
SIGNUP = {"company_name": "Gym A Ltd", "name": "Ann Lee", "email": "ann@gyma.example"}


def _walk(app: typer.Typer, path: tuple[str, ...]) -> Iterator[tuple[str, Callable[..., Any]]]:
    for c in app.registered_commands:
        assert c.callback is not None
        yield " ".join((*path, c.name or c.callback.__name__.replace("_", "-"))), c.callback
    for g in app.registered_groups:
        assert g.typer_instance is not None and g.name
        yield from _walk(g.typer_instance, (*path, g.name))


def tenant_parameters() -> dict[str, set[str]]:
    """Every CLI parameter that is about a tenant (by its name or its resolver), per
    command: each must resolve through the tenant resolver."""
    found: dict[str, set[str]] = {}
    for module in sorted({m for m, _ in COMMANDS.values()}):
        scratch = typer.Typer()
        importlib.import_module(module).register(scratch)
        for command, callback in _walk(scratch, ()):
            for name, meta in get_params_from_function(callback).items():
                kind = getattr(getattr(meta.default, "callback", None), "id_kind", None)
                if "tenant" in name or kind == "tenant":
                    assert kind == "tenant", f"`troth {command}` --{name} is not resolved"
                    found.setdefault(command, set()).add(name)
    return found


@pytest.fixture
def gyms(home: Any, db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """A phone-service home with Gym A (the one every command names) and Gym B beside it,
    both with an admin, a member and a customer of the same e-mails; TROTH_HOME points at
    it."""
    t = home("phone-service", None if db_url.startswith("sqlite") else db_url, clock=ManualClock())
    monkeypatch.setenv("TROTH_HOME", str(t.ctx.home))
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.delenv("TROTH_PASSWORD", raising=False)
    ids = {}
    for name in ("Gym A", "Gym B"):
        tid = ids[name] = t.access.tenants.create_tenant(name, "office@gym.example")
        for who, role in (("boss", "admin"), *((w, "member") for w in (*REVOKED, *DISABLED))):
            t.access.accounts.add_user(f"{who}@gym.example", kind="tenant_member",
                                       tenant_id=tid, tenant_role=role, password=PW)  # fmt: skip
        t.collect("customer_signup", SIGNUP, tenant_id=tid)
    t.access.accounts.add_user("ops@vendor.example", kind="vendor_admin", password=PW)
    return t, ids["Gym A"], ids["Gym B"]


def unique_start(tid: str, engine: sa.Engine) -> str:
    """The shortest start (at least 4 characters) of ``tid`` that no other tenant's id has."""
    with engine.connect() as conn:
        others = [x for x in conn.execute(sa.select(tenants.c.id)).scalars() if x != tid]
    n = max([4, *(next(i for i, (a, b) in enumerate(zip(tid, o))
                       if a != b) + 1 for o in others)])  # fmt: skip
    return tid[:n]


def ok(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = run(capsys, *args)
    assert code == 0, (args, out, err)
    return out


def _in_a_only(t: Troth, email: str, a: str, b: str) -> None:
    """The person at ``email`` was stored in Gym A, not in Gym B."""
    assert t.find(email=email, tenant_id=a)
    with pytest.raises(NotFound):
        t.find(email=email, tenant_id=b)


def _people_of(t: Troth, tid: str) -> set[str]:
    with t.ctx.engine.connect() as conn:
        return set(
            conn.execute(sa.select(subjects.c.id).where(subjects.c.tenant_id == tid)).scalars()
        )


# Each command with a tenant, run with TENANT as typed; checks it acted on Gym A only.
def _cases(t: Troth, a: str, b: str, tmp: Path, cap: Any) -> dict[str, Callable[[str], None]]:
    members = lambda tid: {u.email: u.active for u in t.access.tenants.list_members(tid)}  # noqa: E731

    def invite(x: str) -> None:
        n = len(t.access.tenants.list_invitations(a))
        ok(cap, "tenants", "invite", x, f"new{n}@gym.example")
        assert len(t.access.tenants.list_invitations(a)) == n + 1
        assert t.access.tenants.list_invitations(b) == []

    def members_(x: str) -> None:
        assert ok(cap, "tenants", "members", x, "--json") == ok(
            cap, "tenants", "members", a, "--json"
        )

    def revoke(x: str) -> None:
        who = next(f"{w}@gym.example" for w in REVOKED if members(a)[f"{w}@gym.example"])
        ok(cap, "tenants", "revoke", x, who)
        assert members(a)[who] is False and members(b)[who] is True

    def set_role(x: str) -> None:
        from troth.audit.entries import list_entries

        def logged(tid: str) -> list[Any]:
            found = list_entries(t.ctx, action="member_role", limit=1000)
            return [e for e in found if e.entry.tenant_id == tid]

        n = len(logged(a))
        ok(cap, "tenants", "set-role", x, "boss@gym.example", "--none")
        assert len(logged(a)) == n + 1 and logged(b) == []

    def grants_request(x: str) -> None:
        before = len(t.access.grants.list_grants(a))
        ok(cap, "grants", "request", x, "--as", "ops@vendor.example", "--password", PW,
           "--reason", "ticket 7", "--days", "1")  # fmt: skip
        assert len(t.access.grants.list_grants(a)) == before + 1
        assert t.access.grants.list_grants(b) == []

    def grants_list(x: str) -> None:
        mine = json.loads(ok(cap, "grants", "list", a, "--json"))
        assert mine and {g["tenant_id"] for g in mine} == {a}
        assert json.loads(ok(cap, "grants", "list", x, "--json")) == mine
        assert json.loads(ok(cap, "grants", "list", "--tenant", x, "--json")) == mine

    def accesses(x: str) -> None:
        assert ok(cap, "grants", "accesses", x) == ok(cap, "grants", "accesses", a)

    def export_tenant(x: str) -> None:
        out = tmp / "export.zip"
        ok(cap, "requests", "export-tenant", x, "-o", str(out),
           "--actor", f"tenant_admin:boss@gym.example@{x}")  # fmt: skip
        assert out.stat().st_size > 0
        out.unlink()

    def collect(x: str) -> None:
        email = f"c{len(x)}@gyma.example"
        ok(cap, "collect", "customer_signup", "--tenant", x,
           "--data", json.dumps(SIGNUP | {"email": email}))  # fmt: skip
        _in_a_only(t, email, a, b)

    def import_(x: str) -> None:
        email = f"i{len(x)}@gyma.example"
        rows = tmp / f"rows-{len(x)}.jsonl"
        rows.write_text(json.dumps(SIGNUP | {"email": email}) + "\n")
        ok(cap, "import", str(rows), "--point", "customer_signup", "--tenant", x)
        _in_a_only(t, email, a, b)

    def open_request(x: str) -> None:
        req = json.loads(ok(cap, "requests", "open", "access", "--email", SIGNUP["email"],
                            "--tenant", x, "--json"))  # fmt: skip
        assert req["tenant_id"] == a
        assert t.find(email=SIGNUP["email"], tenant_id=a) == req["subject_id"]

    def find_(x: str) -> None:
        found = ok(cap, "find", "--email", SIGNUP["email"], "--tenant", x).strip()
        assert found == t.find(email=SIGNUP["email"], tenant_id=a)
        assert found != t.find(email=SIGNUP["email"], tenant_id=b)

    def key(x: str) -> None:
        k = ok(cap, "keys", "api", "create", "gym app", "--scope", "collect", "--tenant", x, "-q")
        assert t.access.keys.resolve_api_key(k.strip()).tenant_id == a

    def users_list(x: str) -> None:
        mine = json.loads(ok(cap, "users", "list", "--tenant", x, "--json"))
        assert mine and {u["tenant_id"] for u in mine} == {a}

    def users_disable(x: str) -> None:
        find = t.access.accounts.find_user
        who = next(f"{w}@gym.example" for w in DISABLED
                   if find(f"{w}@gym.example", tenant_id=a).disabled_at is None)  # fmt: skip
        ok(cap, "users", "disable", who, "--tenant", x)
        assert find(who, tenant_id=a).disabled_at is not None
        assert find(who, tenant_id=b).disabled_at is None

    def hold(x: str) -> None:
        hid = ok(cap, "retention", "hold", "--reason", "inquiry", "--tenant", x).strip()
        with t.ctx.engine.connect() as conn:
            held = conn.execute(sa.select(legal_holds.c.tenant_id).where(legal_holds.c.id == hid))
            assert held.scalar_one() == a
        t.retention.lift_hold(hid)

    def breach(x: str) -> None:
        window = ("--from", "2026-01-01T00:00+00:00", "--until", "2026-01-05T09:00+00:00")
        bid = json.loads(ok(cap, "breaches", "record", "--title", "laptop", "--description",
                            "lost", *window, "--category", "contact", "--tenant", x,
                            "--json"))["id"]  # fmt: skip
        affected = set(t.breaches.affected_subjects(bid))
        assert affected and affected <= _people_of(t, a) and not affected & _people_of(t, b)

    return {
        "tenants invite": invite,
        "tenants members": members_,
        "tenants revoke": revoke,
        "tenants set-role": set_role,
        "grants request": grants_request,
        "grants list": grants_list,
        "grants accesses": accesses,
        "requests export-tenant": export_tenant,
        "collect": collect,
        "import": import_,
        "requests open": open_request,
        "find": find_,
        "keys api create": key,
        "users list": users_list,
        "users disable": users_disable,
        "retention hold": hold,
        "breaches record": breach,
    }


def test_every_tenant_taking_command_takes_a_name_and_a_unique_start(
    gyms: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    t, a, b = gyms
    cases = _cases(t, a, b, tmp_path, capsys)
    # Every command with a tenant parameter has its case here (a new one must add its own).
    assert set(tenant_parameters()) == set(cases) | {"tenants offboard"}
    start, tail = unique_start(a, t.ctx.engine), "\u2026" + a[-8:]
    for command, case in cases.items():
        for typed in ("Gym A", start, tail):
            case(typed)
    # Offboarding (which ends the tenant): one tenant by its name, another by a start.
    for name in ("Gym C", "Gym D"):
        tid = t.access.tenants.create_tenant(name, "office@gym.example")
        typed = name if name == "Gym C" else unique_start(tid, t.ctx.engine)
        out = tmp_path / f"{name}.zip"
        ok(capsys, "tenants", "offboard", typed, "-o", str(out))
        assert out.stat().st_size > 0
        assert t.access.tenants.get_tenant(tid).status == "offboarded"
    assert {x.name: x.status for x in t.access.tenants.list_tenants()} == {
        "Gym A": "active",
        "Gym B": "active",
        "Gym C": "offboarded",
        "Gym D": "offboarded",
    }


def test_a_name_or_start_naming_two_tenants_is_refused_and_offboards_nothing(
    gyms: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    t, a, b = gyms
    twins = [t.access.tenants.create_tenant("Twin", "office@twin.example") for _ in range(2)]
    shared = a[: next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)]
    assert len(shared) >= 4  # ids made together share their head (the time)
    start = unique_start(a, t.ctx.engine)
    lookalike = t.access.tenants.create_tenant(start, "office@look.example")
    out = tmp_path / "out.zip"
    for typed, named in (("Twin", twins), (shared, [a, b]), (start, [a, lookalike])):
        for args in (
            ("tenants", "offboard", typed, "-o", str(out)),
            ("tenants", "members", typed),
            ("grants", "list", "--tenant", typed),
            ("collect", "customer_signup", "--tenant", typed, "--data", json.dumps(SIGNUP)),
            ("requests", "export-tenant", typed, "-o", str(out)),
        ):
            code, _, err = run(capsys, *args)
            assert code == 1 and "ambiguous_id" in err, (args, err)
            assert all(tid in " ".join(err.split()) for tid in named), (args, err)
    assert not out.exists()
    assert {x.status for x in t.access.tenants.list_tenants()} == {"active"}
    with t.ctx.engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(tenant_offboardings)).scalar() == 0
        )
    # The whole id of one of them still names it alone.
    code, out_, _ = run(capsys, "tenants", "members", twins[0], "--json")
    assert code == 0 and json.loads(out_) == []


# One home for every case (a home takes seconds to build): each is refused and changes
# nothing, so the cases cannot affect one another.
REFUSED = [
    ("Gym Z", "unknown_tenant"),
    ("gym a", "unknown_tenant"),  # a name is taken whole and exactly
    ("Gym", "unknown_tenant"),  # never by a part of it
    ("x' OR '1'='1", "unknown_tenant"),
    ("ffff0000", "unknown_tenant"),
    ("ab", "no tenant has that name"),
    ("\u2026ab", "at least 4 characters"),
]


def test_an_unknown_or_malformed_tenant_is_refused(
    gyms: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    t, _, _ = gyms
    out = tmp_path / "out.zip"
    for typed, says in REFUSED:
        code, _, err = run(capsys, "tenants", "offboard", typed, "-o", str(out))
        assert code == 1 and says in err, (typed, err)
        assert not out.exists()
        assert {x.status for x in t.access.tenants.list_tenants()} == {"active"}


def test_a_subjects_id_is_no_tenant(gyms: Any, capsys: pytest.CaptureFixture[str]) -> None:
    t, a, _ = gyms
    person = t.find(email=SIGNUP["email"], tenant_id=a)
    code, _, err = run(capsys, "tenants", "members", person)
    assert code == 1 and "unknown_tenant" in err
