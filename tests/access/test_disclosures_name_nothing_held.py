"""Who may read a person's disclosures reads those their role or grant covers, and no
refusal names what was disclosed: "role 'marketer' may not see allergy, demographic,
prescription" on one patient, and an empty list on another, said that the first had a
health report sent to an authority (found by the Pillbox trial)."""

from __future__ import annotations

from typing import Any

from pillbox_samples import POLICY, patients
from troth.audit.entries import list_entries
from troth.gate import Actor, ActorKind

MARKETER = Actor(ActorKind.staff, "mk@pillbox.example", role="marketer")
OFFICE = Actor(ActorKind.staff, "po@pillbox.example", role="privacy_office")


def test_a_role_reads_the_same_of_a_person_with_a_health_disclosure_or_none(home: Any) -> None:
    t = home(None, policy=POLICY)
    elise, carlos = patients(t)
    demand = t.disclosures.record_demand(
        authority="Health Canada",
        instrument="statutory_notice",
        reference="ADR-1",
        scope="adverse reaction report",
        categories=["identity", "prescription", "allergy", "demographic"],
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
