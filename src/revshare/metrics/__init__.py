"""What an operator watches: every Prometheus series revshare exports, defined once (`series.py`).

Other rooms record into a `Metrics` they are handed; nothing here imports them back. Labels stay
low-cardinality by construction: model, engine, route, status class, outcome, kind, currency,
log id. Never a customer, a key or a record id (those go to the access log, one line a request).
"""

from revshare.metrics.series import Metrics

__all__ = ["Metrics"]
