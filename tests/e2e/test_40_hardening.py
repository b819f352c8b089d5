"""Every container: non-root processes, read-only root filesystem, no capabilities (inspect and inside)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Platform
from tests.e2e.summary import Summary, verify

pytestmark = pytest.mark.e2e
PROBE = "/.pap-e2e-write-probe"


def _status_fields(platform: Platform, container: dict[str, Any]) -> dict[str, str]:
    """/proc/1/status of the container's main process, read from inside (every image has cat)."""
    result = platform.stack.exec(container, ["cat", "/proc/1/status"])
    return dict(line.split(":", 1) for line in result.output.splitlines() if ":" in line)


def _running(platform: Platform) -> list[dict[str, Any]]:
    running = platform.stack.containers(running_only=True)
    assert {c["Labels"]["pap.role"] for c in running} >= {"proxy", "backend", "database", "cache", "backup"}
    return running


def _name(container: dict[str, Any]) -> str:
    return str(container["Names"][0].lstrip("/"))


def test_processes_run_as_non_root(platform: Platform, summary: Summary) -> None:
    findings = []
    for container in _running(platform):
        declared = platform.stack.inspect(container)["Config"]["User"]
        top = platform.stack.api.top(container["Id"], ps_args="-o uid,pid,comm")
        uids = sorted({int(process[0]) for process in top["Processes"]})
        inside = _status_fields(platform, container)["Uid"].split()
        findings.append((_name(container), declared, uids, inside))
    bad = [f for f in findings if not f[1] or f[1].split(":")[0] in ("0", "root") or 0 in f[2] or "0" in f[3]]
    verify(
        summary,
        "hardening: every process non-root (user, docker top, /proc/1/status)",
        not bad,
        "; ".join(f"{name} {user} uids={uids}" for name, user, uids, _ in (bad or findings)),
    )


def test_root_filesystems_read_only(platform: Platform, summary: Summary) -> None:
    findings = []
    for container in _running(platform):
        read_only = platform.stack.inspect(container)["HostConfig"]["ReadonlyRootfs"]
        # As UID 0, which owns "/": only a read-only mount (EROFS) can stop this write, not file permissions.
        attempt = platform.stack.exec(container, ["touch", PROBE], user="0")
        findings.append((_name(container), read_only, attempt.exit_code, attempt.output.strip()))
    bad = [f for f in findings if not f[1] or f[2] == 0 or "Read-only file system" not in f[3]]
    verify(
        summary,
        "hardening: root filesystems read-only (inspect + write as uid 0 -> EROFS)",
        not bad,
        f"{len(findings)} containers"
        if not bad
        else "; ".join(f"{n} ro={r} rc={c} {o[:60]}" for n, r, c, o in bad),
    )


def test_capabilities_dropped(platform: Platform, summary: Summary) -> None:
    findings = []
    for container in _running(platform):
        host = platform.stack.inspect(container)["HostConfig"]
        status = _status_fields(platform, container)
        effective = {key: int(status[key].strip(), 16) for key in ("CapEff", "CapPrm", "CapBnd")}
        no_new_privileges = any(opt.startswith("no-new-privileges") for opt in host.get("SecurityOpt") or [])
        findings.append(
            (_name(container), host.get("CapDrop"), host.get("CapAdd"), effective, no_new_privileges)
        )
    bad = [f for f in findings if f[1] != ["ALL"] or f[2] or any(f[3].values()) or not f[4]]
    verify(
        summary,
        "hardening: capabilities dropped (CapDrop ALL, CapEff/CapPrm/CapBnd 0, no-new-privileges)",
        not bad,
        f"{len(findings)} containers" if not bad else "; ".join(str(f) for f in bad),
    )


def test_one_shot_and_seed_containers_declared_hardened(platform: Platform, summary: Summary) -> None:
    """The migration (exited) and the never-started seeds cannot be probed inside; their config can."""
    stopped = [c for c in platform.stack.api.containers(all=True, filters={"label": "pap.stack=dev"})]
    stopped = [c for c in stopped if c["State"] != "running"]
    bad = []
    for container in stopped:
        config = platform.stack.inspect(container)
        user = config["Config"]["User"]
        if user.split(":")[0] in ("", "0", "root") or config["HostConfig"].get("CapDrop") != ["ALL"]:
            bad.append(f"{_name(container)} user={user!r} capdrop={config['HostConfig'].get('CapDrop')}")
    verify(
        summary,
        "hardening: stopped/seed containers declared non-root without capabilities",
        bool(stopped) and not bad,
        f"{len(stopped)} containers" if not bad else "; ".join(bad),
    )
