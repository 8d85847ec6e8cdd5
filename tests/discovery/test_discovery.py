"""Discovery: personal data the datasets file and the policy do not declare, found in real
databases (SQLite, PostgreSQL, MariaDB) by a read-only, bounded, resumable, audited scan.

The corpus (tests/discovery_corpus.py) is seeded and labelled: a shop on SQLite, a help
desk on PostgreSQL, a telephone and payroll system on MariaDB, with declared, undeclared,
mislabelled and decoy columns and free-text notes with and without pasted cards."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

import discovery_corpus as dc
from troth.audit.entries import list_entries
from troth.discovery import DiscoveryService
from troth.discovery.detectors import Detectors, Kind, mask
from troth.discovery.drift import Severity
from troth.discovery.scan import read_only, readonly_engine
from troth.discovery.tables import discovery_scans, discovery_tables
from troth.errors import NotFound, Refused, ValidationError
from troth.gate import Actor, ActorKind

OFFICER = Actor(ActorKind.staff, "olga", role="privacy_office")
AGENT = Actor(ActorKind.staff, "sam", role="support")
ENV = {"shop": "SHOP_URL", "helpdesk": "HELPDESK_URL", "telephony": "TELEPHONY_URL"}


def _policy(data: dict[str, Any]) -> None:
    """mindlink, with the countries of the corpus's national ids and phone numbers."""
    data["locations"]["allowed"] = ["GB", "EU", "NZ", "CA", "US"]


@pytest.fixture(params=["shop", "helpdesk", "telephony"])
def corpus(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: Any) -> tuple[str, str]:
    """(dataset name, URL) of one corpus database, built on its dialect."""
    name = request.param
    if name == "shop":
        url = f"sqlite:///{tmp_path}/shop.db"
    elif name == "helpdesk":
        url = request.getfixturevalue("pg_url")
    else:
        url = request.getfixturevalue("mysql_url")
    dc.build(name, url, rows=200)
    monkeypatch.setenv(ENV[name], url)
    return name, url


def _home(home: Any, *datasets: str) -> Any:
    t = home("mindlink", edit=_policy)
    folder = t.ctx.settings.resolved_datasets_dir
    folder.mkdir(exist_ok=True)
    decl = {"datasets": [dc.declaration(n, ENV[n]) for n in datasets]}
    (folder / "corpus.yaml").write_text(yaml.safe_dump(decl, sort_keys=False))
    return t


def _service(t: Any) -> DiscoveryService:
    return DiscoveryService(t.ctx)


def _at(report: Any, code: str) -> set[str]:
    return {f.where for f in report.findings if f.code == code}


def _undeclared_truth(name: str) -> tuple[set[str], set[str]]:
    """(undeclared personal columns of declared tables, undeclared tables with personal
    columns), from the corpus's labels."""
    cols, tables = set(), set()
    for t in dc.CORPUS[name]:
        personal = [c for c in t.cols if c.label]
        if not t.declared:
            if personal or t.notes is not None:
                tables.add(f"{name}.{t.name}")
            continue
        cols |= {f"{name}.{t.name}.{c.name}" for c in personal if not c.declared}
        if t.notes is not None and not t.notes.declared:
            cols.add(f"{name}.{t.name}.{t.notes.name}")
    return cols, tables


# -- P01 -----------------------------------------------------------------------------------
def test_p01_undeclared_personal_data_is_found(corpus: tuple[str, str], home: Any) -> None:
    """Every undeclared personal column and table of the corpus is reported with its
    category, masked evidence and the YAML to add; no decoy is; mislabelled columns are."""
    name, _url = corpus
    t = _home(home, name)
    report = _service(t).scan([name], rows=200, actor=OFFICER)
    assert report.complete and report.drift
    want_cols, want_tables = _undeclared_truth(name)
    assert _at(report, "undeclared_column") == want_cols
    assert _at(report, "undeclared_table") == want_tables
    labels = dc.labels(name)
    for f in report.findings:
        if f.code == "undeclared_column" and f.column in {
            c.name for tb in dc.CORPUS[name] for c in tb.cols
        }:
            assert f.category == labels[(f.table, f.column)], f
            assert f.severity is Severity.high
            # The YAML parses and declares exactly that column with that category.
            doc = yaml.safe_load(f.yaml)
            assert doc["tables"][f.table]["columns"][f.column]["category"] == f.category
    # Decoys (order numbers, failing 16-digit ids, versions, codes) are never reported.
    decoys = {
        f"{name}.{tb.name}.{c.name}" for tb in dc.CORPUS[name] for c in tb.cols if not c.label
    }
    assert not {f.where for f in report.findings} & decoys
    # Mislabelled: declared with a checkable category that its values contradict.
    mislabelled = {
        f"{name}.{tb.name}.{c.name}"
        for tb in dc.CORPUS[name]
        if tb.declared
        for c in tb.cols
        if c.label and c.declared and c.declared != dc.CATEGORY[c.label]
    }
    assert _at(report, "mislabelled") == mislabelled
    # An undeclared table's YAML lists its personal columns.
    for f in report.findings:
        if f.code == "undeclared_table":
            doc = yaml.safe_load(f.yaml)
            table = doc["tables"][f.table or ""]
            assert table["primary_key"] == "id"
            spec = next(tb for tb in dc.CORPUS[name] if tb.name == f.table)
            assert {c.name for c in spec.cols if c.label} <= set(table["columns"])


def test_p01_cli_exits_2_on_drift_and_0_once_declared(
    tmp_path: Path, home: Any, monkeypatch: Any
) -> None:
    """`troth discover --json` exits 2 on drift; after adding the YAML it proposes, the
    same database gives no drift and exit 0."""
    from troth.cli import _register, app

    url = f"sqlite:///{tmp_path}/small.db"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT, mobile TEXT)"
        )
        for i in range(30):
            conn.exec_driver_sql(
                "INSERT INTO people VALUES (?, ?, ?)", (i, f"p{i}@example.com", f"+4479001{i:05d}")
            )
    engine.dispose()
    monkeypatch.setenv("SMALL_URL", url)
    t = home("mindlink", edit=_policy)
    folder = t.ctx.settings.resolved_datasets_dir
    folder.mkdir(exist_ok=True)
    decl = {
        "datasets": [
            {
                "name": "small",
                "url_env": "SMALL_URL",
                "tables": {
                    "people": {
                        "primary_key": "id",
                        "identity": {"email": "email"},
                        "erase": "delete_row",
                        "columns": {"email": "contact"},
                    }
                },
            }
        ]
    }
    (folder / "small.yaml").write_text(yaml.safe_dump(decl))
    _register()
    runner = CliRunner()
    home_dir = ["--home", str(t.ctx.home)]
    r = runner.invoke(app, [*home_dir, "discover", "small", "--json"])
    assert r.exit_code == 2, r.output
    out = json.loads(r.output)
    assert out["drift"] is True and out["state"] == "complete"
    (found,) = [f for f in out["findings"] if f["code"] == "undeclared_column"]
    assert found["column"] == "mobile" and found["category"] == "contact"
    assert found["evidence"]["matching"] == 30 and found["evidence"]["sampled"] == 30
    assert found["evidence"]["example"] == "+999999999999"
    # Apply the proposed YAML, then scan again: no drift.
    add = yaml.safe_load(found["yaml"])["tables"]["people"]["columns"]
    decl["datasets"][0]["tables"]["people"]["columns"].update(add)
    (folder / "small.yaml").write_text(yaml.safe_dump(decl))
    r = runner.invoke(app, [*home_dir, "discover", "small"])
    assert r.exit_code == 0, r.output
    assert "no drift" in r.output
    # Unknown datasets are refused with the declared ones named.
    r = runner.invoke(app, [*home_dir, "discover", "nope"])
    assert isinstance(r.exception, ValidationError) and "declared: small" in str(r.exception)


# -- P15 -----------------------------------------------------------------------------------
def test_p15_sensitive_data_in_clear_is_flagged(corpus: tuple[str, str], home: Any) -> None:
    """Card numbers, IBANs and national ids stored in clear are critical findings, declared
    or not; cards pasted into free-text notes too; an encrypted card column is not."""
    name, url = corpus
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("CREATE TABLE vault (id INTEGER PRIMARY KEY, card_number VARCHAR(200))")
        )
        for i in range(40):  # ciphertext (what P15 asks for): random bytes, base64
            blob = hashlib.sha256(f"{i}".encode()).digest() * 2
            conn.execute(
                sa.text("INSERT INTO vault VALUES (:i, :v)"),
                {"i": i, "v": base64.b64encode(blob).decode()},
            )
    engine.dispose()
    t = _home(home, name)
    report = _service(t).scan([name], rows=200, actor=OFFICER)
    sensitive = {"payment_card", "financial", "government_id"}
    want = {
        f"{name}.{tb.name}.{c.name}"
        for tb in dc.CORPUS[name]
        for c in tb.cols
        if c.label and dc.CATEGORY[c.label] in sensitive
    }
    clear = [f for f in report.findings if f.code == "sensitive_in_clear"]
    assert {f.where for f in clear} == want
    assert all(f.severity is Severity.critical for f in clear)
    pasted = _at(report, "pasted_in_free_text")
    notes = {f"{name}.{tb.name}.{tb.notes.name}" for tb in dc.CORPUS[name] if tb.notes}
    assert pasted == notes
    assert f"{name}.vault.card_number" not in {f.where for f in report.findings if f.severity
                                               is Severity.critical}  # fmt: skip
    # Critical findings come first.
    assert report.findings[0].severity is Severity.critical


def test_p15_card_pasted_into_a_support_message_in_troth_is_flagged(home: Any) -> None:
    """troth's own free text: a card number pasted into a support message (stored under
    the non-sensitive category support) is flagged; the message is never copied."""
    t = home("mindlink", edit=_policy)
    card = "4111 1111 1111 1111"
    t.collect(
        "support_request",
        {"name": "Ann", "email": "ann@example.com", "message": f"Please refund my card {card} now"},
    )
    t.collect(
        "support_request",
        {"name": "Bo", "email": "bo@example.com", "message": "Order 4111111111111112 is late"},
    )
    report = _service(t).scan(actor=OFFICER)
    (f,) = [f for f in report.findings if f.dataset == "@troth"]
    assert f.code == "pasted_in_free_text" and f.column == "support_request.message"
    assert f.severity is Severity.critical and f.category == "payment_card"
    assert f.evidence["values_with"] == {"card": 1} and f.evidence["sampled"] == 2
    text = json.dumps(report.to_dict())
    assert card not in text and "4111111111111111" not in text and "refund" not in text


# -- safe by construction -------------------------------------------------------------------
def test_scan_never_writes_and_never_copies_a_value(tmp_path: Path, home: Any,
                                                     monkeypatch: Any) -> None:  # fmt: skip
    """The scanned SQLite file is byte-for-byte the same (no WAL switch, no journal), and no
    sampled value reaches the report, troth's database or the audit log."""
    url = f"sqlite:///{tmp_path}/shop.db"
    dc.build("shop", url, rows=100)
    db = tmp_path / "shop.db"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    monkeypatch.setenv("SHOP_URL", url)
    t = _home(home, "shop")
    report = _service(t).scan(["shop"], rows=100, actor=OFFICER)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert not (tmp_path / "shop.db-wal").exists()
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        values = {
            str(v)
            for table in sa.inspect(conn).get_table_names()
            for row in conn.execute(sa.text(f"SELECT * FROM {table}"))
            for v in row
            if isinstance(v, str) and len(v) >= 6
        }
    engine.dispose()
    assert values
    with t.ctx.engine.connect() as conn:
        rows = conn.execute(sa.select(discovery_tables.c.result, discovery_tables.c.shape))
        stored = json.dumps(
            [list(r) for r in rows]
            + [list(r) for r in conn.execute(sa.select(discovery_scans.c.summary))],
            default=str,
        )
    audit = json.dumps([e.entry.details for e in list_entries(t.ctx, limit=10_000)], default=str)
    report_text = json.dumps(report.to_dict(), default=str)
    for v in values:
        assert v not in stored and v not in audit and v not in report_text, v


def test_read_only_transactions_refuse_writes(tmp_path: Path, request: Any) -> None:
    """The connection discovery reads through cannot write, on all three dialects."""
    urls = [f"sqlite:///{tmp_path}/ro.db"]
    for fixture in ("pg_url", "mysql_url"):
        with contextlib.suppress(pytest.skip.Exception):
            urls.append(request.getfixturevalue(fixture))
    for url in urls:
        setup = sa.create_engine(url)
        with setup.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        setup.dispose()
        engine = readonly_engine(url)
        with pytest.raises(sa.exc.DBAPIError), read_only(engine, 10) as conn:
            conn.execute(sa.text("INSERT INTO t VALUES (1)"))
            conn.commit()
        engine.dispose()
        check = sa.create_engine(url)
        with check.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar() == 0, url
        check.dispose()


def test_budget_stops_the_scan_and_resume_finishes_it(
    tmp_path: Path, home: Any, monkeypatch: Any
) -> None:
    """A budget too short for the whole scan leaves it partial (no category verdicts);
    resuming goes on at the next table, and tables already done are not read again."""
    url = f"sqlite:///{tmp_path}/shop.db"
    dc.build("shop", url, rows=200)
    monkeypatch.setenv("SHOP_URL", url)
    t = _home(home, "shop")
    svc = _service(t)
    first = svc.scan(["shop"], rows=200, budget_s=0.02, actor=OFFICER)
    assert first.state == "partial" and first.tables_done < first.tables_total
    assert not any(f.code == "category_not_held" for f in first.findings)
    assert svc.resumable() == first.scan_id
    with t.ctx.engine.connect() as conn:
        done_before = {
            r.table_name: r.updated_at
            for r in conn.execute(
                sa.select(discovery_tables).where(discovery_tables.c.state == "done")
            )
        }
    t.ctx.clock.advance(minutes=5)
    second = svc.scan(resume=first.scan_id, budget_s=60, actor=OFFICER)
    assert second.scan_id == first.scan_id and second.complete
    assert second.tables_done == second.tables_total == len(dc.SHOP)
    with t.ctx.engine.connect() as conn:
        after = {r.table_name: r.updated_at for r in conn.execute(sa.select(discovery_tables))}
    for table, at in done_before.items():
        assert after[table] == at  # not read again
    # A complete scan cannot be resumed; an unknown one is not found.
    with pytest.raises(ValidationError, match="complete"):
        svc.scan(resume=first.scan_id, actor=OFFICER)
    with pytest.raises(NotFound):
        svc.scan(resume="0" * 32, actor=OFFICER)
    # Each run is audited at its start and end (two runs: four entries).
    scans = [e for e in list_entries(t.ctx, limit=10_000) if e.entry.action == "discovery.scan"]
    assert [e.entry.details["phase"] for e in scans] == ["start", "end", "start", "end"]
    assert scans[1].entry.details["state"] == "partial"
    assert scans[3].entry.details["state"] == "complete"
    assert scans[2].entry.details["resumed"] is True


def test_an_interrupted_scan_resumes_where_it_stopped(
    tmp_path: Path, home: Any, monkeypatch: Any
) -> None:
    """A scan whose process died (state running, tables pending) is what the worker's
    task resumes, finishing it."""
    from troth.discovery.jobs import scheduled_scan

    url = f"sqlite:///{tmp_path}/shop.db"
    dc.build("shop", url, rows=50)
    monkeypatch.setenv("SHOP_URL", url)
    t = _home(home, "shop")
    svc = _service(t)
    svc.scan(["shop"], rows=50, budget_s=0.01, actor=OFFICER)
    with t.ctx.engine.begin() as conn:  # as if the process died mid-scan
        conn.execute(discovery_scans.update().values(state="running"))
    scan_id = svc.resumable()
    assert scan_id is not None
    text = scheduled_scan(t.ctx)
    assert f"scan {scan_id} complete" in text
    assert svc.resumable() is None


def test_scan_needs_the_run_discovery_power_and_refusals_are_audited(
    home: Any,
) -> None:
    t = home("mindlink", edit=_policy)
    svc = _service(t)
    bound = Actor(ActorKind.application, "k", scopes=frozenset({"admin"}), tenant_id="t1")
    for actor, reason in ((AGENT, "power_not_granted"), (bound, "tenant_bound")):
        with pytest.raises(Refused) as exc:
            svc.scan(actor=actor)
        assert exc.value.reason == reason
    with pytest.raises(Refused):
        svc.report(actor=AGENT)
    denied = [
        e for e in list_entries(t.ctx, limit=10_000) if e.entry.action == "office.run_discovery"
    ]
    assert len(denied) == 3 and all(e.entry.outcome.value == "deny" for e in denied)
    with t.ctx.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(discovery_scans)).scalar() == 0
    # Bad bounds are refused before anything is stored.
    for kwargs in ({"rows": 0}, {"rows": 100_001}, {"budget_s": 0}, {"budget_s": -1}):
        with pytest.raises(ValidationError):
            svc.scan(actor=OFFICER, **kwargs)


def test_an_unreachable_dataset_is_reported_and_the_others_scanned(
    tmp_path: Path, home: Any, monkeypatch: Any
) -> None:
    url = f"sqlite:///{tmp_path}/shop.db"
    dc.build("shop", url, rows=30)
    monkeypatch.setenv("SHOP_URL", url)
    monkeypatch.delenv("HELPDESK_URL", raising=False)
    t = _home(home, "shop", "helpdesk")
    report = _service(t).scan(actor=OFFICER)
    assert "helpdesk.*" in report.errors and "HELPDESK_URL" in report.errors["helpdesk.*"]
    assert report.tables_done == len(dc.SHOP) + 1  # and troth's own text
    assert _at(report, "undeclared_table")  # the shop was scanned
    assert not any(f.code == "category_not_held" for f in report.findings)


# -- detectors -----------------------------------------------------------------------------
D = Detectors(frozenset({"NZ", "CA", "GB", "US"}), today=dc.TODAY)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("ann@example.com", Kind.email),
        ("+64 21 123 4567", Kind.phone),
        ("021 123 4567", Kind.phone),
        ("(415) 555-2671", Kind.phone),
        ("4111 1111 1111 1111", Kind.card),
        ("378282246310005", Kind.card),
        ("5555-5555-5555-4444", Kind.card),
        ("GB82 WEST 1234 5698 7654 32", Kind.iban),
        ("DE89370400440532013000", Kind.iban),
        ("192.168.10.4", Kind.ip),
        ("2001:db8::8a2e:370:7334", Kind.ip),
        ("1980-05-17", Kind.dob),
        ("17/05/1980", Kind.dob),
        ("SW1A 1AA", Kind.postal_code),
        ("K1A 0B1", Kind.postal_code),
        ("049-091-850", Kind.nz_ird),
        ("130 692 544", Kind.ca_sin),
        ("AB123456C", Kind.uk_ni),
        ("123-45-6789", Kind.us_ssn),
    ],
)
def test_detectors_recognise_each_kind(value: str, kind: Kind) -> None:
    strong, _weak = D.classify(value)
    assert kind in strong, (value, strong)


@pytest.mark.parametrize(
    "value",
    [
        "4111 1111 1111 1112",  # fails Luhn
        "9111111111111111",  # no issuer starts with 9 at 16 digits... and fails Luhn
        "2024051234",  # an order number: bare digits, no trunk prefix
        "GB82 WEST 1234 5698 7654 33",  # IBAN check digits wrong
        "999.1.1.1",  # not an address
        "2025-01-05",  # a date, but too recent to be a birth date
        "1850-01-01",  # too old
        "136-410-133",  # IRD check digit wrong (136-410-132 is right)
        "130 692 545",  # SIN fails Luhn
        "BG123456C",  # NI prefix never issued
        "000-12-3456",  # SSN area 000
        "666-12-3456",
        "900-12-3456",
        "123-00-4567",
        "not personal at all",
        "",
    ],
)
def test_detectors_refuse_lookalikes(value: str) -> None:
    strong, _weak = D.classify(value)
    assert not strong, (value, strong)


def test_national_ids_follow_the_policy_s_countries() -> None:
    nz_only = Detectors(frozenset({"NZ"}), today=dc.TODAY)
    assert Kind.nz_ird in nz_only.classify("049-091-850")[0]
    assert not nz_only.classify("123-45-6789")[0]  # no SSN outside the US
    assert not nz_only.classify("AB123456C")[0]
    assert not nz_only.classify("SW1A 1AA")[0]  # no UK postcodes either


def test_embedded_finds_pasted_cards_and_ids_but_not_failing_ones() -> None:
    text = "Refund to 4111-1111-1111-1111 please, ref 4111111111111112, ssn 123-45-6789"
    found = D.embedded(text)
    assert len(found[Kind.card]) == 1 and text[slice(*found[Kind.card][0])] == "4111-1111-1111-1111"
    assert Kind.us_ssn in found
    assert D.embedded("Order 4111111111111112 arrived late, thanks") == {}


def test_mask_keeps_the_shape_only() -> None:
    assert mask("ann.lee@example.com") == "xxx.xxx@xxxxxxx.xxx"
    assert mask("4111 1111 1111 1111") == "9999 9999 9999 9999"
    assert mask("x" * 60).endswith("...")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("customerEmailAddress", Kind.email),
        ("courriel", Kind.email),
        ("telefono", Kind.phone),
        ("mobile_no", Kind.phone),
        ("cc_number", Kind.card),
        ("date_of_birth", Kind.dob),
        ("geburtsdatum", Kind.dob),
        ("code_postal", Kind.postal_code),
        ("nachname", Kind.name),
        ("ship_address", Kind.address),
        ("ni_number", Kind.uk_ni),
        ("product_name", None),
        ("customer_id", None),
        ("order_no", None),
        ("ip_count", None),
    ],
)
def test_column_name_rules(name: str, kind: Kind | None) -> None:
    from troth.discovery.names import kind_of_name

    assert kind_of_name(name) is kind


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/odd.db"
    return str(request.getfixturevalue("pg_url" if request.param == "postgresql" else "mysql_url"))


def test_odd_identifiers_are_quoted_and_only_troth_text_when_asked(
    any_url: str, home: Any, monkeypatch: Any
) -> None:
    """A table and columns whose names need quoting (spaces, capitals, a reserved word) are
    read like any other; naming only @troth scans troth's own text and no database."""
    engine = sa.create_engine(any_url)
    md = sa.MetaData()
    odd = sa.Table(
        "Order Details",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("E-mail", sa.String(100)),
        sa.Column("select", sa.String(100)),
    )
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            odd.insert(),
            [{"id": i, "E-mail": f"p{i}@example.com", "select": "x"} for i in range(20)],
        )
    engine.dispose()
    monkeypatch.setenv("ODD_URL", any_url)
    t = home("mindlink", edit=_policy)
    folder = t.ctx.settings.resolved_datasets_dir
    folder.mkdir(exist_ok=True)
    decl = {"name": "odd", "url_env": "ODD_URL", "tables": {"people": {"primary_key": "id"}}}
    decl["tables"]["people"]["identity"] = {"customer_id": "id"}
    (folder / "odd.yaml").write_text(yaml.safe_dump({"datasets": [decl]}))
    svc = _service(t)
    report = svc.scan(["odd"], actor=OFFICER)
    assert not report.errors, report.errors
    (f,) = [f for f in report.findings if f.code == "undeclared_table"]
    assert f.table == "Order Details" and f.category == "contact"
    assert set(f.evidence["columns"]) == {"E-mail"}
    only = svc.scan(["@troth"], actor=OFFICER)
    assert only.datasets == ["@troth"] and only.tables_total == 1


def test_the_nlp_path_adds_what_presidio_finds() -> None:
    """The nlp extra (Presidio), when installed: without a spaCy model it runs Presidio's
    pattern recognizers, whose finds join the built-in ones. Skipped where the extra is
    not installed (it is not part of the dev install)."""
    pytest.importorskip("presidio_analyzer", reason="the nlp extra is not installed")
    from troth.discovery.classify import Classifier
    from troth.discovery.nlp import PresidioText

    nlp = PresidioText()
    assert Kind.email in nlp.kinds("write to ann@example.com about the refund please")
    col = Classifier(D, nlp).column(
        "notes",
        "TEXT",
        ["Customer wrote from ann@example.com about the late parcel yesterday"] * 5,
    )
    assert col.free_text and col.pasted.get("email") == 5


def test_a_category_no_system_holds_is_a_low_finding_and_no_drift(home: Any) -> None:
    """A category the policy declares that no collection point, dataset or scanned column
    holds is reported (low, with the policy YAML), and alone is not drift (exit 0)."""

    def edit(data: dict[str, Any]) -> None:
        _policy(data)
        data["categories"].append({"id": "biometrics", "description": "Fingerprints."})

    t = home("mindlink", edit=edit)
    report = _service(t).scan(actor=OFFICER)
    (f,) = [f for f in report.findings if f.code == "category_not_held"]
    assert f.category == "biometrics" and f.severity is Severity.low and f.target == "policy"
    assert "id: biometrics" in f.yaml
    assert not report.drift


def test_a_column_listed_without_a_category_whose_values_are_personal_is_mislabelled() -> None:
    from troth.connectors.declaration import Dataset
    from troth.discovery.classify import Classifier
    from troth.discovery.drift import TableScan, drift

    ds = Dataset.model_validate(
        {
            "name": "crm",
            "url_env": "CRM_URL",
            "tables": {
                "leads": {
                    "primary_key": "id",
                    "identity": {"customer_id": "id"},
                    "columns": {"id": None, "ref": None},
                }
            },
        }
    )
    col = Classifier(D).column("ref", "TEXT", [f"lead{i}@example.com" for i in range(10)])
    key = Classifier(D).column("id", "INTEGER", list(range(10)))
    scan = TableScan("crm", "leads", ("id",), (), (key, col))
    (f,) = drift([scan], {"crm": ds}, sensitive=set(), policy_categories=set(), held_by_troth=set())
    assert f.code == "mislabelled" and f.where == "crm.leads.ref" and f.category == "contact"
    assert "without a category" in f.message and f.severity is Severity.medium
