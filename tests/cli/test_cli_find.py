"""`troth find` opens only what a lookup needs (issue 17): no web stack, no migrations
library, no policy model once the home holds its authenticated record that this policy
text validated; a changed, broken or tampered-with policy is validated again and refused as
`open_context` refuses it. Not a timed test: benchmarks/bench_cli_start.py times it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from troth.cli import main
from troth.errors import DatabaseVersionError, PolicyError
from troth.home import POLICY_CHECKED_FILE, check_database_version, open_lookup
from troth.keys import Keyring

ORDER = {
    "name": "Ann Buyer",
    "email": "ann@example.com",
    "address": "1 High Street, Leeds",
    "product": "Mindlink Pro",
    "phone": "+44 20 7946 0958",
}
HEAVY = ("fastapi", "starlette", "jinja2", "alembic", "argon2", "phonenumbers", "uvicorn")

# Runs `troth find` in a fresh interpreter, then names the heavy modules it loaded.
PROBE = """
import json, sys
from troth.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = %r
loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
print(json.dumps({"code": code, "loaded": loaded,
                  "policy_model": "troth.policy.model" in sys.modules}))
"""


def _with_phone(data: dict[str, Any]) -> None:
    point = next(p for p in data["collection_points"] if p["id"] == "purchase")
    point["fields"]["phone"] = {"category": "contact", "type": "phone", "identifies": "phone"}


def _probe(home: Path, *args: str) -> tuple[str, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), "--home", str(home), "find", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    *out, report = done.stdout.strip().splitlines()
    return "\n".join(out), json.loads(report)


def _find(home: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(["--home", str(home), "find", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_find_loads_no_web_stack_and_no_policy_model_once_checked(home: Any) -> None:
    t = home("mindlink", edit=_with_phone)
    sid = t.collect("purchase", ORDER).subject_id
    home_dir = t.ctx.home
    assert not (home_dir / POLICY_CHECKED_FILE).exists()
    # The first lookup validates the policy (the model loads) and records that it did.
    out, first = _probe(home_dir, "--email", "ANN@example.com ")
    assert (out, first["code"]) == (sid, 0)
    assert first["loaded"] == [] and first["policy_model"]
    record = home_dir / POLICY_CHECKED_FILE
    assert record.stat().st_mode & 0o777 == 0o600
    # Later lookups read the record: no policy model, no web stack.
    out, later = _probe(home_dir, "--email", "ann@example.com")
    assert (out, later["code"], later["loaded"], later["policy_model"]) == (sid, 0, [], False)
    # A phone number without its country code is read in the policy's region (GB).
    out, by_phone = _probe(home_dir, "--phone", "020 7946 0958")
    assert (out, by_phone["code"], by_phone["policy_model"]) == (sid, 0, False)
    # Only the numbering plans join, for the number.
    assert {m.split(".")[0] for m in by_phone["loaded"]} == {"phonenumbers"}
    _, unknown = _probe(home_dir, "--email", "nobody@example.com")
    assert unknown["code"] == 1 and unknown["loaded"] == []


def test_a_changed_policy_is_validated_again(home: Any, capsys: pytest.CaptureFixture[str]) -> None:
    t = home("mindlink", edit=_with_phone)
    sid = t.collect("purchase", ORDER).subject_id
    home_dir = t.ctx.home
    assert _find(home_dir, capsys, "--email", "ann@example.com")[:2] == (0, sid + "\n")
    policy = home_dir / "policy.yaml"
    good = policy.read_text()
    # Broken after the record was made: refused as open_context refuses it.
    policy.write_text(good.replace("collection_points:", "collection_pointz:", 1))
    code, out, err = _find(home_dir, capsys, "--email", "ann@example.com")
    assert (code, out) == (1, "") and "policy_invalid" in err
    with pytest.raises(PolicyError):
        open_lookup(home_dir)
    # Valid again, in a text never recorded: validated, and its region used.
    policy.write_text(good.replace("  default: GB\n", "  default: GB\n# edited\n", 1))
    assert _find(home_dir, capsys, "--phone", "020 7946 0958")[:2] == (0, sid + "\n")


def test_a_tampered_record_is_not_believed(home: Any, tmp_path: Path) -> None:
    t = home("mindlink", edit=_with_phone)
    t.collect("purchase", ORDER)
    home_dir = t.ctx.home
    assert open_lookup(home_dir).phone_region == "GB"
    record = home_dir / POLICY_CHECKED_FILE
    honest = json.loads(record.read_text())
    # Another region without this home's key: ignored, the policy is read again.
    record.write_text(json.dumps({"facts": {"phone_region": "US"}, "mac": honest["mac"]}))
    assert open_lookup(home_dir).phone_region == "GB"
    assert json.loads(record.read_text()) == honest  # and the record is made again
    # A record MAC'd with another home's keys is no better.
    other = Keyring.create(tmp_path / "other-keys.json")
    body = json.loads(json.dumps(honest))
    body["facts"]["phone_region"] = "US"
    record.write_text(json.dumps({**body, "mac": other.mac("policy-checked", b"x").hex()}))
    assert open_lookup(home_dir).phone_region == "GB"
    # Garbage, or a record for a broken policy, never stands in for validation.
    record.write_text("{not json")
    assert open_lookup(home_dir).phone_region == "GB"
    policy = home_dir / "policy.yaml"
    policy.write_text(policy.read_text() + "\nunknown_key: 1\n")
    with pytest.raises(PolicyError):
        open_lookup(home_dir)


def test_a_home_that_cannot_be_written_still_finds(
    home: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    t = home("mindlink")
    sid = t.collect("purchase", {k: v for k, v in ORDER.items() if k != "phone"}).subject_id
    home_dir = t.ctx.home
    (home_dir / POLICY_CHECKED_FILE).mkdir()  # no file can take its place
    assert _find(home_dir, capsys, "--email", "ann@example.com")[:2] == (0, sid + "\n")
    assert not list(home_dir.glob("*.tmp"))


def test_database_without_schema_is_refused_on_every_backend(db_url: str) -> None:
    _refused_without_schema(db_url)


def test_database_without_schema_is_refused_on_mariadb(mysql_url: str) -> None:
    _refused_without_schema(mysql_url)


def _refused_without_schema(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with pytest.raises(DatabaseVersionError, match="no troth schema"):
            check_database_version(engine)
        # The connection the failed query ran on is usable again.
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
