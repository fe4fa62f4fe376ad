"""Real processes on loopback for the scale-out tests: stub upstreams and `revshare serve` replicas."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.paths import REPO
from tests.support.servers import free_port
from tests.support.stub_gateway import stub_catalog_dict, to_toml


class Upstream:
    """bench/upstream_stub.py in a process of its own, on a fixed port so it can come back."""

    def __init__(self, log: Path, tokens: int = 7, delay_s: float = 0.0) -> None:
        self.port = free_port()
        self.log = log
        self.args = [sys.executable, str(REPO / "bench" / "upstream_stub.py"), "--port", str(self.port),
                     "--tokens", str(tokens), "--delay", str(delay_s)]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> Upstream:
        self.proc = subprocess.Popen(self.args, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        wait_for(f"{self.url}/models", self.proc, self.log)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


def wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{url} did not answer:\n" + log.read_text()[-4000:])
        time.sleep(0.1)


@contextmanager
def upstreams(tmp_path: Path, count: int, **options: Any) -> Iterator[list[Upstream]]:
    started = [Upstream(tmp_path / f"upstream{i}.log", **options).start() for i in range(count)]
    try:
        yield started
    finally:
        for upstream in started:
            upstream.kill()


def routed_catalog(tmp_path: Path, engines: list[Upstream], *, server: dict[str, Any] | None = None,
                   sections: dict[str, dict[str, Any]] | None = None, **customer: Any) -> Path:
    """The stub catalog with its model routed across `engines` (ids e0, e1, ...), quick to take an
    engine out and back, written as TOML; `sections` adds tables (e.g. rate_limits)."""
    raw = stub_catalog_dict(engines[0].url, **customer)
    raw["engines"] = [{"id": f"e{i}", "kind": "upstream", "base_url": u.url, "failure_threshold": 1,
                       "cooldown_s": 1.0, "health_interval_s": 0.25, "connect_timeout_s": 1.0}
                      for i, u in enumerate(engines)]
    model = raw["models"][0]
    model.pop("engine")
    model["engines"] = [f"e{i}" for i in range(len(engines))]
    raw["server"]["data_dir"] = str(tmp_path / "data")
    raw["server"].update(server or {})
    raw.update(sections or {})
    config = tmp_path / "revshare.toml"
    config.write_text(to_toml(raw))
    return config


def start_replica(config: Path, url: str, log: Path, env: dict[str, str] | None = None,
                  port: int | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """`revshare serve` in a process of its own, returned with its port once /healthz answers."""
    port = port or free_port()
    full_env = {**os.environ, "REVSHARE_DATABASE_URL": url, "REVSHARE_ADMIN_TOKEN": "rsa_scale_test",
                "PYTHONPATH": str(REPO / "src"), **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "revshare.cli", "serve", "--config", str(config),
                             "--port", str(port), "--log-level", "warning"],
                            env=full_env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    wait_for(f"http://127.0.0.1:{port}/healthz", proc, log)
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
