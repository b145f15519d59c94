"""What a PDF says, as poppler's `pdftotext` reads it: the delivery packet tests check the
text a person (or a prosecutor's office's search) gets out of the file, not our own idea of
it. Without pdftotext these tests skip, unless OUTREACH_TEST_PDF=required (as .ci/run sets,
after installing poppler-utils)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

PDFTOTEXT = "pdftotext"


def pdf_text(data: bytes, *, layout: bool = False) -> str:
    """The text of a PDF (one `pdftotext` run; `layout`: columns kept side by side)."""
    if not shutil.which(PDFTOTEXT):
        reason = "no pdftotext (Debian package poppler-utils)"
        if os.environ.get("OUTREACH_TEST_PDF") == "required":
            pytest.fail(reason + "; OUTREACH_TEST_PDF=required")
        pytest.skip(reason)
    assert data.startswith(b"%PDF-"), data[:40]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "packet.pdf"
        path.write_bytes(data)
        result = subprocess.run([PDFTOTEXT, "-enc", "UTF-8", *(["-layout"] if layout else []),
                                 str(path), "-"], capture_output=True, check=True, timeout=120)
    return result.stdout.decode("utf-8")


def one_line(text: str) -> str:
    """The text with its line breaks and runs of spaces as single spaces (a sentence the PDF
    wrapped reads whole)."""
    return " ".join(text.split())
