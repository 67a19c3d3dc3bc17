"""Renders the README's generated sections from their single sources of truth.

    python scripts/render_docs.py          rewrite README.md in place
    python scripts/render_docs.py --check  exit 1 if README.md is out of date (a test runs this)

Sections live between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` markers.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from faultline.faults.catalogue import CATALOGUE

README = Path(__file__).resolve().parents[1] / "README.md"


def fault_table() -> str:
    rows = ["| Fault | What it really does | Parameters (default) | Watch |", "|---|---|---|---|"]
    for spec in CATALOGUE.values():
        defaults = spec.params().model_dump()
        params = ", ".join(
            f"`{name}`={value!r}" if name != "routes" else "`routes` (all)"
            for name, value in defaults.items()
        )
        signals = ", ".join(f"`{s}`" for s in spec.signals)
        rows.append(f"| `{spec.name}` | {spec.description} | {params or '-'} | {signals} |")
    return "\n".join(rows)


def contract_table() -> str:
    import yaml

    contract = yaml.safe_load((README.parent / "scenarios" / "signal-contract.yml").read_text())
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


SECTIONS = {"faults": fault_table, "contract": contract_table}


def render(text: str) -> str:
    for name, build in SECTIONS.items():
        pattern = re.compile(
            rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- /generated:{name} -->)", re.DOTALL
        )
        if not pattern.search(text):
            raise SystemExit(f"README.md has no generated:{name} section")
        text = pattern.sub(lambda m, b=build: m.group(1) + b() + "\n" + m.group(2), text)
    return text


def main() -> int:
    current = README.read_text()
    rendered = render(current)
    if "--check" in sys.argv:
        if rendered != current:
            print("README.md is out of date: run `python scripts/render_docs.py`", file=sys.stderr)
            return 1
        return 0
    README.write_text(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
