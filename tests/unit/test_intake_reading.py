"""Plain blocks (no quote, one kind of line end) are split by str.split, not line by line
through the csv reader (outreach.signers.intake._Source): these tests hold the chunks read that
way to those of the line-by-line reader, on files that mix plain lines with quotes, quoted line
breaks, unclosed quotes, lone carriage returns, blank and over-wide rows and long cells, with
blocks small enough to cut every kind of line."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from outreach.signers import intake

EXPORTS = Path(__file__).resolve().parent.parent / "fixtures" / "exports"
HEADER = "first_name,last_name,email,phone,zip"
PIECES: list[Callable[[int], str]] = [
    lambda i: f"A{i},B,a{i}@example.org,21555{i % 100000:05d},19102",
    lambda i: f'"Q,{i}",B,q{i}@example.org,,19102',
    lambda i: f'"two\nlines {i}",B,m{i}@example.org,,19102',
    lambda i: ",,,,",
    lambda i: "",
    lambda i: "   ",
    lambda i: f"A{i},B,x{i}@example.org,,19102,extra",
    lambda i: "x" * 60 + f",B,l{i}@example.org,,19102",
    lambda i: f'"open {i},B,o@example.org,,',
    lambda i: f'a"b{i},B,ab{i}@example.org,,19102',
    lambda i: f"short{i},B",
]


def tricky_files(folder: Path, count: int = 12) -> list[Path]:
    rng = random.Random(3)
    paths = []
    for k in range(count):
        ends = rng.choice([["\n"], ["\r\n"], ["\r"], ["\n", "\r\n", "\r"]])
        weights = [20] + [rng.choice([0, 0, 1, 2]) for _ in PIECES[1:]]
        lines = [rng.choices(PIECES, weights)[0](i) for i in range(rng.randint(1, 200))]
        text = HEADER + ends[0] + "".join(line + rng.choice(ends) for line in lines)
        if k % 3 == 0:
            text = text.rstrip("\r\n")  # no line end after the last row
        path = folder / f"tricky{k}.csv"
        path.write_bytes(text.encode("utf-8-sig" if k % 4 == 1 else "utf-8"))
        paths.append(path)
    return paths


def chunks(path: Path, limits: intake.IntakeLimits, chunk_rows: int) -> list[Any]:
    shape = intake.inspect_file(path, limits=limits)
    return [(chunk.frame.to_dict("records"), chunk.raws, chunk.malformed, chunk.blank_rows,
             chunk.warnings)
            for chunk in intake._read_chunks(path, shape, chunk_rows, limits)]


@pytest.mark.parametrize("block", [7, 64, 1 << 20])
def test_plain_blocks_read_as_line_by_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           block: int) -> None:
    paths = [*tricky_files(tmp_path), *sorted(EXPORTS.glob("*.csv"))]
    for limits in (intake.DEFAULT_LIMITS, intake.IntakeLimits(max_field=40)):
        for chunk_rows, chunk_chars in ((50_000, intake.CHUNK_CHARS), (7, 300)):
            with monkeypatch.context() as patch:
                patch.setattr(intake._Source, "plain_lines", lambda self: None)
                patch.setattr(intake, "CHUNK_CHARS", chunk_chars)
                expected = [chunks(path, limits, chunk_rows) for path in paths]
            with monkeypatch.context() as patch:
                patch.setattr(intake._Source, "BLOCK", block)
                patch.setattr(intake, "CHUNK_CHARS", chunk_chars)
                got = [chunks(path, limits, chunk_rows) for path in paths]
            for path, want, have in zip(paths, expected, got, strict=True):
                assert have == want, path.name


def test_plain_blocks_are_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above means something: many blocks of these files are plain."""
    taken = []
    plain_lines = intake._Source.plain_lines

    def counting(self: intake._Source) -> Any:
        block = plain_lines(self)
        taken.append(block is not None)
        return block

    monkeypatch.setattr(intake._Source, "plain_lines", counting)
    monkeypatch.setattr(intake._Source, "BLOCK", 64)
    for path in tricky_files(tmp_path):
        chunks(path, intake.DEFAULT_LIMITS, 50_000)
    assert sum(taken) >= 20, (sum(taken), len(taken))


def test_a_crlf_cut_by_a_block_is_one_line_end(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A block that ends between "\\r" and "\\n" takes the "\\n": no blank row, no line
    number off by one after it."""
    path = tmp_path / "crlf.csv"
    path.write_bytes(("email,zip\r\n" + "".join(f"a{i}@example.org,1910{i % 10}\r\n"
                                                 for i in range(30))).encode())
    with monkeypatch.context() as patch:
        patch.setattr(intake._Source, "plain_lines", lambda self: None)
        expected = chunks(path, intake.DEFAULT_LIMITS, 50_000)
    for block in range(5, 45):
        monkeypatch.setattr(intake._Source, "BLOCK", block)
        assert chunks(path, intake.DEFAULT_LIMITS, 50_000) == expected, block
