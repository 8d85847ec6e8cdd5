"""A refused attempt is told as refused, never as what it asked for (trial 7): another
customer's refused ``request.open`` by subject id read "We received your request.", and a
collection refused ``no_consent`` (nothing stored) read "We recorded your data (...)". Every
action kind the narrator knows is checked allowed and refused; refused attempts that
revealed and changed nothing are still shown (someone tried to act on the person's data),
with the asker unnamed when it was another customer."""

from __future__ import annotations

from typing import Any

import pytest

from _http import api_key, client_for, is_problem, privacy_sign_in, section
from troth.access.who import Acting
from troth.audit.entry import AuditEntry, Outcome
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import Refused
from troth.web.privacy_words import REQUEST_KINDS, REQUEST_STEPS, Narrator

ANN = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 High Street, Leeds",
    "product": "Mindlink Pro",
    "renewal_date": "2027-01-01",
}
CONSENT_KINDS = ("grant", "withdraw", "gpc_opt_out", "unsubscribe", "erasure", "import", "refused")
ACTIONS = (
    "collect",
    "use",
    "disclose",
    *(f"consent.{k}" for k in CONSENT_KINDS),
    *(f"request.{s}" for s in (*REQUEST_STEPS, *REQUEST_KINDS, "completed", "verifying")),
    "privacy.signin",
    "retention.expired",
    "minor.erase",
    "minor.erase_interrupted",
)


@pytest.fixture
def ctx(home: Any) -> Any:
    return home("mindlink", clock=ManualClock(), context=True)


def entry(action: str, outcome: Outcome, actor: str = "staff:u1", **kw: Any) -> AuditEntry:
    return AuditEntry(
        action,
        actor,
        outcome,
        subject_id="s1",
        purpose="newsletter" if action.startswith("consent.") else "support",
        categories=("contact",),
        reason="no_consent" if outcome is Outcome.deny else None,
        details={
            "granted": True,
            "point": "purchase",
            "recipient": "law_enforcement",
            "kind": "access",
            "request_id": "r1",
        },
        **kw,
    )


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_kind_refused_says_refused_and_never_what_it_asked(
    ctx: Any, action: str
) -> None:
    n = Narrator(ctx.policy, "s1", lambda _actor: Acting(role="support"))
    allowed = {n.sentence(entry(action, o)) for o in (Outcome.allow, Outcome.info)}
    refused = n.sentence(entry(action, Outcome.deny))
    assert refused is not None and "refused" in refused, (action, refused)
    for said in allowed - {None}:
        assert said is not None and "refused" not in said, (action, said)
        assert said.rstrip(".") not in refused, (action, said, refused)
    for first in ("We received", "We recorded", "We deleted", "You gave", "You signed in"):
        assert not refused.startswith(first), (action, refused)


def test_another_customer_is_the_asker_unnamed_when_the_gate_says_not_theirs(ctx: Any) -> None:
    n = Narrator(ctx.policy, "s1", lambda _actor: Acting())
    other = AuditEntry(
        "request.open", "application:k2", Outcome.deny, subject_id="s1", reason="not_a_member"
    )
    assert n.sentence(other) == (
        "Another organisation using our service asked to make a request about your data."
        " This was refused."
    )


def test_the_page_tells_the_trial_s_refusals_as_refused(ctx: Any) -> None:
    t = Troth(ctx)
    leeds = t.access.tenants.create_tenant("Leeds Care", "office@leeds.example")
    austin = t.access.tenants.create_tenant("Austin Diner", "office@austin.example")
    sid = t.collect("purchase", ANN, tenant_id=leeds).subject_id
    with pytest.raises(Refused):  # the newsletter needs consent: nothing is stored
        t.collect("newsletter_signup", {"name": "Ann Lee", "email": ANN["email"]}, tenant_id=leeds)
    with client_for(ctx) as c:
        key = api_key(c, ["requests"], tenant_id=austin)
        r = c.post("/api/v1/requests", json={"kind": "access", "subject_id": sid}, headers=key)
        is_problem(r, 404, "not_found")
        privacy_sign_in(c, ctx, ANN["email"])
        accesses = section(c.get("/privacy/me").text, "acc-h")
    assert "We received your request" not in accesses
    assert "Newsletter, blog posts and email alerts sign-up" in accesses
    assert "We recorded your identity details (Newsletter" not in accesses
    # Another customer's refused request is filed in that customer's own log, never in
    # the person's: their page does not show it (nor the other customer's key).
    assert "Another organisation" not in accesses
    assert (
        "asked to record your identity details (Newsletter, blog posts and email alerts"
        " sign-up). This was refused: nothing was kept." in accesses
    ), accesses
