"""The edges import one way (issue 15): web/app.py imports its routers, the routers import
web/deps.py, never app.py; cli/__init__.py puts the command modules on the group, and they
never import it back. Neither package hides a cycle behind an import inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "outreach"
ROUTERS = ("admin", "api", "calls", "hooks", "packets", "petition", "scoreboard", "unsubscribe")
# Deferred on purpose: the web stack costs 0.7 s, so only `serve` and `admin hash-password`
# load it (it imports nothing of the CLI, so there is no cycle to hide).
# The PDF library (fpdf2, about 1 s) loads only for `outreach packet` likewise.
DEFERRED = {("cli/ops.py", "outreach.web"), ("cli/ops.py", "outreach.web.security"),
            ("cli/ops.py", "uvicorn"), ("cli/packets.py", "outreach.campaigns.packet_documents"),
            # The store (SQLAlchemy, 0.4 s) loads for the commands that open it, not for
            # --version, --help or every command's error handling (issue 18).
            ("cli/common.py", "outreach.store"),
            # serve's resident memory (issue 18): the PDF library (fpdf2, ~20 MB) loads with
            # the first packet, the SendGrid webhook's signature helper (~9 MB with its HTTP
            # client and ECDSA) with the first SendGrid webhook.
            ("web/admin.py", "outreach.campaigns.packet_documents"),
            ("web/packets.py", "outreach.campaigns.packet_documents"),
            ("web/signatures.py", "sendgrid.helpers.eventwebhook")}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module imported, whether the import is inside a function) for every import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inner = {id(node) for function in ast.walk(tree)
             if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
             for node in ast.walk(function)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in inner) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, id(node) in inner))
    return found


@pytest.mark.parametrize("router", ROUTERS)
def test_a_router_imports_deps_not_the_app(router: str):
    modules = [module for module, _ in _imports(PACKAGE / "web" / f"{router}.py")]
    assert "outreach.web.deps" in modules
    assert "outreach.web.app" not in modules and "outreach.web" not in modules


def test_the_app_imports_its_routers_at_the_top():
    top = [module for module, inside in _imports(PACKAGE / "web" / "app.py") if not inside]
    assert "outreach.web" in top  # from outreach.web import admin, api, hooks, ...


@pytest.mark.parametrize("folder", ["web", "cli"])
def test_no_import_inside_a_function(folder: str):
    inside = {(str(path.relative_to(PACKAGE)), module)
              for path in sorted((PACKAGE / folder).glob("*.py"))
              for module, nested in _imports(path) if nested}
    assert inside <= DEFERRED, sorted(inside - DEFERRED)


def test_command_modules_never_import_the_group():
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        if path.name in ("__init__.py", "__main__.py", "reference.py"):
            continue  # the group itself, `python -m`, and the docs generator that reads it
        modules = [module for module, _ in _imports(path)]
        assert "outreach.cli" not in modules, path.name
