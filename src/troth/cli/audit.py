"""`troth audit ...` commands: verify, proof, show, head.

Exit codes: 0 fine; 1 the log does not verify (the first bad entry or range is named), or
any troth error.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from troth.audit import (
    close_heads,
    inclusion_proof,
    list_entries,
    sign_head,
    verify_log,
    verify_proof,
)
from troth.audit.checkpoint import checkpoint, origin_of
from troth.audit.log import log_size
from troth.cli import command_group, opened_context, show_table
from troth.cli import plain_console as _out
from troth.cli import plain_err_console as _err
from troth.cli.options import ReportJsonOpt

app, register = command_group(
    "audit",
    "Verify the tamper-evident audit log, prove entries, show who did what.",
    no_args_is_help=False,
)

# Exits are SystemExit: `troth.cli.main` runs click with standalone_mode=False.
EXIT_BAD_LOG = 1
_PROGRESS_FROM = 50_000  # entries: smaller logs verify faster than a bar can draw

_SHOW_COLUMNS = [
    "seq",
    "at (UTC)",
    "actor",
    "action",
    "outcome",
    "subject",
    "purpose",
    "categories",
    "reason",
]


@app.command("verify")
def verify(
    ctx: typer.Context,
    as_json: ReportJsonOpt = False,
    witness: Annotated[
        str | None,
        typer.Option(
            "--witness",
            help="A file or http(s) URL holding this log's C2SP checkpoints; each is checked"
            " against the log too (default: the audit_witness setting).",
        ),
    ] = None,
) -> None:
    """Recompute every entry, the Merkle root and each signed tree head.

    Exit 0 with the size and root when everything matches; exit 1 naming the first bad
    entry (or the range between two signed heads) otherwise, and when no signed head
    covers entries that should have one (a missing or emptied heads file)."""
    with opened_context(ctx) as context:
        size = log_size(context)
        columns = (
            TextColumn("verifying audit log"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        disable = as_json or size < _PROGRESS_FROM
        with Progress(*columns, console=_err, transient=True, disable=disable) as bar:
            task = bar.add_task("verify", total=size)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            report = verify_log(
                context, progress=progress, witness=witness or context.settings.audit_witness
            )
    if as_json:
        _out.print_json(json.dumps(report.to_dict()))
    elif report.ok:
        tail = f", {report.unsigned} after the latest head" if report.unsigned else ""
        _out.print(
            f"[green]audit log verified[/green]: {report.size} entries, root {report.root}, "
            f"{report.heads_checked} signed heads checked{tail}"
        )
    else:
        _err.print(f"[red]audit log does NOT verify[/red]: {escape(report.problem or '')}")
    if not report.ok:
        raise SystemExit(EXIT_BAD_LOG)


@app.command("proof")
def proof(
    ctx: typer.Context,
    seq: Annotated[int, typer.Argument(help="The entry's number (seq), from `troth audit show`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the proof as JSON.")] = False,
) -> None:
    """Print an inclusion proof for entry SEQ under the latest signed tree head; anyone
    with the public key checks it with `troth.audit.verify_proof`."""
    with opened_context(ctx) as context:
        result: dict[str, Any] = inclusion_proof(context, seq)
        result["public_key"] = context.keys.public_key_b64()
    if as_json:
        _out.print_json(json.dumps(result))
        return
    ok = verify_proof(result, result["public_key"])
    _out.print(f"entry {seq}: {escape(result['entry'])}")
    _out.print(f"leaf hash  {result['leaf']}")
    _out.print(f"tree       size {result['size']}, root {result['root']}")
    _out.print(f"signed at  {result['head']['at']} by public key {result['public_key']}")
    _out.print(f"path       {len(result['path'])} hashes")
    for h in result["path"]:
        _out.print(f"  {h}")
    _out.print("[green]proof verifies[/green]" if ok else "[red]proof does NOT verify[/red]")


@app.command("show")
def show(
    ctx: typer.Context,
    subject: Annotated[
        str | None,
        typer.Option(
            "--subject",
            help="Only entries about this subject id (whole: the log outlives erased people).",
        ),
    ] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Only entries by this actor (kind:id).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most N.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print entries as JSON.")] = False,
) -> None:
    """Who did what to whose data, for what purpose, and what troth decided (newest first)."""
    with opened_context(ctx) as context:
        rows = list_entries(
            context, subject_id=subject, actor=actor, limit=limit, newest_first=True
        )
    if as_json:
        _out.print_json(json.dumps([r.to_dict() for r in rows]))
        return
    if not rows:
        _out.print("no audit entries match")
        return
    cells = [
        [
            str(r.seq),
            r.at.strftime("%Y-%m-%d %H:%M:%S"),
            r.entry.actor,
            r.entry.action,
            str(r.entry.outcome),
            r.entry.subject_id or "-",
            r.entry.purpose or "-",
            ",".join(r.entry.categories) or "-",
            r.entry.reason or "-",
        ]
        for r in rows
    ]
    if not _out.is_terminal:  # pipes and files: one tab-separated line per entry, nothing cut
        for line in cells:
            _out.print(escape("\t".join(line)))
        return
    table = Table(*_SHOW_COLUMNS)
    for line in cells:
        table.add_row(*(escape(c) for c in line))
    show_table(table, _out)


@app.command("head")
def head(
    ctx: typer.Context,
    as_checkpoint: Annotated[
        bool,
        typer.Option(
            "--checkpoint", help="Print it as a C2SP checkpoint (signed note) instead of JSON."
        ),
    ] = False,
) -> None:
    """Sign the current tree head, append it to the heads file and print it: keep a copy
    somewhere the database's administrators cannot edit."""
    with opened_context(ctx) as context:
        signed = sign_head(context)
        public_key = context.keys.public_key_b64()
        path = context.settings.resolved_heads_file
        note = checkpoint(
            origin_of(context.settings, context.keys), signed.size, signed.root, context.keys
        )
        close_heads(context)
    if as_checkpoint:
        _out.out(note, end="", highlight=False)
    else:
        _out.print(json.dumps({**signed.to_dict(), "public_key": public_key}))
    _err.print(f"appended to {path}")
