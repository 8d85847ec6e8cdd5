"""A blank text value (``""`` or only spaces) is a value not given: a required field left
blank is missing (refused, naming it, audited, nothing stored), and an optional one left
empty on a form stores nothing. Before, ``"name": "   "`` was stored as the person's name
and ``"zip_code": ""`` as an empty value. itechno's order form, SQLite and PostgreSQL,
from Python and over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from _http import api_key, client_for, is_problem
from troth.audit.tables import audit_entries
from troth.engine import Troth
from troth.errors import ValidationError
from troth.store.tables import records

ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "2 widgets",
}


def _stored(t: Troth) -> list[tuple[str, str | None]]:
    with t.ctx.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(records.c.field, records.c.value))]


@pytest.mark.parametrize("blank", ["", "   ", "\t \n"])
def test_a_required_field_left_blank_is_missing(home: Any, db_url: str, blank: str) -> None:
    t = home("itechno", db_url)
    for field in ("name", "address", "order_items"):
        with pytest.raises(ValidationError) as err:
            t.collect("order_form", {**ORDER, field: blank})
        assert field in err.value.message and "requires" in err.value.message
    assert _stored(t) == []
    with t.ctx.engine.connect() as conn:
        refused = conn.execute(
            sa.select(sa.func.count())
            .select_from(audit_entries)
            .where(audit_entries.c.action == "collect", audit_entries.c.outcome == "deny")
        ).scalar_one()
    assert refused == 3


def test_an_optional_field_left_empty_stores_nothing(home: Any, db_url: str) -> None:
    t = home("itechno", db_url)
    sid = t.collect("order_form", {**ORDER, "zip_code": "", "phone": "  "}).subject_id
    fields = {f for f, _v in _stored(t)}
    assert "zip_code" not in fields and "phone" not in fields
    assert {"name", "email", "address", "order_items"} <= fields
    # A value with spaces around it is still a value.
    t.collect("order_form", {**ORDER, "zip_code": " 10001 "}, subject_id=sid)
    assert ("zip_code", '" 10001 "') in _stored(t)


def test_over_http_a_blank_required_field_is_a_422(home: Any) -> None:
    ctx = home("itechno", context=True)
    with client_for(ctx) as c:
        h = api_key(c, ["collect"])
        r = c.post("/api/v1/collect/order_form", json={"data": {**ORDER, "name": " "}}, headers=h)
        problem = is_problem(r, 422)
        assert "name" in problem["detail"]
        ok = c.post(
            "/api/v1/collect/order_form", json={"data": {**ORDER, "zip_code": ""}}, headers=h
        )
        assert ok.status_code == 201, ok.text
    ctx.engine.dispose()
