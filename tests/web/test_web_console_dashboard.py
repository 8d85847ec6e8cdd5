"""The dashboard's pictures: server-rendered SVG charts (no script, nothing fetched) of
requests received and closed per week, requests falling due, refusals by reason, consents
given and withdrawn and audit entries per day, each named for screen readers and with its
numbers in a table. The counts come from the office's services, so support staff see none
of the office's charts; the week and day buckets are counted in UTC."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from _http import PASSWORD, client_for, console_login
from troth.access import actor_for
from troth.engine import Troth
from troth.errors import Refused
from troth.office import stats
from troth.web.svg import bar_chart, hbar_chart

OFFICER = "officer@example.com"


def login(c: Any, email: str = OFFICER) -> None:
    console_login(c, email)


def test_svg_is_named_described_and_escaped() -> None:
    svg = str(bar_chart("c1", "Requests <b>", ["a&b", "c"], [("got", [3, 0]), ("shut", [1, 2])]))
    assert svg.startswith('<svg id="c1" class="chart" role="img"')
    assert '<title id="c1-t">Requests &lt;b&gt;</title>' in svg
    assert "got: a&amp;b 3, c 0; shut: a&amp;b 1, c 2" in svg
    assert "<script" not in svg and svg.count("<rect") == 4 + 2  # bars + legend
    empty = str(hbar_chart("c2", "Refusals", []))
    assert ">none<" in empty


def test_office_dashboard_charts_count_what_happened(mindlink: Any) -> None:
    t = Troth(mindlink)
    officer = t.access.accounts.add_user(
        OFFICER, kind="staff", role="privacy_office", password=PASSWORD
    )
    t.access.accounts.add_user("agent@example.com", kind="staff", role="support", password=PASSWORD)
    t.collect("support_request", {"name": "Ada", "email": "ada@example.com", "message": "m"})
    sid = t.find(email="ada@example.com")
    t.consent.grant(sid, "newsletter")
    t.consent.withdraw(sid, "newsletter")
    t.requests.open("delete", email="ada@example.com")
    r2 = t.requests.open("access", email="ada@example.com")
    t.requests.refuse(r2.id, reason="manifestly unfounded")
    from troth.access import actor_for

    actor = actor_for(officer)
    weekly = stats.requests_per_week(mindlink, actor)
    assert len(weekly) == 12 and weekly[-1]["received"] == 2 and weekly[-1]["closed"] == 1
    assert weekly[-1]["week"].weekday() == 0
    due = stats.requests_due(mindlink, actor)
    assert len(due) == 14 and sum(d["due"] for d in due) <= 1
    consents = stats.consents_per_week(mindlink, actor)
    assert consents[-1] == {"week": weekly[-1]["week"], "given": 1, "withdrawn": 1}
    with client_for(mindlink) as c:
        login(c, "agent@example.com")
        agent = c.get("/console").text
        assert 'class="chart"' not in agent
        assert c.get("/console/audit", headers={"Accept": "text/html"}).status_code == 403
        login(c)
        page = c.get("/console").text
        for chart in ("requests", "due", "refusals", "consents", "audit"):
            assert f'<svg id="chart-{chart}" class="chart" role="img"' in page, chart
        assert "<script" not in page.split('id="ch-h"')[1].split("</section>")[0]
        # The agent's look at the audit was refused: it shows by reason.
        refused = page.split('id="fig-refusals"')[1].split("</figure>")[0]
        assert re.search(r"power_not_granted</td><td[^>]*>\d+", refused), refused
        numbers = page.split('id="fig-requests"')[1].split("</figure>")[0]
        assert '<td class="nowrap">2</td><td class="nowrap">1</td>' in numbers
    # Support staff are refused the office's counts (audited).
    from troth.access import actor_for as af

    agent_actor = af(t.access.accounts.find_user("agent@example.com"))
    for count in (stats.requests_per_week, stats.refusals_by_reason, stats.consents_per_week):
        try:
            count(mindlink, agent_actor)
        except Refused:
            continue
        raise AssertionError(f"{count.__name__} was not refused")
    # A week boundary is Monday 00:00 UTC.
    assert (
        stats.week_starts(mindlink.clock.now().date(), 2)[1] - timedelta(weeks=1)
        == (stats.week_starts(mindlink.clock.now().date(), 2)[0])
    )


def _rates(page: str) -> str:
    return page.split('id="cr-h"')[1].split("</section>")[0]


def test_consent_rates_are_an_aggregate_for_staff_without_office_powers(home: Any) -> None:
    """Consent rates are counts about people: in full for those who read the audit, where
    every consent is entered; for anyone else no purpose under k people on record, and no
    split with fewer than k on either side (k = the policy's aggregates.min_group_size)."""

    def k3(data: dict[str, Any]) -> None:
        data["aggregates"] = {"min_group_size": 3}

    t = home("mindlink", edit=k3)
    ctx = t.ctx
    t.access.accounts.add_user(OFFICER, kind="staff", role="privacy_office", password=PASSWORD)
    t.access.accounts.add_user("agent@example.com", kind="staff", role="support", password=PASSWORD)
    people = []
    for n in range(6):
        email = f"p{n}@example.com"
        t.collect("support_request", {"name": f"P{n}", "email": email, "message": "m"})
        people.append(t.find(email=email))

    def pages() -> tuple[str, str]:
        with client_for(ctx) as c:
            login(c, "agent@example.com")
            agent = _rates(c.get("/console").text)
            login(c)
            return agent, _rates(c.get("/console").text)

    for sid in people[:2]:  # below k: 2 people
        t.consent.grant(sid, "newsletter")
    agent, office = pages()
    assert "newsletter" not in agent and "2 of 2" not in agent
    assert "fewer than 3" in agent
    assert "<td>newsletter</td><td>2 of 2</td>" in office
    t.consent.grant(people[2], "newsletter")  # at k: 3 people, but none refused
    agent, office = pages()
    assert "<td>newsletter</td><td>3 on record</td>" in agent and "3 of 3" not in agent
    assert "<td>newsletter</td><td>3 of 3</td>" in office
    for sid in people[3:]:  # 3 gave, 3 withdrew: both sides at k
        t.consent.grant(sid, "newsletter")
        t.consent.withdraw(sid, "newsletter")
    agent, office = pages()
    assert "<td>newsletter</td><td>3 of 6</td>" in agent
    assert "<td>newsletter</td><td>3 of 6</td>" in office
    t.consent.withdraw(people[0], "newsletter")  # 2 gave, 4 withdrew: one side under k
    agent, office = pages()
    assert "<td>newsletter</td><td>6 on record</td>" in agent and "2 of 6" not in agent
    assert "<td>newsletter</td><td>2 of 6</td>" in office
    assert (
        stats.consent_rates(ctx, actor_for(t.access.accounts.find_user(OFFICER)))[0]["granted"] == 2
    )
