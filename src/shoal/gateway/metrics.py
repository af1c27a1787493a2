"""Prometheus metrics of proxied requests, counted in plain dicts and read at scrape time.

Why not ``prometheus_client.Counter``/``Histogram`` objects: each observation takes a
lock and walks label children, about as much as the rest of a proxied request's
bookkeeping; a busy gateway records thousands per second. Here an observation is
a dict lookup and three additions, and the collector turns the counts into
metric families when ``/metrics`` is scraped.

Exposed:

* ``shoal_gateway_requests_total{method, status}``
* ``shoal_gateway_request_duration_seconds{method}`` (histogram; a watch or exec
  counts once, when it ends, with its whole length)

Both fronts (``gateway.front`` and the ASGI ``gateway.proxy``) record here.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client.core import REGISTRY, CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["BUCKETS", "GATEWAY_METRICS", "GatewayMetrics"]

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics(Collector):
    def __init__(self) -> None:
        self._requests: dict[tuple[str, int], int] = {}
        #: method -> [count per bucket (the last one: above every bound)..., sum of seconds]
        self._durations: dict[str, list[float]] = {}

    def observe(self, method: str, status: int, seconds: float) -> None:
        key = (method, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        counts = self._durations.get(method)
        if counts is None:
            counts = self._durations[method] = [0.0] * (len(BUCKETS) + 2)
        counts[bisect_left(BUCKETS, seconds)] += 1
        counts[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("shoal_gateway_requests", "Requests proxied by the kube gateway",
                                       labels=["method", "status"])
        for (method, status), count in sorted(self._requests.items()):
            requests.add_metric([method, str(status)], count)
        yield requests
        durations = HistogramMetricFamily("shoal_gateway_request_duration_seconds",
                                          "Time from a proxied request's head to the end of its answer",
                                          labels=["method"])
        for method, counts in sorted(self._durations.items()):
            cumulative = 0.0
            buckets: list[tuple[str, float]] = []
            for bound, in_bucket in zip((*map(str, BUCKETS), "+Inf"), counts[:-1], strict=True):
                cumulative += in_bucket
                buckets.append((bound, cumulative))
            durations.add_metric([method], buckets, sum_value=counts[-1])
        yield durations


GATEWAY_METRICS = GatewayMetrics()
REGISTRY.register(GATEWAY_METRICS)
