"""`make audit`: known vulnerabilities in every pinned dependency, from both lock files.

pip-audit does the audit: for each pin it asks PyPI's JSON API about that exact release
(`/pypi/NAME/VERSION/json`, which lists the release's known vulnerabilities). Where pip-audit
could not get an answer for a pin (a proxy that only serves part of pypi.org, as on the
development machines: see README "Reliability"), this script asks the one endpoint that may still
answer, the project's own (`/pypi/NAME/json`). That one lists the known vulnerabilities of the
project's latest release only, so it answers exactly for a pin that *is* the latest release, and
not at all for an older pin: such pins are reported as unchecked, by name, never as clean.

    python scripts/audit.py [--strict] [LOCK ...]       (default: both lock files)

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


def pip_audit(lock: str) -> dict[str, dict[str, Any]]:
    """pip-audit's answer per pin: {"vulns": [...]} or {"skip": reason}. Empty if it failed."""
    try:
        result = subprocess.run(
            [
                *(str(BIN / "pip-audit"), "--requirement", lock, "--no-deps", "--disable-pip"),
                *("--format", "json", "--progress-spinner", "off"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        report = json.loads(result.stdout)
    except (subprocess.TimeoutExpired, json.JSONDecodeError):
        return {}
    answers: dict[str, dict[str, Any]] = {}
    for dep in report.get("dependencies", []):
        name = canonicalize_name(dep["name"])
        if dep.get("skip_reason"):
            answers[name] = {"skip": dep["skip_reason"]}
        else:
            answers[name] = {"vulns": [v["id"] for v in dep.get("vulns", [])]}
    return answers


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


def ask_pypi(names_and_pins: Iterable[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """judge_from_project_json for each pin, fetching the project JSONs concurrently."""

    def one(client: httpx.Client, name: str, pinned: str) -> tuple[str, dict[str, Any]]:
        try:
            response = client.get(PYPI_PROJECT_JSON.format(name=name))
            response.raise_for_status()
            return name, judge_from_project_json(pinned, response.json())
        except (httpx.HTTPError, ValueError, KeyError) as error:
            return name, {"unchecked": f"pypi.org did not answer ({error.__class__.__name__})"}

    with httpx.Client(timeout=20, follow_redirects=True) as client, ThreadPoolExecutor(8) as pool:
        jobs = [pool.submit(one, client, name, pinned) for name, pinned in names_and_pins]
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


def audit(lock: str) -> dict[str, Any]:
    """pip-audit first; PyPI's project JSON for every pin pip-audit got no answer for."""
    pins = read_pins(ROOT / lock)
    by_pip_audit = pip_audit(lock)
    answers = {name: by_pip_audit[name] for name in pins if "vulns" in by_pip_audit.get(name, {})}
    rest = [(name, pinned) for name, pinned in pins.items() if name not in answers]
    answers.update(ask_pypi(rest))
    result = summarise(pins, answers)
    result["by_pip_audit"] = len(pins) - len(rest)
    result["by_project_json"] = len(rest) - len(result["unchecked"])
    return result


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
    for lock in args.locks:
        result = audit(lock)
        print("\n".join(describe(lock, result)))
        if result["status"] == "findings" or (args.strict and result["status"] != "clean"):
            code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
