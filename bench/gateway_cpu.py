"""Gateway CPU per request: the gateway process's user + system time over N sequential requests.

Latency on a shared 2-core machine moves by 10-20% between identical runs; the CPU the gateway
process spends per request moves much less, so it is the figure to compare two versions by. Give
`--tree` another checkout (a `git worktree` of an older commit) to measure that one with the same
script, and alternate the two:

    git worktree add ../old ef04c97
    .venv/bin/python bench/gateway_cpu.py --tree ../old
    .venv/bin/python bench/gateway_cpu.py

`--callgrind` runs the gateway under valgrind's callgrind and counts the instructions it executes
per request instead, on the event loop's thread and in all threads (zeroed after the warm-up,
dumped after the measured requests). It is about 50x slower, but repeatable to a fraction of a
percent where CPU time is not, so changes of tens of µs can be told from the noise:

    .venv/bin/python bench/gateway_cpu.py --callgrind --requests 300

`--stub-series` measures the same tree without its series and access log: the gateway starts
with the recording calls made no-ops and `api.edge.Edge` reduced to the body limit and the 500
(what the series cost is the difference; the tree must have `api/edge.py`):

    .venv/bin/python bench/gateway_cpu.py --callgrind --requests 300 --access-log off
    .venv/bin/python bench/gateway_cpu.py --callgrind --requests 300 --access-log off --stub-series

The dumps stay in the run's temporary folder (printed) for `callgrind_annotate --inclusive=yes`;
CPython 3.11 shows there as C functions (the interpreter, dict and allocator calls), so they say
where instructions go, not which Python line spent them.

The gateway serves the stub upstream of bench/upstream_stub.py (16 tokens, no delay) with
metering on (SQLite WAL, group commit), as bench/overhead.py does; 200 requests warm it first.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parents[1]

# Imported first by the gateway under --stub-series (as sitecustomize): what a request pays for
# the series is what this takes away.
STUB_SERIES = '''
from pathlib import Path

from revshare.api import app, edge
from revshare.ledger.writer import GroupCommitWriter
from revshare.metrics import tally
from revshare.serving.lease import Lease

tally.CounterCell.inc = lambda self, amount=1: None
tally.HistogramCell.observe = lambda self, value: None
Lease._observe_times = lambda self, completion_tokens: None
Lease._observe_record = lambda self, record: None
GroupCommitWriter._observe = lambda self, *args: None


class Bare(edge.Edge):
    """The body's limit and the last answer, without the observation."""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        def send_status(message):
            nonlocal status
            if not status and message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        if scope["method"] in edge._WITH_BODY:
            declared = edge._declared_length(scope["headers"])
            if declared is None:
                body = await self._read_body(receive)
                if body is None:
                    return
                if len(body) > self.max_body_bytes:
                    await self._too_large(send_status)
                    return
                receive = edge._replay(body, receive)
            elif declared > self.max_body_bytes:
                await self._too_large(send_status)
                return
        try:
            await self.app(scope, receive, send_status)
        except edge.ClientDisconnect:
            if status:
                raise
        except Exception:
            if status:
                raise
            await edge.internal_error()(scope, receive, send_status)


app.Edge = Bare
(Path(__file__).parent / "stubbed").touch()
'''


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def counted(pid: int, out: Path, work: Callable[[], None], keep: str) -> tuple[int, int]:
    """Instructions the process under callgrind executes while `work` runs: on its main thread
    (the event loop, which every request waits for) and on all its threads. The dumps are kept
    as `<out>.<keep>-<thread>` for callgrind_annotate."""
    quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(["callgrind_control", "--zero", str(pid)], **quiet)
    work()
    for old in out.parent.glob(out.name + ".[0-9]*"):
        old.unlink()
    subprocess.run(["callgrind_control", "--dump", str(pid)], **quiet)
    main = total = 0
    for dump in out.parent.glob(out.name + ".[0-9]*"):
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                total += int(line.split()[1])
                if dump.name.endswith("-01"):  # --separate-threads: thread 1 is the main thread
                    main += int(line.split()[1])
                break
        dump.rename(out.parent / f"{out.name}.{keep}-{dump.name.rsplit('-', 1)[1]}")
    return main, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=HERE, help="the checkout to measure (default: this one)")
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per mode (default 3000)")
    parser.add_argument("--clients", type=int, default=1,
                        help="clients sending at once, each sequentially (default 1); with more, the "
                             "writer's commits are shared as under load")
    parser.add_argument("--callgrind", action="store_true",
                        help="count instructions per request under valgrind (repeatable, slow)")
    parser.add_argument("--stub-series", action="store_true",
                        help="measure without the series and access log (a tree with api/edge.py)")
    parser.add_argument("--access-log", choices=["text", "json", "off"],
                        help="set [server] access_log (trees from before it existed refuse the setting)")
    args = parser.parse_args()
    tree = args.tree.resolve()
    sys.path[:0] = [str(tree / "src"), str(tree / "bench")]
    from overhead import BODY, CATALOG, free_port, wait_ready  # the tree's own bench harness

    from revshare.ledger.store import Ledger

    tmp = Path(tempfile.mkdtemp(prefix="revshare-cpu-"))
    stub_port, gw_port = free_port(), free_port()
    # Newer trees' harness leaves the rollups' interval to its caller; an hour under callgrind (below).
    rollups = {"rollup_interval_s": 3600 if args.callgrind else 2.0} if "{rollup_interval_s}" in CATALOG else {}
    catalog = CATALOG.format(stub_port=stub_port, **rollups)
    if args.access_log:
        catalog = catalog.replace("[server]\n", f'[server]\naccess_log = "{args.access_log}"\n', 1)
    if args.callgrind:
        # Work on a timer: under valgrind's slowdown the number of ticks (each with a fixed cost)
        # would depend on the machine's load. The log integrates (bench/tlog.py measures that),
        # and in trees that have them, usage rollups fold and the accounts are re-read.
        catalog += "\n[log]\ninterval_s = 3600\n"
        known = tree / "src" / "revshare" / "config" / "sections.py"
        fields = known.read_text() if known.exists() else ""
        for name, value in (("rollup_interval_s", 3600), ("accounts_refresh_s", 60)):
            if f"{name}:" in fields and f"{name} =" not in catalog:
                catalog = catalog.replace("[server]\n", f"[server]\n{name} = {value}\n", 1)
    (tmp / "bench.toml").write_text(catalog)
    url = f"sqlite:///{tmp / 'ledger.db'}"
    ledger = Ledger(url)
    ledger.migrate()
    _, key = ledger.create_key("bench")
    env = {**os.environ, "REVSHARE_DATABASE_URL": url, "PYTHONPATH": str(tree / "src")}
    if args.stub_series:
        (tmp / "stub").mkdir()
        (tmp / "stub" / "sitecustomize.py").write_text(STUB_SERIES)
        env["PYTHONPATH"] = f"{tmp / 'stub'}{os.pathsep}{env['PYTHONPATH']}"
    if args.callgrind:
        # A fixed hash seed: str hashes decide dict layouts and method-cache collisions, which move
        # a run's count by up to 0.5%. Set PYTHONHASHSEED to try another seed.
        env.setdefault("PYTHONHASHSEED", "0")
    stub = subprocess.Popen([sys.executable, str(tree / "bench" / "upstream_stub.py"), "--port", str(stub_port)])
    out = tmp / "callgrind.out"
    under = ["valgrind", "-q", "--tool=callgrind", f"--callgrind-out-file={out}", "--instr-atstart=yes",
             "--dump-line=no", "--separate-threads=yes"] if args.callgrind else []
    gateway = subprocess.Popen(
        [*under, sys.executable, "-m", "revshare.cli", "serve", "--config", str(tmp / "bench.toml"),
         "--port", str(gw_port), "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{stub_port}/v1/models")
        if args.callgrind:  # valgrind starts the gateway about 50 times slower than it runs natively
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline and gateway.poll() is None:
                try:
                    if httpx.get(f"http://127.0.0.1:{gw_port}/healthz", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(1)
        wait_ready(f"http://127.0.0.1:{gw_port}/healthz")
        if args.stub_series and not (tmp / "stub" / "stubbed").exists():
            sys.exit("--stub-series: the gateway did not load the stubs (does the tree have api/edge.py?)")
        how = "sequential requests" if args.clients == 1 else f"requests from {args.clients} clients at once"
        print(f"gateway CPU per request, {args.requests} {how} per mode, tree {tree}")
        clients = [httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=600) for _ in range(args.clients)]
        with contextlib.ExitStack() as stack, ThreadPoolExecutor(args.clients) as pool:
            for client in clients:
                stack.enter_context(client)
            for stream in (False, True):
                def send(n: int, stream: bool = stream) -> None:
                    def one_client(client: httpx.Client, share: int) -> None:
                        for _ in range(share):
                            client.post(f"http://127.0.0.1:{gw_port}/v1/chat/completions",
                                        json={**BODY, "stream": stream}).read()
                    shares = [n // len(clients) + (i < n % len(clients)) for i in range(len(clients))]
                    for done in [pool.submit(one_client, c, k) for c, k in zip(clients, shares, strict=True)]:
                        done.result()
                send(50 if args.callgrind else 200)
                if args.callgrind:
                    mode = "stream" if stream else "whole"
                    main, total = counted(gateway.pid, out, lambda: send(args.requests), mode)
                    print(f"  {mode:6}  {main / args.requests:,.0f} instructions on the event loop, "
                          f"{total / args.requests:,.0f} in all threads (dumps: {out}.{mode}-*)")
                    continue
                before = cpu_seconds(gateway.pid)
                send(args.requests)
                per_request = (cpu_seconds(gateway.pid) - before) / args.requests
                print(f"  {'stream' if stream else 'whole '}  {per_request * 1e6:,.0f} µs")
    finally:
        gateway.terminate()
        stub.terminate()
        gateway.wait(10)
        stub.wait(10)


if __name__ == "__main__":
    main()
