"""Faultline's load generator: shoppers who browse, look at products, order and check orders.

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000         (web UI on :8089)
    make load PROFILE=spike DURATION=2m USERS=50                          (headless, summary)

Configured by the environment:
  LOAD_PROFILE      steady | ramp | spike | soak | stairs (see shapes.py); unset in the web UI:
                    users are set there by hand, live
  LOAD_USERS, LOAD_DURATION, LOAD_SPAWN_RATE, LOAD_SPIKE_FACTOR, LOAD_STEPS
  LOAD_WEIGHTS      journey weights, e.g. "browse=4,view=10,order=2,recent=1"
  LOAD_WAIT_MIN, LOAD_WAIT_MAX  think time between a shopper's requests, seconds (0.5, 2.0;
                    0 and 0 for a closed loop that pushes as hard as one process can)
  CATALOGUE_SIZE    product ids to draw from (1200, the seeded catalogue)
  LOADGEN_METRICS_PORT  where client-side Prometheus metrics are served (9646; 0 = off)
  LOAD_MAX_FAILURE_RATIO  exit non-zero when more requests than this failed (make load)
  LOAD_PROGRESS     1: print a one-line progress report every 5 s (make load)

Client-side metrics (what the shopper saw, queueing outside the app included):
  loadgen_requests_total{name,method,result}, loadgen_request_duration_seconds{name,method},
  loadgen_users, loadgen_profile_info{profile}.
Distributed (Locust's own master and workers: `--master` / `--worker`, or `--processes N`): the
master serves the metrics for all workers together, each request counted once (client_metrics.py).
No `traceparent` is sent: the API is the root of each trace and its sampler decides. (A made-up
parent would leave every trace in Tempo with a missing root span, and its sampled flag would
override the API's sampling ratio.)
"""

from __future__ import annotations

import os
import random
import time
import uuid

from locust import FastHttpUser, LoadTestShape, between, events, task
from locust.env import Environment
from locust.runners import WorkerRunner
from prometheus_client import REGISTRY, Gauge, Info, start_http_server

# These sit beside this file: Locust puts the locustfile's directory on the import path.
from client_metrics import REPORT_KEY, ClientMetrics
from shapes import PROFILES, ProfileParams, target

CATALOGUE_SIZE = int(os.environ.get("CATALOGUE_SIZE", "1200"))
DEFAULT_WEIGHTS = {"browse": 4, "view": 10, "order": 2, "recent": 1}
RETRY_STATUSES = {503}
MAX_RETRIES = 3

SEEN = ClientMetrics()  # loadgen_requests_total, loadgen_request_duration_seconds
REGISTRY.register(SEEN)
USERS = Gauge("loadgen_users", "Simulated shoppers right now")
PROFILE = Info("loadgen_profile", "The traffic profile of this run")


def weights() -> dict[str, int]:
    raw = os.environ.get("LOAD_WEIGHTS", "")
    result = dict(DEFAULT_WEIGHTS)
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        name, _, value = pair.partition("=")
        if name not in DEFAULT_WEIGHTS or not value.isdigit():
            raise ValueError(
                f"LOAD_WEIGHTS: bad entry {pair!r} (journeys: {', '.join(DEFAULT_WEIGHTS)})"
            )
        result[name] = int(value)
    return result


def popular_product() -> int:
    """Skewed popularity (roughly Zipf): a few products get most views, so the cache matters."""
    return min(CATALOGUE_SIZE, int(random.paretovariate(1.2)))


@events.request.add_listener
def record(
    request_type: str, name: str, response_time: float, exception: object, **_: object
) -> None:
    SEEN.observe(name, request_type, "failure" if exception else "success", response_time / 1000)


@events.report_to_master.add_listener
def ship_to_master(data: dict[str, object], **_: object) -> None:
    """A worker: what its shoppers saw since its last report goes to the master (client_metrics)."""
    data[REPORT_KEY] = SEEN.take()


@events.worker_report.add_listener
def add_worker_report(client_id: str, data: dict[str, object], **_: object) -> None:
    """The master: a worker's counts join the totals it serves."""
    shipment = data.get(REPORT_KEY)
    if isinstance(shipment, dict):
        SEEN.merge(shipment)


def is_worker(environment: Environment) -> bool:
    return isinstance(environment.runner, WorkerRunner)


@events.init.add_listener
def serve_metrics(environment: Environment, **_: object) -> None:
    """One process serves the metrics: the master, or the only one. Workers report to it."""
    port = int(os.environ.get("LOADGEN_METRICS_PORT", "9646"))
    if is_worker(environment):
        return
    if port and not getattr(environment, "_faultline_metrics", False):
        start_http_server(port)
        environment._faultline_metrics = True  # type: ignore[attr-defined]
    PROFILE.info({"profile": os.environ.get("LOAD_PROFILE", "manual")})


@events.test_start.add_listener
def progress(environment: Environment, **_: object) -> None:
    if os.environ.get("LOAD_PROGRESS") != "1" or is_worker(environment):
        return
    import gevent

    def report() -> None:
        started = time.monotonic()
        while True:
            gevent.sleep(5)
            total = environment.stats.total
            users = environment.runner.user_count if environment.runner else 0
            print(
                f"[{time.monotonic() - started:5.0f}s] users {users:4d}  "
                f"{total.current_rps:7.1f} req/s  failures {100 * total.fail_ratio:5.2f}%  "
                f"p50 {total.get_current_response_time_percentile(0.5) or 0:6.0f} ms  "
                f"p99 {total.get_current_response_time_percentile(0.99) or 0:6.0f} ms",
                flush=True,
            )

    gevent.spawn(report)


@events.quitting.add_listener
def enforce_failure_ratio(environment: Environment, **_: object) -> None:
    limit = os.environ.get("LOAD_MAX_FAILURE_RATIO")
    if not limit or is_worker(environment):  # a worker's own stats are only its last report
        return
    ratio = environment.stats.total.fail_ratio
    if ratio > float(limit):
        print(f"FAILED: {100 * ratio:.2f}% of requests failed (limit {100 * float(limit):.2f}%)")
        environment.process_exit_code = 1
    else:
        print(f"OK: {100 * ratio:.2f}% of requests failed (limit {100 * float(limit):.2f}%)")
        environment.process_exit_code = 0


@events.spawning_complete.add_listener
def count_users(user_count: int, **_: object) -> None:
    USERS.set(user_count)  # on a master: the users of all workers together


class Shopper(FastHttpUser):
    wait_time = between(
        float(os.environ.get("LOAD_WAIT_MIN", "0.5")), float(os.environ.get("LOAD_WAIT_MAX", "2.0"))
    )
    _weights = weights()

    def request(self, method: str, path: str, name: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.client.request(method, path, name=name, **kwargs)

    @task(_weights["browse"])
    def browse(self) -> None:
        offset = random.randrange(0, max(1, CATALOGUE_SIZE - 20), 20)
        params = f"?limit=20&offset={offset}"
        if random.random() < 0.2:
            params += "&q=" + random.choice(["oak", "lamp", "steel", "mug", "wool"])
        self.request("GET", f"/api/v1/products{params}", "browse: GET /products")

    @task(_weights["view"])
    def view(self) -> None:
        self.request("GET", f"/api/v1/products/{popular_product()}", "view: GET /products/{id}")

    @task(_weights["order"])
    def order(self) -> None:
        lines = random.sample(range(1, CATALOGUE_SIZE + 1), k=random.randint(1, 5))
        body = {"items": [{"product_id": p, "quantity": random.randint(1, 3)} for p in lines]}
        key = str(uuid.uuid4())
        for attempt in range(MAX_RETRIES + 1):
            with self.client.request(
                "POST",
                "/api/v1/orders",
                name="order: POST /orders",
                json=body,
                headers={"Idempotency-Key": key},
                catch_response=True,
            ) as response:
                if response.status_code in RETRY_STATUSES and attempt < MAX_RETRIES:
                    response.success()  # retried below; only the final outcome counts
                    time.sleep(min(2.0, 0.2 * 2**attempt) * random.uniform(0.5, 1.5))
                    continue
                if response.status_code == 409:
                    response.success()  # a stock-out is the shop working as designed
                elif response.status_code != 201:
                    response.failure(f"HTTP {response.status_code}")
                return

    @task(_weights["recent"])
    def recent(self) -> None:
        self.request("GET", "/api/v1/orders?limit=10", "recent: GET /orders")


if os.environ.get("LOAD_PROFILE"):

    class Profile(LoadTestShape):
        """The LOAD_PROFILE traffic shape (see shapes.py)."""

        profile = os.environ["LOAD_PROFILE"]
        params = ProfileParams.from_env(profile)
        if profile not in PROFILES:
            raise SystemExit(f"LOAD_PROFILE must be one of {', '.join(PROFILES)}")

        def tick(self) -> tuple[int, float] | None:
            step = target(self.profile, self.get_run_time(), self.params)
            if step is not None:
                USERS.set(self.runner.user_count if self.runner else step[0])
            return step
