"""The organisation's connected datasets for a home: every ``*.yaml`` declaration in
``settings.resolved_datasets_dir`` (HOME/datasets by default), URLs from the environment."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from troth.collection.phones import region_for, written_forms
from troth.connectors import Connector, Dataset, Identities, JobStore, load_datasets
from troth.connectors.loader import DeclarationError, builtin_categories
from troth.context import Context
from troth.errors import NotFound
from troth.policy.model import SourceKind
from troth.store.values import StoredValue, read_subjects


def connected_datasets(ctx: Context) -> list[Dataset]:
    """Every dataset declared for this home (none when the folder is absent). Parsed once
    per context and re-read when a file changes (name, size or modification time)."""
    folder = ctx.settings.resolved_datasets_dir
    if not folder.is_dir():
        return []
    paths = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    stamp = (
        ctx.policy.digest,
        tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths),
    )
    cached = ctx.__dict__.get("_datasets")
    if cached is not None and cached[0] == stamp:
        return list(cached[1])
    out = _load(ctx, paths)
    ctx.__dict__["_datasets"] = (stamp, tuple(out))
    return out


def _load(ctx: Context, paths: list[Any]) -> list[Dataset]:
    categories = builtin_categories() | set(ctx.policy.categories)
    out: list[Dataset] = []
    seen: dict[str, str] = {}
    for path in paths:
        for ds in load_datasets(path, categories):
            if ds.name in seen:
                raise DeclarationError(
                    str(path), [f"{path}: dataset {ds.name!r} is also declared in {seen[ds.name]}"]
                )
            seen[ds.name] = str(path)
            problems = keeps_beyond_legal_minimum(ctx, ds)
            if problems:
                raise DeclarationError(str(path), [f"{path}: {p}" for p in problems])
            out.append(ds)
    return out


def keeps_beyond_legal_minimum(ctx: Context, ds: Dataset) -> list[str]:
    """A table or column kept (``erase: keep``) for a policy purpose whose retention has a
    legal minimum may keep only the categories that minimum names (P25, P28): a card column
    in a table of invoices kept whole would outlive the erasure like the invoice."""
    out: list[str] = []
    for tname, table in ds.tables.items():
        keeps = [(table.keep, [c for c in table.columns if table.columns[c].category])]
        keeps += [(col.keep, [cname]) for cname, col in table.columns.items() if col.keep]
        for keep, columns in keeps:
            if keep is None or keep.purpose not in ctx.policy.purposes:
                continue
            ret = ctx.policy.purposes[keep.purpose].retention
            lm = ret.legal_minimum if ret else None
            if lm is None:
                continue
            for cname in columns:
                col = table.columns[cname]
                if col.category is None or col.category in lm.categories:
                    continue
                out.append(
                    f"tables.{tname}.columns.{cname}: category {col.category!r} is kept for "
                    f"{keep.purpose!r}, whose legal minimum keeps only "
                    f"{', '.join(lm.categories)} ({lm.law}): keep the columns the law needs "
                    f"one by one (`erase: keep` on each) and give {cname} an erasure "
                    "(set_null, mask or hash)"
                )
    return out


def open_connector(ctx: Context, environ: Mapping[str, str] | None = None) -> Connector | None:
    """A connector over the home's datasets (resumable jobs in troth's database), or None."""
    datasets = connected_datasets(ctx)
    if not datasets:
        return None
    return Connector(
        datasets,
        store=JobStore(ctx.engine, ctx.clock),
        keys=ctx.keys,
        clock=ctx.clock,
        environ=environ if environ is not None else os.environ,
    )


def shared_connector(ctx: Context, environ: Mapping[str, str] | None = None) -> Connector | None:
    """The home's connector, kept on the context: engines, reflected schemas and built
    statements are made once per home, not per request (issue 19). A new one replaces it
    when a declaration changes or a dataset's URL in ``environ`` does; :func:`close_connector`
    disposes of it (``Troth.close`` calls it). None when no dataset is declared."""
    datasets = connected_datasets(ctx)
    env = environ if environ is not None else os.environ
    cached = ctx.__dict__.get("_connector")
    if not datasets:
        close_connector(ctx)
        return None
    stamp = (ctx.__dict__["_datasets"][0], tuple((d.name, env.get(d.url_env)) for d in datasets))
    if cached is not None and cached[0] == stamp:
        return cached[1]  # type: ignore[no-any-return]
    close_connector(ctx)
    connector = Connector(
        datasets,
        store=JobStore(ctx.engine, ctx.clock),
        keys=ctx.keys,
        clock=ctx.clock,
        environ=dict(env),
    )
    ctx.__dict__["_connector"] = (stamp, connector)
    return connector


def close_connector(ctx: Context) -> None:
    """Dispose of the engines of the home's shared connector, if one was made."""
    cached = ctx.__dict__.pop("_connector", None)
    if cached is not None:
        cached[1].close()


def identities_of(
    ctx: Context, values: Iterable[StoredValue], extra: Mapping[str, Any] | None = None
) -> Identities:
    """The identities a walk over connected datasets starts from: the fields of the
    person's values that their collection point marks ``identifies`` (their own data, not
    third-party supplied), plus ``extra`` (the address the request came from)."""
    found: dict[str, list[str]] = {"email": [], "phone": [], "customer_id": []}
    for v in values:
        if v.source == SourceKind.third_party.value or v.collection_point is None:
            continue
        spec = ctx.policy.point_fields.get(v.collection_point, {}).get(v.field)
        if spec is not None and spec.identifies and isinstance(v.value, str | int):
            found[spec.identifies].append(str(v.value))
    for kind, value in (extra or {}).items():
        if value:
            found[kind].append(str(value))
    # A connected database holds a number as someone typed it: look for its usual forms
    # (E.164, international, national). A number without a country code is read in the
    # default jurisdiction's region only: reading it in others could match someone else.
    region = region_for(ctx.policy.policy, None)
    found["phone"] = [form for p in found["phone"] for form in written_forms(p, region)]
    return Identities.of({k: list(dict.fromkeys(v)) for k, v in found.items()})


def dataset_summary(rep: dict[str, Any]) -> dict[str, Any]:
    """A connector report (one dataset) as a system line of a request's result."""
    tables = rep.get("tables", {})

    def total(key: str) -> int:
        return sum(int(t.get(key, 0)) for t in tables.values())

    kept = [{**k, "table": name} for name, t in tables.items() for k in t.get("kept_because", [])]
    return {
        "system": f"dataset:{rep['dataset']}",
        "location": rep.get("location"),
        "found": total("found"),
        "deleted": total("deleted"),
        "masked": total("masked") + total("nulled") + total("hashed"),
        "corrected": total("corrected"),
        "kept": total("kept"),
        "kept_because": kept,
        "tables": tables,
    }


def erase_people(
    ctx: Context,
    connector: Connector,
    job_id: str,
    sids: list[str],
    emails: list[str],
) -> list[dict[str, Any]]:
    """One connector job for a whole batch: every person's identities together (plus
    the addresses requests came from). The same job id again resumes it."""
    try:  # a run killed after the job began: finish it, never redo a finished step
        return [dataset_summary(r.to_dict()) for r in connector.resume(job_id)]
    except NotFound:
        pass
    with ctx.engine.connect() as conn:
        every = people_identities(conn, ctx, sids, emails)
    if not every:
        return []
    return [dataset_summary(r.to_dict()) for r in connector.erase(every, job_id=job_id)]


def people_identities(
    conn: Connection, ctx: Context, sids: Sequence[str], emails: Iterable[str] = ()
) -> Identities:
    """Every identity of the people ``sids`` together (plus ``emails``), each value once:
    what a connector finds them all by in one pass. Only what identifies people is read
    of their values in troth."""
    fields = {
        name
        for per in ctx.policy.point_fields.values()
        for name, spec in per.items()
        if spec.identifies
    }
    found = read_subjects(conn, ctx, sids, fields)
    union: dict[str, list[str]] = {"email": [], "phone": [], "customer_id": []}
    for sid in sids:
        values = found[sid][1] if sid in found else []
        for kind, vals in identities_of(ctx, values).to_dict().items():
            union[kind] += vals
    union["email"] += emails
    return Identities.of({k: list(dict.fromkeys(v)) for k, v in union.items()})
