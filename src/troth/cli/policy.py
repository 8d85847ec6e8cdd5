"""`troth policy ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="Validate, show, diff and publish the policy.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="policy")
