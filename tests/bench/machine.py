"""What the numbers were measured on: CPU, cores, memory, Python, PostgreSQL, Redis, wrk."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def _first_line(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not installed"
    return (
        (result.stdout or result.stderr).strip().splitlines()[0] if (result.stdout or result.stderr) else "?"
    )


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def describe(pg_bin: Path, server_version: str) -> dict[str, str]:
    return {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "RAM": f"{_memory_gib():.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "PostgreSQL": server_version,
        "PostgreSQL binaries": _first_line([str(pg_bin / "postgres"), "--version"]),
        "Redis": _first_line(["redis-server", "--version"]),
        "wrk": _first_line(["wrk", "--version"]),
        # Other work on the machine competes for the same 2 cores; say how busy it was when the bench began.
        "load average at start (1/5/15 min)": " / ".join(f"{value:.2f}" for value in os.getloadavg()),
    }
