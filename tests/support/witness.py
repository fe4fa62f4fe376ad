"""For the witness tests: a revshare log in memory (real tree, real host key, real signed checkpoints),
the witness.toml that follows it, an in-process HTTP client for the witness app, and witnesses served
over real HTTP for a host to submit to (`running_witness`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from revshare.tlog import Checkpoint, HostKey, MemoryStore, MerkleTree, hash_leaf
from revshare.tlog.cosignature import WitnessKey
from revshare.witness import Witness, WitnessStore, init_home, load_home, render_add_checkpoint

ORIGIN = "revshare.example/revshare/google"
HOST_KEY = HostKey("revshare.example/revshare", bytes(range(32)))
WITNESS_NAME = "witness.licensor.example/w1"
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z


@dataclass
class Log:
    """A revshare log: leaves in a MerkleTree, checkpoints signed by the host key as the gateway signs them."""

    origin: str = ORIGIN
    key: HostKey = HOST_KEY
    leaves: list[bytes] = field(default_factory=list)
    tree: MerkleTree = field(default_factory=lambda: MerkleTree(MemoryStore()))

    def append(self, n: int, tag: str = "") -> Log:
        new = [hash_leaf(f"{tag}record {len(self.leaves) + i}".encode()) for i in range(n)]
        self.leaves += new
        self.tree.append_many(new)
        return self

    def checkpoint(self, size: int | None = None, extensions: tuple[str, ...] = ()) -> Checkpoint:
        size = self.tree.size if size is None else size
        return Checkpoint(self.origin, size, self.tree.root(size), extensions)

    def note(self, size: int | None = None, extensions: tuple[str, ...] = ()) -> str:
        return self.key.sign_note(self.checkpoint(size, extensions).to_text())

    def proof(self, old: int, new: int | None = None) -> list[bytes]:
        return self.tree.consistency_proof(old, self.tree.size if new is None else new) if old else []

    def body(self, old: int, new: int | None = None) -> bytes:
        """The add-checkpoint body from `old` to `new` (default: now), proof included."""
        return render_add_checkpoint(old, self.proof(old, new), self.note(new))

    def fork(self, at: int) -> Log:
        """Another log with the same origin and key, sharing only the first `at` leaves."""
        return Log(self.origin, self.key).append_leaves(self.leaves[:at])

    def append_leaves(self, leaves: list[bytes]) -> Log:
        self.leaves += leaves
        self.tree.append_many(leaves)
        return self


def witness_toml(*logs: tuple[str, str]) -> str:
    return "".join(f'[[log]]\norigin = "{origin}"\nvkey = "{vkey}"\n\n' for origin, vkey in logs)


class Client:
    """Requests to the witness's ASGI app, in process (httpx's ASGI transport), one event loop each."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, path: str, content: bytes | None = None) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://witness.test") as c:
                return await c.request(method, path, content=content)

        return asyncio.run(go())

    def post(self, path: str, content: bytes = b"") -> httpx.Response:
        return self.request("POST", path, content)

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)


@dataclass
class RunningWitness:
    """A witness served over real HTTP (uvicorn in a thread): its base URL, vkey, folder and service."""

    url: str
    vkey: str
    directory: Path
    witness: Witness

    def latest(self, origin: str) -> str | None:
        """The latest checkpoint it cosigned for `origin` (its GET /checkpoint), or None."""
        state = self.witness.store.latest(origin)
        return None if state is None else state.note


@contextmanager
def running_witness(directory: Path, logs: Sequence[tuple[str, str]], *, name: str = WITNESS_NAME,
                    port: int | None = None) -> Iterator[RunningWitness]:
    """`revshare witness serve` in process: a folder (made on first use) following `logs` (origin, vkey),
    on `port` (default: a free one), until the block ends."""
    from revshare.witness.app import create_app
    from tests.support.servers import ServerThread

    if not (directory / "witness.key").exists():
        init_home(directory, name)
    (directory / "witness.toml").write_text(witness_toml(*logs))
    home = load_home(directory)
    witness = Witness(home.key, home.logs, WitnessStore(home.database))
    with ServerThread(create_app(witness), port=port) as server:
        yield RunningWitness(server.url, home.key.verifier_text(), directory, witness)


def witness_vkey(directory: Path, name: str = WITNESS_NAME) -> str:
    """The vkey of the witness folder at `directory`, made now if it is not there yet."""
    if not (directory / "witness.key").exists():
        init_home(directory, name)
    return WitnessKey.load(directory / "witness.key").verifier_text()
