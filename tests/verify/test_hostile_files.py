"""`revshare verify` on files a distrustful party was handed: not regular, not inside the bundle, too large.

Each case runs the command in a forked child with its address space capped and a deadline, so a
verifier that hangs on a FIFO or reads /dev/zero until memory runs out fails the test instead of
the machine. Every case must end the same way: exit 1, one line on stderr, no traceback, no
"OK", within seconds.
"""

from __future__ import annotations

import json
import os
import resource
import select
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from revshare.cli import app
from tests.support.settled_bundles import Settled

LIMIT_BYTES = 512 << 20  # above what the process already maps: the genuine bundle needs a few MB, 2 GiB cannot fit
DEADLINE_S = 20
ST = "statement-google-google-gemma-2026-02"


def _mapped() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))


def _child(args: tuple[str, ...], w: int) -> None:
    try:
        cap = _mapped() + LIMIT_BYTES
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        result = CliRunner().invoke(app, list(args))
        exc = result.exception
        done = {"code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr,
                "exception": None if exc is None or isinstance(exc, SystemExit) else repr(exc)[:300]}
    except BaseException as exc:  # whatever happens is the parent's to report
        done = {"code": -1, "stdout": "", "stderr": "", "exception": repr(exc)[:300]}
    data = json.dumps(done).encode()
    while data:
        data = data[os.write(w, data):]


def revshare(*args: str) -> dict[str, Any]:
    """Run `revshare ARGS` in a forked child, capped in memory and time: exit code, stdout, stderr, exception."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        _child(args, w)
        os._exit(0)
    os.close(w)
    chunks, deadline = [], time.monotonic() + DEADLINE_S
    try:
        while True:
            ready, _, _ = select.select([r], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                pytest.fail(f"revshare {' '.join(args)} ran past {DEADLINE_S} s")
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    return json.loads(b"".join(chunks))  # type: ignore[no-any-return]


def assert_one_line_failure(done: dict[str, Any], *want: str) -> None:
    assert done["exception"] is None, done
    assert done["code"] == 1, done
    assert "OK" not in done["stdout"], done
    lines = done["stderr"].strip().splitlines()
    assert len(lines) == 1, done
    for w in want:
        assert w in lines[0], lines[0]


def _sparse(path: Path, size: int) -> None:
    path.unlink(missing_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)


def _newlines(path: Path, size: int) -> None:
    path.write_bytes(b"\n" * size)


def _replace_with(link: Callable[[Path], object]) -> Callable[[Path], object]:
    def change(path: Path) -> object:
        path.unlink()
        return link(path)
    return change


BUNDLE_CASES: dict[str, tuple[str, Callable[[Path], object], str]] = {
    "leaves-fifo": ("leaves.jsonl", _replace_with(os.mkfifo), "leaves.jsonl is not a regular file"),
    "statement-fifo": (f"{ST}.json", _replace_with(os.mkfifo), f"{ST}.json is not a regular file"),
    "leaves-link-to-dev-zero": ("leaves.jsonl", _replace_with(lambda p: p.symlink_to("/dev/zero")),
                                "leaves.jsonl is a symbolic link"),
    "terms-link-to-dev-urandom": ("terms.json", _replace_with(lambda p: p.symlink_to("/dev/urandom")),
                                  "terms.json is a symbolic link"),
    "leaves-sparse-2-gib": ("leaves.jsonl", lambda p: _sparse(p, 2 << 30), "leaves.jsonl is 2147483648 bytes"),
    "leaves-50-mib-of-newlines": ("leaves.jsonl", lambda p: _newlines(p, 50 << 20), "leaves.jsonl is 52428800 bytes"),
    "checkpoint-sparse-2-gib": ("checkpoint", lambda p: _sparse(p, 2 << 30), "checkpoint is 2147483648 bytes"),
    "terms-sparse-2-gib": ("terms.json", lambda p: _sparse(p, 2 << 30), "terms.json is 2147483648 bytes"),
    "carried-sparse-2-gib": ("carried.jsonl", lambda p: _sparse(p, 2 << 30), "carried.jsonl is 2147483648 bytes"),
    "leaves-a-directory": ("leaves.jsonl", _replace_with(os.mkdir), "leaves.jsonl is not a regular file"),
}


@pytest.mark.parametrize("case", sorted(BUNDLE_CASES))
def test_a_bundle_file_that_is_not_a_bounded_regular_file_is_refused(settled_bundles: Settled, tmp_path: Path,
                                                                      case: str) -> None:
    name, change, want = BUNDLE_CASES[case]
    bundle = tmp_path / "bundle"
    shutil.copytree(settled_bundles.feb, bundle)
    change(bundle / name)
    done = revshare("verify", "statement", str(bundle), "--key", str(settled_bundles.vkey))
    assert_one_line_failure(done, "FAILED bundle: BundleFormatError: ", want)


@pytest.mark.parametrize("name", ["leaves.jsonl", "terms.json", f"{ST}.sig"])
def test_a_symbolic_link_out_of_the_bundle_is_refused_even_to_the_genuine_file(settled_bundles: Settled,
                                                                               tmp_path: Path, name: str) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(settled_bundles.feb, bundle)
    (tmp_path / "outside").mkdir()
    shutil.move(bundle / name, tmp_path / "outside" / name)
    (bundle / name).symlink_to(tmp_path / "outside" / name)
    done = revshare("verify", "statement", str(bundle), "--key", str(settled_bundles.vkey))
    assert_one_line_failure(done, f"{name} is a symbolic link")


def test_the_genuine_bundle_verifies_under_the_same_caps(settled_bundles: Settled) -> None:
    done = revshare("verify", "statement", str(settled_bundles.feb), "--key", str(settled_bundles.vkey))
    assert done["code"] == 0 and done["exception"] is None, done
    assert f"OK: {ST} verifies" in done["stdout"] and done["stderr"] == ""


COMMAND_CASES: dict[str, tuple[Callable[[Path], object], str]] = {
    "fifo": (os.mkfifo, "is not a regular file"),
    "link-to-dev-zero": (lambda p: p.symlink_to("/dev/zero"), "is not a regular file"),
    "sparse-2-gib": (lambda p: _sparse(p, 2 << 30), "is 2147483648 bytes"),
    "a-directory": (os.mkdir, "is not a regular file"),
}


@pytest.mark.parametrize("case", sorted(COMMAND_CASES))
@pytest.mark.parametrize("command", ["receipt", "checkpoint", "checkpoint --previous", "checkpoint --proof",
                                     "leaves", "--key"])
def test_files_named_on_the_command_line_are_bounded_regular_files(settled_bundles: Settled, tmp_path: Path,
                                                                   command: str, case: str) -> None:
    make, want = COMMAND_CASES[case]
    hostile = tmp_path / "hostile"
    make(hostile)
    checkpoint = tmp_path / "google.checkpoint"
    shutil.copy(settled_bundles.feb / "checkpoint", checkpoint)
    key, h = str(settled_bundles.vkey), str(hostile)
    args = {
        "receipt": ["receipt", h, "--key", key],
        "checkpoint": ["checkpoint", h, "--key", key],
        "checkpoint --previous": ["checkpoint", str(checkpoint), "--key", key, "--previous", h,
                                  "--proof", str(settled_bundles.feb / "consistency.json")],
        "checkpoint --proof": ["checkpoint", str(checkpoint), "--key", key, "--previous",
                               str(settled_bundles.feb / "checkpoint.previous"), "--proof", h],
        "leaves": ["leaves", h, "--checkpoint", str(checkpoint), "--key", key],
        "--key": ["checkpoint", str(checkpoint), "--key", h],
    }[command]
    done = revshare("verify", *args)
    assert_one_line_failure(done, h, want)
