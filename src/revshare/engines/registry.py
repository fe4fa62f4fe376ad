"""Build the engines a catalog declares."""

from __future__ import annotations

from revshare.config import Catalog
from revshare.engines.base import Engine
from revshare.metrics import Metrics

__all__ = ["build_engines"]


def build_engines(catalog: Catalog, metrics: Metrics | None = None) -> dict[str, Engine]:
    """One engine object per [[engines]] entry; embedded ones load at `start()`."""
    metrics = metrics if metrics is not None else Metrics()
    engines: dict[str, Engine] = {}
    for config in catalog.engines:
        models = [m for m in catalog.models if m.engine == config.id]
        if config.kind == "embedded":
            from revshare.engines.embedded import EmbeddedEngine

            engines[config.id] = EmbeddedEngine(config, models, metrics)
        else:
            from revshare.engines.tokenizers import catalog_counter
            from revshare.engines.upstream import UpstreamEngine

            engines[config.id] = UpstreamEngine(config, tokenizer=catalog_counter(catalog))
    return engines
