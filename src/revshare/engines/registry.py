"""Build the engines a catalog declares, and a router for each model that names several."""

from __future__ import annotations

from revshare.config import Catalog
from revshare.engines.base import Engine
from revshare.engines.health import HealthBoard
from revshare.engines.router import Member, Router
from revshare.metrics import Metrics

__all__ = ["build_engines"]


def build_engines(catalog: Catalog, metrics: Metrics | None = None) -> dict[str, Engine]:
    """One engine object per [[engines]] entry (embedded ones load at `start()`), then one
    `Router` per model with `engines = [...]`, keyed by the model's `engine` (`route:<id>`); the
    routers share one `HealthBoard`, so an engine out for one model is out for all. An engine
    that no model names directly is reached only through its routes (and started by them)."""
    metrics = metrics if metrics is not None else Metrics()
    engines: dict[str, Engine] = {}
    for config in catalog.engines:
        models = [m for m in catalog.models if m.engine == config.id or any(c.id == config.id for c in m.engines)]
        if config.kind == "embedded":
            from revshare.engines.embedded import EmbeddedEngine

            engines[config.id] = EmbeddedEngine(config, models, metrics)
        else:
            from revshare.engines.tokenizers import catalog_counter
            from revshare.engines.upstream import UpstreamEngine

            engines[config.id] = UpstreamEngine(config, tokenizer=catalog_counter(catalog))
    routed = [m for m in catalog.models if m.engines]
    if routed:
        used = {c.id for m in routed for c in m.engines}
        direct = {m.engine for m in catalog.models if not m.engines}
        # Engines only routed to are the board's to start and close, and stay out of the map, so
        # that /readyz asks the route (ready while one of its engines is) and not each of them.
        owned = {engine_id: engines.pop(engine_id) for engine_id in used - direct}
        board = HealthBoard({**engines, **owned}, [c for c in catalog.engines if c.id in used], metrics,
                            owned=list(owned.values()))
        for model in routed:
            members = [Member(board.engine(c.id), c.weight, board.of(c.id)) for c in model.engines]
            engines[model.engine] = Router(model.engine, members, metrics, board=board)
    return engines
