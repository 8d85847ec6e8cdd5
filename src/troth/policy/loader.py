"""Load a policy YAML file into a validated :class:`Policy` (safe YAML only).

Every problem, from YAML syntax to a purpose naming an unknown category, becomes an
:class:`~troth.policy.issues.Issue` carrying its file, line and key path; all of them are
raised together in one :class:`~troth.errors.PolicyError`.
"""

from __future__ import annotations

import hashlib
import types
import typing
from dataclasses import dataclass
from datetime import date
from enum import Enum
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from troth.errors import PolicyError
from troth.policy.durations import Duration
from troth.policy.issues import Issue, Path, format_path
from troth.policy.model import Policy
from troth.policy.validate import check_references

MAX_POLICY_BYTES = 2_000_000
# A YAML alias re-uses a node; expanded, a few lines can stand for billions of nodes.
MAX_EXPANDED_NODES = 200_000
# The longest number a policy may write (characters): every bounded setting fits in 4.
MAX_NUMBER_CHARS = 30

__all__ = [
    "MAX_POLICY_BYTES",
    "LoadedPolicy",
    "dump_policy",
    "load_policy",
    "parse_policy",
    "read_policy",
]


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    """A validated policy with the exact text it came from (the index digest hashes it)."""

    policy: Policy
    text: str
    path: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


class _Lines:
    """Key path -> line number (1-based), built from the composed YAML node tree."""

    def __init__(self) -> None:
        self.lines: dict[Path, int] = {(): 1}

    def __call__(self, path: Path) -> int:
        # Longest known prefix: a missing key is reported at its parent's line.
        for n in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:n]))
            if line is not None:
                return line
        return 1


def _fail(filename: str, line: int, message: str) -> PolicyError:
    issue = Issue(filename, line, "", message)
    return PolicyError(f"{filename}: {message}", [issue])


def _walk(node: yaml.Node, path: Path, lines: _Lines, issues: list[Issue], filename: str) -> None:
    """Record each key's line and report keys written twice (YAML keeps the last silently)."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key_node.tag != _STR_TAG:
                # `1.5:` or `7:` or `true:` is a number/boolean key, never an id or a name.
                issues.append(
                    Issue(
                        filename,
                        line,
                        format_path(path),
                        f"key {_shown(key)} {_NOT_TEXT} (write it in quotes if it is meant as one)",
                    )
                )
                key_node.tag = _STR_TAG  # constructed as text: a 5,000-digit key cannot crash
            if key in seen:
                issues.append(
                    Issue(
                        filename,
                        line,
                        format_path((*path, key)),
                        f"key written twice (first on line {seen[key]}); keep one",
                    )
                )
            seen.setdefault(key, line)
            lines.lines.setdefault((*path, key), line)
            _walk(value_node, (*path, key), lines, issues, filename)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.lines.setdefault((*path, i), item.start_mark.line + 1)
            _walk(item, (*path, i), lines, issues, filename)
    elif isinstance(node, yaml.ScalarNode) and (problem := _not_a_time(node)):
        # PyYAML would raise ValueError building it (2026-02-30): read as text instead, and
        # the issue keeps the policy from validating (wherever the value is written).
        node.tag = _STR_TAG
        issues.append(Issue(filename, node.start_mark.line + 1, format_path(path), problem))
    elif node.tag in (_INT_TAG, _FLOAT_TAG) and len(str(node.value)) > MAX_NUMBER_CHARS:
        # Read as text instead: Python refuses to make an int of 4,300+ digits, and no
        # setting takes a number this long. The issue keeps the policy from validating.
        node.tag = _STR_TAG
        issues.append(
            Issue(
                filename,
                node.start_mark.line + 1,
                format_path(path),
                f"a number of {len(str(node.value)):,} characters; no setting takes more"
                f" than {MAX_NUMBER_CHARS} (put text in quotes)",
            )
        )


_STR_TAG = "tag:yaml.org,2002:str"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_NOT_TEXT = "is not text; every key is a name"
_NOT_A_DATE = "is not a real date or time"


def _shown(value: Any) -> str:
    """A value as an error message may show it: short, and never a 5,000-digit repr."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return "a number of more than 30 digits"
    text = repr(value) if not isinstance(value, str) else repr(value[:60])
    return text if len(text) <= 80 else text[:77] + "..."


_TIMESTAMPS = yaml.constructor.SafeConstructor()


def _not_a_time(node: yaml.ScalarNode) -> str | None:
    """Why an unquoted date or time (``2026-02-30``, ``2026-01-01 25:00``) is no real one,
    or None when it is (or is no date at all)."""
    if node.tag != _TIMESTAMP_TAG:
        return None
    try:
        _TIMESTAMPS.construct_yaml_timestamp(node)
    except (ValueError, OverflowError) as exc:
        reason = str(exc).split(", not ")[0]  # an offset's reason ends with a timedelta repr
        return (
            f"{_shown(str(node.value))} {_NOT_A_DATE} ({reason}): write a real"
            " date as YYYY-MM-DD (text goes in quotes)"
        )
    return None


def _expanded_size(node: yaml.Node, memo: dict[int, int], active: set[int]) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise ValueError("recursive alias")
    active.add(key)
    size = 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            size += _expanded_size(k, memo, active) + _expanded_size(v, memo, active)
            if size > MAX_EXPANDED_NODES:
                break
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            size += _expanded_size(item, memo, active)
            if size > MAX_EXPANDED_NODES:
                break
    active.discard(key)
    memo[key] = size
    return size


# libyaml's parser where PyYAML was built with it (the same nodes, marks and safe
# constructor, about ten times faster: a policy is parsed at every open and publish).
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(text: str, filename: str) -> tuple[Any, _Lines, list[Issue]]:
    if len(text) > MAX_POLICY_BYTES:
        raise _fail(
            filename, 1, f"policy is larger than {MAX_POLICY_BYTES:,} bytes; split or trim it"
        )
    if "\x00" in text:
        raise _fail(filename, 1, "this is a binary file, not a YAML policy")
    try:
        # The reader checks every character as it is made: inside the try, so a
        # non-printable character is a policy problem, not a crash.
        loader = _LOADER(text)
    except yaml.YAMLError as exc:
        raise _fail(filename, 1, f"not valid YAML: {exc}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise _fail(
                filename,
                1,
                "the policy is empty: write at least version, effective, organisation, "
                "purposes and locations",
            )
        try:
            size = _expanded_size(node, {}, set())
        except ValueError:
            raise _fail(
                filename, 1, "a YAML alias refers to itself; remove the recursion"
            ) from None
        except RecursionError:
            raise _fail(filename, 1, "the YAML is nested too deeply") from None
        if size > MAX_EXPANDED_NODES:
            raise _fail(
                filename,
                1,
                f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} values; write it out",
            )
        lines = _Lines()
        issues: list[Issue] = []
        _walk(node, (), lines, issues, filename)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # The end of the text is its last line (libyaml marks the end past it).
        line = min(mark.line + 1, text.count("\n") + 1) if mark else 1
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        if "nesting depth" in problem:  # libyaml's own limit
            raise _fail(filename, 1, "the YAML is nested too deeply") from None
        raise _fail(filename, line, f"not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise _fail(filename, 1, f"not valid YAML: {exc}") from None
    except RecursionError:
        raise _fail(filename, 1, "the YAML is nested too deeply") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise _fail(
            filename,
            1,
            f"a policy is a mapping of keys (version, organisation...), not {type(data).__name__}",
        )
    return data, lines, issues


# -- pydantic errors -> issues ----------------------------------------------------------
def _unwrap(annotation: Any) -> Any:
    """The model/enum inside Optional[...], list[...], dict[..., X], Annotated[...]."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        elif origin in (list, tuple, set, frozenset):
            annotation = typing.get_args(annotation)[0]
        elif origin is dict:
            annotation = typing.get_args(annotation)[1]
        else:
            return annotation


def _target(loc: Path) -> tuple[Any, Any]:
    """(the model containing the last key of ``loc``, the annotation at ``loc``)."""
    owner: Any = Policy
    annotation: Any = Policy
    for seg in loc:
        current = _unwrap(annotation)
        if isinstance(seg, str) and isinstance(current, type) and issubclass(current, BaseModel):
            owner = current
            info = current.model_fields.get(seg) or next(
                (f for f in current.model_fields.values() if f.alias == seg), None
            )
            annotation = info.annotation if info else None
        elif isinstance(seg, int | str):
            annotation = current  # a list index or dict key: stay on the item type
        if annotation is None:
            return owner, None
    return owner, _unwrap(annotation)


def _clean_loc(loc: tuple[Any, ...], data: Any) -> Path:
    """Drop pydantic's synthetic segments ('[key]', union tags) that are not in the data."""
    out: list[str | int] = []
    node = data
    for n, seg in enumerate(loc):
        last = n == len(loc) - 1
        in_dict = isinstance(node, dict) and seg in node
        in_list = isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node)
        if in_dict or in_list:
            node = node[seg]
            out.append(seg)
        elif last and isinstance(seg, str) and seg != "[key]":
            out.append(seg)  # a missing or unknown key
    return tuple(out)


def _issue_from(error: Any, data: Any, filename: str, lines: _Lines) -> Issue:
    loc = _clean_loc(tuple(error["loc"]), data)
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    allowed: tuple[str, ...] = ()
    owner, annotation = _target(loc)
    if kind == "extra_forbidden":
        message = f"unknown key {loc[-1]!r}" if loc else "unknown key"
        allowed = (
            tuple(f.alias or n for n, f in owner.model_fields.items()) if owner is not None else ()
        )
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "enum" and isinstance(annotation, type) and issubclass(annotation, Enum):
        message = f"{_shown(error.get('input'))} is not a valid value"
        allowed = tuple(str(m.value) for m in annotation)
    elif kind == "string_pattern_mismatch":
        pattern = str(error.get("ctx", {}).get("pattern", ""))
        if "a-z][a-z0-9_" in pattern:
            message = (
                f"{_shown(error.get('input'))} is not an id: use lower_snake_case (a-z, 0-9, _)"
            )
        elif "A-Z]{2}" in pattern:
            shown = _shown(error.get("input"))
            message = f"{shown} is not a location: use a 2-letter code like NZ, CA, EU"
    elif kind == "string_type" and isinstance(error.get("input"), int | float | bool | date):
        message += f"; got {_shown(error['input'])}: put it in quotes"
    if kind == "missing" and loc:
        message = f"required key {loc[-1]!r} is missing"
    return Issue(filename, lines(loc), format_path(loc), message, allowed)


def parse_policy(
    text: str, filename: str = "<policy>", *, check: bool = True, lawful: bool = True
) -> Policy:
    """Parse and validate policy YAML; raises PolicyError listing every problem.

    ``check=False`` skips the cross-reference checks (model validation only).
    ``lawful=False`` skips the checks of what the law allows (:mod:`troth.policy.lawful`):
    for a text troth already holds (the home's policy as it opens, a published version
    read back), which a newer rule must not make unreadable; ``policy validate``,
    ``publish`` and ``init`` check it in full."""
    data, lines, issues = _load_yaml(text, filename)
    policy: Policy | None = None
    if not any(_NOT_TEXT in i.message for i in issues):
        # (Keys that are not text are reported alone: the model and the cross-reference
        # checks read names.)
        try:
            policy = Policy.model_validate(data)
        except PydanticValidationError as exc:
            # A value reported as no real date (read as text) is not reported again.
            dates = {(i.line, i.path) for i in issues if _NOT_A_DATE in i.message}
            found = (_issue_from(e, data, filename, lines) for e in exc.errors())
            issues.extend(i for i in found if (i.line, i.path) not in dates)
        if check:
            issues.extend(check_references(data, filename, lines, lawful=lawful))
    if issues or policy is None:
        issues.sort(key=lambda i: (i.line, i.path))
        count = f"{len(issues)} problem{'s' if len(issues) != 1 else ''}"
        # The message lists every issue too, so any edge that prints only the message is complete.
        listing = "\n".join(str(i) for i in issues)
        raise PolicyError(f"{filename}: {count} in the policy:\n{listing}", issues)
    return policy


def _read_text(path: FsPath) -> str:
    name = str(path)
    try:
        if path.is_dir():
            raise _fail(name, 1, "is a directory, not a policy file")
        size = path.stat().st_size
        if size > MAX_POLICY_BYTES:
            raise _fail(
                name, 1, f"policy is larger than {MAX_POLICY_BYTES:,} bytes; split or trim it"
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _fail(name, 1, "no such file") from None
    except PermissionError:
        raise _fail(name, 1, "permission denied: cannot read this file") from None
    except OSError as exc:
        raise _fail(name, 1, f"cannot read this file: {exc.strerror or exc}") from None
    if b"\x00" in raw:
        raise _fail(name, 1, "this is a binary file, not a YAML policy")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _fail(name, line, "not UTF-8 text: save the policy as UTF-8") from None


def read_policy(path: FsPath | str) -> LoadedPolicy:
    """Read and validate a policy file, keeping its text; raises PolicyError."""
    p = FsPath(path)
    text = _read_text(p)
    return LoadedPolicy(parse_policy(text, str(p)), text, str(p))


def load_policy(path: FsPath | str) -> Policy:
    """Read and validate a policy file; raises PolicyError listing every problem."""
    return read_policy(path).policy


# -- back to YAML -----------------------------------------------------------------------
def _plain(value: Any) -> Any:
    if isinstance(value, Duration):
        return str(value)
    if isinstance(value, BaseModel):
        out: dict[str, Any] = {}
        for name, info in type(value).model_fields.items():
            item = getattr(value, name)
            if not info.is_required() and item == info.get_default(call_default_factory=True):
                continue
            out[info.alias or name] = _plain(item)
        return out
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


def dump_policy(policy: Policy) -> str:
    """The policy as YAML (defaults left out); ``parse_policy`` reads it back equal."""
    return yaml.safe_dump(_plain(policy), sort_keys=False, allow_unicode=True, width=100)
