"""The import contract of ARCHITECTURE.md ("Keeping it that way"), checked on the source itself.

Every `.py` under `outreach/` is parsed (not imported) and every import in it is read: module
level, inside functions, under `if TYPE_CHECKING:`, relative ones resolved, and
`importlib.import_module("...")` with a literal name. `from outreach.x import y` counts `y` when
`y` is a submodule, `outreach.x` otherwise. Four rules follow:

a) layers: a module imports only from its own layer or a lower one (LAYERS below); a module that
   is not in the map fails, so a new top-level module has to be placed before it can land;
b) no import cycle at all among outreach modules, function-level imports and package
   `__init__` re-exports included (a cycle closed inside a function is still a cycle);
c) `outreach.store.schema` is imported only inside `outreach/store/`;
d) no SQL is built outside `outreach/store/`: no SQLAlchemy query builder is imported or used
   there (types such as Engine, Connection, Row are fine), and no `.exec_driver_sql(` call.

There is no list of tolerated exceptions: the package met all four rules when the layout
landed (issue 15), and a violation fails naming the file, line and rule it breaks.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "outreach"

# Bottom to top. A key names a module and everything under it; "outreach" itself names only the
# package root (outreach/__init__.py), never its children.
LAYERS: dict[str, int] = {
    "outreach.errors": 0,
    "outreach.config": 0,
    "outreach.clock": 0,
    "outreach.message": 0,
    "outreach.metrics": 0,
    "outreach.privacy": 0,
    "outreach.csvsafe": 0,
    "outreach.settings_doc": 0,
    "outreach.us": 0,
    "outreach.store": 1,
    "outreach.roster": 2,
    "outreach.geo": 3,
    "outreach.signers": 4,
    "outreach.campaigns": 5,
    "outreach.sending": 6,
    "outreach.ops": 7,
    "outreach.web": 7,
    "outreach.cli": 7,
    "outreach.testing": 7,
    "outreach.render": 7,  # the stable `outreach.render.sms_segments` shim
    "outreach": 7,  # the package root: re-exports the stable API
}

SCHEMA = "outreach.store.schema"
STORE = "outreach.store"

# SQLAlchemy names that build a statement or a SQL expression. Types (Engine, Connection, Row,
# Select used as an annotation, column types) are not here: passing an engine around is fine.
SQL_BUILDERS = frozenset(
    {
        "select", "insert", "update", "delete", "func", "text", "exists", "and_", "or_",
        "not_", "case", "cast", "literal", "literal_column", "bindparam", "column", "table",
        "join", "outerjoin", "union", "union_all", "intersect", "except_", "distinct",
        "tuple_", "null", "true", "false", "over", "lateral", "values", "any_", "all_",
        "type_coerce", "collate", "between", "asc", "desc", "nulls_first", "nulls_last",
    }
)  # fmt: skip
# Modules whose import alone means building SQL (their members are dialect statement builders).
SQL_BUILDER_MODULES = ("sqlalchemy.dialects", "sqlalchemy.sql", "sqlalchemy.future")

@dataclass(frozen=True)
class Import:
    """One import statement's edge: who imports what, and where it is written."""

    importer: str
    imported: str
    path: Path
    line: int
    source: str  # the statement as written, for messages

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


@dataclass(frozen=True)
class SqlUse:
    """One place outside store/ that reaches for a SQL builder."""

    module: str
    builder: str
    path: Path
    line: int
    source: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


MODULES = all_modules()


def is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def resolve(name: str) -> str | None:
    """The outreach module an import of `name` executes last: the longest existing prefix."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def absolute(importer: str, node: ast.ImportFrom) -> str:
    """The absolute module name of a `from ... import`, relative levels resolved."""
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    if not is_package(importer):
        base.pop()
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


@cache
def text_of(path: Path) -> str:
    return path.read_text()


def source_of(path: Path, node: ast.stmt | ast.expr) -> str:
    text = ast.get_source_segment(text_of(path), node) or ""
    return " ".join(text.split())


def imports_of(module: str, path: Path, tree: ast.Module) -> Iterator[Import]:
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = absolute(module, node)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.append(submodule if submodule in MODULES else base)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            targets = [node.args[0].value]
        else:
            continue
        for target in dict.fromkeys(targets):
            resolved = resolve(target) if target.split(".")[0] == "outreach" else None
            if resolved is not None and resolved != module:
                yield Import(module, resolved, path, node.lineno, source_of(path, node))


def sql_uses_of(module: str, path: Path, tree: ast.Module) -> Iterator[SqlUse]:
    """SQL builders reached for in a module: imported by name, via a dialect module, or as an
    attribute of an `import sqlalchemy [as sa]` alias; and `.exec_driver_sql(` calls."""
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(SQL_BUILDER_MODULES):
                    yield SqlUse(module, alias.name, path, node.lineno, source_of(path, node))
                elif alias.name == "sqlalchemy":
                    aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "sqlalchemy":
                continue
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if (node.module == "sqlalchemy" and alias.name in SQL_BUILDERS) or (
                    full.startswith(SQL_BUILDER_MODULES)
                ):
                    builder = alias.name if node.module == "sqlalchemy" else full
                    yield SqlUse(module, builder, path, node.lineno, source_of(path, node))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and (node.attr in SQL_BUILDERS or node.attr in {"dialects", "sql"})
        ):
            yield SqlUse(module, node.attr, path, node.lineno, source_of(path, node))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "exec_driver_sql"
        ):
            yield SqlUse(module, "exec_driver_sql", path, node.lineno, source_of(path, node.func))


@cache
def scan() -> tuple[list[Import], list[SqlUse]]:
    edges: list[Import] = []
    sql: list[SqlUse] = []
    for module, path in MODULES.items():
        tree = ast.parse(text_of(path), filename=str(path))
        edges.extend(imports_of(module, path, tree))
        if not in_store(module):
            sql.extend(sql_uses_of(module, path, tree))
    return edges, sql


def in_store(module: str) -> bool:
    return module == STORE or module.startswith(STORE + ".")


def layer_key(module: str) -> str | None:
    """The LAYERS key that places `module` (the root key places only the root itself)."""
    for key in sorted(LAYERS, key=len, reverse=True):
        if module == key or (key != "outreach" and module.startswith(key + ".")):
            return key
    return None


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative: the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)
    return components


@cache
def violations() -> dict[str, list[str]]:
    """Every broken rule, keyed by rule and edge, with one message per occurrence."""
    edges, sql = scan()
    found: dict[str, list[str]] = defaultdict(list)

    for module in MODULES:
        if layer_key(module) is None:
            found[f"unplaced: {module}"].append(
                f"{MODULES[module].relative_to(ROOT)}: module {module} is not in the layer map;"
                " place it in LAYERS (tests/unit/test_layers.py) and ARCHITECTURE.md"
            )

    for edge in edges:
        importer_key, imported_key = layer_key(edge.importer), layer_key(edge.imported)
        if importer_key is None or imported_key is None:
            continue
        low, high = LAYERS[importer_key], LAYERS[imported_key]
        if high > low:
            found[f"layer: {edge.importer} -> {edge.imported}"].append(
                f"{edge.where}: `{edge.source}` makes {edge.importer} (layer {low},"
                f" {importer_key}) import {edge.imported} (layer {high}, {imported_key}):"
                " a module imports only from its own layer or lower"
            )
        if edge.imported == SCHEMA and not in_store(edge.importer):
            found[f"schema: {edge.importer} -> {SCHEMA}"].append(
                f"{edge.where}: `{edge.source}` imports {SCHEMA} outside outreach/store/:"
                " only store/ knows the tables; ask a store/ function instead"
            )

    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for edge in edges:
        graph[edge.importer].add(edge.imported)
    for component in strongly_connected(graph):
        members = ", ".join(sorted(component))
        for edge in edges:
            if edge.importer in component and edge.imported in component:
                found[f"cycle: {edge.importer} -> {edge.imported}"].append(
                    f"{edge.where}: `{edge.source}` ({edge.importer} -> {edge.imported}) closes"
                    f" an import cycle among {{{members}}}: no cycles, even inside functions"
                )

    for use in sql:
        found[f"sql: {use.module}: {use.builder}"].append(
            f"{use.where}: `{use.source}` builds SQL ({use.builder}) in {use.module}, outside"
            " outreach/store/: put the statement in a store/ function and call that"
        )
    return dict(found)


def test_the_scan_sees_the_package() -> None:
    """Guard the guard: a scan that found nothing would pass every rule."""
    edges, _ = scan()
    assert len(MODULES) > 50
    pairs = {(edge.importer, edge.imported) for edge in edges}
    # a module-level import, and a relative-free `from package import submodule`
    assert ("outreach.render", "outreach.campaigns.sms") in pairs
    # a function-level import (geo/__init__'s lazy re-export) and a TYPE_CHECKING one
    assert ("outreach.geo", "outreach.geo.locate") in pairs
    assert ("outreach", "outreach.campaigns.sms") in pairs


def test_the_scan_reads_every_kind_of_import() -> None:
    """Relative, function-level, TYPE_CHECKING and import_module imports all become edges."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import states\n"
        "from ..sending import worker\n"
        "from ..geo import lookup\n"
        "import outreach.store.db\n"
        "if TYPE_CHECKING:\n"
        "    from outreach.roster.offices import Roster\n"
        "def later():\n"
        "    from outreach.campaigns import sms\n"
        "    importlib.import_module('outreach.ops.runner')\n"
    )
    module = "outreach.us.counties"
    edges = imports_of(module, MODULES[module], ast.parse(source))
    assert sorted((edge.line, edge.imported) for edge in edges) == [
        (2, "outreach.us.states"),
        (3, "outreach.sending.worker"),
        (4, "outreach.geo"),  # lookup is a name in geo/__init__, not a submodule
        (5, "outreach.store.db"),
        (7, "outreach.roster.offices"),
        (9, "outreach.campaigns.sms"),
        (10, "outreach.ops.runner"),
    ]


def test_the_package_keeps_the_import_contract() -> None:
    found = violations()
    messages = [message for key in sorted(found) for message in found[key]]
    assert not found, (
        f"{len(messages)} violation(s) of the import contract (ARCHITECTURE.md):\n  "
        + "\n  ".join(messages)
    )
