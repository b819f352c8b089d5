"""The web frontend's service: the contract's settings, its CSP template, hardening and rollout like the
backends, on the app network only, sized from the stack config."""

from __future__ import annotations

import re
from pathlib import Path

from infra.plan import PlanRun
from infra.web import CSP
from tests.infra.helpers import (
    MIB,
    NANO,
    container_spec,
    env,
    inputs,
    networks,
    run_stack,
    secret_mounts,
    task_spec,
    the_service,
    validated,
)

REPO = Path(__file__).resolve().parents[2]
# app/web's contract (/tmp/contract/web-contract.md, app/web/src/lib/csp.ts): the frontend's default.
CONTRACT_DEFAULT_CSP = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'strict-dynamic'; style-src 'self' "
    "'nonce-{nonce}'; img-src 'self' blob:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; manifest-src 'self'; worker-src 'self'"
)


def test_the_stack_csp_is_the_contracts_default_behind_tls() -> None:
    assert f"{CONTRACT_DEFAULT_CSP}; upgrade-insecure-requests" == CSP
    # The frontend's own copy, so a change on either side is noticed here.
    source = (REPO / "app" / "web" / "src" / "lib" / "csp.ts").read_text()
    default = "".join(re.findall(r'"([^"]*)"', source.split("DEFAULT_CSP =", 1)[1].split(";\n", 1)[0]))
    assert default == CONTRACT_DEFAULT_CSP


def test_web_gets_the_contract_settings_and_no_secret(plan: PlanRun) -> None:
    web = the_service(plan, "web")
    config = validated(plan.stack).web
    assert env(web) == {
        "PORT": "3000",
        "HOSTNAME": "0.0.0.0",  # noqa: S104 - the task listens for the proxy on the app network
        "NODE_ENV": "production",
        "NEXT_TELEMETRY_DISABLED": "1",
        "NODE_OPTIONS": f"--max-old-space-size={config.limits.memory_mb // 2}",
        "PAP_WEB_CSP": CSP,
    }
    assert "PAP_API_ORIGIN" not in env(web)  # in the stack nginx routes the API, never the frontend
    assert secret_mounts(web) == {} and not container_spec(web).get("configs")
    assert container_spec(web).get("args") is None  # the image's CMD: node server.js


def test_web_is_hardened_healthy_and_rolls_like_the_backends(plan: PlanRun) -> None:
    web = the_service(plan, "web")
    spec = container_spec(web)
    assert (spec["user"], spec["readOnly"], spec["capDrops"]) == ("10050:0", True, ["ALL"])
    assert spec["healthcheck"]["tests"] == ["CMD", "pap-healthcheck"]
    assert [(m["target"], m["type"]) for m in spec["mounts"]] == [("/tmp", "tmpfs")]  # nothing else writable
    for key in ("updateConfig", "rollbackConfig"):
        rollout = inputs(web)[key]
        assert (rollout["order"], rollout["parallelism"]) == ("start-first", 1), key
    assert inputs(web)["updateConfig"]["failureAction"] == "rollback"
    assert networks(web) == {f"pap-{plan.stack}-app": ["web"]}
    assert inputs(web)["endpointSpec"] == {"mode": "dnsrr", "ports": []}


def test_web_size_comes_from_the_stack_config(dev: PlanRun, prod: PlanRun, stack_outputs_dir: Path) -> None:
    for plan, replicas, memory_mb, cpus in ((dev, 1, 256, 0.5), (prod, 2, 384, 1.0)):
        web = the_service(plan, "web")
        assert inputs(web)["mode"] == {"replicated": {"replicas": replicas}}
        assert task_spec(web)["resources"]["limits"] == {
            "memoryBytes": memory_mb * MIB,
            "nanoCpus": round(cpus * NANO),
        }
    overrides = {"web": {"replicas": 3, "limits": {"memoryMb": 512, "cpus": 2}}}
    run = run_stack("dev", stack_outputs_dir, overrides)
    web = the_service(run, "web")
    assert inputs(web)["mode"] == {"replicated": {"replicas": 3}}
    assert task_spec(web)["resources"]["limits"] == {"memoryBytes": 512 * MIB, "nanoCpus": 2 * NANO}
    assert env(web)["NODE_OPTIONS"] == "--max-old-space-size=256"


def test_the_web_service_is_exported(plan: PlanRun) -> None:
    assert plan.outputs["webService"] == f"pap-{plan.stack}-web"
