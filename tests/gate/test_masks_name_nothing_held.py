"""What a use withholds is never named when the actor may never see it: "allergies:
masked" for a billing clerk on one patient, and nothing on another, says who has health
data (found by the Pillbox trial). For a restricted role the answer about a person with
allergies on file and one without is the same in shape: the fields shown, the fields
named as withheld (and why), the refusal and its message; in Python, the CLI and the
console's "Withheld from you"."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from _http import PASSWORD, client_for, console_login
from pillbox_samples import POLICY, patients
from troth.engine import Troth
from troth.errors import Refused
from troth.gate import Actor, ActorKind

HEALTH = ("allergies", "allergy", "penicillin")
# (role, purpose) a restricted role asks for.
ASKS = [
    ("billing_clerk", "card_payment"),
    ("billing_clerk", "dispensing"),
    ("marketer", "marketing_email"),
    ("marketer", "dispensing"),
    ("analyst", "analytics"),
]


def _people(t: Troth, *, consent: bool = True) -> tuple[str, str]:
    """Élise, with an allergy on file, and Carlos, without."""
    elise, carlos = patients(t)
    if consent:
        for sid in (elise, carlos):
            t.consent.grant(sid, "marketing_email")
    return str(elise), str(carlos)


def _shape(t: Troth, sid: str, role: str, purpose: str) -> Any:
    actor = Actor(ActorKind.staff, f"{role}@pillbox.example", role=role)
    try:
        view = t.use(sid, purpose=purpose, actor=actor)
    except Refused as exc:
        return ("refused", exc.reason, str(exc))
    return ("shown", sorted({v.field for v in view.values}), sorted(view.masked.items()))


@pytest.mark.parametrize("consent", [True, False])
def test_a_restricted_role_gets_the_same_answer_with_health_data_or_not(
    home: Any, consent: bool
) -> None:
    t = home(None, policy=POLICY)
    elise, carlos = _people(t, consent=consent)
    for role, purpose in ASKS:
        a, b = _shape(t, elise, role, purpose), _shape(t, carlos, role, purpose)
        assert a == b, (role, purpose, a, b)
        assert not any(h in repr(a) for h in HEALTH), (role, purpose, a)
    clerk = Actor(ActorKind.staff, "bc@pillbox.example", role="billing_clerk")
    view = t.use(elise, purpose="card_payment", actor=clerk)
    assert view.get("card_number") and "allergies" not in view.masked
    # The pharmacist may see allergies for dispensing: shown there, as before.
    rx = Actor(ActorKind.staff, "ph@pillbox.example", role="pharmacist")
    assert t.use(elise, purpose="dispensing", actor=rx).get("allergies") == "penicillin"


def test_the_cli_says_the_same_for_both(home: Any) -> None:
    t = home(None, policy=POLICY)
    people = _people(t)
    t.access.accounts.add_user("bc@pillbox.example", role="billing_clerk", password=PASSWORD)
    troth = Path(sys.executable).parent / "troth"
    outs = []
    for sid in people:
        run = subprocess.run(
            [str(troth), "--home", str(t.ctx.settings.home), "use", sid]
            + ["--purpose", "card_payment", "--actor", "staff:bc@pillbox.example", "--json"],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr
        out = json.loads(run.stdout)
        assert "allergies" not in run.stdout and "penicillin" not in run.stdout
        outs.append((sorted(v["field"] for v in out["values"]), out["masked"]))
    assert outs[0] == outs[1]


def test_the_console_withholds_the_same_list_for_both(home: Any) -> None:
    ctx = home(None, policy=POLICY, context=True)
    t = Troth(ctx)
    people = _people(t)
    t.access.accounts.add_user("bc@pillbox.example", role="billing_clerk", password=PASSWORD)
    with client_for(ctx) as c:
        console_login(c, "bc@pillbox.example")
        lists = []
        for sid in people:
            r = c.get(f"/console/people/{sid}", params={"purpose": "card_payment"})
            assert r.status_code == 200 and "4111111111111111" in r.text
            assert "allergies" not in r.text and "penicillin" not in r.text
            withheld = (
                r.text.split('id="masked"')[1].split("</ul>")[0] if 'id="masked"' in r.text else ""
            )
            lists.append(withheld)
        assert lists[0] == lists[1]
