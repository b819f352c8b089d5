"""The harness's explicit property tables: every input must be mapped, or the run fails by its name."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Target = TypeVar("Target")


class UnmappedPropertyError(Exception):
    """An input the program declares that the harness has no mapping for: it would be silently dropped."""

    def __init__(self, where: str, names: list[str]) -> None:
        super().__init__(f"{where}: no mapping for input propert{'y' if len(names) == 1 else 'ies'} {names}")
        self.where = where
        self.names = names


@dataclass(frozen=True)
class NoEffect:
    """A provider-side knob with no meaning for the engine; the reason is part of the table."""

    reason: str


Apply = Callable[[Target, Any], None]


class PropertyTable(Generic[Target]):
    """One explicit entry per wire (camelCase) property name: a function applying it, or a `NoEffect`."""

    def __init__(self, where: str, entries: Mapping[str, Apply[Target] | NoEffect]) -> None:
        self.where = where
        self.entries = dict(entries)

    def apply(self, target: Target, inputs: Mapping[str, Any], context: str = "") -> None:
        require_mapped(f"{self.where}{context}", inputs, self.entries)
        for name, value in inputs.items():
            entry = self.entries[name]
            if not isinstance(entry, NoEffect) and value is not None:
                entry(target, value)


def require_mapped(where: str, inputs: Mapping[str, Any], known: Mapping[str, Any] | set[str]) -> None:
    """Fails by name on any property the table does not know, nested objects included."""
    unknown = sorted(name for name in inputs if name not in known)
    if unknown:
        raise UnmappedPropertyError(where, unknown)


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)")
_NANOS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def go_duration_ns(text: str) -> int:
    """Parses a Go duration ("10s", "1m30s", "500ms") the way the provider's time.ParseDuration does."""
    if text in ("0", ""):
        return 0
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a Go duration: {text!r}")
    return sum(int(float(number) * _NANOS[unit]) for number, unit in parts)


def whole(value: Any) -> int:
    """Numbers arrive as protobuf doubles (8443.0); the provider's schema holds them as Go ints."""
    number = float(value)
    if not number.is_integer():
        raise ValueError(f"not a whole number: {value!r}")
    return int(number)


def label_map(labels: list[Mapping[str, str]], where: str = "labels[]") -> dict[str, str]:
    """The provider's `[{label, value}]` set as the engine's label map."""
    result: dict[str, str] = {}
    for item in labels:
        require_mapped(where, item, {"label", "value"})
        result[item["label"]] = item["value"]
    return result
