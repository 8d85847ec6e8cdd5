"""troth's CLI run in the test's own process, as a user types it (no tests here)."""

from __future__ import annotations

import pytest

from troth.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`troth ARGS`: its exit code and what it printed on stdout and stderr."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
