"""Concurrent submissions: one wins, none cosigns a fork, and a slow request never rolls the state back."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from revshare.tlog import Checkpoint, open_note
from revshare.witness import StaleSizeError, Witness
from revshare.witness.app import create_app
from tests.support.witness import HOST_KEY, ORIGIN, Log


def submit(witness: Witness, body: bytes) -> str | int:
    """The cosignature line, or the size a StaleSizeError (409) names."""
    try:
        return witness.add_checkpoint(body)
    except StaleSizeError as exc:
        return exc.known


def two_forks(log: Log) -> tuple[Log, Log]:
    """Two logs that agree on the first 5 leaves (the cosigned state) and then differ: each proof from 5 verifies."""
    return log.fork(5).append(4, tag="a "), log.fork(5).append(4, tag="b ")


def served_root(witness: Witness) -> bytes:
    return Checkpoint.from_text(open_note(witness.latest_checkpoint(ORIGIN), HOST_KEY.verifier())).root_hash


def test_two_forks_checked_against_one_state_only_one_is_cosigned(make_witness: Callable[..., Witness],
                                                                  log: Log) -> None:
    barrier = threading.Barrier(2, timeout=30)
    witness = make_witness(before_swap=barrier.wait)  # both pass every check before either writes
    make_witness().add_checkpoint(log.body(0))
    a, b = two_forks(log)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda fork: submit(witness, fork.body(5)), [a, b]))
    assert sorted(type(r).__name__ for r in results) == ["int", "str"], results
    assert 9 in results
    winner = a if isinstance(results[0], str) else b
    assert served_root(witness) == winner.tree.root()


def test_two_witness_processes_on_one_database_cosign_one_fork(make_witness: Callable[..., Witness],
                                                               log: Log) -> None:
    barrier = threading.Barrier(2, timeout=30)
    first, second = make_witness(before_swap=barrier.wait), make_witness(before_swap=barrier.wait)
    make_witness().add_checkpoint(log.body(0))
    a, b = two_forks(log)
    with ThreadPoolExecutor(2) as pool:
        results = [f.result() for f in [pool.submit(submit, first, a.body(5)), pool.submit(submit, second, b.body(5))]]
    assert sorted(type(r).__name__ for r in results) == ["int", "str"], results


def test_the_spec_race_cannot_roll_back(make_witness: Callable[..., Witness], log: Log) -> None:
    """Request A (size 7) and B (size 12) are both checked against size 5; B is stored first; A must fail."""
    b_stored = threading.Event()
    a_checked = threading.Event()

    def a_hook() -> None:
        a_checked.set()
        assert b_stored.wait(30)

    def b_hook() -> None:
        assert a_checked.wait(30)

    slow, fast = make_witness(before_swap=a_hook), make_witness(before_swap=b_hook)
    make_witness().add_checkpoint(log.body(0))
    log.append(7)
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(submit, slow, log.body(5, 7))
        b = pool.submit(submit, fast, log.body(5, 12))
        assert isinstance(b.result(30), str)
        b_stored.set()
        assert a.result(30) == 12
    assert served_root(fast) == log.tree.root(12)


def test_many_threads_many_forks_exactly_one_wins(make_witness: Callable[..., Witness], log: Log) -> None:
    witness = make_witness()
    witness.add_checkpoint(log.body(0))
    forks = [log.fork(5).append(3, tag=f"fork {i} ") for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda fork: submit(witness, fork.body(5)), forks))
    assert sum(isinstance(r, str) for r in results) == 1, results
    assert all(r == 8 for r in results if not isinstance(r, str))


def test_concurrent_http_submissions_one_cosignature(make_witness: Callable[..., Witness], log: Log) -> None:
    barrier = threading.Barrier(2, timeout=30)
    witness = make_witness(before_swap=barrier.wait)
    make_witness().add_checkpoint(log.body(0))
    a, b = two_forks(log)

    async def both() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(witness))
        async with httpx.AsyncClient(transport=transport, base_url="http://witness.test") as c:
            return list(await asyncio.gather(c.post("/add-checkpoint", content=a.body(5)),
                                             c.post("/add-checkpoint", content=b.body(5))))

    replies = asyncio.run(both())
    assert sorted(r.status_code for r in replies) == [200, 409]
    conflict = next(r for r in replies if r.status_code == 409)
    assert (conflict.headers["content-type"], conflict.text) == ("text/x.tlog.size", "9\n")
