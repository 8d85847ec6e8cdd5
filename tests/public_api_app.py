"""A small application written against troth's public Python API, as a shop would write it.

tests/project/test_public_api.py runs ``mypy --strict`` on this file (so the API it reaches through
``troth.open()`` must be typed: a typo or a wrong argument here is a type error, not an
``Any`` that lets it through) and then runs :func:`run` on a real home for behaviour.
Only ``troth`` and what its attributes return are used: no ``ctx``, no free functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import troth
from troth.audit import verify_proof
from troth.gate import Actor, ActorKind

ADA = Actor(ActorKind.staff, "ada", role="accounts")
SUE = Actor(ActorKind.staff, "sue", role="shipping_desk")


@dataclass(frozen=True)
class Outcome:
    """What the application saw, for the test to check."""

    subject_id: str
    found: str
    card_number: str | None
    masked: dict[str, str]
    refused_reason: str | None
    request_state: str
    consent_granted: bool
    consent_after_withdrawal: bool
    policy_version: str
    versions: list[str]
    ropa_purposes: int
    log_ok: bool
    log_size: int
    proof_ok: bool
    kek_version: int


def run(home: Path | str, clock: troth.Clock | None = None) -> Outcome:
    """Open the home, collect an order, use it, answer a request, read consent, verify."""
    with troth.open(home, clock=clock) as t:
        order = {
            "name": "Bo Lind",
            "email": "bo@example.com",
            "address": "2 Low St",
            "card_number": "5500000000000004",
            "card_expiry": "01/30",
            "order_items": "1 lamp",
        }
        collected = t.collect("order_form", order)
        sid = collected.subject_id
        found = t.find(email="bo@example.com")

        view = t.use(sid, purpose="billing", actor=ADA)
        card = view.get("card_number")
        refused: str | None = None
        try:
            t.use(sid, purpose="billing", actor=SUE)
        except troth.Refused as exc:
            refused = exc.reason

        request = t.requests.open("access", email="bo@example.com")
        verified = t.requests.verify_by_staff(request.id, staff="ada", reason="passport seen")

        ledger = t.consent
        ledger.grant(sid, "product_news", notice_text=ledger.notice_for("product_news"))
        granted = ledger.state(sid)["product_news"].granted
        ledger.withdraw(sid, "product_news")
        after = ledger.state(sid)["product_news"].granted

        versions = [v["version"] for v in t.policy.versions()]
        ropa = t.policy.ropa()
        rotation = t.keys.rotate()

        report = t.audit.verify()
        proof = t.audit.inclusion_proof(0)
        proof_ok = verify_proof(proof, t.audit.public_key())

        return Outcome(
            subject_id=sid,
            found=found,
            card_number=card if isinstance(card, str) else None,
            masked=dict(view.masked),
            refused_reason=refused,
            request_state=str(verified.state),
            consent_granted=granted,
            consent_after_withdrawal=after,
            policy_version=t.policy.version,
            versions=versions,
            ropa_purposes=len(ropa.activities),
            log_ok=report.ok,
            log_size=report.size,
            proof_ok=proof_ok,
            kek_version=rotation.kek_version,
        )
