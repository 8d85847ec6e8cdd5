"""Dataset declarations: bad ones give errors with file, line and key path; `troth datasets
check|show` compare them with the live database without a troth home."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import connected_schema as cs
from troth.cli import _register, app
from troth.connectors import (
    DeclarationError,
    Severity,
    check_dataset,
    load_datasets,
    looks_personal,
    parse_datasets,
)
from troth.db import make_engine


def _issues(text: str) -> list[str]:
    with pytest.raises(DeclarationError) as info:
        parse_datasets(text, "shop.yaml")
    return info.value.issues


def test_the_shop_declaration_is_valid():
    [ds] = parse_datasets(cs.declaration())
    assert len(ds.tables) == 10 and len(ds.links) == 9


def test_link_to_missing_table_names_file_line_and_path():
    text = cs.declaration().replace(
        "- calls.customer_id -> customers.id", "- calls.customer_id -> clients.id"
    )
    [issue] = _issues(text)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "clients.id" in t)
    assert issue.startswith(f"shop.yaml:{line}: datasets[0].links[8]:")
    assert "table 'clients'" in issue and "does not declare" in issue


def test_link_to_missing_column():
    text = cs.declaration().replace(
        "orders.customer_id -> customers.id", "orders.client -> customers.id"
    )
    [issue] = _issues(text)
    assert "orders.client" in issue and "not declared" in issue


def test_unknown_category_and_unknown_key():
    text = (
        cs.declaration()
        .replace("ip: technical", "ip: telepathy")
        .replace(
            "primary_key: id\n        identity: {email: email}\n        erase: delete_row",
            "primary_key: id\n        identity: {email: email}\n        erase: delete_row\n"
            "        colour: red",
        )
    )
    issues = _issues(text)
    assert any("colour: unknown key" in i for i in issues)
    text = cs.declaration().replace("ip: technical", "ip: telepathy")
    [issue] = _issues(text)
    assert "newsletter_signups.columns.ip.category: unknown category 'telepathy'" in issue
    assert parse_datasets(text, categories={"telepathy", *_builtin()})


def _builtin() -> set[str]:
    from troth.connectors.loader import builtin_categories

    return builtin_categories()


def test_cycle_without_identity_is_reported():
    text = """
datasets:
  - name: loop
    url_env: LOOP_URL
    tables:
      people:
        primary_key: id
        identity: {email: email}
        erase: delete_row
        columns: {email: contact}
      a:
        primary_key: id
        erase: delete_row
        columns: {b_id: , note: support}
      b:
        primary_key: id
        erase: delete_row
        columns: {a_id: , note: support}
    links:
      - a.b_id -> b.id
      - b.a_id -> a.id
"""
    issues = _issues(text)
    assert len(issues) == 2
    assert "table 'a' cannot be reached from any identity column" in issues[0]
    assert "cycle a -> b -> a with no identity" in issues[0]
    assert issues[0].startswith("shop.yaml:11: datasets[0].tables.a:")


def test_strategy_errors_are_precise():
    text = cs.declaration().replace(
        "ship_name: {category: identity, erase: mask, field: name}",
        "ship_name: {category: identity, erase: shred}",
    )
    [issue] = _issues(text)
    assert "tables.orders.columns.ship_name.erase" in issue and "delete_row" in issue
    text = cs.declaration().replace(
        "card_holder: payment_card", "card_holder: {category: payment_card, erase: keep}"
    )
    issues = _issues(text)
    assert any("erase: keep needs a `keep:` block" in i for i in issues)
    text = cs.declaration().replace("subject: {category: support, erase: mask}", "subject: support")
    [issue] = _issues(text)
    assert "'subject' holds 'support' data but says nothing about erasure" in issue
    [issue] = _issues(cs.declaration().replace("url_env: SHOP", "url_env: shop"))
    assert "url_env" in issue


def test_not_yaml_and_missing_file(tmp_path):
    [issue] = _issues("datasets: [")
    assert "not valid YAML" in issue
    with pytest.raises(DeclarationError, match="cannot be read"):
        load_datasets(tmp_path / "nope.yaml")


def test_personal_names():
    for name in [
        "email",
        "customerEmail",
        "phone_number",
        "first_name",
        "ip_address",
        "dob",
        "birth_date",
        "ssn",
        "card_number",
        "home_address",
    ]:
        assert looks_personal(name), name
    for name in ["id", "total", "sku", "created_at", "status", "quantity"]:
        assert not looks_personal(name), name


@pytest.fixture
def live_shop(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/shop.db"
    engine = make_engine(url)
    cs.create_schema(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE customers ADD COLUMN mobile_phone VARCHAR(20)"))
        conn.execute(
            sa.text(
                "CREATE TABLE loyalty (id INTEGER PRIMARY KEY,"
                " customer_id INTEGER REFERENCES customers(id))"
            )
        )
    engine.dispose()
    return url


def test_check_dataset_against_the_live_schema(live_shop):
    text = cs.declaration().replace("      - addresses.customer_id -> customers.id\n", "")
    text = text.replace(
        "          postcode: shipping_address",
        "          postcode: shipping_address\n          country: shipping_address",
    )
    text = text.replace(
        "city: shipping_address", "city: {category: shipping_address, erase: set_null}"
    )
    [ds] = parse_datasets(
        text.replace(
            "addresses:\n        primary_key: id",
            "addresses:\n        primary_key: id\n        identity: {customer_id: customer_id}",
        )
    )
    engine = make_engine(live_shop)
    findings = {(f.code, f.table, f.column): f for f in check_dataset(ds, engine)}
    assert findings[("missing_column", "addresses", "country")].severity is Severity.error
    assert ("undeclared_personal", "customers", "mobile_phone") in findings
    assert ("undeclared_link", "addresses", "customer_id") in findings
    assert ("undeclared_child", "loyalty", None) in findings
    [clean] = parse_datasets(cs.declaration())
    codes = {f.code for f in check_dataset(clean, engine)}
    assert codes == {"undeclared_personal", "undeclared_child"}


def test_check_finds_missing_table_and_bad_strategy(tmp_path):
    url = f"sqlite:///{tmp_path}/shop.db"
    engine = make_engine(url)
    cs.create_schema(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE newsletter_signups"))
    text = cs.declaration().replace(
        "card_last4: payment_card",
        "card_last4: payment_card\n          amount_masked: {category: billing, erase: set_null}",
    )
    text = cs.declaration().replace(
        "birth_date: {category: demographic, erase: set_null}",
        "birth_date: {category: demographic, erase: hash}",
    )
    [ds] = parse_datasets(text)
    findings = {(f.code, f.table, f.column) for f in check_dataset(ds, engine)}
    assert ("missing_table", "newsletter_signups", None) in findings
    assert ("strategy_type", "customers", "birth_date") in findings


def _cli(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    _register()
    result = CliRunner().invoke(app, args, env=env)
    return result.exit_code, result.output


def test_cli_check_and_show_without_a_home(live_shop, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no troth home here
    path = cs.write_declaration(tmp_path / "datasets.yaml")
    code, out = _cli(["datasets", "check", str(path)], {"SHOP_DATABASE_URL": live_shop})
    assert code == 0, out
    assert "customers.mobile_phone" in out and "undeclared_personal" in out
    code, out = _cli(["datasets", "check", str(path), "--json"], {"SHOP_DATABASE_URL": live_shop})
    assert code == 0 and '"code": "undeclared_personal"' in out
    code, out = _cli(["datasets", "show", str(path)], {})
    assert code == 0 and "invoices" in out and "Tax law" in out and "walk" in out
    code, out = _cli(["datasets", "check", str(path)], {"SHOP_DATABASE_URL": ""})
    assert code == 1 and "SHOP_DATABASE_URL is not set" in out
    engine = make_engine(live_shop)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE calls"))
    code, out = _cli(["datasets", "check", str(path)], {"SHOP_DATABASE_URL": live_shop})
    assert code == 1 and "missing_table" in out


def test_cli_show_takes_the_homes_categories(home, tmp_path, monkeypatch):
    """Trial 4: with --home, a column of a category the home's policy declares was refused
    ("unknown category 'cv': declare it in the policy's categories") unless --policy named
    the very file the home runs on. The home's policy counts; a category it lacks still
    does not."""

    def edit(p):
        p["categories"] = [*p.get("categories", []), {"id": "cv", "description": "CVs"}]

    t = home("mindlink", edit=edit)
    monkeypatch.chdir(tmp_path)
    text = cs.declaration().replace(
        "birth_date: {category: demographic, erase: set_null}",
        "birth_date: {category: cv, erase: set_null}",
    )
    assert text != cs.declaration()
    path = tmp_path / "datasets.yaml"
    path.write_text(text)
    code, out = _cli(["--home", str(t.ctx.home), "datasets", "show", str(path)], {})
    assert code == 0 and "cv" in out, out
    _register()
    bare = CliRunner().invoke(app, ["datasets", "show", str(path)], env={})
    assert bare.exit_code != 0 and "unknown category 'cv'" in str(
        bare.exception
    )  # no home: built-ins
    other = tmp_path / "other.yaml"
    other.write_text(text.replace("category: cv", "category: resumes"))
    lacks = CliRunner().invoke(app, ["--home", str(t.ctx.home), "datasets", "show", str(other)])
    assert lacks.exit_code != 0 and "unknown category 'resumes'" in str(lacks.exception)
