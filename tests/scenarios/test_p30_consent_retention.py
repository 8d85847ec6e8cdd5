"""P30, P07, P10 (mindlink): data held for a consent purpose is kept "until unsubscribed",
counted from the withdrawal or the unsubscription, not from an end of relationship that
only a closure sets. What no remaining purpose holds goes at the next run, and the dry run
shows it first; a value another purpose still holds stays; a re-consent restarts the
clock; someone who never withdrew keeps everything."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from troth.consent import ConsentLedger
from troth.consent.unsubscribe import issue_token, unsubscribe
from troth.engine import Troth
from troth.store.tables import records

SEVEN = {
    "name": "Ann Reader",
    "organisation": "Acme",
    "job_title": "CTO",
    "phone": "+44 20 7946 0000",
    "city": "Leeds",
    "country": "UK",
}


def sign_up(t: Troth, addr: str, consents: list[str]) -> str:
    return str(
        t.collect(
            "newsletter_signup",
            {**SEVEN, "email": addr},
            consents=consents,
            jurisdiction="uk_gdpr",
        ).subject_id
    )


def fields(t: Troth, sid: str) -> set[str]:
    with t.ctx.engine.connect() as conn:
        return set(
            conn.execute(sa.select(records.c.field).where(records.c.subject_id == sid)).scalars()
        )


def test_p30_newsletter_data_goes_at_the_next_run_after_unsubscribing(
    home: Any, db_url: str, clock: Any
) -> None:
    t = home("mindlink", db_url)
    ann = sign_up(t, "ann@example.org", ["newsletter", "service_updates"])
    bo = sign_up(t, "bo@example.org", ["newsletter"])  # never unsubscribes
    assert len(fields(t, ann)) == 7 and len(fields(t, bo)) == 7
    clock.advance(days=30)
    assert t.retention.plan().total == 0 and t.retention.run().total == 0

    # Ann unsubscribes from the newsletter (one click): city and country served only it.
    with t.ctx.engine.begin() as conn:
        token = issue_token(conn, t.ctx, ann, "newsletter")
    unsubscribe(t.ctx, token)
    clock.advance(days=1)  # the worker's next daily run
    plan = t.retention.plan()
    assert plan.done == {("delete", "location"): 2}
    report = t.retention.run()
    assert report.done == plan.done  # the dry run showed exactly this
    # service_updates (still consented) holds her name, e-mail and phone; the organisation
    # fields are held by signup statistics for two years from collection.
    assert fields(t, ann) == {"name", "email", "phone", "organisation", "job_title"}

    # Then she withdraws from service updates too: the rest she gave for mail goes.
    ConsentLedger(t.ctx).withdraw(ann, "service_updates")
    clock.advance(days=1)
    assert t.retention.plan().done == {("delete", "identity"): 1, ("delete", "contact"): 2}
    t.retention.run()
    assert fields(t, ann) == {"organisation", "job_title"}
    clock.advance(days=2 * 366)  # signup statistics' two years: anonymised, detached
    t.retention.run()
    assert fields(t, ann) == set()

    # Bo never unsubscribed: all seven stay, years later (the newsletter still holds the
    # organisation fields that signup statistics no longer needs).
    assert len(fields(t, bo)) == 7


def test_p30_a_withdrawal_three_years_ago_leaves_nothing_and_a_reconsent_restarts(
    home: Any, db_url: str, clock: Any
) -> None:
    t = home("mindlink", db_url)
    ann = sign_up(t, "ann@example.org", ["newsletter"])
    cy = sign_up(t, "cy@example.org", ["newsletter"])
    ledger = ConsentLedger(t.ctx)
    ledger.withdraw(ann, "newsletter")
    ledger.withdraw(cy, "newsletter")
    ledger.grant(cy, "newsletter")  # changed her mind before any run: the clock restarts
    clock.advance(days=3 * 365)
    t.retention.run()
    # Ann: the values only the newsletter held are gone; what signup statistics held is
    # anonymised after its two years (nothing of hers is left attached to her).
    assert fields(t, ann) == set()
    # Cy consented again: all seven stay (the newsletter still holds the organisation
    # fields that signup statistics no longer needs).
    assert len(fields(t, cy)) == 7


def test_p30_business_contact_exempt_from_consent_keeps_its_own_clock(
    home: Any, db_url: str, clock: Any
) -> None:
    """ixanet (P05): business contact details serve client relations without consent; no
    consent recorded must not start a clock for them while the client stays a client."""
    t = home("ixanet", db_url)
    sid = t.collect(
        "subscription",
        {"name": "Zoe", "email": "zoe@example.ca", "company": "Acme", "plan": "Pro"},
        consents=["billing"],
    ).subject_id
    assert {"company", "name"} <= fields(t, sid)
    clock.advance(days=3 * 366)
    t.retention.run()
    assert {"company", "name", "email", "plan"} <= fields(t, sid)
    # Withdrawing billing starts billing's 7 years; the business contact details, held by
    # client relations alone, still stay.
    ConsentLedger(t.ctx).withdraw(sid, "billing")
    clock.advance(days=365)
    t.retention.run()
    assert "company" in fields(t, sid)
