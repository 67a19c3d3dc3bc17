"""Live charts for the console: the key signals (faultline.promql) read from Prometheus over
the last minutes, plus when each fault was on. The control service asks Prometheus itself, so
the page needs neither CORS nor a CDN."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from faultline.promql import CHARTS, FAULT_MARKS, REPLICAS

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


async def _instant(client: httpx.AsyncClient, query: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/query", params={"query": query})
    response.raise_for_status()
    return list(response.json()["data"]["result"])


async def chart_data(
    prometheus_url: str, grafana_url: str | None, minutes: int, per_replica: bool = False
) -> dict[str, Any]:
    """Every chart's series over the last `minutes`, for the lab as a whole or (per_replica) one
    line per API replica; when each fault was on and where; and the replicas Prometheus knows."""
    end = time.time()
    start = end - minutes * 60
    chosen = [
        chart.per_replica if per_replica and chart.per_replica else chart.series for chart in CHARTS
    ]
    async with httpx.AsyncClient(base_url=prometheus_url, timeout=5) as client:
        queries = [q for series in chosen for _, q in series] + [FAULT_MARKS]
        results, replicas = await asyncio.gather(
            asyncio.gather(*(_range(client, q, start, end) for q in queries)),
            _instant(client, REPLICAS),
        )
    charts, index = [], 0
    for chart, series_of_chart in zip(CHARTS, chosen, strict=True):
        series = []
        for legend, _ in series_of_chart:
            lines: dict[str, list[list[float]]] = {}
            for result in results[index]:
                name = " ".join(filter(None, (legend, result["metric"].get("instance", ""))))
                lines.setdefault(name or legend, []).extend(
                    [float(t), float(v)] for t, v in result["values"]
                )
            series += [{"legend": name, "points": points} for name, points in sorted(lines.items())]
            if not lines:
                series.append({"legend": legend, "points": []})
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
            labels = result["metric"]
            faults.append(
                {"fault": labels.get("fault", "?"), "replica": labels.get("replica"), "times": on}
            )
    return {
        "start": start,
        "end": end,
        "step": STEP_SECONDS,
        "per_replica": per_replica,
        "charts": charts,
        "faults": faults,
        "replicas": sorted(r["metric"].get("instance", "?") for r in replicas),
    }
