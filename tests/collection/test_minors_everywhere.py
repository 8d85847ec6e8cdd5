"""P04 "deleted everywhere": a minor's data goes from troth's store and from every connected
dataset (the deletion request's erasure, as a resumable job), audited with the evidence;
what the law requires to keep (invoices) stays, restricted to its legal purpose."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

import connected_schema as cs
from dbs import PG_ADMIN_URL, need, schema_url
from requests_helpers import buy, connect_shop, rows
from troth.audit.entries import list_entries
from troth.clock import ManualClock, SystemClock
from troth.connectors import JobState, JobStore
from troth.engine import Troth
from troth.errors import ConnectorError, NotFound, ValidationError
from troth.examples import example_path
from troth.gate import Actor, ActorKind
from troth.notices.publish import publish_policy
from troth.store.tables import records, subjects
from troth.store.values import read_values

SAM = Actor(ActorKind.staff, "sam", role="support")
PERSON = cs.email_of(4)
EVIDENCE = "ticket 42: parent says the buyer is 15"


@pytest.fixture
def shop_same_backend(db_url: str, tmp_path: Path) -> Iterator[str]:
    """The shop on the backend troth's own database uses (its own file or schema)."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/shop.db"
        return
    need(PG_ADMIN_URL, "PostgreSQL")
    schema = f"shop_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema_url(schema)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def traces(shop: sa.Engine, i: int) -> dict[str, list[int | str]]:
    """Rows of any shop table where person ``i``'s e-mail, phone, name or street shows."""
    marks = (cs.email_of(i), cs.phone_of(i), f"Person {i}", f"PERSON {i}", f"{i} High Street")
    found: dict[str, list[int | str]] = {}
    with shop.connect() as conn:
        for name in cs.TABLES:
            table = cs.md.tables[name]
            for row in conn.execute(sa.select(table)).mappings():
                cells = [str(v) for v in row.values() if v is not None]
                if any(c == m or c.startswith(m + ",") for c in cells for m in marks):
                    key = row.get("id", row.get("order_id"))
                    found.setdefault(name, []).append(key)
    return found


def minor_entries(t: Troth, sid: str, action: str = "minor.erase") -> list[Any]:
    return [e for e in list_entries(t.ctx, subject_id=sid) if e.entry.action == action]


def test_report_minor_erases_in_troth_and_the_shop(
    home: Any, db_url: str, shop_same_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = home("mindlink", db_url)
    shop = connect_shop(t, shop_same_backend, monkeypatch)
    before = cs.snapshot(shop)
    sid = buy(t, PERSON)
    assert traces(shop, 4)

    out = t.report_minor(sid, evidence=EVIDENCE, actor=SAM)

    # troth: the sales values the law keeps stay, restricted to sales; nothing else.
    with t.ctx.engine.connect() as conn:
        left = read_values(conn, t.ctx, sid)
        status = conn.execute(sa.select(subjects.c.status).where(subjects.c.id == sid)).scalar()
    assert status == "erased"
    assert left and all(v.restricted_to == "sales" for v in left)
    assert {v.field for v in left} == {"name", "address", "product"}
    with pytest.raises(NotFound):
        t.find(email=PERSON)
    troth_part, shop_part = out["systems"]
    assert troth_part["deleted"] == 8 and troth_part["kept"] == 3
    assert "HMRC" in troth_part["kept_because"][0]["reason"]

    # The shop: only the recent invoice (tax law) names the person; the order it points
    # at stays, anonymised.
    assert traces(shop, 4) == {"invoices": [41]}
    (customer,) = rows(shop, "customers", "id = 4")
    assert customer.name == "***" and customer.phone is None and customer.birth_date is None
    assert [r.id for r in rows(shop, "orders", "customer_id = 4")] == [41]
    assert rows(shop, "addresses", "customer_id = 4") == []
    assert shop_part["system"] == "dataset:shop" and shop_part["deleted"] > 0
    assert "Tax law" in {k["table"]: k for k in shop_part["kept_because"]}["invoices"]["reason"]
    # Nobody else was touched.
    after = cs.snapshot(shop)
    for name in cs.TABLES:
        assert len(after[name]) <= len(before[name])
    assert [r for r in after["customers"] if r[0] != "4"] == [
        r for r in before["customers"] if r[0] != "4"
    ]
    assert all(traces(shop, i) for i in (1, 2, 3, 5, 6))

    # Audited with the evidence and what each system did; the job is the resumable kind.
    (entry,) = minor_entries(t, sid)
    assert entry.entry.reason == "minor" and entry.entry.actor == SAM.label
    d = entry.entry.details
    assert d["evidence"] == EVIDENCE and d["job_id"] == f"minor-{sid}"
    assert d["kept"] == out["kept"] and d["deleted"] == out["deleted"]
    assert [s["system"] for s in d["systems"]] == ["troth", "dataset:shop"]
    job = JobStore(t.ctx.engine, t.ctx.clock).get(f"minor-{sid}")
    assert job.state is JobState.complete

    # Reported again: nothing more to delete, the same shop report, audited again.
    again = t.report_minor(sid, evidence="second report", actor=SAM)
    assert again["systems"][0]["deleted"] == 0 and again["systems"][1] == shop_part
    assert cs.snapshot(shop) == after


def test_report_minor_bad_input_touches_nothing(home: Any, db_url: str) -> None:
    t = home("mindlink", db_url)
    sid = buy(t, PERSON)
    with pytest.raises(ValidationError, match="evidence") as bad:
        t.report_minor(sid, evidence="  ")
    assert bad.value.code == "evidence_required"
    with pytest.raises(NotFound):
        t.report_minor("no-such-subject", evidence=EVIDENCE)
    with t.ctx.engine.connect() as conn:
        assert len(read_values(conn, t.ctx, sid)) == 11
    assert minor_entries(t, sid) == []


def test_report_minor_waits_for_a_database_that_is_down(
    home: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = home("mindlink")
    shop = connect_shop(t, f"sqlite:///{tmp_path}/shop.db", monkeypatch)
    sid = buy(t, PERSON)
    monkeypatch.setenv("SHOP_DATABASE_URL", f"sqlite:///{tmp_path}/gone/shop.db")
    with pytest.raises(ConnectorError, match=f"troth minors report {sid}"):
        t.report_minor(sid, evidence=EVIDENCE)
    with t.ctx.engine.connect() as conn:
        assert len(read_values(conn, t.ctx, sid)) == 11  # troth's part waits, untouched
    (waiting,) = minor_entries(t, sid, "minor.erase_interrupted")
    assert waiting.entry.details["evidence"] == EVIDENCE
    assert minor_entries(t, sid) == []
    monkeypatch.setenv("SHOP_DATABASE_URL", f"sqlite:///{tmp_path}/shop.db")
    out = t.report_minor(sid, evidence=EVIDENCE)
    assert out["systems"][1]["deleted"] > 0
    assert traces(shop, 4) == {"invoices": [41]}
    assert len(minor_entries(t, sid)) == 1


def _sixteen_then_eighteen(p: dict[str, Any]) -> None:
    # The policy allowed 16-year-olds and kept the birth date for the account.
    p["minors"] = {"minimum_age": 16}
    for purpose in p["purposes"]:
        if purpose["id"] == "licence_management":
            purpose["categories"].append("demographic")


def _raise_minimum_age(t: Troth, tmp_path: Path) -> None:
    data = yaml.safe_load(t.ctx.settings.resolved_policy_file.read_text())
    data["version"] = f"{data['version']}-18"
    data["minors"] = {"minimum_age": 18}
    path = tmp_path / "policy-18.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    publish_policy(t.ctx, path)


def _signup(t: Troth, email: str, born: date) -> str:
    return str(
        t.collect(
            "account_signup",
            {
                "name": "Teen",
                "email": email,
                "username": email.split("@")[0],
                "date_of_birth": born.isoformat(),
            },
        ).subject_id
    )


def test_purge_minors_finds_a_stored_birth_date_and_erases_everywhere(
    home: Any,
    db_url: str,
    shop_same_backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = home("itechno", db_url, edit=_sixteen_then_eighteen)
    shop = connect_shop(t, shop_same_backend, monkeypatch)
    today = t.ctx.clock.now().date()
    teen = _signup(t, PERSON, today.replace(year=today.year - 17))
    adult = _signup(t, cs.email_of(5), today.replace(year=today.year - 30))
    assert t.find_minors() == []
    _raise_minimum_age(t, tmp_path)  # now the 17-year-old's stored birth date is a minor's
    t2 = Troth.open(t.ctx.settings.home, clock=t.ctx.clock)
    try:
        assert t2.purge_minors(dry_run=True) == [teen]
        assert traces(shop, 4)
        assert t2.purge_minors() == [teen]
        with t2.ctx.engine.connect() as conn:
            held = conn.execute(
                sa.select(records.c.subject_id, sa.func.count()).group_by(records.c.subject_id)
            ).all()
        assert dict(held) == {adult: 4}  # licence data has no legal minimum: all gone
        assert traces(shop, 4) == {"invoices": [41]}  # the shop's tax records stay
        assert traces(shop, 5)  # the adult is untouched
        (entry,) = minor_entries(t2, teen)
        assert "minimum age" in entry.entry.details["evidence"]
        assert t2.purge_minors() == []  # nothing left to find
    finally:
        t2.close()


def test_cli_minors_purge(home: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from troth.cli import _register, app

    _register()
    # The CLI runs on the system clock: the home's clock starts there too.
    now = SystemClock().now()
    policy = yaml.safe_load(example_path("itechno").read_text())
    _sixteen_then_eighteen(policy)
    path = tmp_path / "policy-16.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    ctx = home(None, policy=path, clock=ManualClock(now), context=True)
    t = Troth(ctx)
    try:
        shop = connect_shop(t, f"sqlite:///{tmp_path}/shop.db", monkeypatch)
        today = now.date()
        teen = _signup(t, PERSON, date(today.year - 17, 1, 1))
        _raise_minimum_age(t, tmp_path)
    finally:
        t.close()
    res = CliRunner().invoke(
        app, ["--home", str(tmp_path / "home"), "minors", "purge"], catch_exceptions=False
    )
    assert res.exit_code == 0, res.output
    assert "deleted 1 minor(s)" in res.output and teen in res.output
    assert traces(shop, 4) == {"invoices": [41]}


def test_a_row_changed_outside_troth_decides_no_erasure(
    home: Any, db_url: str, tmp_path: Path
) -> None:
    """A database writer without the key file makes an adult 12, or changes a minor's own
    row (their regime, their hold): those rows no longer match their seals, so no erasure
    is decided on them (`troth audit verify` names them). A real minor is still found."""
    t = home("itechno", db_url, edit=_sixteen_then_eighteen)
    today = t.ctx.clock.now().date()
    adult = _signup(t, cs.email_of(5), today.replace(year=today.year - 30))
    teen = _signup(t, cs.email_of(6), today.replace(year=today.year - 17))
    other = _signup(t, cs.email_of(7), today.replace(year=today.year - 17))
    young = f'"{today.replace(year=today.year - 12).isoformat()}"'
    with t.ctx.engine.begin() as conn:
        conn.execute(
            sa.update(records)
            .where(records.c.subject_id == adult, records.c.field == "date_of_birth")
            .values(value=young)
        )
        conn.execute(sa.update(subjects).where(subjects.c.id == other).values(legal_hold=True))
    _raise_minimum_age(t, tmp_path)  # now a 17-year-old's stored birth date is a minor's
    t2 = Troth.open(t.ctx.settings.home, clock=t.ctx.clock)
    try:
        assert t2.find_minors() == [teen]
        assert t2.purge_minors() == [teen]
        with t2.ctx.engine.connect() as conn:
            left = dict(
                conn.execute(
                    sa.select(records.c.subject_id, sa.func.count()).group_by(records.c.subject_id)
                ).all()
            )
        assert set(left) == {adult, other}
    finally:
        t2.close()


def test_a_correction_to_a_minors_date_of_birth_erases_them(home: Any, db_url: str) -> None:
    """A person corrects their date of birth to one under the minimum age (counted on
    their own date): the correction is made, and troth then keeps none of their data, as
    `troth minors report` does (P04). A correction to an adult's date erases nothing."""
    from requests_helpers import verified

    t = home("itechno", db_url, edit=_sixteen_then_eighteen)
    today = t.ctx.clock.now().date()
    kid = _signup(t, cs.email_of(5), today.replace(year=today.year - 30))
    adult = _signup(t, cs.email_of(6), today.replace(year=today.year - 30))
    young = today.replace(year=today.year - 12).isoformat()
    changes = {"date_of_birth": young}
    done = t.requests.execute(verified(t, "correct", cs.email_of(5), details={"changes": changes}))
    assert done.state == "completed" and done.result["minor"] is True
    older = {"date_of_birth": today.replace(year=today.year - 25).isoformat()}
    other = t.requests.execute(verified(t, "correct", cs.email_of(6), details={"changes": older}))
    assert "minor" not in other.result
    with t.ctx.engine.connect() as conn:
        left = dict(
            conn.execute(
                sa.select(records.c.subject_id, sa.func.count()).group_by(records.c.subject_id)
            ).all()
        )
    assert kid not in left and adult in left
    (entry,) = minor_entries(t, kid)
    assert "corrected date of birth" in entry.entry.details["evidence"]
    assert t.find_minors() == []
