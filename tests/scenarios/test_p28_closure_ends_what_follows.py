"""P28, P25, P07, P10 (mindlink): closing an account or erasing a person ends what follows
from them. Their consents end with a ledger event, queued list mail is suppressed, nothing
more is queued or delivered, and every later use, disclosure or export is refused
``subject_erased`` and audited; only what the law keeps serves its legal purpose. The
twin: a person who was not erased is untouched by all of it."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from requests_helpers import mails_for, verified
from troth.audit.entries import list_entries
from troth.consent.state import active_purposes
from troth.consent.tables import consent_events
from troth.engine import Troth
from troth.errors import Refused
from troth.gate import SYSTEM, Actor, ActorKind
from troth.notices.delivery import deliver_due
from troth.notices.outbox import MailStatus, list_outbox, submit
from troth.requests.states import RequestState

ACCOUNTS = Actor(ActorKind.staff, "ada", role="accounts")
MARKETING = Actor(ActorKind.staff, "mo", role="marketing")


def customer(t: Troth, addr: str, name: str) -> str:
    """A customer who bought and signed up for the newsletter (consent given)."""
    sid = t.collect(
        "purchase",
        {
            "name": name,
            "email": addr,
            "address": "1 High Street, Leeds",
            "product": "Mindlink Pro",
            "renewal_date": "2027-01-01",
        },
    ).subject_id
    again = t.collect(
        "newsletter_signup",
        {"name": name, "email": addr, "city": "Leeds"},
        consents=["newsletter"],
        jurisdiction="uk_gdpr",
    ).subject_id
    assert again == sid
    return str(sid)


def newsletter(t: Troth, sid: str, addr: str, issue: int) -> int:
    return submit(
        t.ctx,
        idempotency_key=f"newsletter-{issue}:{sid}",
        to_addr=addr,
        subject=f"Newsletter #{issue}",
        body_text="News",
        list_id="newsletter",
        subject_id=sid,
    )


def active(t: Troth, sid: str) -> frozenset[str]:
    with t.ctx.engine.connect() as conn:
        return active_purposes(conn, sid)


def sent_to(t: Troth, addr: str) -> list[str]:
    """Subjects of the mail written to the home's mail folder for ``addr``."""
    folder = t.ctx.settings.resolved_mail_dir
    out = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        text = path.read_text(errors="replace")
        if f"To: {addr}" in text:
            out += [line[9:] for line in text.splitlines() if line.startswith("Subject: ")]
    return out


@pytest.mark.parametrize("kind", ["close_account", "delete"])
def test_p28_erasure_ends_consents_mail_and_every_later_use(
    home: Any, db_url: str, kind: str
) -> None:
    t = home("mindlink", db_url)
    carla = customer(t, "carla@example.com", "Carla")
    dan = customer(t, "dan@example.com", "Dan")  # the twin: never erased
    queued = newsletter(t, carla, "carla@example.com", 1)
    newsletter(t, dan, "dan@example.com", 1)

    rid = verified(t, kind, "carla@example.com")
    done = t.requests.execute(rid)
    assert done.state is RequestState.completed
    (troth_part, *_) = done.result["systems"]  # type: ignore[index]
    assert troth_part["consents_ended"] == ["newsletter"]
    assert troth_part["mail_cancelled"] == 1

    # The consent ended with a ledger event of its own; Dan's stands.
    assert "newsletter" not in active(t, carla)
    assert "newsletter" in active(t, dan)
    with t.ctx.engine.connect() as conn:
        kinds = conn.execute(
            sa.select(consent_events.c.kind, consent_events.c.granted)
            .where(consent_events.c.subject_id == carla)
            .order_by(consent_events.c.id)
        ).all()
    assert kinds[-1] == ("erasure", False)
    assert t.consent.check_state() == []  # the state still replays from the ledger

    # Mail queued before is suppressed, audited subject_erased; the request's own
    # letters still go (the law requires telling the person).
    rows = {r["id"]: r for r in list_outbox(t.ctx, limit=1000)}
    assert rows[queued]["status"] == MailStatus.suppressed.value
    deliver_due(t.ctx, limit=1000)
    assert not [s for s in sent_to(t, "carla@example.com") if "Newsletter" in s]
    assert any("Newsletter #1" in s for s in sent_to(t, "dan@example.com"))
    assert mails_for(t, rid)[-1]["status"] == MailStatus.sent.value

    # Nothing more is queued for her: refused and audited.
    with pytest.raises(Refused) as refused:
        newsletter(t, carla, "carla@example.com", 2)
    assert refused.value.reason == "subject_erased"
    newsletter(t, dan, "dan@example.com", 2)
    entries = [e.entry for e in list_entries(t.ctx, subject_id=carla, limit=10_000)]
    assert [e.reason for e in entries if e.action == "mail.suppressed"] == ["subject_erased"]
    assert [e.reason for e in entries if e.action == "mail.refused"] == ["subject_erased"]

    # Every later use for a purpose that keeps nothing is refused subject_erased, audited.
    for purpose, actor in (("newsletter", MARKETING), ("account_management", SYSTEM)):
        with pytest.raises(Refused) as refused:
            t.use(carla, purpose=purpose, actor=actor)
        assert refused.value.reason == "subject_erased"
        assert t.use(dan, purpose=purpose, actor=actor).values
    order = t.disclosures.record_demand(
        authority="Crown Court",
        instrument="production_order",
        reference="PO-1",
        scope="account records",
        categories=[
            "identity",
            "contact",
            "billing",
            "purchases",
            "account_history",
            "communications",
        ],
        recipient="law_enforcement",
    )
    # A recorded production order reaches what the law still keeps (the invoice, for the
    # tax law), and only that: this once asserted the disclosure was refused
    # `subject_erased`, which left the office to go around troth for data still lawfully
    # held (GDPR Art. 17(3)(e), 18(2); trial #13 F6).
    pkg = t.disclosures.disclose(
        carla, "law_enforcement", "legal_compliance", SYSTEM, legal_demand_id=order.id
    )
    assert pkg.values and {v.category for v in pkg.values} <= {"identity", "billing", "purchases"}
    assert "carla@example.com" not in {str(v.value) for v in pkg.values}  # contact: erased
    # Without the demand, the same disclosure is still refused.
    with pytest.raises(Refused):
        t.disclosures.disclose(carla, "law_enforcement", "legal_compliance", SYSTEM)
    denied = [
        e
        for e in list_entries(t.ctx, subject_id=carla, limit=10_000)
        if e.entry.reason == "subject_erased" and e.entry.action != "mail.suppressed"
    ]
    assert len(denied) >= 3  # the refused mail and the two uses

    # What the law keeps (the invoice) still serves its legal purpose, and only that.
    view = t.use(carla, purpose="sales", actor=ACCOUNTS)
    assert {v.field for v in view.values} == {"name", "address", "product"}
    assert view.get("address") == "1 High Street, Leeds"


def test_p07_an_erased_person_cannot_be_given_consent_again(home: Any, db_url: str) -> None:
    """A consent recorded after erasure would restart marketing to a closed account: it is
    refused and audited, and list mail and uses stay refused."""
    t = home("mindlink", db_url)
    carla = customer(t, "carla@example.com", "Carla")
    t.requests.execute(verified(t, "close_account", "carla@example.com"))
    with pytest.raises(Refused) as refused:
        t.consent.grant(carla, "newsletter", notice_text="News")
    assert refused.value.reason == "subject_erased"
    assert "newsletter" not in active(t, carla)
    (entry,) = [
        e.entry
        for e in list_entries(t.ctx, subject_id=carla, limit=10_000)
        if e.entry.action == "consent.refused"
    ]
    assert entry.reason == "subject_erased"
    with pytest.raises(Refused) as refused:
        newsletter(t, carla, "carla@example.com", 3)
    assert refused.value.reason == "subject_erased"
    with pytest.raises(Refused) as refused:
        t.use(carla, purpose="newsletter", actor=MARKETING)
    assert refused.value.reason == "subject_erased"


def test_p28_delivery_checks_erasure_again_for_mail_queued_before(home: Any, db_url: str) -> None:
    """Mail that escaped the cancellation (queued by another process in the same instant,
    say) is suppressed at delivery; a notice the law requires (no purpose: a breach
    notice) still goes, and so does the twin's newsletter."""
    from troth.audit.log import transaction
    from troth.notices.outbox import enqueue
    from troth.store.erasure import erase_subject_data

    t = home("mindlink", db_url)
    carla = customer(t, "carla@example.com", "Carla")
    dan = customer(t, "dan@example.com", "Dan")
    newsletter(t, carla, "carla@example.com", 1)
    newsletter(t, dan, "dan@example.com", 1)
    with transaction(t.ctx) as conn:
        enqueue(
            conn,
            t.ctx,
            idempotency_key=f"breach:b1:{carla}",
            to_addr="carla@example.com",
            subject="A security incident affecting your data",
            body_text="...",
            subject_id=carla,
            kind="notice",
        )
        erase_subject_data(conn, t.ctx, [carla])  # the store's part alone: no cancellation
    report = deliver_due(t.ctx, limit=100)
    assert (report.sent, report.suppressed) == (2, 1)
    assert sent_to(t, "carla@example.com") == ["A security incident affecting your data"]
    assert sent_to(t, "dan@example.com") == ["Newsletter #1"]
    (entry,) = [
        e.entry
        for e in list_entries(t.ctx, subject_id=carla, limit=10_000)
        if e.entry.action == "mail.suppressed"
    ]
    assert entry.reason == "subject_erased"


def test_p28_over_http_an_erased_person_is_refused_and_the_invoice_still_reads(
    home: Any, db_url: str
) -> None:
    from _http import api_key, client_for, is_problem

    t = home("mindlink", db_url)
    carla = customer(t, "carla@example.com", "Carla")
    dan = customer(t, "dan@example.com", "Dan")
    t.requests.execute(verified(t, "close_account", "carla@example.com"))
    with client_for(t.ctx) as c:
        h = api_key(c, ["use", "admin"])
        for purpose in ("newsletter", "account_management"):
            body = is_problem(
                c.get(f"/api/v1/subjects/{carla}", params={"purpose": purpose}, headers=h), 403
            )
            assert body["reason"] == "subject_erased"
            ok = c.get(f"/api/v1/subjects/{dan}", params={"purpose": purpose}, headers=h)
            assert ok.status_code == 200, ok.text
        body = is_problem(
            c.post(f"/api/v1/subjects/{carla}/consents/newsletter/grant", headers=h), 403
        )
        assert body["reason"] == "subject_erased"
        r = c.get(f"/api/v1/subjects/{carla}", params={"purpose": "sales"}, headers=h)
        assert r.status_code == 200, r.text
        assert {v["field"] for v in r.json()["values"]} == {"name", "address", "product"}
    refused = [
        e.entry
        for e in list_entries(t.ctx, subject_id=carla, limit=10_000)
        if e.entry.reason == "subject_erased"
    ]
    assert {e.action for e in refused} >= {"use", "consent.refused"}
