"""Who may read a person's disclosures reads those their role or grant covers, and no
refusal names what was disclosed: "role 'marketer' may not see allergy, demographic,
prescription" on one patient, and an empty list on another, said that the first had a
health report sent to an authority (found by the Pillbox trial)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from troth.audit.entries import list_entries
from troth.gate import Actor, ActorKind

POLICY = Path(__file__).parent.parent / "gate" / "pillbox.yaml"
ORDER = {
    "name": "Élise Tremblay",
    "email": "elise@example.com",
    "address": "1 rue Saint-Denis, Montréal",
    "province": "QC",
    "prescription": "amoxicillin 500 mg",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
}
MARKETER = Actor(ActorKind.staff, "mk@pillbox.example", role="marketer")
OFFICE = Actor(ActorKind.staff, "po@pillbox.example", role="privacy_office")


def test_a_role_reads_the_same_of_a_person_with_a_health_disclosure_or_none(home: Any) -> None:
    t = home(None, policy=POLICY)
    elise = t.collect("rx_order", ORDER | {"allergies": "penicillin"}).subject_id
    carlos = t.collect(
        "rx_order", ORDER | {"name": "Carlos Ruiz", "email": "carlos@example.com"}
    ).subject_id
    demand = t.disclosures.record_demand(
        authority="Health Canada",
        instrument="statutory_notice",
        reference="ADR-1",
        scope="adverse reaction report",
        recipient="health_canada",
    )
    t.disclosures.disclose(
        elise, "health_canada", "pharmacovigilance", OFFICE, legal_demand_id=demand.id
    )
    seen = {sid: t.access.records.disclosures_for(MARKETER, sid) for sid in (elise, carlos)}
    assert seen == {elise: [], carlos: []}
    # Nothing the marketer's entries say tells the two apart, nor names health data.
    mine = [e.entry for e in list_entries(t.ctx, limit=1000) if e.entry.actor == MARKETER.label]
    assert [(e.action, e.outcome.value) for e in mine] == [("read_disclosures", "allow")] * 2
    assert not any("allergy" in repr(e) or "prescription" in repr(e) for e in mine)
    # The office, whose role covers them, reads the report.
    [report] = t.access.records.disclosures_for(OFFICE, elise)
    assert report["recipient"] == "health_canada"
