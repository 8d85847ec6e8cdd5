"""The README documents every setting and every command (a new one fails this test until
it is written up)."""

from __future__ import annotations

import typer

from repo_paths import README as README_FILE
from troth.cli import _register, app
from troth.settings import Settings

README = README_FILE.read_text()


def _commands(group: object, prefix: str = "troth") -> list[str]:
    out = []
    for name, cmd in sorted(group.commands.items()):  # type: ignore[attr-defined]
        path = f"{prefix} {name}"
        if hasattr(cmd, "commands"):
            out += _commands(cmd, path)
        else:
            out.append(path)
    return out


def test_every_setting_is_documented():
    missing = [n for n in Settings.model_fields if f"TROTH_{n.upper()}" not in README]
    assert missing == [], f"document these settings in README.md: {missing}"


def test_every_setting_has_a_description():
    assert [n for n, f in Settings.model_fields.items() if not f.description] == []


def test_every_command_is_documented():
    _register()
    root = typer.main.get_command(app)
    commands = _commands(root)
    assert len(commands) > 10
    missing = [c for c in commands if f"`{c}" not in README]
    assert missing == [], f"document these commands in README.md: {missing}"
