"""deploy/: the Prometheus rules and example config and the Grafana dashboard, checked with the real
Prometheus tools (Debian's `prometheus` package: promtool, prometheus) and against the series that
src/revshare/metrics defines, so a renamed series or label breaks a test instead of an alert.

Their shared helpers are in tests/support/prometheus.py.
"""
