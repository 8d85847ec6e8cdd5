"""The options several commands share, as ``Annotated`` aliases (Typer's pattern): one
definition and one help text for an option that means the same in every command."""

from __future__ import annotations

from typing import Annotated

import typer

from troth.cli.ids import resolver

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
# Every command that creates something takes it (tests/cli/test_cli_quiet.py checks).
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only the new id (X=$(troth ...)).")
]
ReportJsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
# (eager: read before the ids, a person being resolved for the actor: cli.ids.person_id_in)
CollectorOpt = Annotated[
    str | None, typer.Option(help="Who collects (default: system).", is_eager=True)
]
# Who in the office acts: recorded in the audit log as the actor, and checked by the gate
# (their role needs the office power); a claim the operator makes (docs/authorization-matrix).
OfficerOpt = Annotated[
    str | None,
    typer.Option(
        "--actor",
        is_eager=True,  # read before any person named, who is resolved for it
        help="Who acts, e.g. staff:pat@privacy_office (default: system, the operator).",
    ),
]
CategoriesOpt = Annotated[list[str] | None, typer.Option(help="Only these categories.")]
# The regime of the people a collection or an import stores (`collect`, `import`): their
# deadlines, minimum age, time zone and breach clocks follow from it.
JurisdictionOpt = Annotated[
    str | None,
    typer.Option(
        help="The regime of each person stored anew: gdpr, uk_gdpr, ccpa, pipeda, nz, au"
        " (default: the policy's default_jurisdiction, else the first of its jurisdictions;"
        " a person already known keeps theirs)."
    ),
]
DisplayNameOpt = Annotated[str | None, typer.Option("--name", help="Display name.")]
TenantFilterOpt = Annotated[
    str | None, typer.Option("--tenant", help="Only this tenant's.", callback=resolver("tenant"))
]
# The tenant a command is about (required): an id, a unique start of one, or a name.
TenantArg = Annotated[
    str,
    typer.Argument(
        help="Tenant id, a unique start of it, or its name.", callback=resolver("tenant")
    ),
]
# A person the command resolves itself, for its ``--actor`` (cli.ids.person_id: a key
# bound to a tenant weighs only that tenant's people), hence no callback here.
PersonArg = Annotated[str, typer.Argument(help="The person's troth id (or a unique prefix).")]
PersonTenantOpt = Annotated[
    str | None,
    typer.Option(help="The tenant the person belongs to.", callback=resolver("tenant")),
]

# The login of a person acting on the command line (``--as EMAIL``, whose help says who,
# differs by command): their password and, when enabled, their authenticator code.
PasswordOpt = Annotated[
    str | None,
    typer.Option(
        "--password",
        envvar="TROTH_PASSWORD",
        help="The password (default: asked for, hidden). Env: TROTH_PASSWORD.",
        show_default=False,
    ),
]
TotpOpt = Annotated[
    str | None, typer.Option("--totp", help="Code from the authenticator app, if enabled.")
]
