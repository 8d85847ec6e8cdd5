"""Aggregate-only use on SQLite and PostgreSQL: GROUP BY in the database, small groups
suppressed with complementary suppression, sums and averages under the same mask, row-level
use refused, every query audited."""

from __future__ import annotations

from typing import Any

import pytest

from troth.aggregates.query import aggregate
from troth.audit.entries import list_entries
from troth.errors import Refused, ValidationError
from troth.gate import Actor, ActorKind

ANALYST = Actor(ActorKind.application, "bi", scopes=frozenset({"aggregate"}))


def _with_duration(p: dict[str, Any]) -> None:
    point = next(cp for cp in p["collection_points"] if cp["id"] == "site_usage")
    point["fields"]["duration"] = {"category": "usage", "type": "integer"}


def _usage(t: Any) -> None:
    rows = (
        [{"event": "download", "browser": "Firefox", "duration": 10}] * 25
        + [{"event": "view", "browser": "Chrome", "duration": 20}] * 12
        + [{"event": "view", "browser": "Safari", "duration": 99}] * 3
    )
    t.collect_many("site_usage", rows)


def test_counts_with_suppression(home, db_url):
    t = home("itechno", db_url, edit=_with_duration)
    _usage(t)
    r = aggregate(t.ctx, "product_improvement", "usage", "event", ["event"], actor=ANALYST)
    assert r.k == 10 and r.cells == {("download",): 25, ("view",): 15} and r.total == 40
    r = aggregate(t.ctx, "product_improvement", "technical", "browser", ["browser"], actor=ANALYST)
    # Safari (3) is below k; Chrome is hidden too, or Safari = total - Firefox - Chrome.
    # Hidden groups are absent, labels and all; together they are "other" (>= k).
    assert r.cells == {("Firefox",): 25} and r.total == 40 and r.other == 15
    assert "Safari" not in str(r.to_dict()) and "Chrome" not in str(r.to_dict())
    entries = [e for e in list_entries(t.ctx, limit=1000) if e.entry.action == "aggregate"]
    assert len(entries) == 2 and entries[-1].entry.details["suppressed"] == 2


def test_one_dimension_at_most_and_joined_fields(home, db_url):
    t = home("itechno", db_url, edit=_with_duration)
    _usage(t)
    # A two-way table's margins would come back ungarded from a one-way query: refused.
    with pytest.raises(ValidationError, match="at most one dimension"):
        aggregate(
            t.ctx, "product_improvement", "usage", "event", ["event", "browser"], actor=ANALYST
        )
    # The dimension joins the measured field of the same submission.
    r = aggregate(
        t.ctx, "product_improvement", "usage", "duration", ["event"], "sum", actor=ANALYST
    )
    assert r.cells == {("download",): 250, ("view",): 240 + 297}


def test_sum_and_average_under_the_mask(home, db_url):
    t = home("itechno", db_url, edit=_with_duration)
    _usage(t)
    s = aggregate(t.ctx, "product_improvement", "usage", "duration", ["browser"], "sum", ANALYST)
    assert s.cells == {("Firefox",): 250}  # Safari below k, Chrome its complement
    assert s.total == 250 + 240 + 297 and s.other == 240 + 297
    a = aggregate(t.ctx, "product_improvement", "usage", "duration", ["event"], "avg", ANALYST)
    assert a.cells[("download",)] == 10
    assert a.cells[("view",)] == pytest.approx((240 + 297) / 15)


def test_row_level_use_refused(home, db_url):
    t = home("itechno", db_url)
    sid = t.collect("site_usage", {"event": "download", "browser": "Firefox"}).subject_id
    with pytest.raises(Refused) as exc:
        t.use(sid, purpose="product_improvement", actor=ANALYST)
    assert exc.value.reason == "aggregate_only"


def test_bad_input(home, db_url):
    t = home("itechno", db_url, edit=_with_duration)
    with pytest.raises(ValidationError, match="not aggregate-only"):
        aggregate(t.ctx, "billing", "purchases", "order_items", ["order_items"])
    with pytest.raises(ValidationError, match="no purpose"):
        aggregate(t.ctx, "nope", "usage", "event", ["event"])
    with pytest.raises(ValidationError, match="min_group_size"):
        aggregate(t.ctx, "product_improvement", "usage", "event", ["event"], k=2)
    with pytest.raises(ValidationError, match="at most one"):
        aggregate(t.ctx, "product_improvement", "usage", "event", ["event", "browser"])
    with pytest.raises(ValidationError, match="dimensions the policy declares") as exc:
        aggregate(t.ctx, "product_improvement", "usage", "duration", ["duration"])
    assert exc.value.code == "dimension_not_declared"
    with pytest.raises(ValidationError, match="numeric"):
        aggregate(t.ctx, "product_improvement", "usage", "event", ["event"], "sum")
    with pytest.raises(ValidationError, match="measure"):
        aggregate(t.ctx, "product_improvement", "usage", "event", ["event"], "max")
    with pytest.raises(ValidationError, match="may not use"):
        aggregate(t.ctx, "product_improvement", "contact", "email")


def test_actor_without_scope_refused_and_audited(home, db_url):
    t = home("itechno", db_url)
    clerk = Actor(ActorKind.staff, "s", role="support")
    with pytest.raises(Refused) as exc:
        aggregate(t.ctx, "product_improvement", "usage", "event", ["event"], actor=clerk)
    assert exc.value.reason == "role_not_allowed"
    denied = [e for e in list_entries(t.ctx, limit=100) if e.entry.action == "aggregate"]
    assert denied[0].entry.outcome == "deny"


def test_cli(home, tmp_path, db_url):
    import json

    from typer.testing import CliRunner

    import troth.cli
    from troth.engine import Troth

    home_dir = tmp_path / "cli-home"
    ctx = home("itechno", db_url, name="cli-home", clock=None, context=True)
    t = Troth(ctx)
    _usage_plain = [{"event": "download", "browser": "Firefox"}] * 12 + [
        {"event": "view", "browser": "Lynx"}
    ] * 2
    t.collect_many("site_usage", _usage_plain)
    t.close()
    troth.cli._register()
    runner = CliRunner()
    base = ["--home", str(home_dir), "aggregate", "product_improvement", "--actor", "app:bi"]
    out = runner.invoke(
        troth.cli.app, [*base, "--category", "technical", "--field", "browser", "--json"]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["total"] == 14
    out = runner.invoke(
        troth.cli.app,
        [*base, "--category", "technical", "--field", "browser", "--group-by", "browser"],
    )
    assert out.exit_code == 0 and "Lynx" not in out.output and "Firefox" not in out.output
    # Firefox alone would be the total minus Lynx: both are left out, together "other".
    assert "other (groups below k)" in out.output and out.output.count("14") == 2
    out = runner.invoke(
        troth.cli.app,
        [*base, "--category", "technical", "--field", "browser", "--group-by", "ip"],
    )
    # Through `app` the error reaches the runner (main() prints it as one red line).
    assert isinstance(out.exception, ValidationError)
    assert out.exception.code == "dimension_not_declared"
