"""Evaluate a plan (the offline plan JSON format) with the real policy pack, without the Pulumi CLI.

    python -m policies.check --input var/plan-dev.json --stack dev [--format text|json]

Exit status 1 when a mandatory policy is violated, 0 otherwise (2 for unusable input).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from policies.analyzer_client import AnalyzerError, Violation, load_stack_config, running_pack

MANDATORY = "mandatory"


def load_plan(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(document, list):
        document = {"resources": document}
    if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
        raise ValueError(f"{path}: expected {{'resources': [...]}} or a list of resources")
    for index, resource in enumerate(document["resources"]):
        missing = [key for key in ("urn", "type", "name") if not isinstance(resource.get(key), str)]
        if missing:
            raise ValueError(f"{path}: resources[{index}] lacks {', '.join(missing)}")
    return document


def evaluate(document: dict[str, Any], stack: str) -> list[Violation]:
    with running_pack() as client:
        client.configure(load_stack_config(stack))
        return client.evaluate(document["resources"])


def write_text(violations: list[Violation], resource_count: int, stack: str, out: TextIO) -> None:
    for violation in violations:
        out.write(f"[{violation.level}] {violation.policy}  {violation.name or '(stack)'}\n")
        out.write(f"    {violation.message}\n")
        if violation.urn:
            out.write(f"    urn: {violation.urn}\n")
    levels = Counter(violation.level for violation in violations)
    summary = ", ".join(f"{count} {level}" for level, count in sorted(levels.items())) or "no violations"
    out.write(f"policy check of stack '{stack}': {resource_count} resources, {summary}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policies.check", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--input", required=True, type=Path, help="plan JSON (as written by python -m infra.plan)"
    )
    parser.add_argument(
        "--stack", help="stack whose policies/config/<stack>.json applies (default: the plan's)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    options = parser.parse_args(argv)
    try:
        document = load_plan(options.input)
        stack = options.stack or document.get("stack") or "dev"
        violations = evaluate(document, stack)
    except (OSError, ValueError, AnalyzerError) as error:
        print(f"policy check failed: {error}", file=sys.stderr)
        return 2
    if options.format == "json":
        json.dump(
            {**document, "violations": [violation.as_dict() for violation in violations]},
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        write_text(violations, len(document["resources"]), stack, sys.stdout)
    return 1 if any(violation.level == MANDATORY for violation in violations) else 0


if __name__ == "__main__":
    sys.exit(main())
