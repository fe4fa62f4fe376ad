"""`api.disconnect.cancel_on_disconnect`, with a fake ASGI `receive` (no server)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from revshare.api import disconnect
from revshare.api.disconnect import ClientGone, cancel_on_disconnect


class Client:
    """An ASGI `receive` after the body was read: it answers when the client leaves."""

    def __init__(self) -> None:
        self.left = asyncio.Event()
        self.calls = 0

    async def receive(self) -> dict[str, Any]:
        self.calls += 1
        await self.left.wait()
        return {"type": "http.disconnect"}


async def test_a_block_that_ends_in_time_starts_nothing() -> None:
    client = Client()
    watch = cancel_on_disconnect(client.receive)
    async with watch:
        await asyncio.sleep(0)
    await asyncio.sleep(disconnect.WATCH_AFTER_S * 2)
    assert client.calls == 0  # no task ever waited for the client


async def test_a_client_that_leaves_cancels_the_block_where_it_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(disconnect, "WATCH_AFTER_S", 0.001)
    client = Client()
    seen: list[str] = []

    async def run() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("cancelled inside")  # where run_complete records client_disconnect
            raise

    loop = asyncio.get_running_loop()
    loop.call_later(0.05, client.left.set)
    started = loop.time()
    with pytest.raises(ClientGone):
        async with cancel_on_disconnect(client.receive):
            await run()
    assert seen == ["cancelled inside"] and loop.time() - started < 5
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # absorbed: the task goes on
    await asyncio.sleep(0)


async def test_a_client_that_left_before_the_watch_is_noticed_when_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(disconnect, "WATCH_AFTER_S", 0.01)
    client = Client()
    client.left.set()
    with pytest.raises(ClientGone):
        async with cancel_on_disconnect(client.receive):
            await asyncio.sleep(30)


async def test_another_cancellation_is_not_taken_for_a_client_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shutdown cancels the task too: the CancelledError goes on, never a ClientGone."""
    monkeypatch.setattr(disconnect, "WATCH_AFTER_S", 0.001)
    client = Client()

    async def request() -> None:
        async with cancel_on_disconnect(client.receive):
            await asyncio.sleep(30)

    task = asyncio.create_task(request())
    await asyncio.sleep(0.02)  # the watch has started
    client.left.set()
    await asyncio.sleep(0)  # the watch sees the client leave and cancels the request's task
    assert task.cancelling() == 1
    task.cancel()  # and a shutdown cancels it too, before it ran again
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_other_messages_are_not_a_disconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(disconnect, "WATCH_AFTER_S", 0.001)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async with cancel_on_disconnect(receive):
        await asyncio.sleep(0.05)  # not cancelled
