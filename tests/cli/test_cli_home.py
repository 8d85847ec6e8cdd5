"""Every command takes ``--home DIR`` after its name as well as before it (README, "CLI";
trial #15 D1: `troth outbox deliver --home X` was "No such option: --home"). The option
is the root's, read before anything of the command, so an id or a tenant named on the
command line is looked up in that home whatever the order typed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli_runner import run
from troth.cli import home_first

SIGNUP = {"company_name": "Gym A Ltd", "name": "Ann Lee", "email": "ann@gyma.example"}


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        (["outbox", "deliver", "--home", "h"], ["--home", "h", "outbox", "deliver"]),
        (["outbox", "list", "--home=h", "--json"], ["--home=h", "outbox", "list", "--json"]),
        (["--home", "a", "doctor", "--home", "b"], ["--home", "a", "--home", "b", "doctor"]),
        # after `--`, nothing is an option
        (["collect", "p", "--", "--home", "x"], ["collect", "p", "--", "--home", "x"]),
        # no value: the root says so, not the command
        (["doctor", "--home"], ["--home", "doctor"]),
        (["doctor"], ["doctor"]),
    ],
)
def test_home_first_moves_home_before_the_command(typed: list[str], read: list[str]) -> None:
    assert home_first(typed) == read


@pytest.fixture
def gym(home: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A phone-service home with a customer and one of its people; the commands run from
    another directory, TROTH_HOME unset."""
    t = home("phone-service")
    tid = t.access.tenants.create_tenant("Gym A", "office@gym.example")
    t.collect("customer_signup", SIGNUP, tenant_id=tid)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("TROTH_HOME", raising=False)
    monkeypatch.setenv("COLUMNS", "300")
    return t, tid


# The commands trial #15 found refusing `--home` after their name.
AFTER = [
    ("outbox", "deliver"),
    ("outbox", "list", "--json"),
    ("requests", "list", "--json"),
    ("audit", "verify"),
    ("policy", "history", "--json"),
    ("breaches", "list", "--json"),
    ("retention", "holds", "--json"),
    ("tenants", "list", "--json"),
    ("users", "list", "--json"),
    ("doctor", "--json"),
]


@pytest.mark.parametrize("args", AFTER, ids=" ".join)
def test_home_after_the_command_is_the_home_before_it(
    gym: Any, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    t, _ = gym
    where = str(t.ctx.home)
    before = run(capsys, "--home", where, *args)
    after = run(capsys, *args, "--home", where)
    assert "No such option" not in after[2]
    assert after[0] == before[0] and after[0] in (0, 1), after  # doctor: 1 is a failed check
    if "--json" in args and args[0] != "doctor":
        assert json.loads(after[1]) == json.loads(before[1])


def test_an_id_typed_before_home_is_looked_up_in_that_home(
    gym: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    t, tid = gym
    where = str(t.ctx.home)
    # the tenant by its name, the person by their e-mail: both in the home named after
    code, out, err = run(capsys, "find", "--email", SIGNUP["email"], "--tenant", "Gym A",
                         "--home", where)  # fmt: skip
    assert code == 0, err
    assert out.strip() == t.find(email=SIGNUP["email"], tenant_id=tid)
    code, out, err = run(capsys, "tenants", "members", "Gym A", "--home", where)
    assert code == 0, err
    # Without it, the current directory is no home: nothing is found there.
    code, _, err = run(capsys, "tenants", "members", "Gym A")
    assert code == 1, err


def test_the_last_home_given_wins(
    gym: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    t, _ = gym
    empty = tmp_path / "not-a-home"
    empty.mkdir()
    code, out, err = run(capsys, "--home", str(empty), "tenants", "list", "--json",
                         "--home", str(t.ctx.home))  # fmt: skip
    assert code == 0, err
    assert [x["name"] for x in json.loads(out)] == ["Gym A"]
    code, _, _ = run(capsys, "--home", str(t.ctx.home), "tenants", "list", "--home", str(empty))
    assert code == 1


def test_an_environment_home_yields_to_the_one_typed_after_the_command(
    gym: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t, _ = gym
    monkeypatch.setenv("TROTH_HOME", str(tmp_path / "elsewhere"))
    code, out, err = run(capsys, "tenants", "list", "--json", "--home", str(t.ctx.home))
    assert code == 0, err
    assert [x["name"] for x in json.loads(out)] == ["Gym A"]


def test_demo_builds_in_the_home_given_after_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`troth demo --home DIR` (make demo) builds there, as it did when the option was
    the demo's own; never in a home that is not a demo."""
    from troth.examples.demo import MARKER

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TROTH_HOME", raising=False)
    code, out, err = run(capsys, "demo", "--home", "dh", "--people", "5", "--no-serve")
    assert code == 0, err
    assert (tmp_path / "dh" / MARKER).exists() and not (tmp_path / "demo-home").exists()
    assert "troth --home dh serve" in out
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "troth.toml").write_text("")
    code, _, err = run(capsys, "--home", "mine", "demo", "--people", "5", "--no-serve")
    assert code == 1 and "is not a troth demo" in err
