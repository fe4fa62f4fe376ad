"""A client that goes away while its whole (non-streaming) response is being generated.

    async with cancel_on_disconnect(receive):     raises ClientGone when the client left;
        ...                                       the block's task was cancelled where it waited

A stream learns of a disconnect from its response (Starlette watches `http.disconnect` while it
sends, and closes the generator); a non-streaming request sends nothing until the end, so its
block is cancelled from here instead: `serving.run.run_complete` then records the request as
`client_disconnect` with the tokens produced so far, and cancelling the engine call stops the
engine (the upstream's HTTP request is closed; the embedded engine stops at its next token).

Cheap on the request path: nothing is started for a block that ends within `WATCH_AFTER_S` (a
timer, cancelled on the way out); only a longer one gets a task that waits for the ASGI
`http.disconnect`. A client that left earlier is noticed as soon as that task starts.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from starlette.types import Receive

__all__ = ["WATCH_AFTER_S", "ClientGone", "cancel_on_disconnect"]

WATCH_AFTER_S = 0.05


class ClientGone(Exception):
    """The client disconnected; the block was cancelled (and has recorded what it must)."""


class cancel_on_disconnect:  # lower case: used as a context manager, like asyncio.timeout
    """Cancel the current task's block when the client's `http.disconnect` arrives."""

    __slots__ = ("_active", "_cancelled", "_receive", "_task", "_timer", "_watcher")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._task: asyncio.Task[object] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._active = False
        self._cancelled = False

    async def __aenter__(self) -> None:
        self._task = asyncio.current_task()
        self._active = True
        self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER_S, self._watch)

    def _watch(self) -> None:
        self._timer = None
        if self._active:
            self._watcher = asyncio.get_running_loop().create_task(self._wait())

    async def _wait(self) -> None:
        try:
            message = await self._receive()
        except Exception:  # a server that fails here tells nothing about the client
            return
        # After the body, an ASGI server answers receive() with the disconnect alone (anything else:
        # nothing to watch for). Only while the block runs: its task waits inside it, so that is
        # where it is cancelled.
        if message["type"] == "http.disconnect" and self._active and self._task is not None:
            self._cancelled = True
            self._task.cancel()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._active = False
        if self._timer is not None:
            self._timer.cancel()
        if self._watcher is not None and not self._watcher.done():
            self._watcher.cancel()
        if not self._cancelled:
            return
        assert self._task is not None
        # Ours to absorb, unless someone else (a shutdown) cancelled the task too.
        if self._task.uncancel() == 0 and exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
            raise ClientGone() from None
