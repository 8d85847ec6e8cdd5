"""`troth ropa [--format csv|html|json|pdf] [-o FILE]`: the record of processing activities."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from troth.cli import console, opened_context


class RopaFormat(StrEnum):
    csv = "csv"
    html = "html"
    json = "json"
    pdf = "pdf"


def register(root: typer.Typer) -> None:
    @root.command("ropa")
    def ropa(
        ctx: typer.Context,
        fmt: Annotated[
            RopaFormat, typer.Option("--format", help="Output format.")
        ] = RopaFormat.html,
        output: Annotated[
            Path | None, typer.Option("-o", "--output", help="Write to this file.")
        ] = None,
    ) -> None:
        """The record of processing activities (GDPR Art. 30(1)) from the policy."""
        from troth.cli.outfile import check_out, write_out
        from troth.policy.ropa import record_of_processing

        if output is not None:
            check_out(output, "--output")
        with opened_context(ctx) as context:
            record = record_of_processing(context.policy)
        if fmt is RopaFormat.pdf:
            from troth.errors import ValidationError
            from troth.policy.ropa import html_to_pdf

            if output is None:
                raise ValidationError("--format pdf writes a file: give -o FILE.pdf")
            write_out(output, html_to_pdf(record.to_html()), private=False, option="--output")
            console.print(f"wrote {output}")
            return
        text = {"csv": record.to_csv, "html": record.to_html, "json": record.to_json}[fmt.value]()
        if output is None:
            console.out(text, highlight=False)
        else:
            write_out(output, text, private=False, option="--output")
            console.print(f"wrote {output}")
