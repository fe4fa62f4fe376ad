"""The tiles part of bench/tlog.py: serving a log as C2SP tlog-tiles, and reading it whole from them.

    PYTHONPATH=src python bench/tlog.py --only-tiles [--tiles-leaves 100000] [--tile-requests 2000]

A SQLite ledger gets N usage records, integrated by `integrate()` (untimed), and a gateway
(`create_app` under uvicorn, in a thread) serves it. Measured in the same run:

- tiles per second from the gateway (random full hash tiles and entry bundles, one keep-alive
  client), against its baseline, the JSON leaves route for the same 256 leaves a bundle holds;
- a full-log download and verification (`verify_tiles`: every entry bundle rebuilds the signed
  root and every hash tile agrees) from a folder written by `export_tiles`, and from the gateway's
  tile URLs, against the baseline of paging the JSON leaves route (10,000 a page) and
  `verify_leaves` on them, as `revshare verify leaves` does.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def bench_tiles(n: int, requests: int, usage_record: Callable[[int], Any], chunk: int) -> None:
    import uvicorn

    from revshare.api.app import create_app
    from revshare.config import parse_catalog
    from revshare.ledger.store import Ledger
    from revshare.logstore.identity import load_identity
    from revshare.logstore.integrator import integrate
    from revshare.logstore.tiles import export_tiles
    from revshare.logstore.tree_store import LogReader
    from revshare.verify import verify_leaves
    from revshare.verify.tiles import open_tiles, verify_tiles

    tmp = Path(tempfile.mkdtemp(prefix="revshare-bench-tiles-"))
    url = f"sqlite:///{tmp}/ledger.db"
    ledger = Ledger(url)
    ledger.migrate()
    catalog = parse_catalog({
        "server": {"host_name": "bench", "data_dir": str(tmp)},
        "engines": [{"id": "llama.cpp", "kind": "upstream", "base_url": "http://127.0.0.1:1/v1"}],
        "models": [{"id": "gemma-3-270m", "engine": "llama.cpp", "licensor": "google"}],
        "prices": [{"model": "gemma-3-270m", "input_per_million": "0.1", "output_per_million": "0.4",
                    "effective_from": "2025-01-01T00:00:00Z"}],
    })
    identity = load_identity(catalog)
    for start in range(1, n + 1, chunk):
        ledger.append_now([usage_record(i) for i in range(start, min(start + chunk, n + 1))])
    integrate(ledger, catalog, identity=identity, batch_size=5_000)
    vkey = identity.key.verifier_text()
    note = LogReader(ledger).latest_checkpoint("google")

    admin = "bench-admin-token"
    server = uvicorn.Server(uvicorn.Config(create_app(catalog, admin_token=admin, ledger=Ledger(url)),
                                           host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}/v1/log/google"
    auth = {"Authorization": f"Bearer {admin}"}
    try:
        rows = _measure(base, auth, n, requests, note, vkey, tmp, ledger, export_tiles, open_tiles, verify_tiles,
                        verify_leaves, admin)
    finally:
        server.should_exit = True
        thread.join(30)
        ledger.close()
        shutil.rmtree(tmp, ignore_errors=True)
    width = max(len(k) for k, _ in rows)
    print(f"revshare tiles bench: {n:,} leaves in one log (SQLite), {requests:,} tile requests")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")


def _measure(base: str, auth: dict[str, str], n: int, requests: int, note: str, vkey: str, tmp: Path,
             ledger: Any, export_tiles: Any, open_tiles: Any, verify_tiles: Any, verify_leaves: Any,
             token: str) -> list[tuple[str, str]]:
    from revshare.tlog.tiles import ENTRIES, Tile

    full = n // 256
    rng = random.Random(3)
    with httpx.Client(headers=auth, timeout=60) as client:
        picks = [Tile(rng.choice((0, ENTRIES)), rng.randrange(full)) for _ in range(requests)]
        t = time.perf_counter()
        for tile in picks:
            client.get(f"{base}/{tile.path}").raise_for_status()
        tiles_s = requests / (time.perf_counter() - t)
        pages = [rng.randrange(full) * 256 for _ in range(max(1, requests // 4))]
        t = time.perf_counter()
        for start in pages:
            client.get(f"{base}/leaves", params={"start": start, "end": start + 256}).raise_for_status()
        leaves_s = len(pages) / (time.perf_counter() - t)
        t = time.perf_counter()
        got: list[bytes] = []
        for start in range(0, n, 10_000):
            page = client.get(f"{base}/leaves", params={"start": start, "end": min(n, start + 10_000)})
            got += [row["data"].encode() for row in page.raise_for_status().json()["leaves"]]
        verify_leaves(got, note, vkey)
        t_json = time.perf_counter() - t
    del got
    t = time.perf_counter()
    export = export_tiles(ledger, "google", tmp / "tiles")
    t_export = time.perf_counter() - t
    t = time.perf_counter()
    folder = verify_tiles(open_tiles(str(tmp / "tiles")), note, vkey)
    t_folder = time.perf_counter() - t
    t = time.perf_counter()
    served = verify_tiles(open_tiles(base, token), note, vkey)
    t_url = time.perf_counter() - t
    assert folder.checkpoint.size == served.checkpoint.size == n
    return [
        ("gateway: tiles/s (random full hash tiles and entry bundles)",
         f"{tiles_s:,.0f} tiles/s ({tiles_s / leaves_s:.2f}x the JSON leaves route's {leaves_s:,.0f} "
         "pages/s of the same 256 leaves)"),
        ("baseline: JSON leaves route, download + verify_leaves", f"{t_json:.1f} s ({n / t_json:,.0f} leaves/s)"),
        ("export_tiles to a folder (untimed below)", f"{t_export:.1f} s, {export.written:,} tiles"),
        ("tiles from the folder: download + verify_tiles",
         f"{t_folder:.1f} s ({n / t_folder:,.0f} leaves/s, {t_json / t_folder:.2f}x faster than the JSON route)"),
        ("tiles from the gateway: download + verify_tiles",
         f"{t_url:.1f} s ({n / t_url:,.0f} leaves/s, {t_json / t_url:.2f}x faster than the JSON route), "
         f"{served.tiles:,} tiles"),
    ]
