"""The install writes bytecode for what every command imports.

Where PYTHONDONTWRITEBYTECODE is set (common in containers, and on the machines CI runs on),
Python never writes a .pyc at import time, so a package installed without one is compiled from
source by every process: about 2.4 s of CPU for each `outreach` command, most of the test
suite's time in the tests that start one. pip compiles at install by default; uv only with
--compile-bytecode, which the Makefile passes.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest


@pytest.mark.parametrize("module", ["pandas", "sqlalchemy", "alembic", "jinja2", "click"])
def test_the_heavy_dependencies_are_installed_with_their_bytecode(module):
    source = importlib.import_module(module).__file__
    assert source is not None
    cached = Path(importlib.util.cache_from_source(source))
    assert cached.exists(), (f"{module} was installed without bytecode ({cached} is missing): "
                             "install with `make` (uv pip install --compile-bytecode)")
