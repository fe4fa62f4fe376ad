"""The host's side of C2SP tlog-witness: each new checkpoint of each log, submitted to the catalog's witnesses.

    WitnessSubmitter(catalog, ledger)   one per gateway process; `LogService` starts it when the
                                        catalog names [[witnesses]], and wakes it after each integration
    submit_now(ledger, catalog, logs)   one round from a command (the statement bundle's export)

A round, for each witness (all at once) and each log (one after the other):

    (1) the signed checkpoints the witness has not cosigned for us, smallest first, at most
        `MAX_PER_ROUND` (cosignatures.pending_checkpoints): every one since the last it cosigned,
        so that the checkpoints a statement names are cosigned too, not only the newest (a witness
        new to the log starts at the newest);
    (2) POST <url>/add-checkpoint: `old <size>` (the largest size it cosigned for us, 0 on first
        contact), the consistency proof from that size (one base64 hash a line), a blank line, the
        host's signed note;
    (3) 409 `text/x.tlog.size`: the witness holds another size (a lost database, another gateway);
        once, again from that size; a size beyond the checkpoint's means it is past it: skipped;
    (4) 200: the answer's line of the witness's key (name and key id of the catalog's vkey) must be
        a cosignature/v1 of this checkpoint that verifies under that vkey; then it is kept
        (tlog_cosignatures), and published with the checkpoint (cosignatures.cosigned_note).

Anything else is logged (a warning when the witness cannot be reached, which ends its round; an
error when it refuses a log's checkpoint: 422 or a plain 409 means the host's log does not extend
what the witness cosigned, a fork) and tried again at a later round, after a back-off that doubles
per failure up to `MAX_BACKOFF_S`, for the witness or for that log. Failures are counted per
witness (`status()`, and the log lines). Nothing here runs on the request path or holds up
integration: the submitter has its own task. The HTTP side, and its errors: `witness_http`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select

from revshare.config import Catalog
from revshare.config.sections import WitnessConfig
from revshare.ledger.store import Ledger
from revshare.logstore.cosignatures import (
    PendingCheckpoint,
    cosigned_note,
    latest_cosigned,
    pending_checkpoints,
    store_cosignature,
)
from revshare.logstore.schema import tlog_checkpoints, tlog_logs
from revshare.logstore.tree_store import LogReader
from revshare.logstore.witness_http import (
    SIZE_MEDIA_TYPE,
    Answer,
    WitnessHttp,
    WitnessSubmitError,
    WitnessUnreachableError,
    add_checkpoint_body,
    answered_size,
    refusal,
    verified_cosignature,
)
from revshare.tlog import parse_note
from revshare.tlog.cosignature import CosignatureVerifier

__all__ = ["MAX_BACKOFF_S", "MAX_PER_ROUND", "WitnessStatus", "WitnessSubmitter", "submit_now"]

log = logging.getLogger("revshare.tlog")

MAX_PER_ROUND = 64  # checkpoints per witness and log in one round; the rest at the next rounds
MAX_BACKOFF_S = 30.0
T = TypeVar("T")


@dataclass
class WitnessStatus:
    """How submitting to one witness goes (this process only).

    Attributes:
        name, url: as in the catalog.
        cosigned: cosignatures received and kept, since start.
        failures: failed submissions in a row (0: the last round went through); total_failures: since start.
        last_error: the last failure's message, None once a round went through.
        retry_at: monotonic time before which it is not tried again: key None for the witness (it
            could not be reached), a log id for one log (it refused that log's checkpoint).
        holds: per log id, the size the witness holds, as far as this process knows.
    """

    name: str
    url: str
    cosigned: int = 0
    failures: int = 0
    total_failures: int = 0
    last_error: str | None = None
    retry_at: dict[str | None, float] = field(default_factory=dict)
    failures_of: dict[str | None, int] = field(default_factory=dict)
    holds: dict[str, int] = field(default_factory=dict)


class WitnessSubmitter:
    """Submits every signed checkpoint of every log to the catalog's witnesses, and keeps their cosignatures."""

    def __init__(self, catalog: Catalog, ledger: Ledger) -> None:
        self.catalog = catalog
        self.ledger = ledger
        self.reader = LogReader(ledger)
        self.witnesses = {w.name: w for w in catalog.witnesses}
        self.verifiers = {w.name: CosignatureVerifier.from_text(w.vkey) for w in catalog.witnesses}
        self.statuses = {w.name: WitnessStatus(w.name, w.url) for w in catalog.witnesses}
        self.quorum = catalog.log.witness_quorum or len(catalog.witnesses)
        self.short: dict[str, bool] = {}  # log id -> its newest checkpoint lacks the quorum (as last logged)
        self._wake = asyncio.Event()
        self._http = WitnessHttp()
        self._task: asyncio.Task[None] | None = None

    # the task --------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="revshare-tlog-witnesses")

    def wake(self) -> None:
        """New checkpoints may be signed: run a round now rather than at the next interval."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.close()

    async def close(self) -> None:
        await self._http.close()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.catalog.log.interval_s)
            self._wake.clear()
            try:
                await self.run_round()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: try again at the next round
                log.exception("tlog: submitting checkpoints to the witnesses failed")

    # a round ---------------------------------------------------------------------------------

    async def run_round(self, log_ids: Iterable[str] | None = None, *, now: bool = False) -> None:
        """Submit what each witness has not cosigned; `now` ignores the back-off (a command's one round)."""
        logs = list(log_ids) if log_ids is not None else await asyncio.to_thread(self._log_ids)
        clock = time.monotonic()
        due = [w for w in self.witnesses.values() if now or self.statuses[w.name].retry_at.get(None, 0.0) <= clock]
        await asyncio.gather(*(self._witness_round(w, logs, clock, now) for w in due))
        await asyncio.to_thread(self._check_quorum, logs)

    def _log_ids(self) -> list[str]:
        with self.ledger.engine.connect() as conn:
            return [str(x) for x in conn.execute(select(tlog_logs.c.log_id).order_by(tlog_logs.c.log_id)).scalars()]

    async def _witness_round(self, witness: WitnessConfig, logs: list[str], clock: float, now: bool) -> None:
        """Each log in turn; a witness out of reach ends the round, a refused log only that log's."""
        status = self.statuses[witness.name]
        failed = False
        for log_id in logs:
            if witness.logs is not None and log_id not in witness.logs:
                continue
            if not now and status.retry_at.get(log_id, 0.0) > clock:
                failed = True
                continue
            try:
                await self._submit_log(witness, log_id)
            except WitnessUnreachableError as exc:
                self._failed(witness, None, exc)
                return
            except WitnessSubmitError as exc:
                self._failed(witness, log_id, exc)
                failed = True
            else:
                status.retry_at.pop(log_id, None)
                status.failures_of.pop(log_id, None)
        status.retry_at.pop(None, None)
        status.failures_of.pop(None, None)
        if not failed:
            if status.failures:
                log.info("tlog: witness %s cosigns again after %d failure(s)", witness.name, status.failures)
            status.failures, status.last_error = 0, None

    def _failed(self, witness: WitnessConfig, log_id: str | None, exc: WitnessSubmitError) -> None:
        """Count a failure, and wait before the next try of the witness (None) or of that log, doubling each time."""
        status = self.statuses[witness.name]
        status.failures += 1
        status.total_failures += 1
        status.last_error = str(exc)
        n = status.failures_of[log_id] = status.failures_of.get(log_id, 0) + 1
        delay = min(MAX_BACKOFF_S, self.catalog.log.interval_s * 2 ** min(n - 1, 16))
        status.retry_at[log_id] = time.monotonic() + delay
        level = logging.WARNING if isinstance(exc, WitnessUnreachableError) else logging.ERROR
        log.log(level, "tlog: witness %s: %s (failure %d in a row, %d in all; next try in %.1f s)",
                witness.name, exc, status.failures, status.total_failures, delay)

    async def _submit_log(self, witness: WitnessConfig, log_id: str) -> None:
        status = self.statuses[witness.name]
        pending = await asyncio.to_thread(self._pending, witness, log_id, status.holds.get(log_id, 0))
        for item in pending:
            if item.checkpoint.size < status.holds.get(log_id, 0):
                continue  # the witness cosigned a larger checkpoint already: this one it never will
            await self._submit_one(witness, log_id, item)

    def _pending(self, witness: WitnessConfig, log_id: str, holds: int) -> list[PendingCheckpoint]:
        with self.ledger.engine.connect() as conn:
            return pending_checkpoints(conn, log_id, witness.key, at_least=holds, limit=MAX_PER_ROUND)

    async def _submit_one(self, witness: WitnessConfig, log_id: str, item: PendingCheckpoint) -> None:
        status = self.statuses[witness.name]
        size = item.checkpoint.size
        where = f"log {log_id} at size {size}"
        old = await asyncio.to_thread(self._old_size, witness, log_id, status.holds.get(log_id, 0), size)
        answer = await self._post(witness, log_id, old, item, where)
        if answer.status == 409 and answer.media_type == SIZE_MEDIA_TYPE:
            held = answered_size(answer, where)
            status.holds[log_id] = held
            if held > size:
                log.info("tlog: witness %s holds %s at size %d already: checkpoint size %d skipped",
                         witness.name, log_id, held, size)
                return
            log.info("tlog: witness %s holds %s at size %d, not %d: submitting again from it",
                     witness.name, log_id, held, old)
            answer = await self._post(witness, log_id, held, item, where)
        if answer.status != 200:
            raise refusal(answer, where)
        cosignature = verified_cosignature(self.verifiers[witness.name], item.note, answer.text, where)
        if await asyncio.to_thread(store_cosignature, self.ledger, log_id, item.checkpoint, witness.key, cosignature):
            status.cosigned += 1
        status.holds[log_id] = size

    def _old_size(self, witness: WitnessConfig, log_id: str, holds: int, size: int) -> int:
        """The size to prove from: what the witness cosigned for us, or what it said it holds."""
        with self.ledger.engine.connect() as conn:
            latest = latest_cosigned(conn, log_id, witness.key)
        old = max(holds, latest[0] if latest else 0)
        return min(old, size)

    async def _post(self, witness: WitnessConfig, log_id: str, old: int, item: PendingCheckpoint,
                    where: str) -> Answer:
        size = item.checkpoint.size
        proof = await asyncio.to_thread(self.reader.consistency_proof, log_id, old, size) if 0 < old < size else []
        return await self._http.post(witness, add_checkpoint_body(old, proof, item.note), where)

    # the quorum ------------------------------------------------------------------------------

    def _check_quorum(self, logs: list[str]) -> None:
        """Log when a log's newest checkpoint falls short of the quorum, and when it meets it again.

        The quorum of a log counts the witnesses that follow it (all, or those whose `logs` name it).
        """
        with self.ledger.engine.connect() as conn:
            for log_id in logs:
                keys = {w.key: w.name for w in self.witnesses.values() if w.logs is None or log_id in w.logs}
                c = tlog_checkpoints.c
                note = conn.execute(select(c.note).where(c.log_id == log_id).order_by(c.size.desc()).limit(1)).scalar()
                if note is None or not keys:
                    continue
                lines = parse_note(cosigned_note(conn, log_id, note)).signatures
                signers = {f"{line.name}+{line.key_id.hex()}" for line in lines}
                cosigned = sorted(keys[k] for k in signers if k in keys)
                wanted = min(self.quorum, len(keys))
                short = len(cosigned) < wanted
                if short and not self.short.get(log_id):
                    missing = sorted(set(keys.values()) - set(cosigned))
                    log.warning("tlog: log %s at size %s has %d of the %d cosignatures wanted (cosigned by: %s; "
                                "not yet: %s)", log_id, note.split("\n", 2)[1], len(cosigned), wanted,
                                ", ".join(cosigned) or "none", ", ".join(missing))
                elif not short and self.short.get(log_id):
                    log.info("tlog: log %s is cosigned by %d witnesses again (%s)", log_id, len(cosigned),
                             ", ".join(cosigned))
                self.short[log_id] = short

    def status(self) -> dict[str, WitnessStatus]:
        return dict(self.statuses)


def _run_to_end(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from synchronous code, in a thread of its own if a loop already runs here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="revshare-witness-submit")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def submit_now(ledger: Ledger, catalog: Catalog, log_ids: Iterable[str] | None = None) -> dict[str, WitnessStatus]:
    """One round, now, for a command (no gateway may be running): returns each witness's status."""
    if not catalog.witnesses:
        return {}
    submitter = WitnessSubmitter(catalog, ledger)
    logs = list(log_ids) if log_ids is not None else None

    async def once() -> None:
        try:
            await submitter.run_round(logs, now=True)
        finally:
            await submitter.close()

    _run_to_end(once())
    return submitter.status()
