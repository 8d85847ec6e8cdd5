"""The office's commands say who acts (`--actor`): the audit log records them instead of
`system:troth`, and the gate checks their role's power, so a role without it is refused
(exit 3, audited) and nothing changes. Without `--actor` the operator acts, as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from cli_runner import run
from troth.audit.entries import list_entries
from troth.engine import Troth

OFFICE = "staff:pat@privacy_office"
SUPPORT = "staff:sam@support"


def test_office_commands_record_who_acts_and_refuse_a_role_without_the_power(
    home: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t: Troth = home("itechno")
    sid = t.collect(
        "account_signup", {"name": "Ann", "email": "ann@example.com", "username": "ann"}
    ).subject_id
    h = ("--home", str(t.ctx.home))
    hold = ("retention", "hold", "--reason", "case 7", "--subject", sid, "-q")
    code, _, err = run(capsys, *h, *hold, "--actor", SUPPORT)
    assert code == 3 and "manage_holds" in err
    code, out, err = run(capsys, *h, *hold, "--actor", OFFICE)
    assert code == 0, err
    hid = out.strip()
    code, out, _ = run(capsys, *h, "retention", "holds", "--json")
    assert '"placed_by": "staff:pat"' in out.replace("'", '"')
    assert run(capsys, *h, "retention", "lift", hid, "--actor", SUPPORT)[0] == 3
    assert run(capsys, *h, "retention", "lift", hid, "--actor", OFFICE)[0] == 0
    assert run(capsys, *h, "retention", "run", "--actor", SUPPORT)[0] == 3
    assert run(capsys, *h, "retention", "run", "--dry-run", "--actor", OFFICE)[0] == 0
    assert run(capsys, *h, "minors", "purge", "--dry-run", "--actor", SUPPORT)[0] == 3
    demand = ("disclosures", "demand", "--authority", "Court", "--instrument", "warrant",
              "--reference", "W-1", "--scope", "all", "--category", "identity",
              "-q")  # fmt: skip
    assert run(capsys, *h, *demand, "--actor", SUPPORT)[0] == 3
    assert run(capsys, *h, *demand, "--actor", OFFICE)[0] == 0
    data = yaml.safe_load(t.ctx.settings.resolved_policy_file.read_text())
    data["version"] = "1.1"
    new = tmp_path / "v11.yaml"
    new.write_text(yaml.safe_dump(data, sort_keys=False))
    assert run(capsys, *h, "policy", "publish", str(new), "--actor", SUPPORT)[0] == 3
    assert run(capsys, *h, "policy", "publish", str(new), "--actor", OFFICE)[0] == 0
    entries = list_entries(t.ctx, limit=500)
    by_pat = sorted({e.entry.action for e in entries if e.entry.actor == "staff:pat"})
    assert not any(e.entry.actor == "system:troth" and "hold" in e.entry.action for e in entries)
    assert {"legal_hold.place", "legal_hold.lift", "legal_demand.record", "policy.publish"} <= set(
        by_pat
    )
    refused = [e for e in entries if e.entry.actor == "staff:sam" and e.entry.outcome == "deny"]
    assert len(refused) == 6, [(e.entry.action, e.entry.reason) for e in refused]
