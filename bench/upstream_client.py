"""The upstream hop alone: aiohttp against revshare's http1 pool, on the benchmark's stub upstream.

Starts bench/upstream_stub.py (16 tokens, no delay) and, in this one process, times N
sequential round trips through each client, in alternating rounds so that the machine's drift
falls on both alike: whole answers (`read()`) and 16-chunk streams read line by line, as
`UpstreamEngine` reads them. It prints, per client and kind, the median over rounds of wall µs,
of this process's CPU µs (time.process_time: the client's side only; the stub is another
process) and of its user-mode CPU µs (the Python and C code; the rest is the kernel's, mostly the
loopback's TCP work, alike for both) per round trip, and aiohttp's figures over http1's.

    .venv/bin/python bench/upstream_client.py --requests 2000 --rounds 5

The event loop is uvloop where it is installed (the gateway's, under uvicorn), else asyncio's;
`--loop asyncio` forces asyncio's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from revshare.engines.http1 import ConnectionPool  # noqa: E402

HEADERS = {"Content-Type": "application/json"}
BODY = {"model": "stub", "messages": [{"role": "user", "content": "Name three colours."}], "max_tokens": 16}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("the stub upstream did not start")


Trip = Callable[[], Awaitable[int]]


def aiohttp_trips(session: aiohttp.ClientSession, url: str) -> tuple[Trip, Trip]:
    whole_body = json.dumps({**BODY, "stream": False}).encode()
    stream_body = json.dumps({**BODY, "stream": True, "stream_options": {"include_usage": True}}).encode()

    async def whole() -> int:
        async with session.post(url, data=whole_body) as response:
            return len(await response.read())

    async def stream() -> int:
        n = 0
        async with session.post(url, data=stream_body) as response:
            async for line in response.content:
                n += line.startswith(b"data:")
        return n

    return whole, stream


def http1_trips(pool: ConnectionPool) -> tuple[Trip, Trip]:
    whole_body = json.dumps({**BODY, "stream": False}).encode()
    stream_body = json.dumps({**BODY, "stream": True, "stream_options": {"include_usage": True}}).encode()

    async def whole() -> int:
        async with pool.request("POST", "/chat/completions", whole_body) as response:
            return len(await response.read())

    async def stream() -> int:
        n = 0
        async with pool.request("POST", "/chat/completions", stream_body) as response:
            async for line in response.lines():
                n += line.startswith(b"data:")
        return n

    return whole, stream


Figures = tuple[float, float, float]  # wall, CPU, user CPU: µs per round trip


async def timed(trip: Trip, n: int) -> Figures:
    """(wall, CPU, user CPU) µs per round trip over n sequential trips."""
    wall, cpu, user = time.perf_counter(), time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_utime
    for _ in range(n):
        await trip()
    user = resource.getrusage(resource.RUSAGE_SELF).ru_utime - user
    return (time.perf_counter() - wall) / n * 1e6, (time.process_time() - cpu) / n * 1e6, user / n * 1e6


async def measure(base: str, requests: int, rounds: int) -> dict[tuple[str, str], list[Figures]]:
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=16, keepalive_timeout=60), headers=HEADERS,
        timeout=aiohttp.ClientTimeout(total=120, sock_connect=5), read_bufsize=2**20)
    pool = ConnectionPool(base, HEADERS, limit=16, timeout_s=120, connect_timeout_s=5)
    trips = {"aiohttp": aiohttp_trips(session, base + "/chat/completions"), "http1": http1_trips(pool)}
    # The same answers through both, and a warm-up.
    for client, (whole, stream) in trips.items():
        assert await stream() == 18, client  # 16 tokens, the usage chunk, [DONE]
        assert await whole() > 0, client
        await timed(whole, 200)
        await timed(stream, 200)
    results: dict[tuple[str, str], list[Figures]] = {}
    for _ in range(rounds):
        for kind in ("whole", "stream"):
            for client in ("aiohttp", "http1"):
                trip = trips[client][0 if kind == "whole" else 1]
                results.setdefault((client, kind), []).append(await timed(trip, requests))
    await session.close()
    await pool.close()
    return results


def report(results: dict[tuple[str, str], list[Figures]], requests: int, rounds: int) -> None:
    print(f"{requests} sequential round trips x {rounds} alternating rounds; medians over rounds")
    print(f"{'kind':<8} {'client':<8} {'wall µs/rt':>11} {'CPU µs/rt':>11} {'user µs/rt':>11}")
    for kind in ("whole", "stream"):
        medians = {}
        for client in ("aiohttp", "http1"):
            medians[client] = [statistics.median(column) for column in zip(*results[(client, kind)], strict=True)]
            print(f"{kind:<8} {client:<8}" + "".join(f" {m:>11.0f}" for m in medians[client]))
        ratios = [a / h for a, h in zip(medians["aiohttp"], medians["http1"], strict=True)]
        print(f"{kind:<8} {'ratio':<8}" + "".join(f" {r:>10.2f}x" for r in ratios) + "   (aiohttp / http1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="round trips per client, kind and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    port = free_port()
    stub = subprocess.Popen([sys.executable, str(REPO / "bench" / "upstream_stub.py"), "--port", str(port),
                             "--tokens", "16"])
    try:
        wait_listening(port)
        run = asyncio.run
        if args.loop == "uvloop":
            try:
                import uvloop

                run = uvloop.run
            except ImportError:
                print("uvloop is not installed: asyncio's loop")
        results = run(measure(f"http://127.0.0.1:{port}/v1", args.requests, args.rounds))
        report(results, args.requests, args.rounds)
    finally:
        stub.terminate()
        stub.wait()


if __name__ == "__main__":
    main()
