"""Every task container: non-root processes, read-only root filesystem, no capabilities (inspect and inside);
secret files owned by the service's UID, mode 0400; and no secret value anywhere in `docker inspect`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import Platform
from tests.e2e.summary import Summary, verify

pytestmark = pytest.mark.e2e
PROBE = "/.pap-e2e-write-probe"
SECRETS_DIR = "/run/secrets"
SECRET_MODE = "400"
ROLES = {"proxy", "backend", "migrate", "web", "database", "cache", "backup", "backup-offsite"}


def _status_fields(platform: Platform, container: dict[str, Any]) -> dict[str, str]:
    """/proc/1/status of the container's main process, read from inside (every image has cat)."""
    result = platform.stack.exec(container, ["cat", "/proc/1/status"])
    return {
        key: value.strip()
        for key, value in (line.split(":", 1) for line in result.output.splitlines() if ":" in line)
    }


def _running(platform: Platform) -> list[dict[str, Any]]:
    running = platform.stack.containers()
    assert {c["Labels"]["pap.role"] for c in running} >= ROLES
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
        f"{len(findings)} task containers"
        if not bad
        else "; ".join(f"{n} ro={r} rc={c} {o[:60]}" for n, r, c, o in bad),
    )


def test_capabilities_dropped(platform: Platform, summary: Summary) -> None:
    """API 1.41 has no no-new-privileges for services (ENVIRONMENT.md): an empty bounding set and no
    setuid/setgid file in any task leave nothing for a process to gain; NoNewPrivs is reported as measured."""
    findings = []
    for container in _running(platform):
        host = platform.stack.inspect(container)["HostConfig"]
        status = _status_fields(platform, container)
        capabilities = {key: int(status[key], 16) for key in ("CapEff", "CapPrm", "CapBnd")}
        setid = platform.stack.exec(
            container, ["find", "/", "-xdev", "-perm", "/6000", "-type", "f"], user="0"
        )
        findings.append(
            (
                _name(container),
                host.get("CapDrop"),
                host.get("CapAdd"),
                capabilities,
                setid.output.split(),
                status["NoNewPrivs"],
            )
        )
    bad = [f for f in findings if f[1] != ["ALL"] or f[2] or any(f[3].values()) or f[4]]
    no_new_privileges = "/".join(sorted({f[5] for f in findings}))
    verify(
        summary,
        "hardening: capabilities dropped (CapDrop ALL, CapEff/CapPrm/CapBnd 0, no setuid/setgid file)",
        not bad,
        f"{len(findings)} task containers" if not bad else "; ".join(str(f) for f in bad),
    )
    # A service cannot ask for no_new_privs on API 1.41; the engine sets it for every container it starts
    # (tools/docker-engine.sh runs dockerd --no-new-privileges; README, "Prerequisites").
    verify(
        summary,
        "hardening: no_new_privs set in every task (dockerd --no-new-privileges)",
        no_new_privileges == "1",
        f"NoNewPrivs={no_new_privileges} in {len(findings)} task containers",
    )


def test_every_service_declares_the_hardening(platform: Platform, summary: Summary) -> None:
    """What a task not running right now would get: the service specs themselves."""
    bad = []
    services = platform.stack.services()
    for service in services:
        container = service["Spec"]["TaskTemplate"]["ContainerSpec"]
        user = str(container.get("User", ""))
        if (
            user.split(":")[0] in ("", "0", "root")
            or not container.get("ReadOnly")
            or container.get("CapabilityDrop") != ["ALL"]
            or container.get("CapabilityAdd")
        ):
            drop = container.get("CapabilityDrop")
            bad.append(f"{service['Spec']['Name']} user={user!r} ro={container.get('ReadOnly')} drop={drop}")
    verify(
        summary,
        "hardening: every service spec non-root, read-only, CapabilityDrop ALL, no adds",
        {s["Spec"]["Labels"].get("pap.role") for s in services} >= ROLES and not bad,
        f"{len(services)} services" if not bad else "; ".join(bad),
    )


def test_secret_files_owned_by_the_service_uid_mode_0400(platform: Platform, summary: Summary) -> None:
    findings = []
    checked = 0
    for container in _running(platform):
        uid = platform.stack.inspect(container)["Config"]["User"].split(":")[0]
        # A task without secrets (the web frontend) has no /run/secrets at all.
        listing = platform.stack.exec(
            container,
            ["sh", "-c", f'[ ! -d {SECRETS_DIR} ] || find {SECRETS_DIR} -type f -printf "%p %U %G %m\\n"'],
        )
        for line in listing.output.split("\n"):
            if not line.strip():
                continue
            path, owner, group, mode = line.split()
            checked += 1
            if owner != uid or group != "0" or mode != SECRET_MODE:
                findings.append(f"{_name(container)} {path} {owner}:{group} {mode}")
    verify(
        summary,
        "hardening: secret files in /run/secrets owned by the service UID, group 0, mode 0400",
        checked > 0 and not findings,
        f"{checked} secret files in {len(_running(platform))} task containers"
        if not findings
        else "; ".join(findings),
    )


def _escaped(value: str) -> set[str]:
    """The value as it appears in JSON text, and each longer line of it (a PEM key spans many)."""
    forms = {value, json.dumps(value)[1:-1]}
    forms |= {line for line in value.splitlines() if len(line) >= 16 and not line.startswith("-----")}
    return forms


def test_no_secret_value_in_any_docker_inspect(platform: Platform, summary: Summary) -> None:
    """Every secret value the run generated, searched in the inspect JSON of every service, task and task
    container of the stack (env, labels, args, mounts)."""
    values = {value for value in platform.deployment.mocks.secret_values if len(value) >= 8}
    api = platform.stack.api
    documents: dict[str, str] = {}
    for service in platform.stack.services():
        documents[f"service {service['Spec']['Name']}"] = json.dumps(api.inspect_service(service["ID"]))
        for task in api.tasks(filters={"service": service["ID"]}):
            documents[f"task {task['ID'][:12]}"] = json.dumps(api.inspect_task(task["ID"]))
    for container in platform.stack.containers(running_only=False):
        documents[f"container {_name(container)}"] = json.dumps(platform.stack.inspect(container))
    leaks = sorted(
        {
            where
            for where, text in documents.items()
            for value in values
            if any(form in text for form in _escaped(value))
        }
    )
    verify(
        summary,
        "hardening: no secret value in docker inspect of any service, task or task container",
        bool(values) and bool(documents) and not leaks,
        f"{len(values)} secret values x {len(documents)} inspect documents: "
        + ("none found" if not leaks else f"found in {leaks}"),
    )
