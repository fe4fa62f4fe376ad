"""The live, approximate count of this month's end users per model and per licence (HyperLogLog).

    live = LiveEndUsers(catalog)
    live.observe(model, identity, now)     each admitted request, on the request path (~2 us)
    live.snapshot()                        -> LiveCounts: estimates and threshold states

One Apache DataSketches HLL sketch (lg_k = 12: ~1.6% relative standard error, 4 KiB) per model
and per licence, for the current UTC calendar month; the first request of a new month starts
new sketches. It counts what this gateway admitted since it started: the exact figure is the
ledger's (`accounts.users.monthly_users`), and several gateways each count their own share.
When a licence's estimate reaches `NEAR_PERCENT` of one of its `mau_thresholds` (or the
threshold), a warning is logged once per month and state; the gauges say it on every scrape.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import datasketches

from revshare.accounts.users import Threshold, threshold_state
from revshare.config import Catalog

__all__ = ["LG_K", "LIVE_RSE", "LiveCounts", "LiveEndUsers"]

log = logging.getLogger("revshare.terms")

LG_K = 12
LIVE_RSE = 0.0163  # DataSketches' relative standard error of an HLL_8 sketch at lg_k 12 (1.04 / sqrt(4096))


@dataclass(frozen=True, slots=True)
class LiveCounts:
    """Estimated distinct end users this month: per model, per licence, and the licences' thresholds."""

    month: str
    models: dict[str, float]
    licences: dict[str, float]
    thresholds: tuple[Threshold, ...]


class LiveEndUsers:
    """HyperLogLog sketches of the month's end users, per model and per licence; thread-safe."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._chains: dict[str, tuple[str, ...]] = {}
        self._watched: dict[str, tuple[str, ...]] = {}  # model -> the licences of its chain with thresholds
        self._lock = threading.Lock()
        self._month = ""
        self._models: dict[str, datasketches.hll_sketch] = {}
        self._licences: dict[str, datasketches.hll_sketch] = {}
        self._warned: set[tuple[str, int, str]] = set()

    def observe(self, model: str, identity: str, now: datetime) -> None:
        """Count `identity` (`end_users.end_user_identity`) as an end user of `model` in `now`'s month."""
        chain = self._chains.get(model)
        if chain is None:
            terms = self._catalog.licence_chain(model)
            chain = self._chains[model] = tuple(t.id for t in terms)
            self._watched[model] = tuple(t.id for t in terms if t.mau_thresholds)
        month = f"{now.year:04d}-{now.month:02d}"
        with self._lock:
            if month != self._month:
                self._month, self._models, self._licences, self._warned = month, {}, {}, set()
            _sketch(self._models, model).update(identity)
            for licence in chain:
                _sketch(self._licences, licence).update(identity)
        if self._watched[model]:
            self._warn(self._watched[model])

    def snapshot(self) -> LiveCounts:
        with self._lock:
            models = {m: s.get_estimate() for m, s in self._models.items()}
            licences = {t: s.get_estimate() for t, s in self._licences.items()}
            month = self._month
        return LiveCounts(month, models, licences, tuple(self._thresholds(licences)))

    def _thresholds(self, estimates: dict[str, float]) -> Iterable[Threshold]:
        for terms in self._catalog.licences:
            for users in terms.mau_thresholds:
                yield Threshold(terms.id, users, threshold_state(round(estimates.get(terms.id, 0.0)), users))

    def _warn(self, chain: tuple[str, ...]) -> None:
        with self._lock:
            estimates = {t: s.get_estimate() for t, s in self._licences.items() if t in chain}
            month = self._month
        for threshold in self._thresholds(estimates):
            if threshold.licence in chain and threshold.state != "below":
                mark = (threshold.licence, threshold.users, threshold.state)
                if mark not in self._warned:
                    self._warned.add(mark)
                    log.warning("terms: the end users of licence %s in %s are %s its threshold of %d "
                                "(about %d on this gateway; exact: GET /admin/terms/users)", threshold.licence,
                                month, threshold.state, threshold.users, round(estimates[threshold.licence]))

    def model_gauge(self) -> Iterable[tuple[tuple[str, ...], float]]:
        """Scrape reader of revshare_model_end_users_estimate: (model,) -> estimate."""
        return [((m,), v) for m, v in sorted(self.snapshot().models.items())]

    def licence_gauge(self) -> Iterable[tuple[tuple[str, ...], float]]:
        """Scrape reader of revshare_licence_end_users_estimate: (licence,) -> estimate."""
        return [((t,), v) for t, v in sorted(self.snapshot().licences.items())]

    def threshold_gauge(self) -> Iterable[tuple[tuple[str, ...], float]]:
        """Scrape reader of revshare_licence_users_threshold: (licence, users) -> 0 below, 1 near, 2 over."""
        level = {"below": 0.0, "near": 1.0, "over": 2.0}
        return [((t.licence, str(t.users)), level[t.state]) for t in self.snapshot().thresholds]


def _sketch(sketches: dict[str, datasketches.hll_sketch], name: str) -> datasketches.hll_sketch:
    sketch = sketches.get(name)
    if sketch is None:
        sketch = sketches[name] = datasketches.hll_sketch(LG_K, datasketches.tgt_hll_type.HLL_8)
    return sketch
