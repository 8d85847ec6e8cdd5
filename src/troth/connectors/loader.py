"""Load dataset declarations from YAML, with errors that say file, line and key path."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml
from pydantic import ValidationError as PydanticValidationError

from troth.connectors.declaration import Dataset, DatasetFile, Issue, cross_check
from troth.errors import ValidationError
from troth.policy.taxonomy import BUILTIN_BY_ID

MAX_FILE_BYTES = 2_000_000


class DeclarationError(ValidationError):
    """A dataset declaration that does not validate; ``issues`` lists every problem as
    ``file:line: key.path: message``."""

    code = "dataset_invalid"

    def __init__(self, filename: str, issues: list[str]) -> None:
        lines = "\n".join(f"  {i}" for i in issues)
        super().__init__(f"{filename}: invalid dataset declaration\n{lines}", issues=issues)
        self.issues = issues


def builtin_categories() -> set[str]:
    return set(BUILTIN_BY_ID)


def parse_datasets(
    text: str,
    filename: str = "<datasets>",
    categories: Iterable[str] | None = None,
    purposes: Iterable[str] | None = None,
) -> list[Dataset]:
    """Parse and validate a declaration; raises DeclarationError listing every problem.
    ``categories``: the category ids allowed (default: the built-in taxonomy);
    ``purposes``: the purpose ids a retention rule may name (default: not checked)."""
    known = set(categories) if categories is not None else builtin_categories()
    if len(text.encode()) > MAX_FILE_BYTES:
        raise DeclarationError(filename, [f"{filename}: larger than {MAX_FILE_BYTES} bytes"])
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise DeclarationError(filename, [f"{filename}: not valid YAML: {exc}"]) from exc
    if isinstance(data, list):  # a bare list of datasets is accepted too
        data = {"datasets": data}
        root = yaml.MappingNode(
            "tag:yaml.org,2002:map",
            [(yaml.ScalarNode("tag:yaml.org,2002:str", "datasets"), root)],
        )
    try:
        parsed = DatasetFile.model_validate(data)
    except PydanticValidationError as exc:
        issues = [
            Issue(tuple(e["loc"]), _pydantic_message(e["msg"], e.get("input")))
            for e in exc.errors()
        ]
        raise DeclarationError(filename, [_where(filename, root, i) for i in issues]) from exc
    problems = cross_check(parsed, known, set(purposes) if purposes is not None else None)
    if problems:
        raise DeclarationError(filename, [_where(filename, root, i) for i in problems])
    return parsed.datasets


def load_datasets(
    path: Path | str,
    categories: Iterable[str] | None = None,
    purposes: Iterable[str] | None = None,
) -> list[Dataset]:
    """Read and validate the declaration file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise DeclarationError(str(path), [f"{path}: cannot be read ({exc.strerror})"]) from exc
    return parse_datasets(text, str(path), categories, purposes)


def declaration_files(folder: Path | str) -> list[Path]:
    """The declaration files of a datasets folder (``*.yaml``, ``*.yml``), sorted; none when
    the folder is absent."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def _pydantic_message(msg: str, value: object) -> str:
    msg = msg.removeprefix("Value error, ")
    if msg.startswith("Extra inputs"):
        return "unknown key (check the spelling; see `troth datasets show --help`)"
    if msg.startswith("String should match pattern"):
        return f"{value!r} is not allowed here: {msg.lower()}"
    return msg


def _where(filename: str, root: yaml.Node | None, issue: Issue) -> str:
    line = _line_of(root, issue.path)
    place = f"{filename}:{line}" if line else filename
    return f"{place}: {issue.dotted()}: {issue.message}"


def _line_of(node: yaml.Node | None, path: tuple[str | int, ...]) -> int | None:
    """The 1-based line of the deepest node along ``path`` in the composed YAML."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in path:
        nxt: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if str(key.value) == str(part):
                    nxt = value
                    line = key.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            nxt = node.value[part]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
    return line


def checking_categories(policy: Path | None = None, home: Path | None = None) -> set[str]:
    """The category ids a declaration checked outside a running troth may use: the built-in
    ones and those of ``policy``, or, when none is named, of the policy of the troth home at
    ``home`` (when it has settings and that policy file exists), as at run time."""
    from troth.policy.loader import load_policy
    from troth.settings import SETTINGS_FILE, Settings

    if policy is None and home is not None and (home / SETTINGS_FILE).exists():
        in_home = Settings.for_home(home).resolved_policy_file
        policy = in_home if in_home.exists() else None
    categories = builtin_categories()
    if policy is not None:
        categories |= {c.id for c in load_policy(policy).categories}
    return categories
