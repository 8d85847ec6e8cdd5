"""Core commands: `troth init`, `collect`, `use`, `find`, `reindex`, `minors`, `db migrate`,
`worker` and `demo`, each registered by its own function (`register_<name>`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from troth.cli import console, home_of, opened
from troth.cli.actors import parse_actor
from troth.cli.ids import SubjectArg, resolver
from troth.cli.options import (
    CategoriesOpt,
    CollectorOpt,
    JsonOpt,
    JurisdictionOpt,
    OfficerOpt,
    PersonTenantOpt,
    ReportJsonOpt,
    TenantFilterOpt,
)
from troth.errors import ValidationError

if TYPE_CHECKING:
    pass


def register(app: typer.Typer) -> None:
    """The core commands, one registering function each."""
    for register_one in (
        register_init,
        register_collect,
        register_use,
        register_find,
        register_reindex,
        register_minors,
        register_db,
        register_worker,
        register_demo,
    ):
        register_one(app)


def register_init(app: typer.Typer) -> None:
    """`troth init`: a new home."""

    @app.command("init")
    def init(
        directory: Annotated[Path, typer.Argument(help="The new home directory.")],
        example: Annotated[
            str | None,
            typer.Option(
                help="Start from an example policy: ilign, mindlink, ixanet, itechno,"
                " phone-service."
            ),
        ] = None,
        policy: Annotated[
            Path | None, typer.Option(help="Start from your own policy file.")
        ] = None,
        database: Annotated[
            str | None,
            typer.Option(
                help="Database URL (default: SQLite troth.db in the home), e.g. postgresql+psycopg://..."
            ),
        ] = None,
    ) -> None:
        """Create a troth home: settings, policy, key file (0600) and database."""
        from troth.home import init_home

        c = init_home(directory, example=example, policy_file=policy, database_url=database)
        console.print(
            f"[green]created[/green] {c.home} with policy {c.policy.policy.organisation.name}"
            f" version {c.policy.version}; key file {c.settings.resolved_key_file} (keep a backup,"
            " away from the database)",
            soft_wrap=True,  # no word-wrapping work on long names or paths
        )
        c.engine.dispose()


def register_collect(app: typer.Typer) -> None:
    """`troth collect`: data through a collection point."""

    @app.command("collect")
    def collect(
        ctx: typer.Context,
        point: Annotated[str, typer.Argument(help="Collection point id from the policy.")],
        data: Annotated[str, typer.Option(help="The fields as a JSON object, or - to read stdin.")],
        actor: CollectorOpt = None,
        tenant: PersonTenantOpt = None,
        subject: Annotated[
            str | None,
            typer.Option(help="Add to an existing subject.", callback=resolver("subject")),
        ] = None,
        supplier: Annotated[
            str | None,
            typer.Option(
                help="Third party that supplied the data (required for third-party points)."
            ),
        ] = None,
        purpose: Annotated[
            list[str] | None, typer.Option(help="Narrow to these purposes (repeatable).")
        ] = None,
        consent: Annotated[
            list[str] | None, typer.Option(help="Purposes the person consented to now.")
        ] = None,
        consent_method: Annotated[
            str,
            typer.Option(
                help="How the --consent reached troth, as the ledger records it: staff (the"
                " default: entered by staff), web_form, email_link, api..."
            ),
        ] = "staff",
        location: Annotated[
            str | None, typer.Option(help="Where the data is stored (ISO code).")
        ] = None,
        jurisdiction: JurisdictionOpt = None,
        quiet: Annotated[
            bool, typer.Option("--quiet", "-q", help="Print only the subject id (SID=$(...)).")
        ] = False,
    ) -> None:
        """Store data arriving through a collection point; prints what was stored as JSON
        (subject_id, stored, purposes, the person's jurisdiction as recorded, not_for), or
        with -q only the subject id."""
        text = sys.stdin.read() if data == "-" else data
        from troth.collection.validation import decode_json

        # The same strict JSON as the HTTP API (no NaN, 1e400, 5,000-digit integers...).
        payload = decode_json(text, "--data")
        with opened(ctx) as t:
            r = t.collect(
                point,
                payload,
                actor=parse_actor(actor),
                subject_id=subject,
                tenant_id=tenant,
                supplier=supplier,
                purposes=purpose or None,
                consents=consent or (),
                consent_method=consent_method,
                location=location,
                jurisdiction=jurisdiction,
            )
        if quiet:
            print(r.subject_id)
            return
        said = {"subject_id": r.subject_id, "stored": r.stored, "purposes": list(r.purposes)}
        said |= {"jurisdiction": r.jurisdiction, "not_for": r.dropped_purposes}
        console.print_json(json.dumps(said))


def register_use(app: typer.Typer) -> None:
    """`troth use`: read a person's data for a purpose."""

    @app.command("use")
    def use(
        ctx: typer.Context,
        subject: SubjectArg,
        purpose: Annotated[str, typer.Option(help="The declared purpose of this use.")],
        actor: Annotated[
            str, typer.Option(help="Who uses it, e.g. staff:ann@accounts.", is_eager=True)
        ],
        category: CategoriesOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Read a person's data for a purpose (exit 3 and the reason when refused)."""
        with opened(ctx) as t:
            view = t.use(subject, purpose=purpose, actor=parse_actor(actor), categories=category)
        if as_json:
            console.print_json(
                json.dumps(
                    {
                        "subject_id": subject,
                        "purpose": purpose,
                        "values": [v.to_dict() for v in view.values],
                        "masked": view.masked,
                    }
                )
            )
            return
        for v in view.values:
            console.print(f"{v.field} ({v.category}): {v.value}", highlight=False)
        for fname, why in sorted(view.masked.items()):
            console.print(f"[dim]{fname}: masked ({why})[/dim]")


def register_find(app: typer.Typer) -> None:
    """`troth find`: a person by e-mail or phone."""

    @app.command("find")
    def find(
        ctx: typer.Context,
        email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
        phone: Annotated[str | None, typer.Option(help="Telephone number.")] = None,
        tenant: TenantFilterOpt = None,
    ) -> None:
        """Look a person up through the blind indexes; prints the subject id. Without
        --tenant, the organisation's own person comes first; an address known to several
        customers only asks for the tenant."""
        if not email and not phone:
            raise ValidationError("give --email or --phone")
        # Not the whole engine, not even the policy model: a lookup needs the blind-index
        # keys, the policy's phone region and the database (troth.Troth.find does the same
        # lookup). open_lookup refuses what open_context refuses.
        from troth.home import open_lookup
        from troth.store.subjects import lookup_subject_in, no_such_person

        home = open_lookup(home_of(ctx))
        tampered: list[str] = []  # identities changed outside troth: they find nobody
        try:
            sid = lookup_subject_in(
                home.engine,
                home.keys,
                email=email,
                phone=phone,
                phone_region=home.phone_region,
                tenant_id=tenant,
                tampered=tampered,
            )
        finally:
            home.engine.dispose()
        if tampered:
            from troth.store.identity_seals import audit_in_home

            audit_in_home(home_of(ctx), tampered)
        if sid is None:
            raise no_such_person()
        print(sid)


def register_reindex(app: typer.Typer) -> None:
    """`troth reindex`: rebuild the lookup indexes."""

    @app.command("reindex")
    def reindex(
        ctx: typer.Context,
        as_json: ReportJsonOpt = False,
    ) -> None:
        """Rebuild the e-mail, phone and customer-id lookup indexes from the stored values
        (after an upgrade: phone numbers are now indexed in E.164)."""
        from troth.store.reindex import rebuild_identity_indexes

        with opened(ctx) as t:
            report = rebuild_identity_indexes(t.ctx)
        if as_json:
            console.print_json(json.dumps(report.to_dict()))
            return
        console.print(
            f"reindexed {report.subjects} people: {report.updated} updated,"
            f" {len(report.unreadable)} with a value that cannot be indexed"
        )
        for u in report.unreadable:
            console.print(f"[yellow]{u['subject_id']}: {u['kind']} ({u['why']})[/yellow]")


def register_minors(app: typer.Typer) -> None:
    """`troth minors purge|report`."""

    minors = typer.Typer(
        help="Data from people under the policy's minimum age.", no_args_is_help=True
    )
    app.add_typer(minors, name="minors")

    @minors.command("purge")
    def purge(
        ctx: typer.Context,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Only list who would be deleted.")
        ] = False,
        actor: OfficerOpt = None,
    ) -> None:
        """Find stored data showing a person under the minimum age and delete it."""
        with opened(ctx) as t:
            found = t.purge_minors(dry_run=dry_run, actor=parse_actor(actor))
        verb = "would delete" if dry_run else "deleted"
        console.print(f"{verb} {len(found)} minor(s)" + (": " + ", ".join(found) if found else ""))

    @minors.command("report")
    def report(
        ctx: typer.Context,
        subject: SubjectArg,
        evidence: Annotated[str, typer.Option(help="How the person was found to be a minor.")],
        actor: Annotated[str | None, typer.Option(help="Who reports it.", is_eager=True)] = None,
    ) -> None:
        """A person turned out to be a minor: delete their data everywhere, audited."""
        with opened(ctx) as t:
            counts = t.report_minor(subject, evidence=evidence, actor=parse_actor(actor))
        console.print(f"deleted: {counts}")


def register_db(app: typer.Typer) -> None:
    """`troth db migrate`."""

    db = typer.Typer(help="troth's own database.", no_args_is_help=True)
    app.add_typer(db, name="db")

    @db.command("migrate")
    def migrate(ctx: typer.Context) -> None:
        """Upgrade the database to this troth's schema (Alembic); the first time it brings
        a home to record seals, seal the values already stored (once: audited)."""
        from troth.home import upgrade_home

        schema, sealed = upgrade_home(home_of(ctx))
        console.print(f"database at schema {schema}")
        if sealed is not None:
            console.print(f"sealed {sealed} stored values (record seals, once)")


def register_worker(app: typer.Typer) -> None:
    @app.command("worker")
    def worker(
        ctx: typer.Context,
        once: Annotated[
            bool, typer.Option("--once", help="Run what is due once, then exit.")
        ] = False,
    ) -> None:
        """Run scheduled work: outbox, retention, legal-demand notices, requests, audit
        checkpoints. Several workers may run against PostgreSQL."""
        import logging

        from rich.markup import escape

        from troth.home import open_context
        from troth.worker import Worker

        # One line per job on stdout; the log (stderr) says only what went wrong with --once.
        logging.basicConfig(
            level=logging.WARNING if once else logging.INFO,
            format="%(asctime)s %(name)s %(levelname)s %(message)s",
        )
        c = open_context(home_of(ctx))
        w = Worker(c)
        try:
            if once:
                report = w.run_once()
                for name, text in sorted(report.ran.items()):
                    console.print(f"[green]{name}[/green]: {escape(text)}", highlight=False)
                for name, text in sorted(report.failed.items()):
                    console.print(f"[red]{name}[/red]: {escape(text)}", highlight=False)
                if not report.ran and not report.failed:
                    console.print("nothing was due")
                if report.failed:
                    raise SystemExit(1)
            else:
                console.print(f"troth worker {w.ident} running; Ctrl-C or SIGTERM stops it")
                w.run_until_signalled()
        except KeyboardInterrupt:
            pass
        finally:
            c.engine.dispose()


def register_demo(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        command: typer.Context,
        people: Annotated[int, typer.Option(help="How many people to generate.")] = 2000,
        serve: Annotated[bool, typer.Option(help="Serve it on 127.0.0.1 when built.")] = True,
        port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    ) -> None:
        """Build a home with the phone-service example and synthetic data, then serve it:
        in --home DIR (TROTH_HOME), by default demo-home (never a home that is not a demo)."""
        from troth.examples.demo import build_demo

        home = Path((command.find_root().obj or {}).get("home") or "demo-home")
        console.print(f"building the demo in {home.resolve()} ...")
        ctx, info = build_demo(home, people=people)
        console.print(
            f"[green]demo ready[/green]: {len(info.tenants)} customers, {info.people} people,"
            f" {info.call_records} call records"
        )
        for note in info.notes:
            console.print(f"[yellow]note[/yellow]: {note}", highlight=False)
        console.print("logins:")
        for who, email, password in info.logins:
            console.print(f"  {who:<34} {email:<34} {password}", highlight=False)
        ctx.engine.dispose()
        if not serve:
            console.print(f"serve it with: troth --home {home} serve")
            return
        import uvicorn

        from troth.app import create_app
        from troth.cli.serve import served_pages
        from troth.home import open_context

        context = open_context(home)
        base = f"http://127.0.0.1:{port}"
        console.print(served_pages(base) + "\nCtrl-C stops it.", highlight=False)
        uvicorn.run(create_app(context), host="127.0.0.1", port=port, log_level="warning")
