"""gate_decision: one troth gate decision vs cedarpy.is_authorized on the same question
(staff in the accounts role using five categories for billing), both with everything
pre-compiled (troth's PolicyIndex; cedar's parsed PolicySet and Entities)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from benchmarks import report
from troth.examples import example_path
from troth.gate import Actor, ActorKind, Ask, Facts, Operation, decide
from troth.policy.index import PolicyIndex
from troth.policy.loader import load_policy

CATS = ("identity", "contact", "billing", "payment_card", "purchases")


def _cedar_setup(idx: PolicyIndex) -> tuple[object, object]:
    import cedarpy

    rules = []
    for role_id, role in idx.roles.items():
        for purpose in role.purposes:
            allowed = sorted(
                set(role.categories) & idx.purpose_categories.get(purpose, frozenset())
            )
            cats = ", ".join(f'"{c}"' for c in allowed)
            rules.append(
                f'permit(principal in Role::"{role_id}", action == Action::"use", resource)'
                f' when {{ context.purpose == "{purpose}"'
                f" && [{cats}].containsAll(context.categories) }};"
            )
    policies = cedarpy.PolicySet.from_str("\n".join(rules))
    entities_json = (
        '[{"uid": {"type": "User", "id": "ada"}, "attrs": {},'
        ' "parents": [{"type": "Role", "id": "accounts"}]},'
        ' {"uid": {"type": "Role", "id": "accounts"}, "attrs": {}, "parents": []},'
        ' {"uid": {"type": "Subject", "id": "s1"}, "attrs": {}, "parents": []}]'
    )
    entities = cedarpy.Entities.from_json_str(entities_json)
    return policies, entities


def run(quick: bool) -> list[str]:
    import cedarpy

    idx = PolicyIndex.build(load_policy(example_path("itechno")))
    n = 20_000 if quick else 100_000
    actor = Actor(ActorKind.staff, "ada", role="accounts")
    ask = Ask(actor, Operation.use, "billing", CATS, datetime(2026, 1, 1, tzinfo=UTC))
    facts = Facts(subject_id="s1")
    assert decide(idx, ask, facts).allowed
    t0 = time.perf_counter()
    for _ in range(n):
        decide(idx, ask, facts)
    troth_us = (time.perf_counter() - t0) / n * 1e6

    policies, entities = _cedar_setup(idx)
    request = {
        "principal": 'User::"ada"',
        "action": 'Action::"use"',
        "resource": 'Subject::"s1"',
        "context": {"purpose": "billing", "categories": list(CATS)},
    }
    result = cedarpy.is_authorized(request, policies, entities)
    assert result.allowed, result
    t0 = time.perf_counter()
    for _ in range(n):
        cedarpy.is_authorized(request, policies, entities)
    cedar_us = (time.perf_counter() - t0) / n * 1e6
    lines = [report("gate_decision", troth_us, cedar_us, "us", "<= 1x (no slower than cedarpy)")]

    # The same with consent facts: a consent purpose, an active grant, restrictions on
    # other purposes, and notices running for other uses (what issue 4 adds to the gate).
    app = Actor(ActorKind.application, "shop", scopes=frozenset({"use"}))
    ask_c = Ask(app, Operation.use, "product_news", ("identity", "contact"), ask.now)
    facts_c = Facts(
        subject_id="s1",
        consented=frozenset({"product_news", "billing"}),
        restricted=frozenset({"order_fulfilment"}),
        notices={("order_form", "billing", "contact"): (ask.now, False, "2")},
    )
    assert decide(idx, ask_c, facts_c).allowed
    t0 = time.perf_counter()
    for _ in range(n):
        decide(idx, ask_c, facts_c)
    consent_us = (time.perf_counter() - t0) / n * 1e6
    request_c = {
        "principal": 'User::"ada"',
        "action": 'Action::"use"',
        "resource": 'Subject::"s1"',
        "context": {"purpose": "billing", "categories": list(CATS), "consented": ["product_news"]},
    }
    t0 = time.perf_counter()
    for _ in range(n):
        cedarpy.is_authorized(request_c, policies, entities)
    cedar_c_us = (time.perf_counter() - t0) / n * 1e6
    lines.append(
        report(
            "gate_decision_consent", consent_us, cedar_c_us, "us", "<= 1x (no slower than cedarpy)"
        )
    )
    return lines
