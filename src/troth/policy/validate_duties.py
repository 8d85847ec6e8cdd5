"""A recipient's standing statutory duty (``statutory_duty``): only an authority is one the
organisation reports to by law without a legal demand each time (a pharmacy's
pharmacovigilance reports to its medicines regulator), and the law must be named. Another
kind of recipient declaring one, or a blank one, is an error at its line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from troth.policy.validate_points import Add


def statutory_duties(data: Mapping[str, Any], add: Add) -> None:
    """Report (through ``add``) every ``statutory_duty`` on a recipient that is not an
    authority, and every one that names no law."""
    recipients = data.get("recipients")
    for i, rc in enumerate(recipients if isinstance(recipients, list) else []):
        if not isinstance(rc, Mapping) or rc.get("statutory_duty") is None:
            continue
        duty, kind = rc.get("statutory_duty"), rc.get("kind")
        path = ("recipients", i, "statutory_duty")
        if not isinstance(duty, str) or not duty.strip():
            add(path, "statutory_duty must name the law (e.g. 'Decree-Law 176/2006 art. 170')", ())
        if kind != "authority":
            add(
                path,
                f"recipient {rc.get('id')!r} is {kind!r}: only an `authority` may have a"
                " statutory_duty (a standing legal duty to report to it); remove it, or"
                " make the recipient `kind: authority` if it is one",
                ("authority",),
            )
