"""The layout's rules, checked on the source: edges (``api/``, ``web/``, ``cli/``, the
worker loop, serving, the ASGI app) authenticate, call a domain service and render; they
hold no tables and no SQL. ``schema.py`` (every module that declares tables) imports no
edge. Each file is parsed (its AST), so an import inside a function counts too."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from repo_paths import SRC

EDGE_PACKAGES = ("api", "web", "cli")
EDGE_MODULES = ("worker.py", "serving.py", "app.py")
EDGE_NAMES = tuple(f"troth.{p}" for p in EDGE_PACKAGES) + tuple(
    f"troth.{m.removesuffix('.py')}" for m in EDGE_MODULES
)


def edge_files() -> list[Path]:
    files = [f for p in EDGE_PACKAGES for f in sorted((SRC / p).rglob("*.py"))]
    return files + [SRC / m for m in EDGE_MODULES]


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import in ``tree``; ``from a import b`` gives ``a`` and
    ``a.b`` (b may be a module)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def is_under(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def sqlalchemy_imports(source: str) -> list[int]:
    return sorted(
        {line for line, m in imported_modules(ast.parse(source)) if is_under(m, "sqlalchemy")}
    )


def database_work(source: str) -> list[str]:
    """What in ``source`` opens a connection or names a table: ``*engine.connect()`` /
    ``.begin()``, ``transaction(...)``, ``reading(...)``, imports of a ``tables`` module.
    (A table is declared with SQLAlchemy, which edges do not import.)"""
    found: list[str] = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("transaction", "reading", "tenant_connection"):
                found.append(f"line {node.lineno}: {name}(...)")
            elif (
                isinstance(func, ast.Attribute)
                and name in ("connect", "begin")
                and "engine" in ast.unparse(func.value)
            ):
                found.append(f"line {node.lineno}: {ast.unparse(func)}()")
    for line, module in imported_modules(tree):
        if module.endswith(".tables") or ".tables." in module:
            found.append(f"line {line}: imports {module}")
    return found


def test_the_checks_see_every_shape_of_import_and_connection() -> None:
    """The checks below are not vacuous: each shape they look for is found."""
    source = (
        "import sqlalchemy as sa\n"
        "from sqlalchemy.orm import Session\n"
        "def f(ctx):\n"
        "    from sqlalchemy import select\n"
        "    with ctx.engine.begin() as conn:\n"
        "        pass\n"
        "    with transaction(ctx) as conn:\n"
        "        pass\n"
        "    from troth.store.tables import subjects\n"
        "    names = ('sqlalchemy', 'engine.connect')\n"
    )
    assert sqlalchemy_imports(source) == [1, 2, 4]
    assert database_work(source) == [
        "line 5: ctx.engine.begin()",
        "line 7: transaction(...)",
        "line 9: imports troth.store.tables",
        "line 9: imports troth.store.tables.subjects",
    ]
    assert sqlalchemy_imports("from troth.db import unreachable\n") == []
    assert database_work("t.requests.execute(rid)\nsocket.connect(addr)\n") == []


def test_no_edge_imports_sqlalchemy() -> None:
    offenders = [
        f"{f.relative_to(SRC)}:{line}"
        for f in edge_files()
        for line in sqlalchemy_imports(f.read_text())
    ]
    assert not offenders, (
        "edges hold no SQL: move the query into the domain package that owns the table and"
        f" call it from the edge; sqlalchemy imported at {offenders}"
    )


def test_no_edge_opens_a_connection_or_names_a_table() -> None:
    offenders = [
        f"{f.relative_to(SRC)} {what}"
        for f in edge_files()
        for what in database_work(f.read_text())
    ]
    assert not offenders, f"edges call domain services instead: {offenders}"


def test_schema_imports_no_edge() -> None:
    schema = SRC / "schema.py"
    direct = [m for _line, m in imported_modules(ast.parse(schema.read_text()))]
    assert direct, "schema.py imports the modules that declare tables"
    assert not [m for m in direct if is_under(m, *EDGE_NAMES)]
    # Nor through the modules it imports: a fresh interpreter loads no edge.
    code = (
        "import sys, troth.schema\n"
        f"print(sorted(m for m in sys.modules if m.startswith({EDGE_NAMES!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]", f"importing troth.schema loads edges: {out.strip()}"


def test_the_tables_edges_held_live_in_their_domain_modules() -> None:
    from troth.access.signin import privacy_sessions, signin_codes
    from troth.db import metadata
    from troth.operations.jobs import worker_jobs

    for table, name in (
        (worker_jobs, "worker_jobs"),
        (signin_codes, "privacy_signin_codes"),
        (privacy_sessions, "privacy_sessions"),
    ):
        assert table.name == name and metadata.tables[name] is table


# Issue 15: a module a newcomer reads at a glance, a function that fits on a screen.
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def source_files() -> list[Path]:
    return [f for f in sorted(SRC.rglob("*.py")) if "migrations" not in f.relative_to(SRC).parts]


def test_no_module_over_500_lines() -> None:
    long = {
        str(f.relative_to(SRC)): n
        for f in source_files()
        if (n := len(f.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"split these modules by responsibility (lines): {long}"


def test_no_function_over_80_lines() -> None:
    long: dict[str, int] = {}
    for f in source_files():
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long[f"{f.relative_to(SRC)}:{node.lineno} {node.name}"] = size
    assert not long, f"cut these into named steps (lines): {long}"


def test_the_size_checks_see_a_long_function() -> None:
    """The walk above measures a method inside a class too, from its ``def`` to its
    last line."""
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    tree = ast.parse(f"class A:\n  def f(self):\n{body}\n")
    sizes = [
        (n.end_lineno or n.lineno) - n.lineno + 1
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef)
    ]
    assert sizes == [MAX_FUNCTION_LINES + 1]
