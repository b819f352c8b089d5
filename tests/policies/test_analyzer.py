"""The pack as the engine runs it: a subprocess serving the Analyzer gRPC protocol, fed the real program's "
"plans."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from policies.analyzer_client import AnalyzerClient, AnalyzerError, load_stack_config, resolve_config
from tests.policies.support import evaluate

REPO_ROOT = Path(__file__).resolve().parents[2]

# The pack's contract: every policy and its default level. Written out here so that dropping or
# downgrading a rule fails a test (the README's coverage table lists the same names).
EXPECTED_POLICIES = {
    "service-non-root": "mandatory",
    "service-capabilities-dropped": "mandatory",
    "service-read-only-rootfs": "mandatory",
    "service-memory-limited": "mandatory",
    "service-cpu-limited": "mandatory",
    "service-no-devices": "mandatory",
    "service-healthcheck": "mandatory",
    "service-restart-policy": "mandatory",
    "service-selinux-not-disabled": "mandatory",
    "service-image-immutable": "mandatory",
    "host-path-not-sensitive": "mandatory",
    "service-no-docker-socket": "mandatory",
    "service-mount-propagation": "mandatory",
    "service-no-host-network": "mandatory",
    "service-not-default-bridge": "mandatory",
    "service-no-privileged-host-ports": "mandatory",
    "service-ports-host-mode": "mandatory",
    "data-tier-internal-networks-only": "mandatory",
    "data-tier-publishes-nothing": "mandatory",
    "single-ingress": "mandatory",
    "service-update-rollback": "mandatory",
    "stateless-service-start-first": "mandatory",
    "exclusive-service-stop-first": "mandatory",
    "stateless-service-replicated": "mandatory",
    "data-service-pinned": "mandatory",
    "no-plaintext-secrets": "mandatory",
    "secret-files-owner-only": "mandatory",
    "service-secret-files-mounted": "mandatory",
    "configs-hold-no-key-material": "mandatory",
    "no-standalone-containers": "mandatory",
    "database-backed-up": "mandatory",
    "database-archives-wal": "mandatory",
    "offsite-backup-repository": "mandatory",
    "backup-repositories-encrypted": "mandatory",
    "dockerfile-readable": "advisory",
    "dockerfile-non-root-user": "mandatory",
    "dockerfile-copy-not-add": "mandatory",
    "dockerfile-base-image-pinned": "mandatory",
    "service-image-promoted": "mandatory",
    "tls-key-strength": "mandatory",
    "tls-certificate-lifetime": "mandatory",
    "nginx-config-present": "mandatory",
    "nginx-tls-protocols": "mandatory",
    "nginx-tls-ciphers": "mandatory",
    "nginx-server-tokens-off": "mandatory",
    "nginx-security-headers": "mandatory",
    "nginx-csp-strict": "mandatory",
    "nginx-http-redirect-only": "mandatory",
}
REFERENCE_MARKERS = ("CIS", "OWASP", "Mozilla", "NIST")


def test_analyzer_info_lists_every_policy_with_its_level(analyzer: AnalyzerClient) -> None:
    policies = {policy.name: policy for policy in analyzer.policies()}
    assert {name: policy.level for name, policy in policies.items()} == EXPECTED_POLICIES
    for policy in policies.values():
        assert any(marker in policy.description for marker in REFERENCE_MARKERS), policy.name


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_config_fits_the_policies_schemas(analyzer: AnalyzerClient, stack: str) -> None:
    resolved = resolve_config(load_stack_config(stack), analyzer.policies())
    assert set(resolved) == set(EXPECTED_POLICIES)
    analyzer.configure(load_stack_config(stack))  # the server accepts it


def test_config_with_an_unknown_setting_is_refused(analyzer: AnalyzerClient) -> None:
    with pytest.raises(AnalyzerError, match="maxValidityDay"):
        resolve_config({"tls-certificate-lifetime": {"maxValidityDay": 90}}, analyzer.policies())
    with pytest.raises(AnalyzerError, match="no-such-policy"):
        resolve_config({"no-such-policy": "mandatory"}, analyzer.policies())


def test_per_stack_config_differs_where_the_issue_says(analyzer: AnalyzerClient) -> None:
    policies = analyzer.policies()
    dev = resolve_config(load_stack_config("dev"), policies)
    prod = resolve_config(load_stack_config("prod"), policies)
    # Both stacks serve Mozilla intermediate (the lead's decision: modern would lock out TLS 1.2 browsers);
    # prod is stricter on lifetime, HSTS and builds. Modern is exercised by test_mutations (MODERN config).
    assert dev["nginx-tls-protocols"].properties["profile"] == "intermediate"
    assert prod["nginx-tls-protocols"].properties["profile"] == "intermediate"
    assert prod["nginx-security-headers"].properties["hstsMinAge"] == 63072000
    assert dev["tls-certificate-lifetime"].properties["maxValidityDays"] == 366
    assert prod["tls-certificate-lifetime"].properties["maxValidityDays"] == 90
    assert prod["service-image-promoted"].properties["buildsAllowed"] is False
    # dev may run one backend task, prod needs two (a task's crash or restart is no outage).
    assert dev["stateless-service-replicated"].properties["minReplicas"] == 1
    assert prod["stateless-service-replicated"].properties["minReplicas"] == 2


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_recorded_program_has_no_mandatory_violation(
    analyzer: AnalyzerClient, stack: str, request: pytest.FixtureRequest
) -> None:
    plan: dict[str, Any] = request.getfixturevalue(f"{stack}_plan")
    violations = evaluate(analyzer, plan, stack)
    mandatory = [f"{v.policy} on {v.name}: {v.message}" for v in violations if v.level == "mandatory"]
    assert mandatory == []
    assert len(plan["resources"]) > 20  # the real program, not an empty plan


def test_check_cli_text_and_json(tmp_path: Path, dev_plan: dict[str, Any]) -> None:
    bad = json.loads(json.dumps(dev_plan))
    for item in bad["resources"]:
        if item["name"] == "pap-dev-backend":
            item["inputs"]["taskSpec"]["containerSpec"]["user"] = "0:0"
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(bad))
    command = [sys.executable, "-m", "policies.check", "--input", str(path), "--stack", "dev"]
    text = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert text.returncode == 1, text.stderr
    assert "[mandatory] service-non-root  pap-dev-backend" in text.stdout
    assert "mandatory" in text.stdout.splitlines()[-1]
    as_json = subprocess.run(
        [*command, "--format", "json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert as_json.returncode == 1
    document = json.loads(as_json.stdout)
    assert document["resources"] == bad["resources"]
    fired = [v for v in document["violations"] if v["policy"] == "service-non-root"]
    assert [v["name"] for v in fired] == ["pap-dev-backend"]
    assert fired[0]["level"] == "mandatory" and fired[0]["urn"].endswith("::pap-dev-backend")


def test_check_cli_passes_the_clean_plan_and_refuses_bad_input(
    tmp_path: Path, dev_plan: dict[str, Any]
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(dev_plan))
    command = [sys.executable, "-m", "policies.check", "--input", str(path), "--stack", "dev"]
    clean = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    path.write_text(json.dumps({"resources": [{"type": "x"}]}))
    broken = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert broken.returncode == 2 and "lacks urn, name" in broken.stderr
