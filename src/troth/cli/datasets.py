"""`troth datasets ...`: check and show declarations of connected databases.

Both work from the declaration file alone (URLs from the environment): no troth home needed;
with one (``--home``), its policy's categories count, as at run time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from troth.cli import command_group
from troth.cli.options import JsonOpt
from troth.connectors.declaration import Dataset
from troth.connectors.inspection import Finding, Severity, check_dataset_at
from troth.connectors.loader import checking_categories, load_datasets
from troth.connectors.walk import TablePlan, plan_dataset
from troth.errors import ConfigError, ConnectorError

app, register = command_group("datasets", "Check and show the declarations of connected databases.")

FileArg = Annotated[Path, typer.Argument(help="The dataset declaration (YAML).")]
PolicyOpt = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        help="Policy file whose categories the columns may use (default: the home's, with"
        " --home or TROTH_HOME, when there is one).",
    ),
]
DatasetOpt = Annotated[
    list[str] | None, typer.Option("--dataset", "-d", help="Only this dataset (repeatable).")
]


def _load(
    ctx: typer.Context, file: Path, policy: Path | None, only: list[str] | None
) -> list[Dataset]:
    """The declarations in ``file``; their columns may use the categories of ``policy``, or
    of the home's policy (``--home``) when none is named, and the built-in ones."""
    from troth.cli import home_of

    categories = checking_categories(policy, home_of(ctx))
    datasets = load_datasets(file, categories)
    if only:
        unknown = set(only) - {d.name for d in datasets}
        if unknown:
            raise ConnectorError(f"{file}: no dataset named {sorted(unknown)[0]!r}")
        datasets = [d for d in datasets if d.name in only]
    return datasets


@app.command("check")
def check(
    ctx: typer.Context,
    file: FileArg,
    policy: PolicyOpt = None,
    dataset: DatasetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Findings as JSON.")] = False,
) -> None:
    """Validate FILE, then compare each dataset with its live database (URL from the
    variable named by url_env). Exit 1 when any error is found."""
    from troth.cli import console

    failed = False
    results: dict[str, list[Finding] | str] = {}
    for ds in _load(ctx, file, policy, dataset):
        url = os.environ.get(ds.url_env)
        if not url:
            results[ds.name] = f"{ds.url_env} is not set: cannot reach the database"
            failed = True
            continue
        try:
            findings = check_dataset_at(ds, url)
        except (ConfigError, ConnectorError) as exc:
            results[ds.name] = exc.message
            failed = True
            continue
        results[ds.name] = findings
        failed |= any(f.severity is Severity.error for f in findings)
    if as_json:
        out = {
            name: r if isinstance(r, str) else [f.__dict__ for f in r]
            for name, r in results.items()
        }
        console.print_json(json.dumps(out, default=str))
    else:
        for name, r in results.items():
            if isinstance(r, str):
                console.print(f"[red]{name}: {escape(r)}[/red]", highlight=False)
            elif not r:
                console.print(f"[green]{name}: matches the database[/green]")
            else:
                console.print(f"[bold]{name}[/bold]: {len(r)} finding(s)")
                for f in r:
                    colour = "red" if f.severity is Severity.error else "yellow"
                    console.print(f"  [{colour}]{escape(str(f))}[/{colour}]", highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command("show")
def show(
    ctx: typer.Context,
    file: FileArg,
    policy: PolicyOpt = None,
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show each dataset's tables, identities, categories, erasure strategies and the
    order a request walks them in."""
    from troth.cli import console, show_table

    if as_json:
        out = []
        for ds in _load(ctx, file, policy, dataset):
            plan = plan_dataset(ds)
            tables = []
            for name in plan.order:
                tp = plan.tables[name]
                tables.append(
                    {
                        "table": name,
                        "primary_key": list(tp.primary_key),
                        "identity": {k.value: c for k, c in tp.identity.items()},
                        "rows": tp.row_erase.value if tp.row_erase is not None else "update",
                        "columns": {
                            c: {
                                "category": spec.category,
                                "erase": str(tp.column_erase[c]) if c in tp.column_erase else None,
                            }
                            for c, spec in tp.columns.items()
                        },
                    }
                )
            out.append({"dataset": ds.name, "url_env": ds.url_env, "walk": tables})
        console.print_json(json.dumps(out, default=str))
        return
    for ds in _load(ctx, file, policy, dataset):
        plan = plan_dataset(ds)
        where = f" ({ds.location})" if ds.location else ""
        console.print(f"[bold]{ds.name}[/bold]{where}: URL from ${ds.url_env}")
        grid = Table("table", "key", "identity", "rows", "columns (category: erase)")
        for name in plan.order:
            tp = plan.tables[name]
            row = tp.row_erase.value if tp.row_erase else "update"
            if tp.keep:
                row += f" ({tp.keep.keep_for}: {escape(tp.keep.reason)})"
            cols = ", ".join(
                f"{c}: {spec.category or '-'}: {tp.column_erase.get(c, '-')}"
                for c, spec in tp.columns.items()
            )
            ids = ", ".join(f"{k.value}={c}" for k, c in tp.identity.items())
            grid.add_row(name, ",".join(tp.primary_key), ids, row, cols)
        show_table(grid)
        tree = Tree("walk (parents first)")
        for name in plan.order:
            tp = plan.tables[name]
            if tp.identity and not tp.incoming:
                _branch(tree, plan.tables, name, set())
        console.print(tree)


def _branch(node: Tree, tables: dict[str, TablePlan], name: str, seen: set[str]) -> None:
    tp = tables[name]
    label = name + (
        f"  [dim]by {', '.join(k.value for k in tp.identity)}[/dim]" if tp.identity else ""
    )
    child = node.add(label)
    if name in seen:
        return
    for link in tp.outgoing:
        _branch(child.add(f"[dim]{link}[/dim]"), tables, link.child, seen | {name})
