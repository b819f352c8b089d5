"""The offline plan CLI and document: format, masking, exit codes, speed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra import outputs, plan
from infra.plan import record_plan
from tests.infra.helpers import SECRET, SERVICE, decoded, of_type

REPO = Path(__file__).resolve().parents[2]


def test_record_plan_document_format() -> None:
    document = record_plan("dev")
    assert document["stack"] == "dev"
    assert set(document) == {"stack", "resources"}
    for resource in document["resources"]:
        assert set(resource) == {"urn", "type", "name", "parent", "dependencies", "inputs"}
        assert resource["urn"].startswith("urn:pulumi:dev::presentation-analytics::")
        assert resource["urn"].endswith(f"::{resource['name']}")
    database = next(r for r in document["resources"] if r["name"] == "pap-dev-db")
    assert database["type"] == SERVICE
    spec = database["inputs"]["taskSpec"]["containerSpec"]
    assert spec["user"] == "10010:0" and spec["readOnly"] is True
    assert database["parent"].endswith("pap:platform:Database::database")
    # Whole numbers as a policy receives them from the engine: 536870912, not 536870912.0.
    assert isinstance(database["inputs"]["taskSpec"]["resources"]["limits"]["memoryBytes"], int)
    assert isinstance(spec["secrets"][0]["fileMode"], int)
    json.dumps(document)  # plain JSON, secrets unwrapped to their values


def test_every_component_has_its_type_token() -> None:
    types = {r["type"] for r in record_plan("prod")["resources"]}
    expected = {
        "Networks",
        "Secrets",
        "Tls",
        "Images",
        "Promotion",
        "Database",
        "Cache",
        "Backend",
        "Proxy",
        "Backup",
    }
    assert {f"pap:platform:{thing}" for thing in expected} <= types


def test_outputs_are_the_shared_constants(dev: plan.PlanRun) -> None:
    assert set(outputs.ALL) <= set(dev.outputs)
    assert dev.outputs[outputs.URL] == "https://localhost:8443/"
    assert dev.outputs[outputs.CA_CERTIFICATE].startswith("-----BEGIN CERTIFICATE-----")
    assert dev.outputs[outputs.EDGE_NETWORK] == "pap-dev-edge"


def test_text_masks_every_secret(dev: plan.PlanRun) -> None:
    text = "\n".join(plan.text_lines(dev))
    secrets = of_type(dev, SECRET)
    assert len(secrets) == 9
    for secret in secrets:
        content = decoded(secret)
        assert content.strip() not in text, secret.name
        assert secret.inputs["data"]["value"] not in text, secret.name  # nor its base64
    assert "adminPassword: [secret]" in text
    assert "+ docker:index/service:Service  pap-dev-proxy  (parent: proxy)" in text
    assert "+ docker:index/secret:Secret  pap-dev-jwt-key  (parent: secrets)" in text


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.plan", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def test_cli_writes_the_document_within_five_seconds(tmp_path: Path) -> None:
    target = tmp_path / "plan-dev.json"
    started = time.monotonic()
    result = _cli("--stack", "dev", "--format", "json", "--output", str(target))
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # json: the policy check prints the merged document
    assert json.loads(target.read_text())["stack"] == "dev"
    assert elapsed < 5, f"the plan took {elapsed:.1f} s"


def test_cli_text_format(tmp_path: Path) -> None:
    result = _cli("--stack", "dev", "--format", "text", "--output", str(tmp_path / "plan.json"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Offline plan of stack 'dev':")
    assert "-----BEGIN EC PRIVATE KEY" not in result.stdout


def test_invalid_config_exits_2_with_the_message(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.broken.yaml"
    stack_file.write_text("config:\n  presentation-analytics:backend:\n    replicas: 99\n    replicaz: 1\n")
    result = _cli(
        "--stack", "broken", "--stack-file", str(stack_file), "--output", str(tmp_path / "out.json")
    )
    assert result.returncode == 2
    assert "stack 'broken'" in result.stderr
    assert "presentation-analytics:backend.replicas" in result.stderr
    assert "presentation-analytics:backend.replicaz: unknown key" in result.stderr
    assert not (tmp_path / "out.json").exists()


def test_unknown_stack_exits_2(tmp_path: Path) -> None:
    result = _cli("--stack", "nosuch", "--output", str(tmp_path / "out.json"))
    assert result.returncode == 2
    assert "Pulumi.nosuch.yaml" in result.stderr


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_file_keys_are_all_in_the_project_namespace(stack: str) -> None:
    config, secret_keys = plan.read_stack_file(stack)
    assert all(key.startswith("presentation-analytics:") for key in config)
    assert secret_keys == []


def test_no_infra_module_shadows_the_standard_library() -> None:
    # `pulumi up` runs infra/__main__.py with infra/ first on sys.path: an infra/secrets.py would replace the
    # standard library's `secrets` for every library the program imports.
    modules = {path.stem for path in (REPO / "infra").glob("*.py")}
    assert not modules & set(sys.stdlib_module_names)


def test_recorded_stack_outputs_keep_no_secret(dev: plan.PlanRun, tmp_path: Path) -> None:
    written = json.loads(plan.write_outputs(dev, tmp_path).read_text())
    assert written["outputs"]["adminPassword"] == "[secret]"
    assert written["secretOutputNames"] == ["adminPassword"]
    assert written["outputs"]["serviceImage"] == dev.outputs["serviceImage"]


def test_recorded_dev_fixture_has_the_programs_output_names(dev: plan.PlanRun) -> None:
    """The committed dev outputs prod's StackReference reads offline (without a `make plan STACK=dev`)."""
    recorded = json.loads((REPO / "infra" / "fixtures" / "stack-outputs" / "dev.json").read_text())
    names = set(recorded["outputs"])
    assert names <= set(dev.outputs)
    images = {outputs.SERVICE_IMAGE, outputs.WEB_IMAGE}  # what prod promotes
    assert {*images, outputs.BACKUP_SERVICE, outputs.BACKEND_SERVICE, outputs.WEB_SERVICE} <= names
    for name in names - images:  # the image IDs differ per build
        assert recorded["outputs"][name] == dev.outputs[name], name
    for name in images:
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", recorded["outputs"][name]), name
    assert recorded["secretOutputNames"] == []
