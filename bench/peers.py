"""revshare against LiteLLM, side by side in one run, on the same stub upstream and the same client.

Installs LiteLLM (the latest on the package index, with its `proxy` extra) into a scratch virtual
environment outside the repository, reused when present; starts the stub upstream
(bench/upstream_stub.py), measures it directly through the client (the null gateway: the noise
floor), then starts LiteLLM and revshare in turn in front of it and runs the same cells: 1, 16 and
64 clients, closed loop, 16-token replies, whole and streamed. Each gateway is pinned to one core,
the client and the stub to another (`taskset`), so requests/s is per gateway core; the gateway's
CPU seconds (its process tree, from /proc) are counted too, since the client's core can bound a
cell. A last cell streams 256-chunk replies to 64 clients: chunks relayed per second on one core.
Memory, the same process tree's RSS and PSS (/proc), is read at idle after one warm-up request,
sampled every 50 ms for its peak during the busiest streaming cell and the long-stream cell, and
read at idle again after the cells: a second table.

LiteLLM runs as shipped, without a database, with a master key (it refuses to start without one),
apart from what it needs offline (its bundled cost map, LITELLM_LOCAL_MODEL_COST_MAP=True), no
retries, and REPEATED_STREAMING_CHUNK_LIMIT raised: it ends a stream with an error after 100
identical chunks (a looping model), and the stub's chunks are all "tok ". revshare runs with its
durable metering on (SQLite WAL ledger, group commit, as `revshare serve` runs). Prints one
markdown table with both gateways and the ratios, and which of issue 14's goals the run meets.

    .venv/bin/python bench/peers.py                      # the full run, 10 s a cell, about 5 minutes
    .venv/bin/python bench/peers.py --quick              # 3 s a cell, about 2-3 minutes
    .venv/bin/python bench/peers.py --gateways revshare  # without LiteLLM (no install)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV = Path.home() / ".cache" / "revshare-bench" / "litellm-venv"
MODES = ("whole", "stream")
LONG_CHUNKS = 256
PROC = Path("/proc")
PAGE = os.sysconf("SC_PAGE_SIZE")
SAMPLE_S = 0.05  # memory sampling period during the streaming cells
RESCAN = 20  # samples between two searches for the gateway's children (a second at SAMPLE_S)
SETTLE_S = 2.0  # idle time before an idle memory reading: connections closed, deferred work done

LITELLM_CONFIG = """\
model_list:
  - model_name: stub-model
    litellm_params:
      model: openai/stub-model
      api_base: http://127.0.0.1:{stub_port}/v1
      api_key: stub
litellm_settings:
  num_retries: 0
router_settings:
  num_retries: 0
general_settings:
  master_key: {master_key}
"""


@dataclass(frozen=True)
class Memory:
    """A process tree's memory, in bytes: RSS summed over its processes (pages shared between them
    counted in each) and PSS (shared pages split between their users; None when unreadable)."""

    rss: int
    pss: int | None
    processes: int

    def peak(self, other: Memory) -> Memory:
        """The larger of each figure, which two different samples may hold."""
        pss = None if self.pss is None or other.pss is None else max(self.pss, other.pss)
        return Memory(max(self.rss, other.rss), pss, max(self.processes, other.processes))


@dataclass
class GatewayMemory:
    """One gateway's memory: idle after startup, the peak under streams, idle after the cells."""

    idle: Memory
    after: Memory | None = None


@dataclass
class Cell:
    """One measured cell: latencies of the completed requests (s), its wall time, the gateway's CPU."""

    latencies: list[float]
    wall_s: float
    cpu_s: float | None = None  # the gateway's process tree; None for the null gateway
    chunks: int = 0
    errors: int = 0
    answered: int = 0  # every 200 reply, the warm-up's included: what the gateway must have metered
    peak: Memory | None = None  # the gateway tree's memory, sampled through the measured part

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.wall_s

    @property
    def chunks_per_s(self) -> float:
        return self.chunks / self.wall_s

    @property
    def cpu_share(self) -> float | None:
        """The gateway's CPU over the wall time: 1.0 is one core busy throughout."""
        return None if self.cpu_s is None else self.cpu_s / self.wall_s

    def p(self, q: float) -> float:
        """The q-quantile latency, in milliseconds."""
        return percentile(self.latencies, q) * 1000


@dataclass
class Run:
    """Every cell of one run, by (mode, clients), per target; `long` is the 256-chunk cell."""

    cells: dict[str, dict[tuple[str, int], Cell]] = field(default_factory=dict)
    long: dict[str, Cell] = field(default_factory=dict)
    memory: dict[str, GatewayMemory] = field(default_factory=dict)

    def peak(self, name: str) -> Memory | None:
        """The gateway's peak memory over the cells that sampled it."""
        sampled = [c.peak for c in [*self.cells.get(name, {}).values(), self.long.get(name)]
                   if c is not None and c.peak is not None]
        return None if not sampled else _fold(sampled)


def _fold(samples: Sequence[Memory]) -> Memory:
    """The peak of several samples (at least one)."""
    out = samples[0]
    for sample in samples[1:]:
        out = out.peak(sample)
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank q-quantile (0 < q <= 1) of values, as bench/overhead.py reads it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def times(better: float, worse: float) -> float | None:
    """How many times `better` is ahead of `worse` for a higher-is-better figure; None when undefined."""
    return None if better <= 0 or worse <= 0 else better / worse


def shown_times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}×"


def added(cell: Cell, null: Cell, q: float) -> float:
    """Latency the gateway adds at quantile q (ms): its latency minus the null gateway's."""
    return cell.p(q) - null.p(q)


def table(run: Run) -> str:
    """One markdown table: the null gateway, each gateway's added latency and rate, and the ratios."""
    null = run.cells["null"]
    rs, ll = run.cells.get("revshare", {}), run.cells.get("litellm", {})
    head = ("| mode | clients | null p50 | null p99 | null rps | revshare +p50 | +p99 | rps | CPU | "
            "LiteLLM +p50 | +p99 | rps | CPU | rps × | rps/CPU-s × | +p50 × | +p99 × |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for key, n in null.items():
        row = [key[0], str(key[1]), f"{n.p(.5):.2f} ms", f"{n.p(.99):.2f} ms", f"{n.rps:.0f}"]
        for cells in (rs, ll):
            c = cells.get(key)
            row += (["–"] * 4 if c is None else
                    [f"{added(c, n, .5):.2f} ms", f"{added(c, n, .99):.2f} ms", f"{c.rps:.0f}", _share(c)])
        r, lt = rs.get(key), ll.get(key)
        if r is None or lt is None:
            row += ["–"] * 4
        else:
            row += [shown_times(times(r.rps, lt.rps)), shown_times(_per_cpu(r, lt)),
                    shown_times(times(added(lt, n, .5), added(r, n, .5))),
                    shown_times(times(added(lt, n, .99), added(r, n, .99)))]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def long_table(run: Run) -> str:
    """The long-stream cell: streams and chunks relayed per second, and per second of gateway CPU."""
    lines = ["| target | streams/s | chunks/s | gateway CPU | chunks per CPU-second |", "|---|---|---|---|---|"]
    for name, c in run.long.items():
        per_cpu = "–" if not c.cpu_s else f"{c.chunks / c.cpu_s:,.0f}"
        lines.append(f"| {name} | {c.rps:,.0f} | {c.chunks_per_s:,.0f} | {_share(c)} | {per_cpu} |")
    rs, ll = run.long.get("revshare"), run.long.get("litellm")
    if rs and ll:
        lines.append(f"\nchunks/s, revshare over LiteLLM: {shown_times(times(rs.chunks_per_s, ll.chunks_per_s))}")
    return "\n".join(lines)


def memory_table(run: Run, streams: str) -> str:
    """Each gateway's process-tree memory in MiB, RSS then PSS: idle, peak under `streams`, after."""
    lines = [f"| gateway | processes | idle RSS | peak RSS, {streams} | after RSS | idle PSS | peak PSS | after PSS |",
             "|---|---|---|---|---|---|---|---|"]
    for name, m in run.memory.items():
        peak = run.peak(name)
        readings = (m.idle, peak, m.after)
        row = [name, str(max(r.processes for r in readings if r is not None))]
        row += [_mib(None if r is None else r.rss) for r in readings]
        row += [_mib(None if r is None else r.pss) for r in readings]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _mib(size: int | None) -> str:
    return "–" if size is None else f"{size / 2**20:,.0f} MiB"


def _per_cpu(better: Cell, worse: Cell) -> float | None:
    """Requests per second of gateway CPU, `better` over `worse`: the ratio a busy client core cannot bend."""
    if not better.cpu_s or not worse.cpu_s:
        return None
    return times(len(better.latencies) / better.cpu_s, len(worse.latencies) / worse.cpu_s)


def _share(cell: Cell) -> str:
    share = cell.cpu_share
    return "–" if share is None else f"{share * 100:.0f}%"


def goals(run: Run) -> list[tuple[str, bool]]:
    """Issue 14's goals, each with whether this run meets it (only those it measured)."""
    null = run.cells["null"]
    rs, ll = run.cells.get("revshare", {}), run.cells.get("litellm", {})
    out: list[tuple[str, bool]] = []
    for mode in MODES:
        for clients in (16, 64):
            key = (mode, clients)
            if key in rs and key in ll:
                ratio = times(rs[key].rps, ll[key].rps)
                out.append((f"requests/s, {mode}, {clients} clients >= 20× LiteLLM: {shown_times(ratio)}",
                            ratio is not None and ratio >= 20))
        key = (mode, 1)
        if key in rs and key in ll:
            ratio = times(added(ll[key], null[key], .5), added(rs[key], null[key], .5))
            out.append((f"added p50, {mode}, 1 client >= 20× LiteLLM: {shown_times(ratio)}",
                        ratio is not None and ratio >= 20))
        key = (mode, 16)
        if key in rs and key in ll:
            ratio = times(added(ll[key], null[key], .99), added(rs[key], null[key], .99))
            out.append((f"added p99, {mode}, 16 clients >= 10× LiteLLM: {shown_times(ratio)}",
                        ratio is not None and ratio >= 10))
        key = (mode, 1)
        if key in rs:
            p50 = added(rs[key], null[key], .5)
            out.append((f"revshare added p50, {mode}, 1 client <= 0.5 ms: {p50:.2f} ms", p50 <= 0.5))
    if "revshare" in run.long:
        rate = run.long["revshare"].chunks_per_s
        out.append((f"revshare chunks relayed on one core >= 20,000/s: {rate:,.0f}/s", rate >= 20_000))
    return out


# --- load -------------------------------------------------------------------------------------


def events(body: bytes) -> int:
    """Server-sent data events in a stream body, `[DONE]` not counted."""
    return body.count(b"data: ") - body.count(b"data: [DONE]")


async def load(url: str, headers: dict[str, str], clients: int, seconds: float, stream: bool,
               max_tokens: int, gateway_pid: int | None = None, sample_memory: bool = False) -> Cell:
    """Closed loop: `clients` workers each send one request after another for `seconds`, after a
    warm-up; the gateway's CPU (when its pid is given) is counted over the measured part only, and
    its memory's peak sampled over it when `sample_memory`."""
    import aiohttp

    body = json.dumps({"model": "stub-model", "messages": [{"role": "user", "content": "hello"}],
                       "max_tokens": max_tokens, "stream": stream}).encode()
    headers = {**headers, "Content-Type": "application/json"}
    latencies: list[float] = []
    counts = {"chunks": 0, "errors": 0, "answered": 0}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients),
                                     timeout=aiohttp.ClientTimeout(total=120)) as session:

        async def one(measured: bool) -> None:
            start = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as r:
                data = await r.read()
            if r.status != 200 or (stream and b'data: {"error"' in data):
                counts["errors"] += 1
                if counts["errors"] == 1:
                    print(f"  {url}: HTTP {r.status}: {data[:200]!r}", file=sys.stderr)
                return
            counts["answered"] += 1
            if measured:
                latencies.append(time.perf_counter() - start)
                counts["chunks"] += events(data) if stream else 0

        async def worker(until: float, measured: bool) -> None:
            while time.perf_counter() < until:
                await one(measured)

        warm = time.perf_counter() + min(1.0, seconds / 3)
        await asyncio.gather(*[worker(warm, False) for _ in range(clients)])
        cpu = tree_cpu_seconds(gateway_pid) if gateway_pid else 0.0
        with peak_memory(gateway_pid if sample_memory else None) as peak:
            start = time.perf_counter()
            await asyncio.gather(*[worker(start + seconds, True) for _ in range(clients)])
            wall = time.perf_counter() - start
        cpu_s = tree_cpu_seconds(gateway_pid) - cpu if gateway_pid else None
    if not latencies:
        raise SystemExit(f"{url}: no request succeeded ({counts['errors']} errors)")
    return Cell(latencies, wall, cpu_s, chunks=counts["chunks"], errors=counts["errors"],
                answered=counts["answered"], peak=peak[0] if peak else None)


def _stats(proc: Path) -> dict[int, list[str]]:
    """Every process's /proc/<pid>/stat fields after the command name (ppid first), by pid."""
    stats: dict[int, list[str]] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:  # the name may hold spaces and parentheses: split after its last ")"
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # it exited while being read
    return stats


def _family(pid: int, stats: dict[int, list[str]]) -> set[int]:
    """pid and its descendants that are still alive."""
    family = {pid} if pid in stats else set()
    changed = True
    while changed:
        changed = False
        for child, fields in stats.items():
            if int(fields[1]) in family and child not in family:
                family.add(child)
                changed = True
    return family


def tree_cpu_seconds(pid: int, proc: Path = PROC) -> float:
    """utime + stime of a process and all its descendants (all their threads), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = _stats(proc)
    return sum((int(stats[m][11]) + int(stats[m][12])) / tick for m in _family(pid, stats))


def tree_memory(pid: int, proc: Path = PROC) -> Memory:
    """RSS and PSS summed over a process and its descendants, from /proc."""
    return memory_of(_family(pid, _stats(proc)), proc)


def memory_of(pids: set[int], proc: Path = PROC) -> Memory:
    """RSS (statm) and PSS (smaps_rollup) summed over these processes, those that exited skipped;
    PSS is None when a member's smaps_rollup cannot be read (another user's, an old kernel)."""
    rss, pss, processes = 0, 0, 0
    readable = True
    for member in pids:
        try:
            rss += int((proc / str(member) / "statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError):
            continue  # it exited since the scan
        processes += 1
        try:
            rollup = (proc / str(member) / "smaps_rollup").read_text()
            pss += next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")) * 1024
        except (OSError, StopIteration):
            readable = False
    return Memory(rss, pss if readable else None, processes)


@contextmanager
def peak_memory(pid: int | None, every: float = SAMPLE_S) -> Iterator[list[Memory]]:
    """Samples pid's tree memory every `every` seconds in a thread while the block runs; the list
    holds the peak afterwards (empty when pid is None). A thread, so that the client's event loop
    never waits on /proc, and the reads release the GIL."""
    peak: list[Memory] = []
    if pid is None:
        yield peak
        return
    done = threading.Event()

    def sample() -> None:
        for n in itertools.count():
            if n % RESCAN == 0:  # scanning all of /proc costs ~2 ms: the tree, now and then
                pids = _family(pid, _stats(PROC))
            reading = memory_of(pids)
            peak[:] = [peak[0].peak(reading) if peak else reading]
            if done.wait(every):
                return

    thread = threading.Thread(target=sample, name="peak-memory", daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()


# --- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path | None, seconds: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise SystemExit(f"{url}: the process exited ({proc.returncode}) before it was ready\n{tail}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up in {seconds:.0f} s")


def idle_memory(url: str, headers: dict[str, str], pid: int) -> tuple[Memory, int]:
    """The gateway tree's memory after one request and SETTLE_S seconds idle; and 1 when that
    request was answered (the gateway meters it), else 0."""
    import httpx

    body = {"model": "stub-model", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 16}
    answered = int(httpx.post(url, json=body, headers=headers, timeout=60).status_code == 200)
    time.sleep(SETTLE_S)
    return tree_memory(pid), answered


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def litellm_install(venv: Path) -> Path:
    """The `litellm` command of the scratch environment, installing it there first when missing."""
    command = venv / "bin" / "litellm"
    if not command.exists():
        print(f"installing litellm[proxy] into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "litellm[proxy]"], check=True)
    return command


def litellm_version(venv: Path) -> str:
    out = subprocess.run([str(venv / "bin" / "python"), "-c",
                          "import importlib.metadata as m; print(m.version('litellm'))"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def pinning() -> tuple[list[str], str]:
    """The prefix that pins a gateway to one core (this process, the client and the stub taking
    another), and a line saying what was pinned or why it could not be."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return [], f"pinning impossible: this process may use only {len(cores)} core(s); nothing pinned"
    if not shutil.which("taskset"):
        return [], "pinning impossible: no taskset on PATH; nothing pinned"
    os.sched_setaffinity(0, {cores[1]})  # the client, and the stub it starts
    return (["taskset", "-c", str(cores[0])],
            f"gateway pinned to core {cores[0]}; client and stub to core {cores[1]} (of {os.cpu_count()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=None, help="measured seconds per cell (default 10)")
    parser.add_argument("--quick", action="store_true", help="3 s per cell: the whole run in about 2-3 minutes")
    parser.add_argument("--clients", default="1,16,64", help="comma-separated client counts (default 1,16,64)")
    parser.add_argument("--long-clients", type=int, default=64,
                        help=f"clients in the {LONG_CHUNKS}-chunk cell (default 64; 0 leaves it out)")
    parser.add_argument("--gateways", default="litellm,revshare",
                        help="which gateways, in the order run (default litellm,revshare)")
    parser.add_argument("--venv", type=Path, default=VENV, help=f"LiteLLM's scratch environment (default {VENV})")
    args = parser.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    clients = [int(c) for c in args.clients.split(",")]
    gateways = [g.strip() for g in args.gateways.split(",") if g.strip()]
    unknown = set(gateways) - {"litellm", "revshare"}
    if unknown:
        parser.error(f"--gateways: unknown {', '.join(sorted(unknown))} (litellm, revshare)")

    litellm = litellm_install(args.venv) if "litellm" in gateways else None
    prefix, pinned = pinning()
    sys.path.insert(0, str(REPO / "src"))
    from revshare.ledger.store import Ledger
    sys.path.insert(0, str(REPO / "bench"))
    from overhead import CATALOG

    tmp = Path(tempfile.mkdtemp(prefix="revshare-peers-"))
    stub_port = free_port()
    stub = subprocess.Popen([sys.executable, str(REPO / "bench" / "upstream_stub.py"), "--port", str(stub_port),
                             "--tokens", str(LONG_CHUNKS)])
    run = Run()
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    notes = [pinned]

    def cells(name: str, url: str, headers: dict[str, str], pid: int | None) -> None:
        print(f"measuring {name} ...", flush=True)
        run.cells[name] = {}
        for mode in MODES:
            for n in clients:
                sample = mode == "stream" and n == max(clients)  # the memory peak: the most streams
                run.cells[name][(mode, n)] = asyncio.run(
                    load(url, headers, n, seconds, mode == "stream", 16, pid, sample_memory=sample))
        if args.long_clients:
            run.long[name] = asyncio.run(
                load(url, headers, args.long_clients, seconds, True, LONG_CHUNKS, pid, sample_memory=pid is not None))

    try:
        wait_ready(f"http://127.0.0.1:{stub_port}/v1/models", stub, None)
        cells("null", f"http://127.0.0.1:{stub_port}/v1/chat/completions", {}, None)
        for name in gateways:
            port = free_port()
            log = tmp / f"{name}.log"
            if name == "litellm":
                assert litellm is not None
                master_key = "sk-" + secrets.token_hex(32)  # it refuses to start without one
                (tmp / "litellm.yaml").write_text(LITELLM_CONFIG.format(stub_port=stub_port, master_key=master_key))
                env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                       "REPEATED_STREAMING_CHUNK_LIMIT": str(LONG_CHUNKS * 100)}
                with log.open("wb") as out:
                    proc = subprocess.Popen([*prefix, str(litellm), "--config", str(tmp / "litellm.yaml"),
                                             "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
                                            env=env, stdout=out, stderr=subprocess.STDOUT)
                headers = {"Authorization": f"Bearer {master_key}"}
                ready = f"http://127.0.0.1:{port}/health/liveliness"
                notes.append(f"LiteLLM {litellm_version(args.venv)}, no database, no retries")
            else:
                (tmp / "revshare.toml").write_text(CATALOG.format(stub_port=stub_port, rollup_interval_s=2.0))
                db_url = f"sqlite:///{tmp / 'ledger.db'}"
                ledger = Ledger(db_url)
                ledger.migrate()
                _, key = ledger.create_key("bench")
                env = {**os.environ, "REVSHARE_DATABASE_URL": db_url}
                with log.open("wb") as out:
                    proc = subprocess.Popen([*prefix, sys.executable, "-m", "revshare.cli", "serve", "--config",
                                             str(tmp / "revshare.toml"), "--port", str(port), "--log-level",
                                             "warning"], env=env, stdout=out, stderr=subprocess.STDOUT)
                headers = {"Authorization": f"Bearer {key}"}
                ready = f"http://127.0.0.1:{port}/healthz"
            try:
                wait_ready(ready, proc, log)
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                idle, warmed = idle_memory(url, headers, proc.pid)
                run.memory[name] = GatewayMemory(idle)
                cells(name, url, headers, proc.pid)
                run.memory[name].after, warmed_after = idle_memory(url, headers, proc.pid)
                warmed += warmed_after
            finally:
                stop(proc)
            if name == "revshare":
                metered = ledger.count()
                answered = warmed + sum(c.answered for c in run.cells[name].values()) + (
                    run.long[name].answered if name in run.long else 0)
                notes.append(f"revshare metered {metered:,} records of {answered:,} replies "
                             f"({'exactly once' if metered == answered else 'MISMATCH'}; SQLite WAL, group commit)")
                ledger.close()
    finally:
        stop(stub)
        shutil.rmtree(tmp, ignore_errors=True)  # the ledger and the logs: a failure has printed its log's tail
    errors = sum(c.errors for by in run.cells.values() for c in by.values()) + sum(c.errors for c in run.long.values())
    load_after = os.getloadavg()
    print(f"\n{started}; {seconds:g} s a cell after a warm-up; stub replies 16 tokens "
          f"({LONG_CHUNKS} in the long-stream cell); python {sys.version.split()[0]}")
    print(f"load average {load_before[0]:.2f} at start, {load_after[0]:.2f} at end; failed requests: {errors}")
    for note in notes:
        print(note)
    print("+p50, +p99: latency added over the null gateway (the stub measured directly). CPU: the gateway's "
          "process tree over the cell's wall time (100% = its core busy throughout); rps/CPU-s: requests per "
          "second of gateway CPU.\n")
    print(table(run))
    if run.long:
        print(f"\n{LONG_CHUNKS}-chunk streams, {args.long_clients} clients:\n")
        print(long_table(run))
    if run.memory:
        streams = "/".join(str(n) for n in sorted({max(clients), args.long_clients} - {0})) + " streams"
        print(f"\nmemory of the gateway's process tree: idle after one request and {SETTLE_S:g} s, the peak sampled "
              f"every {SAMPLE_S * 1000:.0f} ms during the {max(clients)}-client streaming cell"
              f"{' and the long-stream cell' if args.long_clients else ''}, idle again {SETTLE_S:g} s after the "
              f"cells. RSS counts pages shared between processes in each; PSS splits them.\n")
        print(memory_table(run, streams))
    checked = goals(run)
    if checked:
        print("\nissue 14's goals:")
        for line, met in checked:
            print(f"  {'met    ' if met else 'NOT met'}  {line}")


if __name__ == "__main__":
    main()
