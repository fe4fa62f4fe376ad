"""Two versions of the gateway on the same core at the same time: CPU a request, side by side.

On a shared VM two runs a minute apart can differ by 2x (a neighbour, the host's frequency), so
alternated runs (bench/gateway_cpu.py --tree, bench/peers.py) need many rounds to tell a 5%
change. Here both gateways are pinned to core 0 together, each with its own ledger, and the same
closed-loop load is sent to both at once from core 1 (the stub upstream there too): whatever
slows one slows the other, and the ratio of their CPU a request (utime + stime of each process,
from /proc) holds still. Give two checkouts, for instance the commit before a change as a
worktree:

    git worktree add ../before HEAD~1
    .venv/bin/python bench/same_core.py ../before . --clients 16
    .venv/bin/python bench/same_core.py ../before . --clients 1 --stream

Each tree is served by its own `src` (PYTHONPATH) and migrates its own ledger. Prints each round
and the median of B's CPU a request over A's (below 1: B spends less).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from overhead import CATALOG  # noqa: E402
from peers import Cell, free_port, load, stop, wait_ready  # noqa: E402

# Run with the tree's own code: the ledger it migrates and the key it makes are its own.
_NEW_LEDGER = ("import sys; sys.path.insert(0, {src!r}); from revshare.ledger.store import Ledger; "
               "ledger = Ledger({url!r}); ledger.migrate(); print(ledger.create_key('bench')[1])")


def start(tree: Path, folder: Path, stub_port: int) -> tuple[subprocess.Popen[bytes], str, str]:
    """A gateway of `tree` on core 0, with its own ledger: its process, URL and key."""
    folder.mkdir()
    (folder / "revshare.toml").write_text(CATALOG.format(stub_port=stub_port, rollup_interval_s=2.0))
    url = f"sqlite:///{folder / 'ledger.db'}"
    key = subprocess.run([sys.executable, "-c", _NEW_LEDGER.format(src=str(tree / "src"), url=url)],
                         capture_output=True, text=True, check=True).stdout.strip()
    port = free_port()
    env = {**os.environ, "REVSHARE_DATABASE_URL": url, "PYTHONPATH": str(tree / "src")}
    with (folder / "gateway.log").open("wb") as out:
        proc = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "revshare.cli", "serve", "--config",
                                 str(folder / "revshare.toml"), "--port", str(port), "--log-level", "warning"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    wait_ready(f"http://127.0.0.1:{port}/healthz", proc, folder / "gateway.log")
    return proc, f"http://127.0.0.1:{port}/v1/chat/completions", key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path, help="the first checkout (A, the baseline)")
    parser.add_argument("b", type=Path, help="the second checkout (B)")
    parser.add_argument("--clients", type=int, default=16, help="clients on each gateway (default 16)")
    parser.add_argument("--stream", action="store_true", help="16-chunk streams instead of whole replies")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds a round (default 4)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds (default 4)")
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) < 2 or not shutil.which("taskset"):
        sys.exit("same_core.py needs two cores and taskset: the gateways on one, the load on the other")
    os.sched_setaffinity(0, {1})
    tmp = Path(tempfile.mkdtemp(prefix="revshare-same-core-"))
    stub_port = free_port()
    stub = subprocess.Popen(["taskset", "-c", "1", sys.executable, str(HERE / "upstream_stub.py"),
                             "--port", str(stub_port)])
    gateways: list[tuple[subprocess.Popen[bytes], str, str]] = []
    try:
        wait_ready(f"http://127.0.0.1:{stub_port}/v1/models", stub, None)
        for name, tree in (("a", args.a), ("b", args.b)):
            gateways.append(start(tree.resolve(), tmp / name, stub_port))

        async def both(seconds: float) -> list[Cell]:
            return list(await asyncio.gather(*[
                load(url, {"Authorization": f"Bearer {key}"}, args.clients, seconds, args.stream, 16, proc.pid)
                for proc, url, key in gateways]))

        asyncio.run(both(2.0))  # warm-up
        mode = "streamed" if args.stream else "whole"
        print(f"A {args.a}, B {args.b}: both on core 0, {args.clients} clients each, {mode} replies, "
              f"{args.seconds:g} s a round")
        ratios = []
        for n in range(args.rounds):
            a, b = asyncio.run(both(args.seconds))
            per = [c.cpu_s / len(c.latencies) * 1e6 if c.cpu_s and c.latencies else float("nan") for c in (a, b)]
            ratios.append(per[1] / per[0])
            print(f"  round {n + 1}: A {per[0]:,.0f} µs a request, {a.rps:,.0f} rps, p50 {a.p(0.5):.2f} ms | "
                  f"B {per[1]:,.0f} µs, {b.rps:,.0f} rps, p50 {b.p(0.5):.2f} ms | B/A {ratios[-1]:.3f}")
        print(f"median B/A, CPU a request: {statistics.median(ratios):.3f}")
    finally:
        for proc, _, _ in gateways:
            stop(proc)
        stop(stub)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
