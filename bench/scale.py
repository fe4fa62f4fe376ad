"""Scale-out: what routing costs a request, and ledger ingest on PostgreSQL with 1, 2 and 3 replicas.

Routing: the router's own cost per request, in this process: sequential requests to an engine
that answers at once, directly and through a `Router` over one and over three such engines; and
end to end to the stub upstream over HTTP, through an `UpstreamEngine` directly and through a
`Router` over it. Rounds are interleaved and the median kept, so a busy machine skews every cell
alike.

Ingest: 1, 2 and 3 `revshare serve` replicas on one fresh PostgreSQL database, in front of one
stub upstream, driven with the same total load spread over them; records committed per second,
and the group commit's mean batch (from each replica's `revshare_ledger_commit_batch_size`).
Everything shares this machine's cores (load generator, replicas, PostgreSQL, stub), so the
ratios say how the ledger path scales on one box, not what separate machines would give.

    PYTHONPATH=src .venv/bin/python bench/scale.py            # about 2 minutes
    PYTHONPATH=src .venv/bin/python bench/scale.py --quick    # a smoke run
    PYTHONPATH=src .venv/bin/python bench/scale.py --routing-only
    PYTHONPATH=src .venv/bin/python bench/scale.py --settle 100000   # bench/scale_settle.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

PG_ADMIN = os.environ.get("REVSHARE_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BODY = {"model": "stub-model", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 16}
CATALOG = """
[server]
data_dir = "{data}"
commit_batch_max = 512

[[engines]]
id = "stub"
kind = "upstream"
base_url = "http://127.0.0.1:{port}/v1"
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def start_stub(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "upstream_stub.py"), "--port", str(port)])
    wait_ready(f"http://127.0.0.1:{port}/v1/models")
    return proc


# --- routing ------------------------------------------------------------------------------------

def _request() -> object:
    from revshare.config import ModelConfig
    from revshare.engines.base import GenerationRequest

    return GenerationRequest("chat.completions", ModelConfig(id="stub-model", engine="stub"),
                             {"messages": BODY["messages"], "max_tokens": 16})


async def _mean_seconds(engine: object, requests: int) -> float:
    from revshare.engines.base import Engine, GenerationRequest, UsageMeter

    assert isinstance(engine, Engine)
    request = _request()
    assert isinstance(request, GenerationRequest)
    start = time.perf_counter()
    for _ in range(requests):
        await engine.complete(request, UsageMeter())
    return (time.perf_counter() - start) / requests


def _noop_engine(engine_id: str) -> object:
    from typing import Any

    from revshare.engines.base import Engine, GenerationRequest, UsageMeter

    class Noop(Engine):
        """Answers at once: what is left of a request's time is the caller's own."""

        def __init__(self) -> None:
            self.id = engine_id

        async def complete(self, request: GenerationRequest, meter: UsageMeter) -> dict[str, Any]:
            meter.completion_tokens = 1
            return {}

        async def stream(self, request: GenerationRequest, meter: UsageMeter) -> Any:
            yield {}

        def count_tokens(self, model: Any, text: str) -> int:
            return 1

    return Noop()


async def routing(port: int, requests: int, rounds: int = 5) -> dict[str, float]:
    """Median seconds a request over interleaved rounds: the router's own cost, over an engine that
    answers at once (1 and 3 engines), and end to end over HTTP to the stub (1 engine)."""
    from revshare.config import EngineConfig
    from revshare.engines.base import Engine
    from revshare.engines.health import EngineHealth
    from revshare.engines.router import Member, Router
    from revshare.engines.upstream import UpstreamEngine

    def route(*engines: Engine) -> Router:
        return Router("route:bench", [Member(e, 1, EngineHealth(e.id, 3, 10.0)) for e in engines])

    noops = [_noop_engine(f"n{i}") for i in range(3)]
    assert all(isinstance(n, Engine) for n in noops)
    upstream = UpstreamEngine(EngineConfig(id="stub", kind="upstream", base_url=f"http://127.0.0.1:{port}/v1"))
    await upstream.start()
    cells: dict[str, tuple[object, int]] = {
        "no-op engine, direct": (noops[0], requests * 20),
        "no-op engine, router over 1": (route(noops[0]), requests * 20),  # type: ignore[arg-type]
        "no-op engine, router over 3": (route(*noops), requests * 20),  # type: ignore[arg-type]
        "stub over HTTP, direct": (upstream, requests),
        "stub over HTTP, router over 1": (route(upstream), requests),
    }
    samples: dict[str, list[float]] = {name: [] for name in cells}
    try:
        for engine, n in cells.values():
            await _mean_seconds(engine, min(n, 200))  # warm up
        for _ in range(rounds):
            for name, (engine, n) in cells.items():
                samples[name].append(await _mean_seconds(engine, n // rounds))
    finally:
        await upstream.close()
    return {name: sorted(values)[len(values) // 2] for name, values in samples.items()}


# --- ingest -------------------------------------------------------------------------------------

async def _drive(ports: list[int], key: str, total: int, concurrency: int) -> float:
    headers = {"Authorization": f"Bearer {key}"}
    left = total

    async with httpx.AsyncClient(timeout=60, headers=headers,
                                 limits=httpx.Limits(max_connections=concurrency)) as client:
        async def worker(i: int) -> None:
            nonlocal left
            url = f"http://127.0.0.1:{ports[i % len(ports)]}/v1/chat/completions"
            while left > 0:
                left -= 1
                r = await client.post(url, json=BODY)
                assert r.status_code == 200, r.text

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return time.perf_counter() - start


def _batch_mean(port: int) -> tuple[float, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    total = float(re.search(r"^revshare_ledger_commit_batch_size_sum ([0-9.e+]+)", text, re.M)[1])  # type: ignore[index]
    count = float(re.search(r"^revshare_ledger_commit_batch_size_count ([0-9.e+]+)", text, re.M)[1])  # type: ignore[index]
    return total, count


def ingest(stub_port: int, replicas: int, total: int, concurrency: int, tmp: Path) -> tuple[float, float]:
    """(records committed per second, mean group-commit batch) with `replicas` replicas."""
    from sqlalchemy import create_engine, text

    from revshare.ledger.store import Ledger

    name = f"revshare_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    procs: list[subprocess.Popen[bytes]] = []
    ledger = Ledger(url)
    try:
        ledger.migrate()
        _, key = ledger.create_key("bench")
        config = tmp / f"scale{replicas}.toml"
        config.write_text(CATALOG.format(port=stub_port, data=tmp / "data"))
        ports = []
        env = {**os.environ, "REVSHARE_DATABASE_URL": url, "REVSHARE_ADMIN_TOKEN": "rsa_bench"}
        for _ in range(replicas):
            port = free_port()
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "revshare.cli", "serve", "--config", str(config), "--port", str(port),
                 "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL))
            wait_ready(f"http://127.0.0.1:{port}/healthz")
            ports.append(port)
        asyncio.run(_drive(ports, key, min(200, total), concurrency))  # warm up
        before = ledger.count()
        batches = [_batch_mean(p) for p in ports]
        elapsed = asyncio.run(_drive(ports, key, total, concurrency))
        committed = ledger.count() - before
        after = [_batch_mean(p) for p in ports]
        rows = sum(a[0] - b[0] for a, b in zip(after, batches, strict=True))
        commits = sum(a[1] - b[1] for a, b in zip(after, batches, strict=True))
        return committed / elapsed, rows / commits if commits else 0.0
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        ledger.close()
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                         {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests, for a smoke run")
    parser.add_argument("--routing-only", action="store_true", help="skip the PostgreSQL ingest runs")
    parser.add_argument("--settle", type=int, metavar="ROWS_A_MONTH", default=0,
                        help="instead: settle time, 12 monthly partitions against one table (bench/scale_settle.py)")
    args = parser.parse_args()
    if args.settle:
        from scale_settle import settle_bench

        print("\n".join(settle_bench(PG_ADMIN, args.settle)))
        return
    route_requests, total, concurrency = (300, 400, 32) if args.quick else (2000, 3000, 48)
    ports = [free_port()]
    stubs = [start_stub(port) for port in ports]
    tmp = Path(tempfile.mkdtemp(prefix="revshare-scale-"))
    try:
        timings = asyncio.run(routing(ports[0], route_requests))
        print("routing: sequential requests in process, median of 5 interleaved rounds "
              f"(load {os.getloadavg()[0]:.1f})")
        for name, seconds in timings.items():
            base = timings[name.split(",")[0] + ", direct"]
            print(f"  {name:30} {seconds * 1e6:9.1f} µs a request   x{seconds / base:.3f}   "
                  f"(+{(seconds - base) * 1e6:.1f} µs)")
        if args.routing_only:
            return
        print(f"ingest: {total} requests, {concurrency} at a time, on one PostgreSQL, one stub upstream "
              f"(load {os.getloadavg()[0]:.1f})")
        first = None
        for replicas in (1, 2, 3):
            rate, batch = ingest(ports[0], replicas, total, concurrency, tmp)
            first = first or rate
            print(f"  {replicas} replica(s) {rate:8.0f} records/s   x{rate / first:.2f}   "
                  f"mean commit batch {batch:.1f}")
    finally:
        for stub in stubs:
            stub.terminate()
            stub.wait(10)


if __name__ == "__main__":
    main()
