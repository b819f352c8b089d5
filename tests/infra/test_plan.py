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
from infra.config import ConfigError
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
        "BackupArchive",
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
    assert len(secrets) == 14
    for secret in secrets:
        content = decoded(secret)
        assert content.strip() not in text, secret.name
        assert secret.inputs["data"]["value"] not in text, secret.name  # nor its base64
        # Nor any value of a multi-line secret (the cipher passphrase of a pgBackRest include, pgpass).
        for line in content.splitlines():
            value = line.split("=", 1)[-1].rsplit(":", 1)[-1]
            assert len(value) < 24 or value not in text, secret.name
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


NESTED_SECRET_STACK = """\
config:
  presentation-analytics:backup:
    offsite:
      type: s3
      s3:
        bucket: pap-backups
        endpoint: s3.eu-central-1.example.com
        region: eu-central-1
        key:
          secure: AAABAKeyCiphertext
        keySecret:
          secure: AAABASecretCiphertext
"""


def test_nested_secure_values_are_refused_like_top_level_ones(tmp_path: Path) -> None:
    """`pulumi config set --secret --path backup.offsite.s3.keySecret` stores a nested `secure:` object; the
    offline plan cannot decrypt it any more than a top-level one, and says so with the value's path (not
    "Input should be a valid string" from validating the ciphertext object)."""
    nested = tmp_path / "Pulumi.nested.yaml"
    nested.write_text(NESTED_SECRET_STACK)
    with pytest.raises(ConfigError) as raised:
        plan.read_stack_file("nested", nested)
    assert str(raised.value) == (
        "stack 'nested': presentation-analytics:backup.offsite.s3.key, "
        "presentation-analytics:backup.offsite.s3.keySecret are encrypted (secure:); the offline plan cannot "
        "decrypt them. Run it with a stack file that keeps secrets out, or use `pulumi preview`."
    )
    assert "Ciphertext" not in str(raised.value)
    top_level = tmp_path / "Pulumi.top.yaml"
    top_level.write_text("config:\n  presentation-analytics:backup:\n    secure: AAABACiphertext\n")
    with pytest.raises(ConfigError) as raised:
        plan.read_stack_file("top", top_level)
    assert str(raised.value) == (
        "stack 'top': presentation-analytics:backup is encrypted (secure:); the offline plan cannot decrypt "
        "it. Run it with a stack file that keeps secrets out, or use `pulumi preview`."
    )
    in_list = tmp_path / "Pulumi.list.yaml"
    in_list.write_text("config:\n  presentation-analytics:tls:\n    ipAddresses:\n      - secure: AAAB\n")
    with pytest.raises(ConfigError, match=r"^stack 'list': presentation-analytics:tls\.ipAddresses\.0 is "):
        plan.read_stack_file("list", in_list)


def test_nested_secure_value_exits_2_naming_its_path(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.nested.yaml"
    stack_file.write_text(NESTED_SECRET_STACK)
    result = _cli(
        "--stack", "nested", "--stack-file", str(stack_file), "--output", str(tmp_path / "out.json")
    )
    assert result.returncode == 2
    assert "presentation-analytics:backup.offsite.s3.keySecret" in result.stderr
    assert "cannot decrypt" in result.stderr
    assert "valid string" not in result.stderr
    assert not (tmp_path / "out.json").exists()


def test_a_secret_key_without_secure_values_is_read_as_json(tmp_path: Path) -> None:
    """Plain nested values pass through as the CLI hands them over (objects as JSON text), not secret."""
    stack_file = tmp_path / "Pulumi.plain.yaml"
    stack_file.write_text("config:\n  presentation-analytics:backup:\n    offsite:\n      type: posix\n")
    config, secret_keys = plan.read_stack_file("plain", stack_file)
    assert config == {"presentation-analytics:backup": '{"offsite": {"type": "posix"}}'}
    assert secret_keys == []


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
