"""Live charts for the console: the key signals (faultline.promql) read from Prometheus over
the last minutes, plus when each fault was on. The control service asks Prometheus itself, so
the page needs neither CORS nor a CDN."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from faultline.promql import CHARTS, FAULT_MARKS

STEP_SECONDS = 5


async def _range(
    client: httpx.AsyncClient, query: str, start: float, end: float
) -> list[dict[str, Any]]:
    params: dict[str, str | float] = {
        "query": query,
        "start": start,
        "end": end,
        "step": STEP_SECONDS,
    }
    response = await client.get("/api/v1/query_range", params=params)
    response.raise_for_status()
    return list(response.json()["data"]["result"])


async def chart_data(prometheus_url: str, grafana_url: str | None, minutes: int) -> dict[str, Any]:
    end = time.time()
    start = end - minutes * 60
    async with httpx.AsyncClient(base_url=prometheus_url, timeout=5) as client:
        queries = [q for chart in CHARTS for _, q in chart.series] + [FAULT_MARKS]
        results = await asyncio.gather(*(_range(client, q, start, end) for q in queries))
    charts, index = [], 0
    for chart in CHARTS:
        series = []
        for legend, _ in chart.series:
            points = [[float(t), float(v)] for r in results[index] for t, v in r["values"]]
            series.append({"legend": legend, "points": points})
            index += 1
        link = f"{grafana_url.rstrip('/')}/d/{chart.dashboard}" if grafana_url else None
        charts.append(
            {
                "key": chart.key,
                "title": chart.title,
                "unit": chart.unit,
                "series": series,
                "grafana": link,
            }
        )
    faults = []
    for result in results[index]:
        on = [float(t) for t, v in result["values"] if float(v) >= 1]
        if on:
            faults.append({"fault": result["metric"].get("fault", "?"), "times": on})
    return {"start": start, "end": end, "step": STEP_SECONDS, "charts": charts, "faults": faults}
