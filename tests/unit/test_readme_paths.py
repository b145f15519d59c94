"""Every file the README and the docs point to exists: a new user followed
`outreach/import_formats.py` to nothing (the module had moved to outreach/signers/ with the
layout change of issue 15)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ["README.md", "CONTRIBUTING.md"]  # docs/ (generated from the code) names none
# A path in backticks under one of the project's own folders, as the documents write them.
PATH = re.compile(r"`((?:outreach|bench|scripts|tests|templates|jobs|data|docs)/[\w./-]+)`")


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_path_a_document_names_exists(document: str):
    text = (ROOT / document).read_text(encoding="utf-8")
    named = {match for match in PATH.findall(text) if "*" not in match}
    assert named, f"{document} names no project path: the pattern no longer reads it"
    assert not sorted(p for p in named if not (ROOT / p.rstrip("/")).exists())
