"""bench/peers.py without LiteLLM: its options, and the figures its table and goal check compute."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.paths import REPO

SCRIPT = REPO / "bench" / "peers.py"


def _peers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_peers", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_peers"] = module
    spec.loader.exec_module(module)
    return module


peers = _peers()


def cell(ms: list[float], wall_s: float = 1.0, cpu_s: float | None = None, chunks: int = 0):  # type: ignore[no-untyped-def]
    return peers.Cell([m / 1000 for m in ms], wall_s, cpu_s, chunks=chunks)


def test_help_runs_without_litellm() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for option in ("--quick", "--seconds", "--clients", "--long-clients", "--gateways", "--venv"):
        assert option in out.stdout


def test_unknown_gateway_is_refused_in_one_line() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--gateways", "nginx"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert "--gateways: unknown nginx" in out.stderr
    assert "Traceback" not in out.stderr


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert peers.percentile(values, 0.5) == 51.0
    assert peers.percentile(values, 0.99) == 100.0
    assert peers.percentile([3.0, 1.0, 2.0], 0.5) == 2.0


def test_times_and_its_undefined_cases() -> None:
    assert peers.times(100.0, 5.0) == 20.0
    assert peers.times(0.0, 5.0) is None
    assert peers.times(5.0, -1.0) is None  # a gateway "faster" than the stub: no ratio
    assert peers.shown_times(19.96) == "20.0×"
    assert peers.shown_times(None) == "n/a"


def test_cell_rates_and_added_latency() -> None:
    null = cell([1.0, 1.0, 1.0, 1.0])
    gw = cell([3.0, 3.0, 3.0, 9.0], wall_s=2.0, cpu_s=1.5, chunks=40)
    assert gw.rps == 2.0
    assert gw.chunks_per_s == 20.0
    assert gw.cpu_share == 0.75
    assert peers.added(gw, null, 0.5) == 2.0
    assert peers.added(gw, null, 0.99) == 8.0


def test_events_counts_data_events_but_not_done() -> None:
    body = b'data: {"a": 1}\n\ndata: {"a": 2}\n\ndata: {"usage": {}}\n\ndata: [DONE]\n\n'
    assert peers.events(body) == 3


def _run() -> object:
    run = peers.Run()
    run.cells["null"] = {("whole", 1): cell([1.0] * 10), ("whole", 16): cell([2.0] * 10, wall_s=0.01)}
    # revshare adds 0.4 ms at 1 client, LiteLLM 10 ms: 25×; at 16 clients p99 added 1 ms against 8 ms: 8×
    run.cells["revshare"] = {("whole", 1): cell([1.4] * 10, wall_s=0.5, cpu_s=0.25),
                             ("whole", 16): cell([3.0] * 10, wall_s=0.1)}
    run.cells["litellm"] = {("whole", 1): cell([11.0] * 10, wall_s=5.0, cpu_s=5.0),
                            ("whole", 16): cell([10.0] * 10, wall_s=1.0)}
    run.long["revshare"] = cell([5.0] * 10, wall_s=1.0, cpu_s=0.5, chunks=25_000)
    run.long["litellm"] = cell([5.0] * 2, wall_s=1.0, cpu_s=1.0, chunks=1_000)
    return run


def test_table_shows_added_latency_rates_and_ratios() -> None:
    lines = peers.table(_run()).splitlines()
    assert lines[0].startswith("| mode | clients | null p50 |")
    assert lines[1].count("---") == lines[0].count("|") - 1
    # whole, 1 client: +0.40 ms at 20 rps and 50% CPU for revshare; +10.00 ms at 2 rps for LiteLLM
    assert lines[2] == ("| whole | 1 | 1.00 ms | 1.00 ms | 10 | 0.40 ms | 0.40 ms | 20 | 50% | "
                        "10.00 ms | 10.00 ms | 2 | 100% | 10.0× | 20.0× | 25.0× | 25.0× |")
    # no CPU counted at 16 clients: no per-CPU ratio
    assert lines[3].endswith("| 10.0× | n/a | 8.0× | 8.0× |")


def test_long_table_shows_chunks_per_second_and_per_cpu_second() -> None:
    text = peers.long_table(_run())
    assert "| revshare | 10 | 25,000 | 50% | 50,000 |" in text
    assert "| litellm | 2 | 1,000 | 100% | 1,000 |" in text
    assert "revshare over LiteLLM: 25.0×" in text


def test_goals_say_which_cells_meet_the_issue() -> None:
    checked = dict(peers.goals(_run()))
    assert checked["requests/s, whole, 16 clients >= 20× LiteLLM: 10.0×"] is False
    assert checked["added p50, whole, 1 client >= 20× LiteLLM: 25.0×"] is True
    assert checked["added p99, whole, 16 clients >= 10× LiteLLM: 8.0×"] is False
    assert checked["revshare added p50, whole, 1 client <= 0.5 ms: 0.40 ms"] is True
    assert checked["revshare chunks relayed on one core >= 20,000/s: 25,000/s"] is True
    assert not any("stream" in line and "chunks" not in line for line in checked)  # cells not measured


# --- memory ---------------------------------------------------------------------------------------


def _fake_proc(root: Path, procs: dict[int, tuple[str, int, int, int | None]]) -> Path:
    """A /proc of `pid: (name, ppid, resident pages, PSS kB or None for an unreadable rollup)`."""
    (root / "self").mkdir()  # not a process: skipped
    for pid, (name, ppid, pages, pss_kb) in procs.items():
        d = root / str(pid)
        d.mkdir()
        (d / "stat").write_text(f"{pid} ({name}) S {ppid} {pid} {pid} 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0\n")
        (d / "statm").write_text(f"9999 {pages} 100 1 0 500 0\n")
        if pss_kb is not None:
            (d / "smaps_rollup").write_text(f"00-ff ---p 0 00:00 0 [rollup]\nRss: 1 kB\nPss: {pss_kb} kB\n")
    return root


def test_tree_memory_sums_a_process_and_its_descendants_only(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, {
        10: ("gateway", 1, 100, 300),
        11: ("a) (worker", 10, 20, 50),  # a name with ") (" must not shift the fields
        12: ("grandchild", 11, 5, 7),
        20: ("unrelated", 1, 1000, 4000),
        21: ("its child", 20, 1000, 4000),
    })
    memory = peers.tree_memory(10, proc)
    assert memory == peers.Memory(rss=125 * peers.PAGE, pss=357 * 1024, processes=3)
    assert peers.tree_memory(11, proc) == peers.Memory(rss=25 * peers.PAGE, pss=57 * 1024, processes=2)
    assert peers.tree_memory(99, proc) == peers.Memory(rss=0, pss=0, processes=0)  # exited
    assert peers.tree_cpu_seconds(10, proc) == pytest.approx(30 / os.sysconf("SC_CLK_TCK"))  # 7 + 3 ticks each


def test_tree_memory_has_no_pss_when_a_member_hides_it(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, {10: ("gateway", 1, 100, 300), 11: ("worker", 10, 20, None)})
    assert peers.tree_memory(10, proc) == peers.Memory(rss=120 * peers.PAGE, pss=None, processes=2)


def _child_holding(mib: int) -> subprocess.Popen[str]:
    """A child of this process that fills `mib` MiB, says so, and holds it until its stdin closes."""
    child = subprocess.Popen([sys.executable, "-c", f"b = b'x' * ({mib} << 20); print('held', flush=True); input()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "held\n"
    return child


def test_tree_memory_of_this_process_counts_its_children() -> None:
    alone = peers.tree_memory(os.getpid())
    assert alone.rss > 0 and alone.pss is not None and alone.pss > 0
    child = _child_holding(64)
    try:
        with_child = peers.tree_memory(os.getpid())
    finally:
        child.communicate("\n", timeout=30)
    assert with_child.processes == alone.processes + 1
    assert with_child.rss - alone.rss >= 64 << 20
    assert with_child.pss is not None and with_child.pss - alone.pss >= 64 << 20


def test_peak_memory_keeps_the_largest_sample() -> None:
    with peers.peak_memory(None) as nothing:
        pass
    assert nothing == []
    child = subprocess.Popen([sys.executable, "-c", "import time; b = b'x' * (64 << 20); time.sleep(0.5); del b; "
                              "print('freed', flush=True); input()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        with peers.peak_memory(child.pid, every=0.02) as peak:
            assert child.stdout is not None and child.stdout.readline() == "freed\n"
        after = peers.tree_memory(child.pid)
    finally:
        child.communicate("\n", timeout=30)
    assert len(peak) == 1
    assert peak[0].rss >= 64 << 20
    assert peak[0].rss - after.rss >= 60 << 20  # freed since: the peak is not the last sample


def test_memory_table_shows_idle_peak_and_after_in_mib() -> None:
    run: Any = _run()
    mib = 1 << 20
    run.memory["revshare"] = peers.GatewayMemory(peers.Memory(80 * mib, 60 * mib, 1),
                                                 peers.Memory(90 * mib, 70 * mib, 1))
    run.memory["litellm"] = peers.GatewayMemory(peers.Memory(400 * mib, None, 2))
    run.cells["revshare"][("stream", 64)] = cell([1.0], cpu_s=1.0)
    run.cells["revshare"][("stream", 64)].peak = peers.Memory(150 * mib, 100 * mib, 1)
    run.long["revshare"].peak = peers.Memory(120 * mib, 130 * mib, 2)  # PSS peaks in another sample
    lines = peers.memory_table(run, "64 streams").splitlines()
    assert lines[0].startswith("| gateway | processes | idle RSS | peak RSS, 64 streams | after RSS |")
    assert lines[1].count("---") == lines[0].count("|") - 1
    assert lines[2] == "| revshare | 2 | 80 MiB | 150 MiB | 90 MiB | 60 MiB | 130 MiB | 70 MiB |"
    assert lines[3] == "| litellm | 2 | 400 MiB | – | – | – | – | – |"
