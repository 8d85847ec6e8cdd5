"""Mount every page router and the static files on an app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from troth.web import (
    console,
    console_breaches,
    console_dashboard,
    console_discovery,
    console_office,
    console_people,
    console_registers,
    console_requests,
    privacy,
    public,
    tenant,
)

STATIC = Path(__file__).parent / "static"


def mount_web(app: FastAPI) -> None:
    for module in (
        public,
        privacy,
        console,
        console_dashboard,
        console_requests,
        console_breaches,
        console_office,
        console_people,
        console_registers,
        tenant,
    ):
        app.include_router(module.router)
    app.include_router(console_discovery.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
