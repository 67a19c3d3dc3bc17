"""`make audit`: known vulnerabilities in every pinned dependency, from both lock files.

pip-audit does the audit: for each pin it asks PyPI's JSON API about that exact release
(`/pypi/NAME/VERSION/json`, which lists the release's known vulnerabilities). Where pip-audit
could not get an answer for a pin (a proxy that only serves part of pypi.org, as on the
development machines: see docs/reliability.md), this script asks the one endpoint that may still
answer, the project's own (`/pypi/NAME/json`). That one lists the known vulnerabilities of the
project's latest release only, so it answers exactly for a pin that *is* the latest release, and
not at all for an older pin: such pins are reported as unchecked, by name, never as clean.

    python -m dev.audit [--strict] [LOCK ...]       (default: both lock files)

Status per lock: `clean` (every pin checked, nothing known), `findings` (a known vulnerability;
exit 1), `partial` (nothing known among the pins checked, some pins unchecked), `NOT RUN`
(no pin could be checked). `--strict` makes `partial` and `NOT RUN` fail too.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOCKS = ["api/requirements.lock", "requirements-dev.lock"]
PYPI_PROJECT_JSON = "https://pypi.org/pypi/{name}/json"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def read_pins(lock: Path) -> dict[str, str]:
    """Every `name==version` line of a lock file, by canonical name."""
    pins = {}
    for line in lock.read_text().splitlines():
        if match := PIN.match(line):
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


Pin = tuple[str, str]  # (canonical name, version)


def pip_audit(locks: Iterable[str]) -> dict[Pin, dict[str, Any]]:
    """pip-audit's answers, {"vulns": [...]} per pin it could check; empty if it failed.

    One run over every lock: a pin shared by both is asked about once."""
    try:
        result = subprocess.run(
            [
                str(BIN / "pip-audit"),
                *(arg for lock in locks for arg in ("--requirement", lock)),
                *("--no-deps", "--disable-pip", "--format", "json", "--progress-spinner", "off"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        report = json.loads(result.stdout)
    except (subprocess.TimeoutExpired, json.JSONDecodeError):
        return {}
    return {
        (canonicalize_name(dep["name"]), dep["version"]): {
            "vulns": [v["id"] for v in dep.get("vulns", [])]
        }
        for dep in report.get("dependencies", [])
        if not dep.get("skip_reason")
    }


def judge_from_project_json(pinned: str, project: dict[str, Any]) -> dict[str, Any]:
    """What PyPI's project JSON says about one pin: known vulnerability ids, or unchecked.

    The project JSON describes the latest release only (`info.version`), so it speaks for the pin
    only when the pin is that release.
    """
    latest = project["info"]["version"]
    if pinned != latest:
        return {"unchecked": f"not the latest release ({latest})"}
    ids = [v["id"] for v in project.get("vulnerabilities", []) if not v.get("withdrawn")]
    return {"vulns": ids}


def ask_pypi(pins: Iterable[Pin]) -> dict[Pin, dict[str, Any]]:
    """judge_from_project_json for each pin, fetching the project JSONs concurrently."""

    def one(client: httpx.Client, pin: Pin) -> tuple[Pin, dict[str, Any]]:
        name, pinned = pin
        try:
            response = client.get(PYPI_PROJECT_JSON.format(name=name))
            response.raise_for_status()
            return pin, judge_from_project_json(pinned, response.json())
        except (httpx.HTTPError, ValueError, KeyError) as error:
            return pin, {"unchecked": f"pypi.org did not answer ({error.__class__.__name__})"}

    with httpx.Client(timeout=20, follow_redirects=True) as client, ThreadPoolExecutor(8) as pool:
        jobs = [pool.submit(one, client, pin) for pin in pins]
        return dict(job.result() for job in jobs)


def summarise(pins: dict[str, str], answers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One lock's verdict from the answers per pin (each with `vulns`, or `unchecked`)."""
    findings = [
        {"package": name, "version": pins[name], "ids": answer["vulns"]}
        for name, answer in sorted(answers.items())
        if answer.get("vulns")
    ]
    unchecked = {
        f"{name}=={pins[name]}": answer["unchecked"]
        for name, answer in sorted(answers.items())
        if "unchecked" in answer
    }
    checked = len(pins) - len(unchecked)
    status = (
        "findings"
        if findings
        else "NOT RUN"
        if checked == 0
        else "partial"
        if unchecked
        else "clean"
    )
    return {
        "status": status,
        "pins": len(pins),
        "checked": checked,
        "findings": findings,
        "unchecked": unchecked,
    }


def audit(locks: Iterable[str] = LOCKS) -> dict[str, dict[str, Any]]:
    """Each lock's verdict: pip-audit first, PyPI's project JSON for every pin it got no answer
    for. Both are asked once per distinct pin, however many locks share it."""
    pins = {lock: read_pins(ROOT / lock) for lock in locks}
    by_pip_audit = pip_audit(pins)
    rest = {pin for lock_pins in pins.values() for pin in lock_pins.items()} - by_pip_audit.keys()
    answers = by_pip_audit | ask_pypi(sorted(rest))
    results = {}
    for lock, lock_pins in pins.items():
        result = summarise(lock_pins, {name: answers[name, v] for name, v in lock_pins.items()})
        result["by_pip_audit"] = sum(pin in by_pip_audit for pin in lock_pins.items())
        result["by_project_json"] = result["checked"] - result["by_pip_audit"]
        results[lock] = result
    return results


def describe(lock: str, result: dict[str, Any]) -> list[str]:
    """One lock's verdict as text: a headline, then a line per vulnerable or unchecked pin.

    `make audit` prints it, and the hardening report quotes it."""
    lines = [
        f"{lock}: {result['status']}: {result['checked']} of {result['pins']} pins checked"
        f" ({result['by_pip_audit']} by pip-audit, {result['by_project_json']} from the"
        " project JSON of their latest release)"
    ]
    lines += [
        f"  VULNERABLE {finding['package']}=={finding['version']}: {finding['ids']}"
        for finding in result["findings"]
    ]
    lines += [f"  unchecked {pin}: {why}" for pin, why in result["unchecked"].items()]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("locks", nargs="*", default=LOCKS)
    parser.add_argument("--strict", action="store_true", help="fail unless every pin is checked")
    args = parser.parse_args()
    code = 0
    for lock, result in audit(args.locks).items():
        print("\n".join(describe(lock, result)))
        if result["status"] == "findings" or (args.strict and result["status"] != "clean"):
            code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
