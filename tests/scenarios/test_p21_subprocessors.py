"""P21 (ilign): sub-processors (hosting, help desk) are listed with what they receive and
where, generated from the policy."""

from __future__ import annotations


def test_p21_subprocessor_list(home, db_url):
    t = home("ilign", db_url)
    items = {s["id"]: s for s in t.disclosures.subprocessors_json()}
    assert items["sitehost"]["role"] == "hosting" and items["sitehost"]["location"] == "NZ"
    assert items["freshdesk"]["role"] == "help desk" and items["freshdesk"]["location"] == "US"
    assert {r["purpose"] for r in items["sitehost"]["receives"]} == {
        "provide_service",
        "invoicing",
        "problem_resolution",
    }
    assert items["freshdesk"]["transfer_safeguard"]
    html = t.disclosures.subprocessors_html()
    for needle in ("SiteHost", "Freshdesk", "hosting", "help desk", "NZ", "US"):
        assert needle in html
