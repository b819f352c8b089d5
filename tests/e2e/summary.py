"""The session's summary: one row per check (result and measured value) plus the deploy facts."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Row:
    check: str
    passed: bool
    measured: str


@dataclass
class Summary:
    rows: list[Row] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, check: str, passed: bool, measured: object) -> bool:
        with self._lock:
            self.rows.append(Row(check, passed, str(measured)))
        return passed

    def fact(self, name: str, value: object) -> None:
        with self._lock:
            self.facts.append((name, str(value)))

    def checks_of(self, prefix: str) -> list[Row]:
        return [row for row in self.rows if row.check.startswith(prefix)]

    def render(self) -> str:
        width = max([len(row.check) for row in self.rows] + [len("check")])
        lines = [f"{'check':<{width}}  result  measured", f"{'-' * width}  ------  --------"]
        lines += [
            f"{row.check:<{width}}  {'pass' if row.passed else 'FAIL':<6}  {row.measured}"
            for row in self.rows
        ]
        if self.facts:
            name_width = max(len(name) for name, _ in self.facts)
            lines += ["", *(f"{name:<{name_width}}  {value}" for name, value in self.facts)]
        passed = sum(row.passed for row in self.rows)
        lines += ["", f"{passed}/{len(self.rows)} checks passed"]
        return "\n".join(lines)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render() + "\n")


def verify(summary: Summary, check: str, passed: bool, measured: object) -> None:
    """Records the row, then fails the test when the check did not pass (the row says what was measured)."""
    summary.record(check, passed, measured)
    assert passed, f"{check}: {measured}"


def verify_all(summary: Summary, checks: list[tuple[str, bool, object]]) -> None:
    """Records every row first, then fails on the first that did not pass: one failure hides no other row."""
    for check, passed, measured in checks:
        summary.record(check, passed, measured)
    failed = [f"{check}: {measured}" for check, passed, measured in checks if not passed]
    assert not failed, "; ".join(failed)
