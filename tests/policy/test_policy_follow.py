"""Several processes of one home: a policy published by one is in force in the others
within seconds (troth.policy.follow), servers and workers alike, on this machine (shared
home) and on another (its own policy file, the same database)."""

from __future__ import annotations

import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from _http import client_for
from served import ORDER
from troth.engine import Troth
from troth.home import open_context
from troth.notices.publish import publish_policy
from troth.policy.follow import follower
from troth.worker import Task, Worker


def _without_billing_card(t: Troth, tmp_path: Path, version: str) -> Path:
    """The policy with billing no longer allowed the payment card, as version ``version``;
    the order form, whose purposes then use no card, no longer asks for one (a point's
    field that no purpose of it uses is a policy error)."""
    data = yaml.safe_load(t.ctx.settings.resolved_policy_file.read_text())
    data["version"] = version
    for purpose in data["purposes"]:
        if purpose["id"] == "billing":
            purpose["categories"].remove("payment_card")
    for point in data["collection_points"]:
        if point["id"] == "order_form":
            point["fields"] = {
                name: spec
                for name, spec in point["fields"].items()
                if spec["category"] != "payment_card"
            }
    path = tmp_path / f"{version}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _card(t: Troth, sid: str, actor: Any) -> Any:
    values = t.use(sid, purpose="billing", actor=actor).values
    return {v.field: v.value for v in values}.get("card_number")


def test_another_process_follows_a_published_policy(home: Any, tmp_path: Path) -> None:
    publisher = home("itechno")
    sid = publisher.collect("order_form", ORDER).subject_id
    key, _ = publisher.access.keys.create_api_key("app", ["use"])
    actor = publisher.access.keys.resolve_api_key(key)
    # Another process of the same home (its own context), and one on "another machine":
    # a home directory of its own (its own policy file, a copy of the key file) over the
    # same database.
    other = Troth(open_context(publisher.ctx.home, clock=publisher.ctx.clock))
    remote_home = tmp_path / "remote"
    shutil.copytree(publisher.ctx.home, remote_home, ignore=shutil.ignore_patterns("*.db*"))
    remote = Troth(
        open_context(
            remote_home,
            clock=publisher.ctx.clock,
            database_url=publisher.ctx.settings.resolved_database_url,
        )
    )
    try:
        followers = [follower(other.ctx), follower(remote.ctx)]
        assert [f.check() for f in followers] == [False, False]  # nothing new yet
        assert _card(other, sid, actor) == "5500000000000004"
        before = remote.ctx.settings.resolved_policy_file.read_text()

        publish_policy(publisher.ctx, _without_billing_card(publisher, tmp_path, "v-nocard"))
        assert _card(publisher, sid, actor) is None  # in force where it was published

        assert [f.check() for f in followers] == [True, True]
        for t in (other, remote):
            assert t.ctx.policy.version == "v-nocard"
            assert _card(t, sid, actor) is None
        # The remote machine's policy file now holds it too (a restart keeps it).
        after = remote.ctx.settings.resolved_policy_file.read_text()
        assert after != before and "v-nocard" in after
        # Looking again changes nothing; nor does the publisher's own follower.
        assert [f.check() for f in followers] == [False, False]
        assert follower(publisher.ctx).check() is False
    finally:
        other.close()
        remote.close()


def test_a_follower_never_overwrites_an_unpublished_edit(home: Any) -> None:
    t = home("itechno")
    path = t.ctx.settings.resolved_policy_file
    edited = path.read_text() + "\n# an edit not published yet\n"
    path.write_text(edited)
    other = Troth(open_context(t.ctx.home, clock=t.ctx.clock))
    try:
        assert follower(other.ctx).check() is False
        assert path.read_text() == edited
    finally:
        other.close()


def test_a_worker_runs_its_pass_on_the_newest_policy(home: Any, tmp_path: Path) -> None:
    t = home("itechno")
    other = Troth(open_context(t.ctx.home, clock=t.ctx.clock))
    seen: list[str] = []
    try:
        tasks = (Task("look", timedelta(hours=1), lambda ctx: seen.append(ctx.policy.version)),)
        w = Worker(other.ctx, tasks)
        publish_policy(t.ctx, _without_billing_card(t, tmp_path, "v-worker"))
        w.run_once()
        assert seen == ["v-worker"]
    finally:
        other.close()


def test_a_server_follows_within_seconds(home: Any, tmp_path: Path) -> None:
    t = home("itechno")
    sid = t.collect("order_form", ORDER).subject_id
    key, _ = t.access.keys.create_api_key("app", ["use"])
    server_ctx = open_context(t.ctx.home, clock=t.ctx.clock)
    with client_for(server_ctx) as c:
        auth = {"Authorization": f"Bearer {key}"}
        url = f"/api/v1/subjects/{sid}?purpose=billing"
        fields = {v["field"] for v in c.get(url, headers=auth).json()["values"]}
        assert "card_number" in fields
        publish_policy(t.ctx, _without_billing_card(t, tmp_path, "v-server"))
        deadline = time.monotonic() + 10
        while server_ctx.policy.version != "v-server":
            assert time.monotonic() < deadline, "the server never followed the publish"
            time.sleep(0.1)
        fields = {v["field"] for v in c.get(url, headers=auth).json()["values"]}
        assert "card_number" not in fields
    server_ctx.engine.dispose()
