"""Trial 7: a customer's (tenant's) key opened a request by e-mail, and troth mailed the
address twice from privacy@localhost naming neither the vendor nor the customer. Request
letters now name who asks: the customer, "a customer of" the organisation, in the subject
of the acknowledgement and the code, and every letter is signed."""

from __future__ import annotations

from typing import Any

from outbox_helpers import outbox_mail
from troth.engine import Troth


def test_a_tenant_s_request_letters_name_the_customer_and_the_organisation(home: Any) -> None:
    t: Troth = home("phone-service")
    org = t.ctx.policy.policy.organisation.name
    austin = t.access.tenants.create_tenant("Austin Diner", "office@austin.example")
    t.requests.open("access", email="olu@mail.example", tenant_id=austin)
    mails = outbox_mail(t, to="olu@mail.example", newest_first=True)
    assert len(mails) == 2, mails
    by = f"Austin Diner, a customer of {org}"
    subjects = sorted(m["subject"] for m in mails)
    assert subjects[0].startswith(f"{by}, received your request (")
    assert subjects[1] == f"Your confirmation code for {by}, about your request"
    assert all(m["body_text"].rstrip().endswith(by) for m in mails)


def test_the_organisation_s_own_letters_are_signed_with_its_name(home: Any) -> None:
    t: Troth = home("phone-service")
    org = t.ctx.policy.policy.organisation.name
    t.requests.open("access", email="olu@mail.example")
    mails = outbox_mail(t, to="olu@mail.example", newest_first=True)
    assert sorted(m["subject"].split(" (")[0] for m in mails) == [
        "We received your request",
        "Your confirmation code",
    ]
    assert all(m["body_text"].rstrip().endswith(org) for m in mails)
