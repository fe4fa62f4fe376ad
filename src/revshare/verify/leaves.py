"""leaves.jsonl as a stream: opened only if the signed range can fill it, counted, read a block at a time.

    LeafFile.open(directory, count) -> LeafFile     refused unless a regular file inside the bundle of at most
                                                    count leaves of at most MAX_LEAF bytes; its lines counted
    leaf_file.lines, leaf_file.middle               how many lines; where line count // 2 starts (line, byte)
    leaf_file.blocks(line, start, end)              the lines in bytes [start, end), a list per block read

A range may hold millions of leaves, so nothing here holds more than a block (`BLOCK` bytes) of
them: the count is one pass of `bytes.count` a megabyte at a time, and the scan
(`revshare.verify.scan`) reads its slice a block at a time, through `pread`, so that a forked child
reads the second half through the same descriptor. A line longer than MAX_LEAF is refused where it
is met, naming its line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from revshare.settlement.bundle_layout import LEAVES, MAX_LEAF
from revshare.verify.errors import BundleFormatError
from revshare.verify.files import FileRefusedError, RegularFile, open_regular

__all__ = ["BLOCK", "LeafFile"]

BLOCK = 2 << 20
"""Bytes read at a time by the scan (about 3,500 leaves of 600 bytes)."""

_COUNT_BLOCK = 1 << 20


def _too_long(line: int) -> BundleFormatError:
    return BundleFormatError(f"{LEAVES} line {line} is over {MAX_LEAF} bytes, the most a leaf may hold")


@dataclass(frozen=True)
class LeafFile:
    """leaves.jsonl, open.

    Attributes:
        file: the open file (see `revshare.verify.files.RegularFile`).
        lines: how many lines it holds (each ends with a newline).
        middle: (line, byte offset) where line `count // 2` starts, for a scan in two halves.
    """

    file: RegularFile
    lines: int
    middle: tuple[int, int]

    @classmethod
    def open(cls, directory: Path, count: int) -> LeafFile:
        """leaves.jsonl of a range of `count` leaves; BundleFormatError if it cannot be theirs."""
        try:
            f = open_regular(directory / LEAVES, count * (MAX_LEAF + 1),
                             f"{count} {'leaf' if count == 1 else 'leaves'} of at most {MAX_LEAF} bytes",
                             inside=True, name=LEAVES)
        except FileRefusedError as exc:
            raise BundleFormatError(str(exc)) from None
        try:
            lines, middle = _count_lines(f, count // 2)
        except BaseException:
            f.close()
            raise
        return cls(f, lines, middle)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> LeafFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def blocks(self, line: int, start: int, end: int) -> Iterator[list[bytes]]:
        """The lines in bytes [start, end) (line `line` starts at `start`; `end` ends a line), a block at a time."""
        tail = b""
        offset = start
        while offset < end:
            data = self.file.pread(min(BLOCK, end - offset), offset)
            if not data:
                raise BundleFormatError(f"{LEAVES} shrank while it was read")
            offset += len(data)
            parts = (tail + data if tail else data).split(b"\n")
            tail = parts.pop()
            if len(tail) > MAX_LEAF:
                raise _too_long(line + len(parts) + 1)
            if parts and max(map(len, parts)) > MAX_LEAF:
                raise _too_long(line + next(i for i, p in enumerate(parts) if len(p) > MAX_LEAF) + 1)
            line += len(parts)
            if parts:
                yield parts
        if tail:
            raise BundleFormatError(f"{LEAVES} changed while it was read")


def _count_lines(f: RegularFile, half: int) -> tuple[int, tuple[int, int]]:
    """The number of lines of the file, and where line `half` starts; the last must end with a newline."""
    lines, offset, middle = 0, 0, (0, 0)
    last = b"\n"
    while offset < f.size:
        block = f.pread(min(_COUNT_BLOCK, f.size - offset), offset)
        if not block:
            raise BundleFormatError(f"{LEAVES} shrank while it was read")
        k = block.count(b"\n")
        if half > 0 and lines < half <= lines + k:
            at = -1
            for _ in range(half - lines):
                at = block.index(b"\n", at + 1)
            middle = (half, offset + at + 1)
        lines += k
        offset += len(block)
        last = block[-1:]
    if last != b"\n":
        raise BundleFormatError(f"{LEAVES}: the last line has no newline (truncated?)")
    return lines, middle
