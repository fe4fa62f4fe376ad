"""Reading a file a verifier was handed: a regular file, of a bounded size, never waiting on it.

    open_regular(path, limit, what) -> RegularFile     an open regular file of at most `limit` bytes
    read_regular(path, limit, what) -> bytes           its bytes
    FileRefusedError                                   why not, in one line naming the file

A verifier is what a distrustful party runs on what it was handed, so a file is judged before it
is opened: `os.stat` must show a regular file (not a FIFO, a device or a directory). With
`inside=True` (a bundle's files) it is `os.lstat`, and the open adds O_NOFOLLOW: a symbolic link is
refused wherever it points, so no file is read from outside the bundle. The open adds O_NONBLOCK
(should a FIFO take the file's place meanwhile, opening it does not wait for a writer), and
`fstat` of what was opened must again be a regular file of at most `limit` bytes; at most `limit`
bytes are read from it, whatever it does meanwhile. Where the system lacks O_NOFOLLOW or
O_NONBLOCK (Windows), the `lstat` and `fstat` checks remain.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileRefusedError", "RegularFile", "open_regular", "read_regular"]

_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BLOCK = 1 << 20


class FileRefusedError(Exception):
    """A file the verifier will not read (missing, a link, not a regular file, too large); the message
    starts with the file's name."""


@dataclass(frozen=True)
class RegularFile:
    """An open regular file: its descriptor, its size when opened, and its name for messages.

    Reads go through `pread` (no shared offset: a forked child may read the same descriptor).
    """

    fd: int
    size: int
    name: str

    def pread(self, n: int, offset: int) -> bytes:
        if hasattr(os, "pread"):
            return os.pread(self.fd, n, offset)
        os.lseek(self.fd, offset, os.SEEK_SET)  # pragma: no cover - Windows
        return os.read(self.fd, n)  # pragma: no cover

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> RegularFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _cannot(name: str, exc: OSError) -> FileRefusedError:
    return FileRefusedError(f"{name} cannot be read: {exc.strerror or exc}")


def open_regular(path: Path, limit: int, what: str, *, inside: bool = False, name: str | None = None) -> RegularFile:
    """Open `path` if it is a regular file of at most `limit` bytes; `what` says whence the limit.

    `inside`: the file must be the directory entry itself, not a symbolic link (a bundle's file).
    `name`: how messages call the file (default: the path).
    """
    shown = str(path) if name is None else name
    try:  # judged before it is opened: opening a device can do something
        st = os.lstat(path) if inside else os.stat(path)
    except OSError as exc:
        raise _cannot(shown, exc) from None
    if stat.S_ISLNK(st.st_mode):
        raise FileRefusedError(f"{shown} is a symbolic link: a bundle holds regular files only, read from inside it")
    if not stat.S_ISREG(st.st_mode):
        raise FileRefusedError(f"{shown} is not a regular file")
    flags = _FLAGS | (_NOFOLLOW if inside else 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and inside:  # replaced by a link since the lstat
            raise FileRefusedError(f"{shown} is a symbolic link: a bundle holds regular files only") from None
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO opened for writing
            raise FileRefusedError(f"{shown} is not a regular file") from None
        raise _cannot(shown, exc) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefusedError(f"{shown} is not a regular file")
        if st.st_size > limit:
            raise FileRefusedError(f"{shown} is {st.st_size} bytes, over the {limit} bytes {what} may take")
    except BaseException:
        os.close(fd)
        raise
    return RegularFile(fd, st.st_size, shown)


def read_regular(path: Path, limit: int, what: str, *, inside: bool = False, name: str | None = None) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (see open_regular); FileRefusedError if not."""
    with open_regular(path, limit, what, inside=inside, name=name) as f:
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            try:
                chunk = f.pread(min(_BLOCK, limit + 1 - total), total)
            except OSError as exc:
                raise _cannot(f.name, exc) from None
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise FileRefusedError(f"{f.name} grew past the {limit} bytes {what} may take while it was read")
        return b"".join(chunks)
