"""`revshare serve` with PROMETHEUS_MULTIPROC_DIR: /metrics answers from the shared files, and the
access log reaches standard output."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.metrics.scrape import scrape_until, total
from tests.support.paths import REPO
from tests.support.servers import free_port
from tests.support.stub_gateway import BODY, serve_setup, start_gateway, stub_upstream


def test_serve_with_a_multiprocess_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    # Another worker that committed 5 records and is gone: its counts stay in the shared files.
    subprocess.run([sys.executable, "-c", "from revshare.metrics import Metrics; "
                    "Metrics().records_committed.inc(5)"], check=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with stub_upstream() as base:
        config, ledger, key = serve_setup(tmp_path, url, base, "mp")
        port, log = free_port(), tmp_path / "gateway.log"
        proc = start_gateway(config, url, port, log)
        try:
            gw = f"http://127.0.0.1:{port}"
            r = httpx.post(gw + "/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {key}"},
                           timeout=30)
            assert r.status_code == 200
            record_id = r.headers["x-revshare-record-id"]
            s = scrape_until(gw, lambda s: total(s, "revshare_records_committed_total") == 5 + 1
                             and total(s, "revshare_http_requests_total", route="/v1/chat/completions") == 1)
            assert total(s, "revshare_records_committed_total") == 5 + 1  # every worker's, summed
            assert total(s, "revshare_tokens_total", type="output") == ledger.records(record_id=record_id)[0].completion_tokens
            assert total(s, "revshare_ledger_backlog") == 0  # this process's state gauges ride along
            assert any(shared.glob("*.db")), "the counters live in the shared directory"
            # The access log's thread writes a batch every 0.2 s: wait for the line while the
            # process runs, so that a slow exit on a loaded machine does not decide the test.
            deadline = time.monotonic() + 10
            while f"record_id={record_id}" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            proc.terminate()
            proc.wait(10)
        ledger.close()
    lines = [line for line in log.read_text().splitlines() if f"record_id={record_id}" in line]
    assert len(lines) == 1 and "route=/v1/chat/completions status=200" in lines[0] and key not in log.read_text(), \
        log.read_text()
