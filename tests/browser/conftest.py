"""Browser tests: Playwright driving Debian's chromium against uvicorn serving a real home
in a thread on a free port. Screenshots go to ``screenshots/`` for people to look at.
Skipped only when chromium is missing and CI is not set (in CI a missing browser fails)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from served import free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


def _need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing and CI is set: run `bash .ci/install-chromium`")
        pytest.skip(f"{CHROMIUM} is missing (install it with `bash .ci/install-chromium`)")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    pg = context.new_page()
    # 60 s for a page to load or a shot to be taken: a loaded runner (two test processes
    # and a browser on two cores) took over 15 s for one page twice in a CI run. What each
    # test asserts is unchanged.
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    """``serve(ctx)`` starts uvicorn for that home and returns its base URL."""
    import uvicorn

    from troth.app import create_app

    servers: list[tuple[Any, threading.Thread]] = []

    def start(ctx: Any) -> str:
        port = free_port()
        ctx.settings.public_url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)
