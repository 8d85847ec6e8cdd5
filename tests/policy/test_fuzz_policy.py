"""Hypothesis over hostile policies (issue 20, item 5): a policy file with any value put at
any key is either refused as a policy issue or accepted, and then every command works on
it: index, describe, diff, dump and read back, publish, a retention dry run and the
worker's retention. Zero tracebacks. Deterministic (derandomised) and bounded."""

from __future__ import annotations

import copy
import itertools
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy_samples import BASE
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import PolicyError, TrothError
from troth.home import init_home
from troth.notices.publish import publish_policy
from troth.policy.describe import describe_policy
from troth.policy.diff import diff_policies
from troth.policy.index import PolicyIndex
from troth.policy.loader import dump_policy, parse_policy

FUZZ = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
BASE_DATA = yaml.safe_load(BASE)

durations = st.from_regex(r"\d{1,7} ?(y|m|w|d|years|months)( \d{1,5}d)?", fullmatch=True) | (
    st.integers(0, 10**7).map(lambda n: f"P{n}Y")
)
hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.integers(min_value=10**20, max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.dates().map(str),
    st.dates(),
    durations,
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.dictionaries(st.integers() | st.floats(allow_nan=False), st.text(max_size=5), max_size=2),
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


PATHS = paths(BASE_DATA)
# Where the bounds matter most, so that most examples hit them.
FOCUS = [
    ("purposes", 0, "retention", "keep_for"),
    ("purposes", 0, "retention", "legal_minimum"),
    ("effective",),
    ("version",),
    ("collection_points", 0, "fields", "name"),
]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    data = copy.deepcopy(BASE_DATA)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(FOCUS) | st.sampled_from(PATHS))
        node = data
        try:
            for seg in path[:-1]:
                node = node[seg]
            node[path[-1]] = draw(hostile)
        except (KeyError, IndexError, TypeError):
            continue
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=False)


@pytest.fixture(scope="module")
def shop() -> Any:
    ctx = init_home(
        Path(tempfile.mkdtemp(prefix="troth-fuzz-policy-")) / "home",
        example="mindlink",
        clock=ManualClock(),
    )
    t = Troth(ctx)
    t.collect("support_request", {"name": "Ada", "email": "ada@example.com", "message": "hi"})
    yield t
    t.close()


_versions = itertools.count()


@FUZZ
@given(text=mutated())
def test_a_policy_is_refused_as_issues_or_works_everywhere(
    shop: Troth, tmp_path_factory: Any, text: str
) -> None:
    try:
        policy = parse_policy(text, "fuzz.yaml")
    except PolicyError as exc:
        assert exc.issues and all(len(str(i)) < 1000 for i in exc.issues)
        return
    PolicyIndex.build(policy, text)
    describe_policy(policy)
    diff_policies(parse_policy(BASE), policy).to_dict()
    assert parse_policy(dump_policy(policy)) == policy
    # Publish it in a real home (as a version of its own), then run retention.
    n = next(_versions)
    doc = yaml.safe_load(text)
    doc["version"] = f"fuzz-{n}"
    doc["effective"] = "2999-12-31"
    path = tmp_path_factory.mktemp("p") / "policy.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        publish_policy(shop.ctx, path)
    except TrothError as exc:  # e.g. a policy that drops a purpose still in use
        assert "Traceback" not in exc.message
        return
    shop.retention.plan()
    shop.retention.run(dry_run=True)
