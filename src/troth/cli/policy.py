"""`troth policy ...` commands: validate, show, diff.

Exit codes: 0 fine; 1 a file does not validate (every problem printed as
``FILE:LINE: key.path: message (allowed: ...)``); ``diff`` exits 2 when material changes exist.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from troth.cli import command_group
from troth.cli import plain_console as _out
from troth.cli import plain_err_console as _err
from troth.cli.actors import parse_actor
from troth.cli.options import JsonOpt, OfficerOpt
from troth.errors import PolicyError, ValidationError
from troth.policy.changes import PolicyDiff, Severity
from troth.policy.consent_by import validate_notes
from troth.policy.describe import describe_policy, policy_summary
from troth.policy.diff import diff_policies
from troth.policy.loader import LoadedPolicy, read_policy
from troth.policy.warnings import policy_warnings

app, register = command_group("policy", "Validate, show, diff and publish the policy.")

# Exit code of `troth policy diff` when the new version has material changes. Exits are
# SystemExit, not typer.Exit: `troth.cli.main` runs click with standalone_mode=False, which
# swallows typer.Exit codes.
EXIT_MATERIAL = 2


def _report(exc: PolicyError) -> None:
    if exc.issues:
        for issue in exc.issues:
            _err.print(escape(str(issue)))
    else:
        _err.print(escape(exc.message))


def _load_or_exit(path: Path) -> LoadedPolicy:
    try:
        return read_policy(path)
    except PolicyError as exc:
        _report(exc)
        raise SystemExit(1) from None


def _summary_line(loaded: LoadedPolicy) -> str:
    p = loaded.policy
    return (
        f"{loaded.path}: valid: {p.organisation.name} version {p.version} "
        f"(effective {p.effective.isoformat()}): {len(p.purposes)} purposes, "
        f"{len(p.collection_points)} collection points, {len(p.recipients)} recipients"
    )


@app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Policy YAML files to check.")],
) -> None:
    """Check policy files; print every problem with its file, line and key path.

    Exit 0 when every file is valid (one summary line each), 1 otherwise."""
    failed = 0
    for path in files:
        try:
            loaded = read_policy(path)
        except PolicyError as exc:
            _report(exc)
            failed += 1
            continue
        _out.print(escape(_summary_line(loaded)))
        for note in validate_notes(loaded.policy):
            _out.print(escape(f"{path}: note: {note}"))
        for warning in policy_warnings(loaded.policy):
            _err.print(f"[yellow]{escape(f'{path}: warning: {warning}')}[/]")
    if failed:
        _err.print(f"{failed} of {len(files)} policy file(s) did not validate")
        raise SystemExit(1)


@app.command("show")
def show(
    file: Annotated[Path, typer.Argument(help="Policy YAML file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of prose.")] = False,
) -> None:
    """Read the policy back in plain words: what is collected, why, who gets it, how long."""
    loaded = _load_or_exit(file)
    if as_json:
        typer.echo(json.dumps(policy_summary(loaded.policy), indent=2, ensure_ascii=False))
    else:
        typer.echo(describe_policy(loaded.policy), nl=False)


def _print_diff(diff: PolicyDiff) -> None:
    _out.print(f"Policy {escape(diff.old_version)} -> {escape(diff.new_version)}")
    if not diff.changes:
        _out.print("No changes.")
        return
    for severity in (Severity.material, Severity.minor):
        changes = [c for c in diff.changes if c.severity is severity]
        if not changes:
            continue
        _out.print(f"\n{severity.value.capitalize()} changes ({len(changes)}):")
        for c in changes:
            where = f"{c.section}.{c.id}" if c.id else c.section
            _out.print(f"  {c.kind.value:<8} {escape(where)}: {escape(c.detail)}")
    if diff.new_uses:
        uses = ", ".join(f"{p}/{c}" for p, c in diff.new_uses)
        _out.print(f"\nNew uses (purpose/category): {escape(uses)}")
    if diff.new_consent_purposes:
        _out.print(f"Purposes needing fresh consent: {', '.join(diff.new_consent_purposes)}")
    for warning in diff.warnings:
        _out.print(f"[yellow]warning: {escape(warning)}[/yellow]")


@app.command("diff")
def diff(
    old: Annotated[Path, typer.Argument(help="The policy in force.")],
    new: Annotated[Path, typer.Argument(help="The proposed policy.")],
    as_json: JsonOpt = False,
) -> None:
    """What changed from OLD to NEW, each change material or minor.

    Exit 0 when nothing material changed, 2 when material changes exist, 1 on a bad file."""
    before = _load_or_exit(old)
    after = _load_or_exit(new)
    result = diff_policies(before.policy, after.policy)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_diff(result)
    if result.has_material:
        raise SystemExit(EXIT_MATERIAL)


@app.command("publish")
def publish(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The new policy file.")],
    effective: Annotated[
        str | None,
        typer.Option(help="Effective date YYYY-MM-DD (default: the file's `effective`)."),
    ] = None,
    as_json: JsonOpt = False,
    actor: OfficerOpt = None,
) -> None:
    """Publish a new version: record it, start notice periods for new uses, ask for
    consent again where a notice changed, e-mail customers when the policy says so."""
    from troth.cli import home_of
    from troth.collection.validation import parse_date
    from troth.home import open_context
    from troth.notices.publish import publish_policy

    when = None
    if effective is not None:
        try:
            when = parse_date(effective)
        except ValueError:
            raise ValidationError(f"--effective {effective!r} is not a date (YYYY-MM-DD)") from None
    c = open_context(home_of(ctx))
    try:
        result = publish_policy(c, file, effective=when, actor=parse_actor(actor))
    finally:
        c.engine.dispose()
    if as_json:
        _out.print_json(json.dumps(result.to_dict()))
        return
    if result.already_published:
        _out.print(f"version {result.version} was already published; it is in force")
        return
    kind = "material" if result.material else "minor"
    _out.print(
        f"published version {result.version} (effective {result.effective}): {kind} changes;"
        f" {len(result.new_uses)} new use(s) wait for the notice period,"
        f" {len(result.reconsent)} purpose(s) need consent again,"
        f" {result.emails_queued} notice e-mail(s) queued"
    )
    for w in result.waiting:
        waits = f"notice until {w['notice_until'][:16]}"
        if w["fresh_consent"]:
            waits += " and each person's fresh consent"
        _out.print(f"  {w['point']} -> {w['purpose']} ({w['category']}): waits for {waits}")
    for warning in result.warnings:
        _out.print(f"[yellow]warning: {warning}[/yellow]")


@app.command("history")
def history(
    ctx: typer.Context,
    as_json: JsonOpt = False,
) -> None:
    """Every published version, newest first, and how many values were collected under it."""
    from troth.cli import home_of
    from troth.home import open_context
    from troth.policy.versions import policy_history

    c = open_context(home_of(ctx))
    try:
        versions = policy_history(c)
    finally:
        c.engine.dispose()
    if as_json:
        _out.print_json(json.dumps(versions))
        return
    for v in versions:
        flag = "material" if v["material"] else "minor"
        _out.print(
            f"{v['version']}  effective {v['effective']}  published {v['published_at'][:19]}"
            f"  {flag}  {v['values_collected_under']} value(s) collected under it"
        )
