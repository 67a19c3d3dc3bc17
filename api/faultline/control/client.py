"""The fault CLI: a small client of the control API, usable on its own.

    faultline faults                         table of every fault and its state
    faultline fault NAME [k=v ...] [--ttl S] turn a fault on (values are JSON where they parse;
                                             replica=api-2: on that replica only)
    faultline fault NAME --off               turn it off
    faultline heal                           turn everything off
    faultline pages [--ack ID]               the pager: what Alertmanager paged (or acknowledge)
    faultline hint                           a self-paced drill: the next hint
    faultline diagnose [CAUSE EVIDENCE...]   submit the diagnosis (no CAUSE: list the choices)
    faultline drills                         every self-paced drill's score, and progress

FAULTLINE_CONTROL_URL (default http://127.0.0.1:8080) and FAULTLINE_ADMIN_TOKEN are read from the
environment.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"


def control_client() -> httpx.Client:
    """A client of the control API at FAULTLINE_CONTROL_URL, with the admin token if one is set
    (the scenario runner uses it too)."""
    token = os.environ.get("FAULTLINE_ADMIN_TOKEN", "")
    return httpx.Client(
        base_url=os.environ.get("FAULTLINE_CONTROL_URL", DEFAULT_URL),
        headers={"Authorization": f"Bearer {token}"} if token else {},
        timeout=5,
    )


def _fail(response: httpx.Response) -> int:
    try:
        error = response.json()["error"]
        print(f"error {response.status_code}: {error['message']}", file=sys.stderr)
        for detail in error.get("details") or []:
            loc = ".".join(str(p) for p in detail.get("loc", [])[2:])
            print(f"  {loc}: {detail.get('msg')}", file=sys.stderr)
    except (ValueError, KeyError):
        print(f"error {response.status_code}: {response.text[:200]}", file=sys.stderr)
    return 1


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"expected key=value, got {pair!r}")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw.split(",") if key == "routes" else raw
    return params


def show_faults() -> int:
    with control_client() as http:
        response = http.get("/api/faults")
    if response.status_code != 200:
        return _fail(response)
    print(f"{'fault':<18}{'state':<8}{'left':>7}  {'where':<14}parameters")
    for fault in response.json()["faults"]:
        if fault["active"]:
            params = dict(fault["params"])
            where = params.pop("replica", None) or "every replica"
            left, detail = f"{fault['seconds_left']:.0f}s", json.dumps(params)
            state = "ON"
        else:
            state, left, where, detail = "off", "", "", fault["description"]
        print(f"{fault['name']:<18}{state:<8}{left:>7}  {where:<14}{detail}")
    for problem in response.json().get("store_problems", []):
        print(f"refused store entry {problem['key']}: {problem['problem']} (off; heal deletes it)")
    return 0


def set_fault(name: str, assignments: list[str], ttl: int | None, off: bool) -> int:
    with control_client() as http:
        if off:
            response = http.delete(f"/api/faults/{name}")
        else:
            body: dict[str, Any] = {"params": parse_assignments(assignments)}
            if ttl is not None:
                body["ttl_seconds"] = ttl
            response = http.put(f"/api/faults/{name}", json=body)
    if response.status_code != 200:
        return _fail(response)
    fault = response.json()
    if fault["active"]:
        print(f"{name} ON for {fault['seconds_left']:.0f}s: {json.dumps(fault['params'])}")
    else:
        print(f"{name} off")
    return 0


def heal() -> int:
    with control_client() as http:
        response = http.delete("/api/faults")
    if response.status_code != 200:
        return _fail(response)
    healed = response.json()["healed"]
    print("healed: " + (", ".join(healed) if healed else "nothing was on"))
    return 0


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def show_pages(acknowledge: str | None = None) -> int:
    """The pager from a shell: each incident, newest first, as the console shows it."""
    with control_client() as http:
        if acknowledge:
            response = http.post(f"/api/incidents/{acknowledge}/acknowledge")
            if response.status_code != 200:
                return _fail(response)
        response = http.get("/api/incidents")
    if response.status_code != 200:
        return _fail(response)
    incidents = response.json()["incidents"]
    if not incidents:
        print("no pages yet")
    for incident in incidents:
        state = "FIRING" if incident["status"] == "firing" else "resolved"
        acked = "acknowledged" if incident["acknowledged_at"] else "NOT ACKNOWLEDGED"
        what = f"{state:<8} {incident['severity']:<6} {incident['alertname']}"
        print(f"{incident['id']}  {what}  ({acked})")
        print(f"    {incident['summary']}")
        if incident["faults"]:
            print(f"    faults on: {', '.join(incident['faults'])}")
        print(
            f"    time to detect {_duration(incident['time_to_detect'])}, to acknowledge "
            f"{_duration(incident['time_to_acknowledge'])}, to resolve "
            f"{_duration(incident['time_to_resolve'])}"
        )
        if incident["runbook_url"]:
            print(f"    where to look: {incident['runbook_url']}")
    for problem in response.json().get("problems", []):
        print(f"unreadable incident log {problem}")
    return 0


def print_score(drill: dict[str, Any]) -> None:
    """A drill's score, the right cause and the key (make diagnose, and the runner at the end)."""
    result = drill["result"]
    if result["correct"] is None:
        print("No diagnosis: the drill ended first.")
    else:
        verdict = "RIGHT" if result["correct"] else "WRONG"
        print(
            f'{verdict}: you chose "{result["cause"]}" after '
            f"{_duration(result['time_to_diagnosis_s'])}, with "
            f"{result['hints_used']} of {result['hints_total']} hints."
        )
    print(f"The cause: {drill['answer']}")
    print(drill["key"].rstrip())


def hint() -> int:
    """The next hint of the running self-paced drill, and those before it."""
    with control_client() as http:
        response = http.post("/api/drills/current/hints")
    if response.status_code != 200:
        return _fail(response)
    drill = response.json()
    for number, text in enumerate(drill["hints"], start=1):
        print(f"hint {number}/{drill['hints_total']}: {text}")
    return 0


def diagnose(cause: str | None, evidence: str) -> int:
    """Without a cause: the drill's choices. With one: submitted once, scored, key revealed."""
    with control_client() as http:
        if cause is None:
            response = http.get("/api/drills/current")
            if response.status_code != 200:
                return _fail(response)
            print("Causes to choose from (make diagnose ARGS='<letter> <your evidence>'):")
            for choice in response.json()["choices"]:
                print(f"  {choice['id']}  {choice['label']}")
            return 0
        if not evidence.strip():
            print("Say what you saw, in a sentence: make diagnose ARGS='B the pool ...'")
            return 2
        response = http.post(
            "/api/drills/current/diagnosis",
            json={"cause": cause.upper(), "evidence": evidence.strip()},
        )
    if response.status_code != 200:
        return _fail(response)
    print_score(response.json())
    return 0


def show_drills() -> int:
    """Every self-paced drill, newest first, and progress across the scenarios."""
    with control_client() as http:
        response = http.get("/api/drills/results")
    if response.status_code != 200:
        return _fail(response)
    listing = response.json()
    results = listing["results"]
    if not results:
        print("no self-paced drill yet: make scenario NAME=mystery MODE=self")
    for result in results:
        if result["correct"] is None:
            verdict, detail = "no diagnosis", ""
        else:
            verdict = "right" if result["correct"] else "wrong"
            detail = f" in {_duration(result['time_to_diagnosis_s'])}"
        hints = f"{result['hints_used']}/{result['hints_total']} hints"
        print(f"{result['scenario']:<24}{verdict:<13}{hints:<10}{detail}")
    if results:
        print(
            f"{listing['correct']} of {len(results)} diagnosed right; scenarios done: "
            f"{', '.join(listing['scenarios_done'])}"
        )
    for problem in listing.get("problems", []):
        print(f"unreadable drill results {problem}")
    return 0
