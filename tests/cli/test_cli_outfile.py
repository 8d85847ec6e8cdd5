"""Every command that writes a file (README, "CLI": errors print one red line and exit 1):
a path that cannot be written (its folder missing, a folder, a device) is refused before
anything is done or spent. `requests execute -o` leaves the request verified (nothing
mailed, no export made), `requests download -o` leaves the code unspent, `export-tenant`
makes no export, `tenants offboard` starts nothing, `ropa -o` and `init` say what to fix
(trial 19, F5 and F14). A download whose file could not be written spends nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cli_runner import run
from troth.audit.tables import audit_entries
from troth.errors import NotFound, ValidationError
from troth.gate import SYSTEM, Actor, ActorKind
from troth.notices.outbox import list_outbox
from troth.requests.tables import request_exports, tenant_offboardings

ADA = Actor(ActorKind.staff, "ada", role="privacy_office")


@pytest.fixture
def shop(home: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An itechno home with one customer; TROTH_HOME points at it."""
    t = home("itechno")
    t.collect(
        "order_form",
        {
            "name": "Ann Lee",
            "email": "ann@example.com",
            "address": "1 Main St",
            "card_number": "4111111111111111",
            "card_expiry": "12/29",
            "order_items": "1 widget",
        },
    )
    monkeypatch.setenv("TROTH_HOME", str(t.ctx.home))
    monkeypatch.setenv("COLUMNS", "300")
    return t


def _bad_paths(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Paths no file can be written to, and what the error says of each."""
    afile = tmp_path / "a-file"
    afile.write_text("x")
    return {
        "missing folder": (tmp_path / "nowhere" / "deeper" / "x.zip", "does not exist"),
        "a folder": (tmp_path, "is a folder"),
        "a device": (Path("/dev/null"), "not a regular file"),
        "under a file": (afile / "x.zip", "is not a folder"),
    }


def _one_line(code: int, err: str, says: str) -> None:
    assert code == 1, err
    assert "Traceback" not in err and says in err and "output_unwritable" in err, err
    assert len(err.strip().splitlines()) <= 2, err  # one line (a long path may wrap once)


def _verified_access(shop: Any, capsys: pytest.CaptureFixture[str]) -> Any:
    req = shop.requests.open("access", email="ann@example.com", channel="staff")
    code, _, err = run(capsys, "requests", "verify", req.id, "--staff", "ada", "--reason", "seen")
    assert code == 0, err
    return req


def _exports(t: Any) -> int:
    with t.ctx.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(request_exports)).scalar())


def test_execute_to_an_unwritable_path_carries_out_nothing(
    shop: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    req = _verified_access(shop, capsys)
    mails = len(list_outbox(shop.ctx))
    for label, (path, says) in _bad_paths(tmp_path).items():
        code, _, err = run(capsys, "requests", "execute", req.id, "-o", str(path))
        _one_line(code, err, says)
        assert str(path) in " ".join(err.split()), label
        assert shop.requests.get(req.id).state == "verified", label
        assert _exports(shop) == 0 and len(list_outbox(shop.ctx)) == mails, label
    assert not (tmp_path / "nowhere").exists()
    # Fixed, it runs: the export is written whole, private, with nothing left beside it.
    good = tmp_path / "ann.zip"
    code, _, err = run(capsys, "requests", "execute", req.id, "-o", str(good))
    assert code == 0, err
    assert good.read_bytes()[:2] == b"PK" and oct(good.stat().st_mode)[-3:] == "600"
    assert shop.requests.get(req.id).state == "completed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "ann.zip", "home"]


def test_execute_out_for_a_kind_without_an_export_is_refused_before_it_runs(
    shop: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    req = shop.requests.open("delete", email="ann@example.com", channel="staff")
    run(capsys, "requests", "verify", req.id, "--staff", "ada", "--reason", "seen")
    code, _, err = run(capsys, "requests", "execute", req.id, "-o", str(tmp_path / "x.zip"))
    assert code == 1 and "no export to write" in err and "Traceback" not in err
    assert shop.requests.get(req.id).state == "verified"  # nothing was erased
    assert shop.find(email="ann@example.com") is not None
    assert not (tmp_path / "x.zip").exists()


def test_download_to_an_unwritable_path_leaves_the_code_unspent(
    shop: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    req = _verified_access(shop, capsys)
    code, out, err = run(capsys, "requests", "execute", req.id, "--json")
    assert code == 0, err
    monkeypatch.setenv("TROTH_CODE", json.loads(out)["download_code"])
    for label, (path, says) in _bad_paths(tmp_path).items():
        code, _, err = run(capsys, "requests", "download", "-o", str(path))
        _one_line(code, err, says)
        assert "export_used" not in err, label
    good = tmp_path / "ann.zip"
    code, _, err = run(capsys, "requests", "download", "-o", str(good))
    assert code == 0, err
    assert good.read_bytes()[:2] == b"PK"
    code, _, err = run(capsys, "requests", "download", "-o", str(tmp_path / "again.zip"))
    assert code == 1 and "export_used" in err  # once written, spent, as before
    assert not (tmp_path / "again.zip").exists()


def test_a_download_whose_sink_fails_spends_nothing(
    shop: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Python API under the CLI: a sink that raises rolls the spending back; nothing
    is audited as downloaded and the export downloads later."""
    req = _verified_access(shop, capsys)
    done = shop.requests.execute(req.id, actor=ADA)

    def full_disk(data: bytes) -> None:
        assert data[:2] == b"PK"
        raise ValidationError("disk full", code="output_unwritable")

    with pytest.raises(ValidationError, match="disk full"):
        shop.requests.download(done.download_token, actor=SYSTEM, sink=full_disk)
    with shop.ctx.engine.connect() as conn:
        taken = conn.execute(
            sa.select(sa.func.count())
            .select_from(audit_entries)
            .where(audit_entries.c.action == "request.download")
        ).scalar()
    assert taken == 0
    got: list[bytes] = []
    data = shop.requests.download(done.download_token, actor=SYSTEM, sink=got.append)
    assert got == [data] and data[:2] == b"PK"
    with pytest.raises(NotFound):
        shop.requests.download(done.download_token, actor=SYSTEM)


def test_ropa_to_an_unwritable_path_is_one_line(
    shop: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for label, (path, says) in _bad_paths(tmp_path).items():
        for fmt in ("json", "pdf"):
            code, _, err = run(capsys, "ropa", "--format", fmt, "-o", str(path))
            _one_line(code, err, says)
            assert "--output" in err, label
    out = tmp_path / "ropa.json"
    code, _, err = run(capsys, "ropa", "--format", "json", "-o", str(out))
    assert code == 0, err
    assert json.loads(out.read_text())
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_init_into_an_impossible_folder_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    afile = tmp_path / "a-file"
    afile.write_text("x")
    code, _, err = run(capsys, "init", str(afile / "home"), "--example", "itechno")
    assert code == 1 and "Traceback" not in err and "cannot create the home" in err, err
    assert afile.read_text() == "x"


@pytest.fixture
def gym(home: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    t = home("phone-service")
    monkeypatch.setenv("TROTH_HOME", str(t.ctx.home))
    monkeypatch.setenv("COLUMNS", "300")
    tid = t.access.tenants.create_tenant("Gym A", "office@gym.example")
    signup = {"company_name": "Gym A Ltd", "name": "Ann Lee", "email": "ann@gyma.example"}
    t.collect("customer_signup", signup, tenant_id=tid)
    return t, tid


def test_tenant_exports_to_an_unwritable_path_make_and_erase_nothing(
    gym: tuple[Any, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    t, tid = gym
    for label, (path, says) in _bad_paths(tmp_path).items():
        for command in (("requests", "export-tenant"), ("tenants", "offboard")):
            code, _, err = run(capsys, *command, "Gym A", "-o", str(path))
            _one_line(code, err, says)
            assert _exports(t) == 0, (label, command)
    with t.ctx.engine.connect() as conn:
        started = conn.execute(sa.select(sa.func.count()).select_from(tenant_offboardings))
        assert started.scalar() == 0
    assert t.access.tenants.get_tenant(tid).status == "active"
    assert t.find(email="ann@gyma.example", tenant_id=tid) is not None
    out = tmp_path / "gym.zip"
    code, _, err = run(capsys, "tenants", "offboard", "Gym A", "-o", str(out))
    assert code == 0, err
    assert out.read_bytes()[:2] == b"PK" and oct(out.stat().st_mode)[-3:] == "600"
