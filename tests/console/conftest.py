"""The console's fixtures: a gateway on a stub upstream, plain console clients, an operator's."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.browser import ConsoleClient
from tests.support.servers import Running, running_gateway
from tests.support.stub_gateway import stub_catalog, stub_upstream


@pytest.fixture
def gw(sqlite_url: str) -> Iterator[Running]:
    with stub_upstream() as base, running_gateway(stub_catalog(base), sqlite_url) as running:
        yield running


@pytest.fixture
def console(gw: Running) -> Iterator[Callable[[], ConsoleClient]]:
    clients: list[ConsoleClient] = []

    def make() -> ConsoleClient:
        clients.append(ConsoleClient(gw.url))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def operator(gw: Running, console: Callable[[], ConsoleClient]) -> ConsoleClient:
    client = console()
    assert client.login(gw.admin_token, who="Ops").status_code == 303
    return client
