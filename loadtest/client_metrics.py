"""The load generator's client-side metrics, right in Locust's distributed mode too.

One process (or a master) serves `/metrics`. A worker serves nothing: it counts into the same
`ClientMetrics` and, at each of Locust's stats reports (`report_to_master`), ships what it counted
since the last report and starts again from zero. The master adds each worker's shipment into its
own totals (`worker_report`). So every request is counted once, by the process that serves the
metrics, whatever the number of workers: no per-worker series to sum, nothing doubled.

The exposition is a custom collector of `prometheus_client` (its public `Collector` and
`*MetricFamily` API): a counter and a histogram cannot take a worker's bucket counts as they are.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
REPORT_KEY = "faultline_client_metrics"  # the key in Locust's report messages


class ClientMetrics(Collector):
    """`loadgen_requests_total{name,method,result}` and
    `loadgen_request_duration_seconds{name,method}`, as counted here or shipped by workers."""

    def __init__(self, buckets: Sequence[float] = BUCKETS) -> None:
        self.buckets = tuple(buckets)
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = {}
        # (name, method) -> [count per bucket (not cumulative; the last is +Inf), sum of seconds]
        self._durations: dict[tuple[str, str], tuple[list[int], float]] = {}

    def observe(self, name: str, method: str, result: str, seconds: float) -> None:
        with self._lock:
            key = (name, method, result)
            self._requests[key] = self._requests.get(key, 0) + 1
            counts, total = self._durations.get((name, method), ([0] * (len(self.buckets) + 1), 0))
            counts[next((i for i, le in enumerate(self.buckets) if seconds <= le), -1)] += 1
            self._durations[(name, method)] = (counts, total + seconds)

    def take(self) -> dict[str, Any]:
        """What was counted since the last take, as a report message can carry it (lists and
        strings: Locust's messages are msgpack); the counts start again from zero."""
        with self._lock:
            shipment = {
                "buckets": list(self.buckets),
                "requests": [[*key, count] for key, count in self._requests.items()],
                "durations": [
                    [*key, counts, total] for key, (counts, total) in self._durations.items()
                ],
            }
            self._requests.clear()
            self._durations.clear()
        return shipment

    def merge(self, shipment: dict[str, Any]) -> None:
        """Add a worker's shipment. One from a worker with other buckets (another version of this
        file) is refused whole rather than counted into the wrong buckets."""
        if list(shipment.get("buckets", [])) != list(self.buckets):
            raise ValueError(f"a worker's buckets differ from the master's: {shipment['buckets']}")
        with self._lock:
            for name, method, result, count in shipment["requests"]:
                key = (name, method, result)
                self._requests[key] = self._requests.get(key, 0) + int(count)
            for name, method, counts, total in shipment["durations"]:
                mine, my_total = self._durations.get(
                    (name, method), ([0] * (len(self.buckets) + 1), 0.0)
                )
                self._durations[(name, method)] = (
                    [a + int(b) for a, b in zip(mine, counts, strict=True)],
                    my_total + float(total),
                )

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "loadgen_requests",
            "Requests sent by the load generator (all workers together)",
            labels=["name", "method", "result"],
        )
        durations = HistogramMetricFamily(
            "loadgen_request_duration_seconds",
            "Request duration as the client saw it (all workers together)",
            labels=["name", "method"],
        )
        with self._lock:
            for (name, method, result), count in sorted(self._requests.items()):
                requests.add_metric([name, method, result], count)
            for (name, method), (counts, total) in sorted(self._durations.items()):
                cumulative, running = [], 0
                for le, count in zip([*map(str, self.buckets), "+Inf"], counts, strict=True):
                    running += count
                    cumulative.append((le, running))
                durations.add_metric([name, method], cumulative, total)
        yield requests
        yield durations
