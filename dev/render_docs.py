"""Renders the generated sections of README.md and docs/*.md from their single sources of truth.

    python -m dev.render_docs          rewrite the files in place
    python -m dev.render_docs --check  exit 1 if any file is out of date (a test runs this)

Sections live between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` markers; each
section is in exactly one file.
"""

from __future__ import annotations

import re
import statistics
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

from bench.pool import (
    DRAWS,
    Pooled,
    SavedRun,
    by_machine,
    commits_pooled,
    machines_pooled,
    phase_runs,
    pool,
    pooled_median,
    ratios_by_run,
    recorded_runs,
    report,
    verdict,
)
from bench.telemetry_cost import CONTROL, GOALS, RECORDED_RUNS, Run, load_runs
from faultline.faults.catalogue import CATALOGUE
from faultline.faults.params import FaultParams

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]


def fault_table() -> str:
    """Each fault's own parameters (`replica`, which every fault has, is said once, below it)."""
    rows = ["| Fault | What it really does | Parameters (default) | Watch |", "|---|---|---|---|"]
    for spec in CATALOGUE.values():
        defaults = spec.params().model_dump(exclude={"replica"})
        params = ", ".join(
            f"`{name}`={value!r}" if name != "routes" else "`routes` (all)"
            for name, value in defaults.items()
        )
        signals = ", ".join(f"`{s}`" for s in spec.signals)
        rows.append(f"| `{spec.name}` | {spec.description} | {params or '-'} | {signals} |")
    replica = FaultParams.model_fields["replica"].description
    rows += ["", f"Every fault also takes `replica`: {replica[0].lower()}{replica[1:]}."]
    return "\n".join(rows)


def contract_table() -> str:
    import yaml

    contract = yaml.safe_load((ROOT / "scenarios" / "signal-contract.yml").read_text())
    rows = [
        "| Fault | Shows in (PromQL) | Threshold | Visible within | Clears within | Alert |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in contract["faults"].items():
        alert = f"`{row['alert']}` (<= {row['alert_within_s']} s)" if row.get("alert") else "-"
        expr = row["expr"].replace("|", "\\|")
        rows.append(
            f"| `{name}` | `{expr}` | > {row['above']} | {row['visible_within_s']} s "
            f"| {row['clear_within_s']} s | {alert} |"
        )
    return "\n".join(rows)


@cache
def recorded_pool() -> tuple[list[SavedRun], dict[str, dict[str, Pooled]]]:
    """The committed `make bench` runs (bench/runs/) and their pooled ratios."""
    saved = [load_runs(path) for path in recorded_runs()]
    if not saved:
        raise SystemExit("no recorded make bench runs in bench/runs/")
    return saved, pool(saved, DRAWS)


def bench_goals_table() -> str:
    """The goals' verdicts over the recorded runs, as `make bench-pool --recorded` judges them:
    every run pooled, then, when the runs came from more than one machine, each machine's."""
    saved, pooled_all = recorded_pool()
    groups = by_machine(saved)
    pools = [(f"all {len(saved)}", saved, pooled_all)]
    if len(groups) > 1:
        for boot, runs in groups.items():
            day = str(runs[0][0].get("finished", ""))[:10]
            pools.append((f"{len(runs)}: machine `{boot}`, {day}", runs, pool(runs, DRAWS)))
    rows = [
        f"{len(saved)} runs of `make bench` (commits: {commits_pooled(saved)}; "
        f"machines by boot id: {machines_pooled(saved)}):",
        "",
        "| goal | runs | full: median of every round's ratio to bare (95% interval) | verdict "
        "| one run's median, lowest to highest | the control: bare's settings again |",
        "|---|---|---|---|---|---|",
    ]
    for phase, metric, what, goal in GOALS:
        for label, runs, pooled in pools:
            full, control = pooled[phase]["full"], pooled[phase][CONTROL]
            by_run = ratios_by_run(phase_runs(runs, phase), "full", metric)
            per_run = [statistics.median(r) for r in by_run]
            rows.append(
                f"| `{what}` | {label} | {full.median:.2f} ({full.low:.2f}-{full.high:.2f}; "
                f"{full.rounds} rounds) | {verdict(full.low, full.high, goal)} "
                f"| {min(per_run):.2f}-{max(per_run):.2f} "
                f"| {control.median:.2f} ({control.low:.2f}-{control.high:.2f}) |"
            )
    return "\n".join(rows)


def bench_cpu_table() -> str:
    """CPU per request at capacity and at the fixed rate, and how busy that made the API's core
    at the fixed rate (CPU per request x requests per second), over the recorded runs: the range
    of the runs' medians, machine by machine (a slower machine's microseconds are its own)."""
    saved, _ = recorded_pool()
    rows = [
        "| machine (runs) | variant | CPU us per request at capacity | at the fixed rate "
        "| fixed rate / capacity | the API's core busy at the fixed rate "
        "| failed requests, cache reads fallen back to PostgreSQL (every round) |",
        "|---|---|---|---|---|---|---|",
    ]
    for boot, runs in by_machine(saved).items():
        for variant in dict.fromkeys(r.variant for _, capacity, _ in runs for r in capacity):
            rows.append(f"| `{boot}` ({len(runs)}) | {variant} | {cpu_figures(runs, variant)} |")
    return "\n".join(rows)


def cpu_figures(saved: list[SavedRun], variant: str) -> str:
    """`bench_cpu_table`'s figures for one variant over these runs."""

    def spread(values: list[float], fmt: str, unit: str = "") -> str:
        low, high, median = min(values), max(values), statistics.median(values)
        return f"{low:{fmt}}-{high:{fmt}}{unit} (median {median:{fmt}}{unit})"

    def per_run(rows: list[Run], figure: Callable[[Run], float]) -> float:
        return statistics.median(figure(r) for r in rows if r.variant == variant)

    both = [
        (c, f)
        for _, c, f in saved
        if variant in {r.variant for r in c} and variant in {r.variant for r in f}
    ]
    at_capacity = [per_run(c, lambda r: r.cpu_us) for c, _ in both]
    at_fixed = [per_run(f, lambda r: r.cpu_us) for _, f in both]
    busy = [per_run(f, lambda r: r.busy * 100) for _, f in both]
    every_round = [r for _, c, f in saved for r in c + f if r.variant == variant]
    return (
        f"{spread(at_capacity, '.0f')} | {spread(at_fixed, '.0f')} "
        f"| {spread([f / c for f, c in zip(at_fixed, at_capacity, strict=True)], '.2f')} "
        f"| {spread(busy, '.0f', '%')} | {sum(r.errors for r in every_round)}, "
        f"{sum(r.cache_errors for r in every_round)}"
    )


def queueing_figures(paced: list[Run]) -> dict[str, list[tuple[float, float, float, float]]]:
    """One run's fixed-rate rounds, each variant against bare of the same round: what queueing
    alone predicts from how busy each kept the API's core, (1 - bare's busy) / (1 - its busy)
    (the ratio of an M/M/1 queue's waits at those utilisations), the p50 and p99 ratios measured,
    and the variant's own p99 / p50 (how wide its tail is)."""
    figures: dict[str, list[tuple[float, float, float, float]]] = {}
    for round_no in sorted({r.round_no for r in paced}):
        rows = {r.variant: r for r in paced if r.round_no == round_no}
        bare = rows["bare"]
        bare_busy = bare.busy
        for variant, r in rows.items():
            idle = max(1 - r.busy, 1e-3)  # a saturated core predicts 1000x
            figures.setdefault(variant, []).append(
                (
                    (1 - bare_busy) / idle,
                    r.p50_ms / bare.p50_ms,
                    r.p99_ms / bare.p99_ms,
                    r.p99_ms / r.p50_ms,
                )
            )
    return figures


def bench_queueing_table() -> str:
    """`queueing_figures` over every recorded round, machine by machine: the medians."""
    saved, _ = recorded_pool()
    rows = [
        "| machine | variant | rounds | queueing predicts (x bare) | p50 measured (x bare) "
        "| p99 measured (x bare) | its own p99 / p50 |",
        "|---|---|---|---|---|---|---|",
    ]
    for boot, runs in by_machine(saved).items():
        figures: dict[str, list[tuple[float, float, float, float]]] = {}
        for _, _, paced in runs:
            for variant, per_round in queueing_figures(paced).items():
                figures.setdefault(variant, []).extend(per_round)
        for variant, per_round in figures.items():
            medians = [statistics.median(f[i] for f in per_round) for i in range(4)]
            rows.append(
                f"| `{boot}` | {variant} | {len(per_round)} | "
                + " | ".join(f"{m:.2f}" for m in medians[:3])
                + f" | {medians[3]:.1f} |"
            )
    return "\n".join(rows)


# Runs that split full's cost into the layers the issue asks for, each on top of the one before
# (`python -m bench.telemetry_cost --variants
#  "bare-again,metrics-only,full+OTEL_TRACES_SAMPLER_ARG=0,full"`),
# and runs that vary only how many requests are traced. Kept apart from RECORDED_RUNS, whose
# pooled figures are of the default variants.
LAYER_RUNS = RECORDED_RUNS / "layers"
LAYERS = {
    CONTROL: "bare's settings again (the control)",
    "metrics-only": "RED metrics with exemplars, the access log line, the request id, "
    "the loop-lag sampler",
    "full+OTEL_TRACES_SAMPLER_ARG=0": "and tracing on, nothing sampled: the sampler's decision "
    "and a non-recording span on every request, OTLP logs checked per line",
    "full": "and one request in ten traced (full telemetry at the API's defaults)",
}
SAMPLING_RUNS = RECORDED_RUNS / "sampling"
SAMPLING = {
    CONTROL: "bare's settings again (the control)",
    "full+OTEL_TRACES_SAMPLER_ARG=0": "full telemetry, no request traced",
    "full+OTEL_TRACES_SAMPLER_ARG=0.01": "one request in a hundred traced",
    "full": "one request in ten traced (the API's default)",
}

# Both at once: every layer, and one ratio between none and the default, in the same runs
# (`--variants "bare-again,metrics-only,full+OTEL_TRACES_SAMPLER_ARG=0,
# full+OTEL_TRACES_SAMPLER_ARG=0.01,full"`).
STEP_RUNS = RECORDED_RUNS / "steps"
STEPS = {
    CONTROL: LAYERS[CONTROL],
    "metrics-only": LAYERS["metrics-only"],
    "full+OTEL_TRACES_SAMPLER_ARG=0": LAYERS["full+OTEL_TRACES_SAMPLER_ARG=0"],
    "full+OTEL_TRACES_SAMPLER_ARG=0.01": "and one request in a hundred traced",
    "full": "one request in ten traced instead (full telemetry at the API's defaults)",
}


def bench_layers_table() -> str:
    """Full's cost layer by layer (LAYER_RUNS)."""
    return pooled_variants_table(LAYER_RUNS, LAYERS, "what it adds to the row above")


def bench_sampling_table() -> str:
    """Full at three sampling ratios (SAMPLING_RUNS)."""
    return pooled_variants_table(SAMPLING_RUNS, SAMPLING, "what it traces")


def bench_steps_table() -> str:
    """Every layer and sampling ratio in the same runs (STEP_RUNS)."""
    return pooled_variants_table(STEP_RUNS, STEPS, "what it adds to the row above")


def pooled_variants_table(directory: Path, variants: dict[str, str], what: str) -> str:
    """The named variants (with what each adds) against bare, pooled over the runs saved in
    `directory` as `make bench-pool` pools runs: capacity, CPU per request, how busy the API's
    core was and what queueing predicts from that (`queueing_figures`), p99 at the fixed rate,
    and the p99 at the fixed rate (reported: its goal was withdrawn)."""
    saved = [load_runs(path) for path in sorted(directory.glob("*.json"))]
    if not saved:
        raise SystemExit(f"no runs in {directory}")
    capacity, paced = phase_runs(saved, "capacity"), phase_runs(saved, "fixed")
    predicted: dict[str, list[float]] = {}
    for one in paced:
        for variant, per_round in queueing_figures(one).items():
            predicted.setdefault(variant, []).extend(f[0] for f in per_round)

    def pooled(runs: list[list[Run]], variant: str, metric: str) -> tuple[float, float, float]:
        return pooled_median(ratios_by_run(runs, variant, metric), DRAWS)

    def shown(median: float, low: float, high: float) -> str:
        return f"{median:.2f} ({low:.2f}-{high:.2f})"

    def busy(variant: str) -> str:
        rounds = [r for one in paced for r in one if r.variant == variant]
        return f"{statistics.median(r.busy for r in rounds):.0%}"

    rounds = sum(len(run) for run in ratios_by_run(paced, "full", "p99_ms"))
    rows = [
        f"{len(saved)} runs of `make bench` (commits: {commits_pooled(saved)}; machines by boot "
        f"id: {machines_pooled(saved)}), {rounds} rounds in each phase; each ratio the median of "
        "every round's ratio to bare of the same round (95% interval), the core's "
        f"load a median of rounds. Bare kept the API's core {busy('bare')} busy at the fixed rate.",
        "",
        f"| variant | {what} | capacity (x bare) | CPU per request at the fixed rate "
        "(x bare) | the API's core busy at the fixed rate | queueing predicts (x bare) "
        "| p99 at half capacity (x bare) |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, adds in variants.items():
        p99 = pooled(paced, variant, "p99_ms")
        rows.append(
            f"| `{variant}` | {adds} | {shown(*pooled(capacity, variant, 'rps'))} "
            f"| {shown(*pooled(paced, variant, 'cpu_us'))} | {busy(variant)} "
            f"| {statistics.median(predicted[variant]):.2f} | {shown(*p99)} |"
        )
    return "\n".join(rows)


def bench_pool_output() -> str:
    """What `make bench-pool BENCH_POOL_ARGS=--recorded` prints."""
    saved, pooled = recorded_pool()
    return "\n".join(["```", *report(saved, DRAWS, pooled), "```"])


SECTIONS = {
    "faults": fault_table,
    "contract": contract_table,
    "bench-goals": bench_goals_table,
    "bench-cpu": bench_cpu_table,
    "bench-queueing": bench_queueing_table,
    "bench-pool": bench_pool_output,
    "bench-layers": bench_layers_table,
    "bench-sampling": bench_sampling_table,
    "bench-steps": bench_steps_table,
}


def marker(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- /generated:{name} -->)", re.DOTALL
    )


def render(text: str, names: list[str]) -> str:
    for name in names:
        build = SECTIONS[name]
        text = marker(name).sub(lambda m, b=build: m.group(1) + b() + "\n" + m.group(2), text)
    return text


def main() -> int:
    current = {path: path.read_text() for path in DOCUMENTS}
    homes = {
        name: [p for p, text in current.items() if marker(name).search(text)] for name in SECTIONS
    }
    for name, paths in homes.items():
        if len(paths) != 1:
            raise SystemExit(f"generated:{name} must be in exactly one file, found in {paths}")
    stale = []
    for path, text in current.items():
        rendered = render(text, [name for name, paths in homes.items() if paths == [path]])
        if rendered == text:
            continue
        stale.append(path.relative_to(ROOT))
        if "--check" not in sys.argv:
            path.write_text(rendered)
    if stale and "--check" in sys.argv:
        print(f"out of date: {', '.join(map(str, stale))}: run `make docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
