"""Gateway overhead: latency added by revshare (with metering on) over calling the upstream directly.

Starts the minimal upstream stub and a revshare gateway in front of it (SQLite ledger, group
commit, every request metered), then runs the same load against both in this one script, at
concurrency 1, 16 and 64, streaming and not. Prints p50/p99 latency, the added latency and the
throughput ratio, so figures are comparable across machines.

    .venv/bin/python bench/overhead.py            # full run
    .venv/bin/python bench/overhead.py --quick    # a smoke run
    .venv/bin/python bench/overhead.py --rollup-interval-s 3600   # the usage rollups' fold as good as off
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

CATALOG = """
[server]
commit_batch_max = 512
rollup_interval_s = {rollup_interval_s}

[[engines]]
id = "stub"
kind = "upstream"
base_url = "http://127.0.0.1:{stub_port}/v1"
max_connections = 512

[[models]]
id = "stub-model"
engine = "stub"

[[prices]]
model = "stub-model"
input_per_million = "0.10"
output_per_million = "0.40"
effective_from = 2026-01-01

[[customers]]
name = "bench"
"""

BODY = {"model": "stub-model", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 16}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


async def one(session: aiohttp.ClientSession, url: str, headers: dict[str, str], stream: bool) -> float:
    body = json.dumps({**BODY, "stream": stream}).encode()
    start = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as r:
        await r.read()
        assert r.status == 200, r.status
    return time.perf_counter() - start


async def load(
    url: str, headers: dict[str, str], concurrency: int, total: int, stream: bool
) -> tuple[list[float], float]:
    headers = {**headers, "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(min(20, total)):  # warm up connections and caches
            await one(session, url, headers, stream)
        latencies: list[float] = []
        remaining = total

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                latencies.append(await one(session, url, headers, stream))

        start = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        return latencies, time.perf_counter() - start


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests, for a smoke run")
    parser.add_argument("--requests", type=int, default=None, help="requests per cell (default 400, quick 60)")
    parser.add_argument("--rollup-interval-s", type=float, default=2.0,
                        help="how often the gateway folds new records into the usage rollups (default 2, as "
                             "revshare.toml's default; 3600: not during the run, the rollups' cost left out)")
    args = parser.parse_args()
    total = args.requests or (60 if args.quick else 400)

    from revshare.ledger.store import Ledger

    tmp = Path(tempfile.mkdtemp(prefix="revshare-bench-"))
    stub_port, gw_port = free_port(), free_port()
    (tmp / "bench.toml").write_text(CATALOG.format(stub_port=stub_port, rollup_interval_s=args.rollup_interval_s))
    db_url = f"sqlite:///{tmp / 'ledger.db'}"
    ledger = Ledger(db_url)
    ledger.migrate()
    _, key = ledger.create_key("bench")
    env = {**os.environ, "REVSHARE_DATABASE_URL": db_url}
    stub = subprocess.Popen([sys.executable, str(REPO / "bench" / "upstream_stub.py"), "--port", str(stub_port)])
    gateway = subprocess.Popen(
        [sys.executable, "-m", "revshare.cli", "serve", "--config", str(tmp / "bench.toml"),
         "--port", str(gw_port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{stub_port}/v1/models")
        wait_ready(f"http://127.0.0.1:{gw_port}/healthz")
        direct = (f"http://127.0.0.1:{stub_port}/v1/chat/completions", {})
        via = (f"http://127.0.0.1:{gw_port}/v1/chat/completions", {"Authorization": f"Bearer {key}"})
        before = ledger.count()
        print(f"{total} requests per cell; upstream stub replies 16 tokens; metering on (SQLite WAL, group commit); "
              f"rollups folded every {args.rollup_interval_s:g} s\n")
        header = (f"{'mode':<7} {'conc':>4} | {'direct p50':>10} {'p99':>7} {'rps':>7} | "
                  f"{'gateway p50':>11} {'p99':>7} {'rps':>7} | {'added p50':>9} {'added p99':>9} {'rps ratio':>9}")
        print(header)
        print("-" * len(header))
        sent = 0
        for stream in (False, True):
            for concurrency in (1, 16, 64):
                d_lat, d_wall = asyncio.run(load(*direct, concurrency, total, stream))
                g_lat, g_wall = asyncio.run(load(*via, concurrency, total, stream))
                sent += total + min(20, total)
                d_rps, g_rps = total / d_wall, total / g_wall
                print(f"{'stream' if stream else 'whole':<7} {concurrency:>4} | "
                      f"{pct(d_lat, .5):>8.2f}ms {pct(d_lat, .99):>5.2f}ms {d_rps:>7.0f} | "
                      f"{pct(g_lat, .5):>9.2f}ms {pct(g_lat, .99):>5.2f}ms {g_rps:>7.0f} | "
                      f"{pct(g_lat, .5) - pct(d_lat, .5):>7.2f}ms {pct(g_lat, .99) - pct(d_lat, .99):>7.2f}ms "
                      f"{g_rps / d_rps:>9.2f}")
        time.sleep(0.5)
        metered = ledger.count() - before
        print(f"\nrecords metered: {metered} of {sent} gateway requests "
              f"({'exactly once' if metered == sent else 'MISMATCH'})")
        print(f"median of direct c=1 latency is the baseline; python {sys.version.split()[0]}, {os.cpu_count()} cpu(s)")
    finally:
        gateway.terminate()
        stub.terminate()
        gateway.wait(20)
        stub.wait(20)
        ledger.close()


if __name__ == "__main__":
    main()
