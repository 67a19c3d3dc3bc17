"""Workshop scenarios: run a guided incident against the lab (compose stack or native lab).

    python -m scripts.scenario list                   every scenario with its teaser
    python -m scripts.scenario run NAME [--speed N]   run it: load, fault timeline, progress
    python -m scripts.scenario run mystery            a random one, without saying which
    python -m scripts.scenario run NAME --mode self   a drill for a learner alone: hints on
                                                      request (make hint), a scored diagnosis
                                                      (make diagnose), results kept (make drills)
    python -m scripts.scenario reveal                 which one the mystery was, and its key
    python -m scripts.scenario brief NAME | key NAME  print the participant brief / the key

(from the repository's root, as `make scenario` runs it: the load profiles are loadtest.shapes)

A run follows the scenario's load profile (loadtest/shapes.py) by setting Locust's users through
its web API, applies the fault timeline through the control API, prints the phase, what to look
at and the time left, and heals everything at the end or on Ctrl-C. `--check` also waits, after
each step, for the expected signals of the signal contract to show in Prometheus, and exits
non-zero if one does not (the tests use it with `--speed` to compress time).

In self mode (`--mode self`) nobody holds the key: the runner prints the brief only (no phase
names, nothing to look at), hands the drill to the control service (the hints from the key's
path, one every HINT_AFTER_S of lab time unless asked sooner; the causes of every scenario, the
right one among them), and ends early once the learner has submitted a diagnosis: the score,
then the key. A self-paced mystery picks a scenario the learner has not done yet, when there is
one.

Where things are: FAULTLINE_CONTROL_URL (http://127.0.0.1:8080), PROMETHEUS_URL
(http://127.0.0.1:9090), LOADGEN_URL (http://127.0.0.1:8089), FAULTLINE_ADMIN_TOKEN.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from faultline.control.client import control_client, print_score
from loadtest.shapes import ProfileParams, target
from scripts.timeline import LAB_DIR, record_drill, write_timeline

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
CONTRACT_FILE = SCENARIOS / "signal-contract.yml"
MYSTERY = LAB_DIR / "mystery-scenario"
# Self mode: a hint unlocks by itself after this long (lab time) unless asked for sooner.
HINT_AFTER_S = 90.0


def load_scenarios() -> dict[str, dict[str, Any]]:
    return {
        path.stem: yaml.safe_load(path.read_text())
        for path in sorted(SCENARIOS.glob("*.yml"))
        if path.name != CONTRACT_FILE.name
    }


def contract() -> dict[str, Any]:
    return dict(yaml.safe_load(CONTRACT_FILE.read_text())["faults"])


class Lab:
    def __init__(self) -> None:
        self.control = control_client()
        self.prometheus = httpx.Client(
            base_url=os.environ.get("PROMETHEUS_URL", "http://127.0.0.1:9090"), timeout=5
        )
        self.loadgen = httpx.Client(
            base_url=os.environ.get("LOADGEN_URL", "http://127.0.0.1:8089"), timeout=5
        )

    def fault_on(self, name: str, params: dict[str, Any], ttl: int) -> None:
        response = self.control.put(
            f"/api/faults/{name}", json={"params": params, "ttl_seconds": ttl}
        )
        response.raise_for_status()

    def heal(self) -> list[str]:
        response = self.control.delete("/api/faults")
        response.raise_for_status()
        return list(response.json()["healed"])

    def users(self, count: int, rate: float) -> None:
        # Locust's web UI endpoint: changes the number of users live, no restart.
        self.loadgen.post(
            "/swarm", data={"user_count": count, "spawn_rate": rate}
        ).raise_for_status()

    def replicas(self) -> int | None:
        """How many API replicas Prometheus sees up (None: Prometheus did not answer)."""
        try:
            return int(self.value('count(up{job="api"} == 1)') or 0)
        except (httpx.HTTPError, ValueError, KeyError):
            return None

    def value(self, expr: str) -> float | None:
        result = self.prometheus.get("/api/v1/query", params={"query": expr}).json()["data"][
            "result"
        ]
        values = [float(r["value"][1]) for r in result]
        return max(values) if values else None


def drill_start(
    name: str, scenarios: dict[str, dict[str, Any]], speed: float, hidden: bool = False
) -> dict[str, Any]:
    """The self-paced drill the control service keeps: the brief, the hints (the key's path), and
    the causes to choose from: this scenario's first, then every other's (the plausible wrong
    answers; the control service shuffles them)."""
    scenario = scenarios[name]
    right = scenario["key"]["cause"]
    return {
        "scenario": name,
        "title": scenario["title"],
        "brief": scenario["brief"].strip(),
        "hints": list(scenario["key"]["path"]),
        "hint_after_s": HINT_AFTER_S / speed,
        "causes": [right, *sorted({s["key"]["cause"] for s in scenarios.values()} - {right})],
        "key": facilitator_key(scenario),
        "speed": speed,
        "hidden": hidden,
    }


def not_done_yet(candidates: list[str]) -> list[str]:
    """The candidates no self-paced drill has tried yet (all of them once every one has been)."""
    with control_client() as http:
        response = http.get("/api/drills/results")
    done = set(response.json()["scenarios_done"]) if response.status_code == 200 else set()
    return [name for name in candidates if name not in done] or candidates


def facilitator_key(scenario: dict[str, Any]) -> str:
    """The key as printed: the timeline (from the machine-readable one), then root cause, path,
    alert, fix and questions."""
    lines = [f"{scenario['title']}", "timeline:"]
    for step in scenario["timeline"]:
        what = ", ".join(f"{f} {p or ''}".strip() for f, p in (step.get("faults") or {}).items())
        if step.get("heal"):
            what = "heal everything" + (f"; {what}" if what else "")
        lines.append(f"  {fmt(step['at_s'])}  {step['phase']}" + (f": {what}" if what else ""))
    return "\n".join(lines) + "\n" + yaml.safe_dump(scenario["key"], sort_keys=False, width=100)


def fmt(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def run(
    name: str, speed: float, check: bool, hide_name: bool = False, self_paced: bool = False
) -> int:
    scenarios = load_scenarios()
    scenario = scenarios[name]
    rows = contract()
    lab = Lab()
    needed, running = int(scenario.get("replicas", 1)), lab.replicas()
    if running is not None and running < needed:
        print(
            f"This scenario needs {needed} API replicas and the lab runs {running}: "
            f"`make down`, then `make up REPLICAS={needed}`.",
            file=sys.stderr,
        )
        return 2
    duration = float(scenario["duration_s"])
    load = scenario["load"]
    params = ProfileParams(
        users=int(load["users"]),
        duration_s=duration,
        spawn_rate=float(load.get("spawn_rate", 5)),
        spike_factor=float(load.get("spike_factor", 4)),
        steps=int(load.get("steps", 5)),
    )
    steps = sorted(scenario["timeline"], key=lambda s: s["at_s"])
    title = "a mystery incident" if hide_name else f"'{scenario['title']}'"
    print(
        f"Scenario {title}: {fmt(duration)} of lab time" + (f" at {speed:g}x" if speed != 1 else "")
    )
    if not hide_name or self_paced:
        print(scenario["brief"].strip())
    if self_paced:
        response = lab.control.put(
            "/api/drills/current",
            json=drill_start(name, load_scenarios(), speed, hide_name),
        )
        if response.status_code != 200:
            print(f"The control service did not start the drill: {response.text}", file=sys.stderr)
            return 2
        print(
            "A drill for you alone: find the cause. `make hint` unlocks the next hint (one comes "
            "by itself every so often); `make diagnose` lists the causes, "
            "`make diagnose ARGS='<letter> <what you saw>'` answers (once). The key comes after."
        )
    hints_shown, last_look = 0, 0.0

    interrupted = False

    def stop(signum: int, _: object) -> None:
        nonlocal interrupted
        interrupted = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    failures: list[str] = []
    seen: list[str] = []
    started = time.monotonic()
    applied = 0
    users_now = -1
    pending: list[tuple[str, float]] = []  # (contract row, real deadline)
    last_report = 0.0
    # What the incident timeline is written from (scripts/timeline.py), with the lab's own reads.
    drill: dict[str, Any] = {
        "scenario": name,
        "title": scenario["title"],
        "hidden": hide_name,
        "speed": speed,
        "started_at": time.time(),
        "events": [],
    }
    try:
        while not interrupted:
            real = time.monotonic() - started
            lab_time = real * speed
            if lab_time >= duration:
                break
            step_users = target(load["profile"], lab_time, params)
            if step_users and step_users[0] != users_now:
                users_now = step_users[0]
                lab.users(users_now, step_users[1])
            while applied < len(steps) and steps[applied]["at_s"] <= lab_time:
                step = steps[applied]
                applied += 1
                if step.get("heal"):
                    lab.heal()
                for fault, fault_params in (step.get("faults") or {}).items():
                    ttl = int((duration - lab_time) / speed) + 60
                    lab.fault_on(fault, fault_params or {}, max(ttl, 1))
                drill["events"].append(
                    {
                        "at": time.time(),
                        "phase": step["phase"],
                        "faults": {f: p or {} for f, p in (step.get("faults") or {}).items()},
                        "heal": bool(step.get("heal")),
                        "expect": list(step.get("expect") or []),
                    }
                )
                left = (duration - lab_time) / speed
                what = "" if hide_name or self_paced else f" {step['phase']}"
                print(
                    f"[{fmt(real)}] phase {applied}/{len(steps)}:{what}  ({fmt(left)} left)",
                    flush=True,
                )
                if step.get("look_at") and not hide_name and not self_paced:
                    print(f"          look at: {step['look_at']}", flush=True)
                for row in step.get("expect") or []:
                    pending.append((row, time.monotonic() + rows[row]["visible_within_s"] + 5))
            for row, deadline in list(pending):
                value = lab.value(rows[row]["expr"]) if check else None
                if check and value is not None and value > float(rows[row]["above"]):
                    seen.append(row)
                    pending.remove((row, deadline))
                    print(
                        f"          signal visible: {row} ({value:.3g} > {rows[row]['above']})",
                        flush=True,
                    )
                elif time.monotonic() > deadline:
                    pending.remove((row, deadline))
                    if check:
                        failures.append(row)
                        print(f"          signal MISSING: {row}", flush=True)
            if self_paced and real - last_look >= 2:
                last_look = real
                hints_shown, diagnosed = follow_drill(lab, hints_shown)
                if diagnosed:
                    break  # the learner has answered: the score and the key, now
            if real - last_report >= 10:
                last_report = real
                print(f"[{fmt(real)}] {fmt((duration - lab_time) / speed)} left", flush=True)
            time.sleep(0.5)
    finally:
        healed = lab.heal()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("healed: " + (", ".join(healed) if healed else "nothing was on"))
        if self_paced:
            end_drill(lab)
        record_drill({**drill, "ended_at": time.time(), "interrupted": interrupted})
    try:
        written = write_timeline()
        print(f"incident timeline and postmortem skeleton: {written} (`make timeline` redoes it)")
    except httpx.HTTPError as exc:  # the drill itself went fine: say why, and how to retry
        print(f"no timeline ({type(exc).__name__}): run `make timeline` once the lab answers")
    if interrupted:
        print("interrupted: every fault is off")
        return 130
    if check:
        print("expected signals, in order: " + " -> ".join(seen))
        if failures:
            print("MISSING: " + ", ".join(failures))
            return 1
    return 0


def follow_drill(lab: Lab, hints_shown: int) -> tuple[int, bool]:
    """Print the hints unlocked since the last look; (hints shown, diagnosed yet)."""
    response = lab.control.get("/api/drills/current")
    if response.status_code != 200:
        return hints_shown, False
    drill = response.json()
    for number, text in enumerate(drill["hints"][hints_shown:], start=hints_shown + 1):
        print(f"          hint {number}/{drill['hints_total']}: {text}", flush=True)
    return len(drill["hints"]), drill["result"] is not None


def end_drill(lab: Lab) -> None:
    """The drill's end: its score (no diagnosis, if none came), the right cause and the key."""
    response = lab.control.delete("/api/drills/current")
    if response.status_code != 200:
        print(f"The drill could not be scored: {response.text}")
        return
    print_score(response.json())
    print("Your drills so far: make drills")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list")
    run_parser = sub.add_parser("run")
    run_parser.add_argument("name")
    run_parser.add_argument("--speed", type=float, default=1.0, help="compress lab time (tests)")
    run_parser.add_argument("--check", action="store_true", help="verify the expected signals")
    run_parser.add_argument(
        "--mode",
        choices=("facilitated", "self"),
        default="facilitated",
        help="self: for a learner alone (hints, a scored diagnosis, the key after)",
    )
    sub.add_parser("reveal")
    for command in ("brief", "key"):
        sub.add_parser(command).add_argument("name")
    args = parser.parse_args()
    scenarios = load_scenarios()
    if args.command == "list":
        for name, scenario in scenarios.items():
            print(f"  {name:<24} {scenario['teaser']}")
        return 0
    if args.command == "reveal":
        if not MYSTERY.exists():
            print("No mystery scenario has been run (make scenario NAME=mystery).")
            return 1
        name = MYSTERY.read_text().strip()
        print(f"The mystery was: {name}")
        print(facilitator_key(scenarios[name]))
        return 0
    if args.name not in scenarios and not (args.command == "run" and args.name == "mystery"):
        print(f"unknown scenario {args.name!r}; `make scenarios` lists them", file=sys.stderr)
        return 2
    if args.command == "brief":
        print(scenarios[args.name]["brief"].strip())
        return 0
    if args.command == "key":
        print(facilitator_key(scenarios[args.name]))
        return 0
    self_paced = args.mode == "self"
    if args.name == "mystery":
        # One the lab can run: a scenario that needs more replicas than it has is left out.
        running = Lab().replicas()
        runnable = [
            n for n, s in scenarios.items() if running is None or s.get("replicas", 1) <= running
        ]
        name = random.choice(not_done_yet(runnable) if self_paced else runnable)
        MYSTERY.parent.mkdir(parents=True, exist_ok=True)
        MYSTERY.write_text(name + "\n")
        print("Mystery scenario: the facilitator can `make reveal` afterwards.")
        return run(name, args.speed, args.check, hide_name=True, self_paced=self_paced)
    return run(args.name, args.speed, args.check, self_paced=self_paced)


if __name__ == "__main__":
    sys.exit(main())
