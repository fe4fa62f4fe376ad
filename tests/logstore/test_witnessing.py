"""The host submits its checkpoints to the witnesses its catalog names, over real HTTP, and publishes the cosignatures.

Witnesses are `revshare.witness` served by uvicorn in a thread (tests/support/witness.py); the host is
the gateway's LogService, or one round from a command (`submit_now`), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

import tests.support.tlog_ledger as h
from revshare.cli import app
from revshare.config import Catalog, parse_catalog
from revshare.ledger.store import Ledger
from revshare.logstore.cosignatures import checkpoint_of
from revshare.logstore.identity import HOST_LOG, LogIdentity, load_identity
from revshare.logstore.integrator import integrate
from revshare.logstore.schema import tlog_checkpoints, tlog_cosignatures, tlog_leaves, tlog_logs, tlog_nodes
from revshare.logstore.service import LogService
from revshare.logstore.tree_store import LogReader, LogReadError, SqlTreeStore
from revshare.logstore.witness_client import submit_now
from revshare.metrics import Metrics
from revshare.tlog import Checkpoint, MerkleTree, hash_leaf
from revshare.tlog.cosignature import CosignatureVerifier, verify_cosignatures
from revshare.tlog.policy import QuorumNotMetError, parse_policy, verify_with_policy
from tests.support.catalogs import catalog_dict
from tests.support.servers import free_port
from tests.support.witness import RunningWitness, running_witness, witness_vkey

INTERVAL = 0.1
W1, W2 = "witness.one.example/w1", "witness.two.example/w2"


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    ledger = Ledger(ledger_url)
    ledger.migrate()
    yield ledger
    ledger.close()


def identity(tmp_path: Path) -> LogIdentity:
    """The host's key and origins (created in its data dir), before its catalog names any witness."""
    return load_identity(h.catalog(tmp_path / "host"))


def follows(ident: LogIdentity) -> list[tuple[str, str]]:
    """What a witness's witness.toml lists to follow the host's two logs."""
    return [(ident.origin(log_id), ident.key.verifier_text()) for log_id in ("google", HOST_LOG)]


def host_catalog(tmp_path: Path, *witnesses: tuple[str, str, str], quorum: int | None = None) -> Catalog:
    raw = catalog_dict(data_dir=str(tmp_path / "host"))
    raw["log"] = {"interval_s": INTERVAL, **({"witness_quorum": quorum} if quorum else {})}
    raw["witnesses"] = [{"name": name, "url": url, "vkey": vkey, "timeout_s": 5} for name, url, vkey in witnesses]
    return parse_catalog(raw, source="test.toml")


def cosigners(ledger: Ledger, log_id: str, *witnesses: RunningWitness | str) -> tuple[int, set[str]]:
    """The published checkpoint's size, and which of these witnesses' cosignatures on it verify."""
    try:
        note = LogReader(ledger).latest_checkpoint(log_id)
    except LogReadError:  # not signed yet
        return -1, set()
    vkeys = [w if isinstance(w, str) else w.vkey for w in witnesses]
    return checkpoint_of(note).size, {v.name for v in verify_cosignatures(note, vkeys)}


def rows(ledger: Ledger, log_id: str, witness: str) -> list[int]:
    """The sizes of `log_id` whose cosignature by `witness` (a vkey) the host keeps."""
    v = CosignatureVerifier.from_text(witness)
    with ledger.engine.connect() as conn:
        return [int(s) for s in conn.execute(select(tlog_cosignatures.c.size).where(
            tlog_cosignatures.c.log_id == log_id, tlog_cosignatures.c.witness == f"{v.name}+{v.key_id.hex()}")
            .order_by(tlog_cosignatures.c.size)).scalars()]


def policy(ident: LogIdentity, *witnesses: RunningWitness, quorum: str) -> str:
    lines = [f"log {ident.key.verifier_text()}"]
    lines += [f"witness w{i} {w.vkey} {w.url}" for i, w in enumerate(witnesses, 1)]
    return "\n".join([*lines, "group all-of-them all " + " ".join(f"w{i}" for i in range(1, len(witnesses) + 1)),
                      f"quorum {quorum}", ""])


async def until(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.05)


async def with_service(catalog: Catalog, ledger: Ledger, body: Callable[[LogService], Awaitable[None]]) -> None:
    service = LogService.start(catalog, ledger, Metrics())
    try:
        await body(service)
    finally:
        await service.stop()


async def test_each_new_checkpoint_is_cosigned_by_the_two_witnesses_the_catalog_names(
        ledger: Ledger, tmp_path: Path) -> None:
    ident = identity(tmp_path)
    with running_witness(tmp_path / "w1", follows(ident), name=W1) as w1, \
            running_witness(tmp_path / "w2", follows(ident), name=W2) as w2:
        catalog = host_catalog(tmp_path, ("w1", w1.url, w1.vkey), ("w2", w2.url, w2.vkey))
        h.fill(ledger, 1, 5)

        async def check(service: LogService) -> None:
            await until(lambda: cosigners(ledger, "google", w1, w2) == (5, {W1, W2}), "size 5 cosigned by both")
            # The next checkpoint goes with a consistency proof from the size each witness cosigned.
            h.fill(ledger, 6, 9)
            await until(lambda: cosigners(ledger, "google", w1, w2) == (9, {W1, W2}), "size 9 cosigned by both")
            await until(lambda: cosigners(ledger, HOST_LOG, w1, w2) == (0, {W1, W2}), "the host's empty log too")
            note = LogReader(ledger).latest_checkpoint("google")
            assert note.count("\n— ") == 3  # the host's signature line, then one line per witness
            verdict = verify_with_policy(note, parse_policy(policy(ident, w1, w2, quorum="all-of-them")))
            assert sorted(verdict.cosignatures) == ["w1", "w2"] and verdict.checkpoint.size == 9
            # Each witness's own latest checkpoint is the one the host publishes.
            for w in (w1, w2):
                assert checkpoint_of(w.latest(ident.origin("google")) or "") == checkpoint_of(note)
            # A receipt carries the cosigned checkpoint; the log state has what each witness cosigned.
            (record,) = ledger.records(record_id=h.record(3).id)
            receipt = await service.receipt(record, "google")
            assert receipt.checkpoint == note
            await service.refresh_state()
            keys = {CosignatureVerifier.from_text(w.vkey) for w in (w1, w2)}
            assert service.state.cosigned["google"] == {f"{k.name}+{k.key_id.hex()}": 9 for k in keys}
            status = service.witness_status()
            assert status["w1"].cosigned >= 2 and status["w1"].failures == 0 and status["w2"].last_error is None

        await with_service(catalog, ledger, check)


async def test_a_witness_that_is_down_is_retried_and_the_log_keeps_integrating(
        ledger: Ledger, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ident = identity(tmp_path)
    port = free_port()
    w2_vkey = witness_vkey(tmp_path / "w2", W2)
    with running_witness(tmp_path / "w1", follows(ident), name=W1) as w1:
        catalog = host_catalog(tmp_path, ("w1", w1.url, w1.vkey), ("w2", f"http://127.0.0.1:{port}", w2_vkey),
                               quorum=2)
        h.fill(ledger, 1, 3)

        async def check(service: LogService) -> None:
            with running_witness(tmp_path / "w2", follows(ident), name=W2, port=port):
                await until(lambda: cosigners(ledger, "google", w1, w2_vkey) == (3, {W1, W2}), "size 3 by both")
            # w2 is down: it is tried again and again, and integration goes on, cosigned by w1.
            h.fill(ledger, 4, 5)
            await until(lambda: cosigners(ledger, "google", w1, w2_vkey) == (5, {W1}), "size 5 cosigned by w1")
            await until(lambda: service.witness_status()["w2"].failures >= 2, "w2 tried again")
            assert "cannot be reached" in (service.witness_status()["w2"].last_error or "")
            h.fill(ledger, 6, 7)
            await until(lambda: cosigners(ledger, "google", w1, w2_vkey) == (7, {W1}), "size 7 cosigned by w1")
            assert service.ready() is None and service.last_error is None
            with running_witness(tmp_path / "w2", follows(ident), name=W2, port=port):
                await until(lambda: cosigners(ledger, "google", w1, w2_vkey) == (7, {W1, W2}), "w2 back")
                # w2 was shown every checkpoint it missed, smallest first, not only the newest.
                assert rows(ledger, "google", w2_vkey) == rows(ledger, "google", w1.vkey)
                assert len(rows(ledger, "google", w2_vkey)) >= 3
                await until(lambda: service.witness_status()["w2"].failures == 0, "w2's failures reset")
            assert service.witness_status()["w2"].total_failures >= 2

        with caplog.at_level(logging.INFO, logger="revshare.tlog"):
            await with_service(catalog, ledger, check)
    messages = [r.getMessage() for r in caplog.records]
    assert any("witness w2" in m and "cannot be reached" in m and "next try in" in m for m in messages)
    # (0 of 2 when a round read the log just before its new checkpoint was submitted to w1)
    assert any(re.search(r"has [01] of the 2 cosignatures wanted .*not yet: (w1, )?w2\)", m) for m in messages)
    assert any("cosigns again" in m for m in messages)


def test_a_witness_holding_another_size_answers_409_and_the_host_submits_again_from_it(
        ledger: Ledger, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ident = identity(tmp_path)
    with running_witness(tmp_path / "w1", follows(ident), name=W1) as w1:
        catalog = host_catalog(tmp_path, ("w1", w1.url, w1.vkey))
        h.fill(ledger, 1, 4)
        integrate(ledger, catalog)
        # Someone else showed the witness size 4 already: the host's first contact (old 0) is stale.
        note = LogReader(ledger).latest_checkpoint("google")
        httpx.post(w1.url + "/add-checkpoint", content=b"old 0\n\n" + note.encode()).raise_for_status()
        h.fill(ledger, 5, 6)
        integrate(ledger, catalog)
        with caplog.at_level(logging.INFO, logger="revshare.tlog"):
            status = submit_now(ledger, catalog)
        assert status["w1"].failures == 0, status["w1"].last_error
        assert any("holds google at size 4, not 0: submitting again from it" in r.getMessage() for r in caplog.records)
        assert cosigners(ledger, "google", w1) == (6, {W1})
        assert rows(ledger, "google", w1.vkey) == [6]  # first contact: the newest checkpoint, from size 4


def test_a_cosignature_that_does_not_verify_under_the_configured_key_is_not_kept(
        ledger: Ledger, tmp_path: Path) -> None:
    ident = identity(tmp_path)
    with running_witness(tmp_path / "w1", follows(ident), name=W1) as w1:
        other = witness_vkey(tmp_path / "other", W1)  # the same name, another key
        catalog = host_catalog(tmp_path, ("w1", w1.url, other))
        h.fill(ledger, 1, 2)
        integrate(ledger, catalog)
        status = submit_now(ledger, catalog)
        assert "with no line of its key witness.one.example/w1+" in (status["w1"].last_error or "")
        assert rows(ledger, "google", other) == [] and cosigners(ledger, "google", other) == (2, set())


def test_a_witness_that_follows_one_log_is_shown_that_log_only(ledger: Ledger, tmp_path: Path) -> None:
    ident = identity(tmp_path)
    with running_witness(tmp_path / "w1", follows(ident)[:1], name=W1) as w1:  # google's log only
        raw = host_catalog(tmp_path, ("w1", w1.url, w1.vkey)).model_dump(mode="json", exclude={"source"})
        raw["witnesses"][0]["logs"] = ["google"]
        catalog = parse_catalog(raw, source="test.toml")
        h.fill(ledger, 1, 2)
        integrate(ledger, catalog)
        status = submit_now(ledger, catalog)
        assert status["w1"].failures == 0 and status["w1"].total_failures == 0, status["w1"].last_error
        assert cosigners(ledger, "google", w1) == (2, {W1}) and cosigners(ledger, HOST_LOG, w1) == (0, set())


def forge_same_size(ledger: Ledger, catalog: Catalog, ident: LogIdentity, log_id: str) -> int:
    """The host signs another root at the size of its newest checkpoint, in place of the one it signed."""
    with ledger.engine.begin() as conn:
        size = int(conn.execute(select(tlog_logs.c.size).where(tlog_logs.c.log_id == log_id)).scalar_one())
        forged = Checkpoint(ident.origin(log_id), size, hashlib.sha256(b"another view").digest())
        conn.execute(update(tlog_checkpoints).where(tlog_checkpoints.c.log_id == log_id, tlog_checkpoints.c.size == size)
                     .values(note=ident.key.sign_note(forged.to_text())))
    return size


def rewrite_leaf(ledger: Ledger, catalog: Catalog, ident: LogIdentity, log_id: str) -> int:
    """The host rewrites leaf 0, rebuilds its tree store, erases the checkpoints and cosignatures it had,
    and integrates two more records: it signs the forked log, with nothing left to hold it to but the witnesses."""
    with ledger.engine.begin() as conn:
        leaves = [str(d) for d in conn.execute(select(tlog_leaves.c.data).where(tlog_leaves.c.log_id == log_id)
                                               .order_by(tlog_leaves.c.idx)).scalars()]
        leaves[0] = leaves[0].replace('"prompt_tokens":11', '"prompt_tokens":1')
        conn.execute(update(tlog_leaves).where(tlog_leaves.c.log_id == log_id, tlog_leaves.c.idx == 0)
                     .values(data=leaves[0]))
        for table in (tlog_nodes, tlog_checkpoints, tlog_cosignatures):
            conn.execute(delete(table).where(table.c.log_id == log_id))
        conn.execute(update(tlog_logs).where(tlog_logs.c.log_id == log_id).values(size=0))
        MerkleTree(SqlTreeStore(conn, log_id)).append_many([hash_leaf(d.encode()) for d in leaves])
    h.fill(ledger, 5, 6)
    integrate(ledger, catalog)
    return 6


@pytest.mark.parametrize(("fork", "refusal"), [
    (forge_same_size, "HTTP 409 (a checkpoint of the size it cosigned with another root: this log forked)"),
    (rewrite_leaf, "HTTP 422 (the consistency proof fails: this log does not extend what it cosigned)"),
], ids=["another-root-same-size", "leaf-rewritten"])
def test_a_host_that_forks_its_log_gets_no_cosignature_and_a_policy_refuses_it(
        ledger: Ledger, tmp_path: Path, fork: Callable[[Ledger, Catalog, LogIdentity, str], int], refusal: str) -> None:
    ident = identity(tmp_path)
    with running_witness(tmp_path / "w1", follows(ident), name=W1) as w1, \
            running_witness(tmp_path / "w2", follows(ident), name=W2) as w2:
        catalog = host_catalog(tmp_path, ("w1", w1.url, w1.vkey), ("w2", w2.url, w2.vkey))
        h.fill(ledger, 1, 4)
        integrate(ledger, catalog)
        assert submit_now(ledger, catalog)["w1"].failures == 0
        assert cosigners(ledger, "google", w1, w2) == (4, {W1, W2})
        witnessed = w1.latest(ident.origin("google"))
        published = fork(ledger, catalog, ident, "google")
        status = submit_now(ledger, catalog)
        for name in ("w1", "w2"):
            assert f"refused log google at size {published} with {refusal}" in (status[name].last_error or "")
        size, cosigned = cosigners(ledger, "google", w1, w2)
        assert size == published and cosigned == set()
        assert w1.latest(ident.origin("google")) == witnessed  # the witness stays on the log it saw
        text = policy(ident, w1, w2, quorum="any-of-them").replace("all-of-them all", "any-of-them any")
        with pytest.raises(QuorumNotMetError, match=r"quorum any-of-them is not met.*w1.*w2"):
            verify_with_policy(LogReader(ledger).latest_checkpoint("google"), parse_policy(text))
        # What the licensor runs on the checkpoint the host now serves: it fails, naming the witnesses.
        (tmp_path / "google.checkpoint").write_text(LogReader(ledger).latest_checkpoint("google"))
        (tmp_path / "policy.txt").write_text(text)
        result = CliRunner().invoke(app, ["verify", "checkpoint", str(tmp_path / "google.checkpoint"), "--key",
                                          ident.key.verifier_text(), "--policy", str(tmp_path / "policy.txt")])
        out = " ".join(result.output.split())
        assert result.exit_code == 1, out
        assert "QuorumNotMetError: quorum any-of-them is not met: group any-of-them needs 1 of w1, w2, has 0" in out
        assert f"no valid cosignature from w1 ({W1}+" in out and f"w2 ({W2}+" in out
