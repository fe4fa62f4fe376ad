"""README.md is run, not just read: its command blocks, in order, from a scratch copy (issue 11).

Every ```sh block runs in one bash script with `set -euo pipefail`, as a reader would type it;
each ```python block runs with `.venv/bin/python` at its place in that order. A command that
serves (`make run`, `revshare serve`) starts in the background, as in a shell of its own, and the
script waits for its `/readyz` before going on. `make test` is this test suite, and is not run.

What the environment needs changed is changed in the open, and each change must still find its
text in the README: ports 8000 and 8001 become free ports (a developer's `make run` may hold
8000), and the PostgreSQL database `revshare` a fresh one, dropped afterwards. `curl` fails on an
HTTP error status, so a refused request fails the walk-through. The scratch copy's `.venv` is this
interpreter's, and `make -n run` must show that `make run` only serves: it never builds there.

Last, the README leaves nothing for git to see: what its commands wrote is all ignored.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support.databases import PG_ADMIN_URL, pg_available
from tests.support.paths import REPO
from tests.support.servers import free_port

pytestmark = [pytest.mark.engine, pytest.mark.postgres, pytest.mark.slow]

README = REPO / "README.md"
COPIED = ("README.md", "Makefile", "pyproject.toml", "revshare.toml", ".gitignore")
SKIPPED = {"make test": "the test suite, which runs this test"}
FENCES = {"sh", "python", "toml"}

PRELUDE = r"""
set -euo pipefail
wait_ready() {  # base url, server pid, server log
  for _ in $(seq 1 900); do
    if command curl -sf -o /dev/null "$1/readyz"; then return 0; fi
    if ! kill -0 "$2" 2>/dev/null; then echo "the server exited:" >&2; cat "$3" >&2; return 1; fi
    sleep 0.2
  done
  echo "the server was not ready in 180 s:" >&2; cat "$3" >&2; return 1
}
curl() {  # as printed, but an HTTP error status fails the command
  local out code
  out=$(command curl -w '\n%{http_code}' "$@")
  code=${out##*$'\n'}
  printf '%s\n' "${out%$'\n'*}"
  if [ "$code" -ge 400 ]; then echo "HTTP $code from: curl $*" >&2; return 1; fi
}
"""


def blocks(text: str) -> list[tuple[str, str]]:
    """Each fenced block (language, body), in order; every fence must be a language we know."""
    found = re.findall(r"^```(\w*)\n(.*?)^```$", text, flags=re.M | re.S)
    assert {lang for lang, _ in found} <= FENCES, f"README fences must be one of {FENCES}: a command block is sh"
    return found


def commands(body: str) -> list[str]:
    """The logical commands of a shell block: lines joined where they end with a backslash."""
    out: list[str] = []
    pending = ""
    for line in body.splitlines(keepends=True):
        pending += line
        if not line.rstrip("\n").endswith("\\"):
            out.append(pending)
            pending = ""
    return [c for c in out if c.strip()]


def script(text: str, logs: Path) -> tuple[str, list[str]]:
    """The bash script of the README's blocks, and the commands it left out (must be SKIPPED)."""
    parts = [PRELUDE]
    left_out: list[str] = []
    servers = 0
    for lang, body in blocks(text):
        if lang == "python":
            parts.append(f".venv/bin/python - <<'PYTHON'\n{body}PYTHON\n")
            continue
        if lang != "sh":
            continue
        for command in commands(body):
            first = command.strip()
            if any(first.startswith(skip) for skip in SKIPPED):
                left_out.append(first.split("#")[0].strip())
                continue
            if first.startswith("make run") or "revshare serve" in command:
                servers += 1
                port = re.search(r"--port (\d+)", command)
                url = f"http://127.0.0.1:{port[1] if port else '$DEMO_PORT'}"
                log = logs / f"server-{servers}.log"
                parts.append(f"{{\n{command}}} > {log} 2>&1 &\nwait_ready {url} $! {log}\n")
                continue
            parts.append(command)
    return "".join(parts), left_out


def shell_env() -> dict[str, str]:
    """A reader's fresh shell: none of revshare's or the SDK's variables, and not inside make
    (`make test` runs this test; a sub-make would print its directory and take the parent's flags)."""
    dropped = {"REVSHARE_DATABASE_URL", "REVSHARE_CONFIG", "REVSHARE_ADMIN_TOKEN", "OPENAI_API_KEY", "OPENAI_BASE_URL",
               "VIRTUAL_ENV", "MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES"}
    return {k: v for k, v in os.environ.items() if k not in dropped}


def scratch_copy(root: Path) -> None:
    """README's files, and a `.venv` that is this interpreter's: `make run` must find it built."""
    for name in COPIED:
        shutil.copy2(REPO / name, root / name)
    venv = Path(sys.prefix)
    assert venv != Path(sys.base_prefix), "run the tests from the virtual environment (make test)"
    (root / ".venv").mkdir()
    for entry in venv.iterdir():  # bin, lib, pyvenv.cfg, …: this environment, seen from the copy
        if entry.name != ".installed":
            (root / ".venv" / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    (root / ".venv" / ".installed").touch()  # newer than pyproject.toml: nothing to build
    dry = subprocess.run(["make", "-n", "run"], cwd=root, env=shell_env(), capture_output=True, text=True,
                         timeout=30)
    assert dry.returncode == 0 and dry.stdout.splitlines() == [".venv/bin/revshare serve --config revshare.toml --demo"], (
        f"make run would do more than serve in the scratch copy (it must never rebuild this .venv): {dry.stdout}")


def substitute(text: str, old: str, new: str) -> str:
    assert old in text, f"the README no longer holds {old!r}: update this test"
    return text.replace(old, new)


def drop_database(name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def stop(proc: subprocess.Popen[str]) -> None:
    """End the script's process group: the servers it started in the background."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def replies(out: str) -> list[dict[str, object]]:
    found = []
    for line in out.splitlines():
        if line.startswith("{") and '"choices"' in line:
            found.append(json.loads(line))
    return found


def test_every_readme_command_works_as_printed_in_order(tmp_path: Path) -> None:
    if not shutil.which("make") or not shutil.which("curl") or not pg_available():
        if os.environ.get("CI"):
            pytest.fail("the README walk-through needs make, curl and PostgreSQL on 127.0.0.1:5432 in CI")
        pytest.skip("needs make, curl and PostgreSQL on 127.0.0.1:5432")
    root, logs = tmp_path / "repo", tmp_path / "logs"
    root.mkdir()
    logs.mkdir()
    scratch_copy(root)
    demo_port, own_port, database = free_port(), free_port(), f"revshare_readme_{uuid.uuid4().hex[:12]}"
    toml = root / "revshare.toml"
    toml.write_text(substitute(toml.read_text(), "port = 8000", f"port = {demo_port}"))
    text = README.read_text()
    text = substitute(text, "127.0.0.1:8000", f"127.0.0.1:{demo_port}")
    text = substitute(text, "--port 8001", f"--port {own_port}")
    text = substitute(text, "127.0.0.1:8001", f"127.0.0.1:{own_port}")
    text = substitute(text, "5432/revshare", f"5432/{database}")
    text = substitute(text, "createdb -h 127.0.0.1 -U postgres revshare", f"createdb -h 127.0.0.1 -U postgres {database}")
    body, left_out = script(text, logs)
    assert sorted(left_out) == sorted(SKIPPED), left_out
    env = {**shell_env(), "DEMO_PORT": str(demo_port)}
    started = time.monotonic()
    proc = subprocess.Popen(["bash", "-c", body], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=420)
    except subprocess.TimeoutExpired:
        stop(proc)
        out, err = proc.communicate()
        pytest.fail(f"the README walk-through ran over 420 s:\n{out}\n{err}")
    finally:
        stop(proc)
        drop_database(database)
    elapsed = time.monotonic() - started
    server_logs = "\n".join(p.read_text() for p in sorted(logs.iterdir()))
    assert proc.returncode == 0, f"{out}\n{err}\n--- servers ---\n{server_logs}"

    # The demo's examples: sensible text, every request short (default 64, at most 256 tokens).
    answers = replies(out)
    assert len(answers) == 2, out  # the demo's curl, and acme's on the PostgreSQL gateway
    for answer in answers:
        choice = answer["choices"][0]  # type: ignore[index]
        assert (choice.get("text") or choice["message"]["content"]).strip(), answer
        assert 0 < answer["usage"]["completion_tokens"] <= 64, answer  # type: ignore[index]
    assert "CompletionUsage(" in out  # the Python example printed its reply and usage
    assert "usage record(s)" in out
    assert re.search(r"OK: .* verifies", out), out
    assert elapsed < 300, f"the README took {elapsed:.0f} s"

    # What the README's commands wrote is ignored by git: nothing new shows as untracked.
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root,
                                capture_output=True, text=True, check=True).stdout
        untracked = {line[3:] for line in status.splitlines()}
        assert untracked == set(COPIED), f"README output that git would show: {untracked - set(COPIED)}"
