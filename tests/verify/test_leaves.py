"""leaves.jsonl as a stream: refused unless the signed range can fill it, counted, read a block at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from revshare.settlement.bundle_layout import LEAVES, MAX_LEAF
from revshare.verify import leaves as leaves_module
from revshare.verify.errors import BundleFormatError
from revshare.verify.leaves import LeafFile


def write(directory: Path, data: bytes) -> Path:
    (directory / LEAVES).write_bytes(data)
    return directory


def read_all(f: LeafFile) -> list[bytes]:
    return [line for block in f.blocks(0, 0, f.file.size) for line in block]


@pytest.mark.parametrize("lines", [[], [b"a"], [b"a", b"bb"], [b"a", b"bb", b"", b"dddd", b"e"]])
def test_lines_are_counted_and_the_middle_found(tmp_path: Path, lines: list[bytes]) -> None:
    data = b"".join(x + b"\n" for x in lines)
    with LeafFile.open(write(tmp_path, data), len(lines)) as f:
        assert f.lines == len(lines)
        half = len(lines) // 2
        assert f.middle == (half, len(b"".join(x + b"\n" for x in lines[:half])))
        assert read_all(f) == lines


def test_the_file_is_refused_before_it_is_read_when_the_range_cannot_fill_it(tmp_path: Path) -> None:
    write(tmp_path, b"\n" * (2 * (MAX_LEAF + 1) + 1))
    with pytest.raises(BundleFormatError, match=rf"^{LEAVES} is {2 * (MAX_LEAF + 1) + 1} bytes, over the "
                                                rf"{2 * (MAX_LEAF + 1)} bytes 2 leaves of at most {MAX_LEAF} bytes"):
        LeafFile.open(tmp_path, 2)
    with pytest.raises(BundleFormatError, match=rf"^{LEAVES} is 1 bytes, over the 0 bytes 0 leaves"):
        LeafFile.open(write(tmp_path, b"\n"), 0)


def test_a_last_line_without_its_newline_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleFormatError, match=rf"^{LEAVES}: the last line has no newline \(truncated\?\)$"):
        LeafFile.open(write(tmp_path, b"a\nb"), 2)


@pytest.mark.parametrize("block", [7, 1000, 1 << 20])
@pytest.mark.parametrize("where", [0, 1, 2])
def test_a_line_over_the_limit_is_named_wherever_the_blocks_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 block: int, where: int) -> None:
    monkeypatch.setattr(leaves_module, "BLOCK", block)
    lines = [b"x" * 10, b"y" * 10, b"z" * 10]
    lines[where] = b"{" * (MAX_LEAF + 1)
    with (LeafFile.open(write(tmp_path, b"".join(x + b"\n" for x in lines)), 3) as f,
          pytest.raises(BundleFormatError, match=rf"^{LEAVES} line {where + 1} is over {MAX_LEAF} bytes")):
        read_all(f)
    lines[where] = b"{" * MAX_LEAF  # at the limit: read
    with LeafFile.open(write(tmp_path, b"".join(x + b"\n" for x in lines)), 3) as f:
        assert read_all(f) == lines
