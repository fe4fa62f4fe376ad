"""revshare.verify.files: a file is judged before it is read (regular, inside, bounded), never waited on."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from revshare.verify.files import FileRefusedError, open_regular, read_regular


def test_a_regular_file_up_to_its_limit_is_read(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 10)
    assert read_regular(tmp_path / "f", 10, "ten bytes") == b"x" * 10
    assert read_regular(tmp_path / "f", 10, "ten bytes", inside=True, name="f") == b"x" * 10
    with pytest.raises(FileRefusedError, match=r"^f is 10 bytes, over the 9 bytes nine bytes may take$"):
        read_regular(tmp_path / "f", 9, "nine bytes", name="f")


def test_a_link_is_followed_on_the_command_line_and_refused_inside_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"data")
    (tmp_path / "link").symlink_to(tmp_path / "f")
    assert read_regular(tmp_path / "link", 10, "x") == b"data"
    with pytest.raises(FileRefusedError, match=r"^link is a symbolic link: a bundle holds regular files only"):
        read_regular(tmp_path / "link", 10, "x", inside=True, name="link")


@pytest.mark.parametrize("inside", [False, True])
def test_fifos_devices_directories_and_sockets_are_refused_unopened(tmp_path: Path, inside: bool) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(tmp_path / "sock"))
        for name in ("fifo", "dir", "sock"):
            with pytest.raises(FileRefusedError, match=rf"^{name} is not a regular file$"):
                read_regular(tmp_path / name, 10, "x", inside=inside, name=name)
    if not inside:
        with pytest.raises(FileRefusedError, match=r"^/dev/zero is not a regular file$"):
            read_regular(Path("/dev/zero"), 10, "x")


def test_a_missing_file_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(FileRefusedError, match=r"^nope cannot be read: No such file or directory$"):
        open_regular(tmp_path / "nope", 10, "x", name="nope")


def test_a_file_that_grows_past_its_limit_after_the_check_is_refused(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """fstat said 5 bytes; 20 are there by the time it is read: at most limit + 1 are read, then refused."""
    path = tmp_path / "f"
    path.write_bytes(b"x" * 20)
    real_fstat = os.fstat

    def fstat(fd: int) -> os.stat_result:
        st = list(real_fstat(fd))
        st[6] = 5  # st_size
        return os.stat_result(st)

    monkeypatch.setattr(os, "fstat", fstat)  # the module calls os.fstat
    with pytest.raises(FileRefusedError, match=r"^f grew past the 10 bytes ten bytes may take while it was read$"):
        read_regular(path, 10, "ten bytes", name="f")
