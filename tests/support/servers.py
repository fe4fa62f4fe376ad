"""Real servers on real sockets: uvicorn in a thread, the stub upstream, a gateway under test."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from revshare.config import Catalog
from tests.support.paths import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def upstream_stub_app(tokens: int = 16, report_usage: bool = True, delay_s: float = 0.0) -> Any:
    """The benchmark's minimal OpenAI-compatible upstream (bench/upstream_stub.py) as an ASGI app."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("upstream_stub", REPO / "bench" / "upstream_stub.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_app(tokens, report_usage, delay_s)


class ServerThread:
    """uvicorn serving an app on a real socket, in a thread of this process."""

    def __init__(self, app: Any, port: int | None = None, **options: Any) -> None:
        """`options` are more of uvicorn.Config's, e.g. `http=connection_protocol(...)`."""
        import uvicorn

        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on", **options))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


class Running:
    """A gateway under test: its URL, ledger, admin token and one key per customer."""

    def __init__(self, server: ServerThread, ledger: Any, admin_token: str, keys: dict[str, str]) -> None:
        self.server = server
        self.url = server.url
        self.ledger = ledger
        self.admin_token = admin_token
        self.keys = keys

    def record(self, record_id: str, timeout: float = 10.0) -> Any:
        """The one record with this id, waiting briefly for a disconnected request's record."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.ledger.records(record_id=record_id)
            if rows or time.monotonic() > deadline:
                assert len(rows) <= 1
                return rows[0] if rows else None
            time.sleep(0.05)


@contextmanager
def running_gateway(catalog: Catalog, url: str, engines: dict[str, Any] | None = None) -> Iterator[Running]:
    from revshare.api.app import create_app
    from revshare.ledger.store import Ledger

    ledger = Ledger(url)
    ledger.migrate()
    keys = {c.name: ledger.create_key(c.name, "test")[1] for c in catalog.customers}
    admin_token = "rsa_test_" + uuid.uuid4().hex
    from revshare.api.connections import connection_protocol

    app = create_app(catalog, admin_token=admin_token, ledger=Ledger(url), engines=engines)
    with ServerThread(app, http=connection_protocol(catalog.server), ws="none") as server:
        yield Running(server, ledger, admin_token, keys)
    ledger.close()
