"""Each section of a person's console page needs the power of its own register: the
people list's (their status), the request desk's, the consents and disclosures
registers' and the audit log's. A role without it does not get the section at all (not a
refusal naming what it holds), the same for a person with health data and one without.
Found by the Pillbox trial: a marketer with no office power read a person's requests,
erasure status and consent history on the page while /console/requests refused it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from _http import PASSWORD, client_for, console_login
from pillbox_samples import POLICY, patients
from troth.engine import Troth

SECTIONS = ("status", "consents", "requests", "disclosures", "trail")
# Each role's powers, and the sections they open (status, consents and requests with
# manage_requests; disclosures with legal_demands; the trail with read_audit).
ROLES: dict[str, tuple[list[str], set[str]]] = {
    "privacy_office": (["manage_requests", "read_audit", "legal_demands"], set(SECTIONS)),
    "desk": (["manage_requests"], {"status", "consents", "requests"}),
    "counsel": (["legal_demands"], {"disclosures"}),
    "auditor": (["read_audit"], {"trail"}),
    "pharmacist": ([], set()),
    "billing_clerk": ([], set()),
    "marketer": ([], set()),
    "analyst": ([], set()),
}
# What each section shows on the page: its heading, or the status line.
MARKS = {s: f'id="{s}-h"' for s in SECTIONS} | {"status": 'id="person-status"'}


@pytest.fixture
def pillbox(home: Any, tmp_path: Path) -> Any:
    data = yaml.safe_load(POLICY.read_text())
    known = {r["id"] for r in data["roles"]}
    for role, (powers, _) in ROLES.items():
        if role not in known:
            data["roles"].append(
                {"id": role, "description": role, "categories": ["identity"],
                 "purposes": ["dispensing"], "powers": powers}
            )  # fmt: skip
    path = tmp_path / "pillbox.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return home(None, policy=path, context=True)


def _people(t: Troth) -> tuple[str, str]:
    elise, carlos = patients(t)
    for sid in (elise, carlos):
        t.consent.grant(sid, "marketing_email")
    t.requests.open("delete", subject_id=elise)
    t.requests.open("access", subject_id=carlos)
    return str(elise), str(carlos)


def test_each_role_sees_the_sections_of_its_powers(pillbox: Any) -> None:
    t = Troth(pillbox)
    people = _people(t)
    for role in ROLES:
        t.access.accounts.add_user(f"{role}@pillbox.example", role=role, password=PASSWORD)
    with client_for(pillbox) as c:
        for role, (_, sections) in ROLES.items():
            console_login(c, f"{role}@pillbox.example")
            pages = []
            if role == "analyst":
                # Aggregates only: no purpose it may serve for one person, so no person's
                # page at all, the same refusal for both (staff find only whom they may serve).
                for sid in people:
                    r = c.get(f"/console/people/{sid}")
                    assert r.status_code == 403 and "role_not_allowed" in r.text, role
                continue
            for sid in people:
                r = c.get(f"/console/people/{sid}")
                assert r.status_code == 200, (role, r.text)
                shown = {s for s in SECTIONS if MARKS[s] in r.text}
                assert shown == sections, (role, shown)
                assert "-refused" not in r.text, role  # left out, not refused
                for s in set(SECTIONS) - sections:
                    assert f'href="#{s}-h"' not in r.text, (role, s)
                pages.append(r.text.replace(sid, "SID").replace(sid[-10:], "SID"))
            if not sections & {"requests", "status", "trail", "consents"}:
                # Nothing on the page differs by what either person holds or asked.
                assert _shape(pages[0]) == _shape(pages[1]), role
            if "requests" not in sections:
                assert "delete" not in pages[0] and "erased" not in pages[0], role


def _shape(page: str) -> str:
    """The page less its per-person words (name, dates): its structure."""
    for word in ("Élise Tremblay", "Carlos Ruiz", "&#201;lise Tremblay"):
        page = page.replace(word, "NAME")
    return "\n".join(line for line in page.splitlines() if "UTC" not in line)
