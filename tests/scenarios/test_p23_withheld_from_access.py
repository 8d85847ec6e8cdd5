"""P23 with GDPR Art. 15(4): a category whose values would reveal others (a moderation
report names who reported; here the support messages, as a test) is declared
``withheld_from_access`` in the policy. The person's access export, ZIP and JSON, and
their privacy centre leave those values out and say what is held back and why, never the
values; the office still reads them; the policy refuses a reason too short to tell."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
import yaml

from requests_helpers import buy, verified
from troth.errors import PolicyError
from troth.examples import example_path
from troth.gate import SYSTEM, Actor, ActorKind
from troth.policy.loader import parse_policy

SUPPORT = Actor(ActorKind.staff, "sam", role="support")
ANN = "ann@example.com"
WHY = "Support messages name our staff and other customers (GDPR Art. 15(4))."


def _withhold_support(p: dict[str, Any]) -> None:
    p["categories"].append(
        {"id": "support", "description": "Support conversations", "withheld_from_access": WHY}
    )


def test_the_export_and_the_centre_withhold_the_category_and_say_why(
    home: Any, db_url: str
) -> None:
    t = home("mindlink", db_url, edit=_withhold_support)
    sid = buy(t, ANN)
    assert t.use(sid, purpose="support", actor=SUPPORT).get("message")  # the office reads it
    done = t.requests.execute(verified(t, "access", ANN))
    zf = zipfile.ZipFile(io.BytesIO(t.requests.download(done.download_token, actor=SYSTEM)))
    doc = json.loads(zf.read("data.json"))
    assert "support" not in doc["categories"] and "identity" in doc["categories"]
    assert doc["withheld"] == [
        {"category": "support", "description": "Support conversations", "values": 1, "why": WHY}
    ]
    everything = b"".join(zf.read(n) for n in zf.namelist())
    assert b"My licence key fails" not in everything
    assert WHY.encode() in zf.read("summary.html")
    assert not any(n.endswith("categories/support.csv") for n in zf.namelist())
    from troth.access.centre import held_values

    values, withheld = held_values(t.ctx, sid)
    assert {v.category for v in values} >= {"identity"} and "support" not in {
        v.category for v in values
    }
    assert withheld[0]["why"] == WHY


def test_a_reason_too_short_to_tell_the_person_is_refused() -> None:
    data = yaml.safe_load(example_path("mindlink").read_text())
    data["categories"].append({"id": "support", "withheld_from_access": "no"})
    with pytest.raises(PolicyError) as info:
        parse_policy(yaml.safe_dump(data, sort_keys=False), "p.yaml")
    assert any("withheld_from_access" in str(i) for i in info.value.issues)


def _abuse_reports(p: dict[str, Any]) -> None:
    """A report about a customer by another member: its text withheld from the person it
    is about; the message it flags (the customer's own words) in communications."""
    _withhold_support(p)
    p["collection_points"].append(
        {
            "id": "abuse_report",
            "description": "A member reports another member's message",
            "subjects": ["customer"],
            "source": "third_party",
            "supplier": "Other members (named per report)",
            "purposes": ["support"],
            "fields": {
                "report": {"category": "support", "required": True},
                "flagged": {"category": "communications"},
            },
        }
    )


def test_a_report_s_source_is_withheld_with_it(home: Any, db_url: str) -> None:
    """Trial #13: the reported member's export gave the flagged message with its supplier,
    "member report by Priya Shah": the name the withheld report protects. A value that
    came with a withheld category now goes without its supplier; another third party's
    value keeps its own (GDPR Art. 14(2)(f): the person is told the source)."""
    from troth.access.centre import held_values

    t = home("mindlink", db_url, edit=_abuse_reports)
    sid = buy(t, ANN)
    t.collect(
        "abuse_report",
        {"report": "He threatened me", "flagged": "You will regret this"},
        subject_id=sid,
        supplier="member report by Priya Shah",
    )
    bob = t.collect(
        "third_party_supply",
        {"name": "Bob", "email": "bob@example.com", "notes": "met at a fair"},
        supplier="Acme Leads Ltd",
    ).subject_id
    done = t.requests.execute(verified(t, "access", ANN))
    zf = zipfile.ZipFile(io.BytesIO(t.requests.download(done.download_token, actor=SYSTEM)))
    everything = b"".join(zf.read(n) for n in zf.namelist())
    assert b"Priya" not in everything and b"He threatened me" not in everything
    doc = json.loads(zf.read("data.json"))
    flagged = [v for v in doc["categories"]["communications"]["values"] if v["field"] == "flagged"]
    assert len(flagged) == 1 and flagged[0]["supplier"] is None
    assert flagged[0]["value"] == "You will regret this"  # their own words: given
    # Another third party's value keeps its supplier: nothing of its point is withheld.
    (bob_notes,) = [v for v in held_values(t.ctx, bob)[0] if v.field == "notes"]
    assert bob_notes.supplier == "Acme Leads Ltd"
    values, _ = held_values(t.ctx, sid)
    assert {v.supplier for v in values if v.collection_point == "abuse_report"} == {None}
    # The office still reads who reported (the register of the report is theirs).
    office = t.use(sid, purpose="support", actor=SUPPORT, categories=["communications"])
    assert office.get("flagged") == "You will regret this"


def test_the_person_s_access_log_leaves_out_reads_of_what_is_withheld(
    home: Any, db_url: str
) -> None:
    """Trial #12: the accused employee's access log showed when HR read the whistleblowing
    report about them (the report itself withheld). A read of only withheld categories is
    left out of the person's log (export and privacy centre); a read of several keeps the
    others; the office's own audit log keeps everything."""
    t = home("mindlink", db_url, edit=_withhold_support)
    sid = buy(t, ANN)
    t.use(sid, purpose="support", actor=SUPPORT, categories=["support"])
    t.use(sid, purpose="support", actor=SUPPORT, categories=["identity", "support"])
    done = t.requests.execute(verified(t, "access", ANN))
    zf = zipfile.ZipFile(io.BytesIO(t.requests.download(done.download_token, actor=SYSTEM)))
    log = json.loads(zf.read("data.json"))["access_log"]
    uses = [e for e in log if e["action"] == "use" and e["who"] == "A member of our staff"]
    assert [e["categories"] for e in uses] == [["identity"]]
    assert not [e for e in log if "support" in (e["categories"] or [])]
    centre = t.disclosures.person_entries(sid, limit=200)
    assert not [e for e in centre if "support" in e.entry.categories]
    assert [e.entry.categories for e in centre if e.entry.actor == "staff:sam"] == [("identity",)]
    from troth.audit.entries import list_entries

    office = [e for e in list_entries(t.ctx, subject_id=sid) if e.entry.actor == "staff:sam"]
    assert [e.entry.categories for e in office] == [("support",), ("identity", "support")]
