"""Where the repository's parts are, for tests that read its files, wherever under tests/
the test itself lives."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SRC = ROOT / "src" / "troth"
README = ROOT / "README.md"
