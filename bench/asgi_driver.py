"""Drives the API's ASGI app in-process, for `bench/instructions.py` (which runs this
under valgrind): start-up (lifespan), every product read once to fill the cache, then
BENCH_REQUESTS reads of random products, BENCH_CONCURRENCY at a time, straight through the app
(no HTTP server, no sockets for HTTP; PostgreSQL and Redis are real). Settings come from the
environment, as for `faultline serve`. Exits non-zero if any request does not answer 200.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

from faultline.config import get_settings
from faultline.main import create_app

CATALOGUE_SIZE = int(os.environ.get("BENCH_CATALOGUE_SIZE", "1200"))


async def read_product(app: Any, product_id: int) -> None:
    path = f"/api/v1/products/{product_id}"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"shop"), (b"accept", b"*/*"), (b"user-agent", b"asgi-driver")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    if statuses != [200]:
        raise SystemExit(f"GET {path} answered {statuses}")


async def main() -> None:
    app = create_app(get_settings())
    requests = int(os.environ.get("BENCH_REQUESTS", "1000"))
    concurrency = int(os.environ.get("BENCH_CONCURRENCY", "16"))
    rng = random.Random(1)  # the same products in the same order for every variant

    async def reader() -> None:
        for _ in range(requests // concurrency):
            await read_product(app, rng.randint(1, CATALOGUE_SIZE))

    async with app.router.lifespan_context(app):
        for product_id in range(1, CATALOGUE_SIZE + 1):  # every measured read is a cache hit
            await read_product(app, product_id)
        await asyncio.gather(*(reader() for _ in range(concurrency)))


if __name__ == "__main__":
    asyncio.run(main())
