"""P20 on SQLite and PostgreSQL: a disclosure to an authority, or under a legal-obligation
purpose, goes through a recorded legal demand (refused and audited without one, nothing
sent, nobody told); a demand names only an authority as its recipient."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from troth.disclosures import disclosures, legal_demands
from troth.engine import Troth
from troth.errors import ValidationError
from troth.gate import Actor, ActorKind

ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "2 widgets",
}
NEWS = {"name": "Annie", "email": "annie@news.example"}
OFFICE = Actor(ActorKind.staff, "po", role="privacy_office")
SHOP = Actor(ActorKind.application, "shop", scopes=frozenset({"admin"}))
COURTS = "courts_and_law_enforcement"


def _count(t: Any, table: Any) -> int:
    with t.ctx.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _mail(t: Any) -> int:
    from troth.notices.outbox import outbox

    return _count(t, outbox)


def _ann(t: Any) -> str:
    """Ann: an order, and a newsletter sign-up with another name and address."""
    sid: str = t.collect("order_form", ORDER).subject_id
    t.collect("newsletter_signup", NEWS, subject_id=sid, consents=["product_news"])
    return sid


def _demand(t: Any, **kw: Any) -> Any:
    args = {
        "authority": "District Court",
        "instrument": "court_order",
        "reference": "CV-1",
        "scope": "contact details of Ann Lee",
        "recipient": COURTS,
    }
    return t.disclosures.record_demand(**{**args, **kw})


def test_a_demand_comes_from_an_authority(home, db_url):
    t = home("itechno", db_url)
    sid = _ann(t)
    # A third party, or a recipient the policy does not list: the error names the authorities.
    for other, kind in (("shipping_company", "third_party"), ("nobody", "lists no recipient")):
        with pytest.raises(ValidationError) as exc:
            _demand(t, recipient=other)
        assert exc.value.details["field"] == "recipient" and kind in exc.value.message
        assert COURTS in exc.value.message and "authority" in exc.value.message
    assert _count(t, legal_demands) == 0
    # A demand that names no recipient still sends the data only to an authority.
    d = _demand(t, recipient=None)
    with pytest.raises(ValidationError, match=COURTS):
        t.disclosures.disclose(
            sid, "shipping_company", "legal_disclosure", OFFICE, legal_demand_id=d.id
        )
    assert _count(t, disclosures) == 0 and _mail(t) == 0
    pkg = t.disclosures.disclose(sid, COURTS, "legal_disclosure", OFFICE, legal_demand_id=d.id)
    assert pkg.recipient == COURTS


# -- every entry point ------------------------------------------------------------------------
def test_console_offers_only_authorities_for_a_demand(home):
    from _http import PASSWORD, client_for, console_login

    ctx = home("itechno", context=True)
    t = Troth(ctx)
    t.access.accounts.add_user(
        "po@example.com", kind="staff", role="privacy_office", password=PASSWORD
    )
    with client_for(ctx) as c:
        token = console_login(c, "po@example.com")
        page = c.get("/console/demands").text
        choices = page.split('id="recipient"')[1].split("</select>")[0]
        assert f'value="{COURTS}"' in choices and "shipping_company" not in choices
        form = {
            "authority": "District Court",
            "instrument": "court_order",
            "reference": "CV-1",
            "scope": "Ann Lee",
            "csrf_token": token,
        }
        r = c.post("/console/demands", data={**form, "recipient": "shipping_company"})
        assert r.status_code == 422 and COURTS in r.text
        assert _count(t, legal_demands) == 0
        r = c.post("/console/demands", data={**form, "recipient": COURTS})
        assert r.status_code == 200 and "CV-1" in r.text
    assert _count(t, legal_demands) == 1
