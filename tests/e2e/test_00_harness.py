"""The applying harness's own rules, without an engine: unmapped inputs fail by name, units convert right,
and a second run decides update or replacement as the provider would."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker.errors
import pulumi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e import harness, keys, runtime
from tests.e2e.properties import UnmappedPropertyError, go_duration_ns
from tests.e2e.resources import secrets, services
from tests.e2e.resources.common import ApplyError


def _service(**task: Any) -> dict[str, Any]:
    container = {"image": "sha256:abc", "user": "10001:0", **task.pop("containerSpec", {})}
    return {"name": "pap-dev-x", "taskSpec": {"containerSpec": container, **task}}


def test_an_unmapped_service_input_fails_by_name() -> None:
    with pytest.raises(UnmappedPropertyError, match="gpus"):
        services.plan_service("x", _service(containerSpec={"gpus": "all"}))


def test_an_unmapped_nested_input_fails_by_name() -> None:
    with pytest.raises(UnmappedPropertyError, match="startInterval"):
        services.plan_service(
            "x", _service(containerSpec={"healthcheck": {"tests": ["CMD", "true"], "startInterval": "1s"}})
        )


def test_service_inputs_become_engine_fields() -> None:
    inputs = {
        **_service(
            containerSpec={
                "readOnly": True,
                "capDrops": ["ALL"],
                "args": ["migrate", "--hold"],
                "env": {"B": "2", "A": "1"},
                "healthcheck": {
                    "tests": ["CMD", "x"],
                    "interval": "5s",
                    "timeout": "3s",
                    "startPeriod": "1m30s",
                },
                "mounts": [
                    {"target": "/tmp", "type": "tmpfs", "tmpfsOptions": {"sizeBytes": 64.0, "mode": 1023.0}}
                ],
                "secrets": [
                    {
                        "secretId": "s1",
                        "secretName": "n1",
                        "fileName": "/run/secrets/k",
                        "fileUid": "10001",
                        "fileMode": 256.0,
                    }
                ],
                "stopGracePeriod": "30s",
                "dnsConfig": {"options": ["timeout:1", "attempts:1"]},
            },
            resources={"limits": {"memoryBytes": 536870912.0, "nanoCpus": 1e9}},
            restartPolicy={"condition": "on-failure", "delay": "5s", "maxAttempts": 5.0, "window": "120s"},
            networksAdvanceds=[{"name": "pap-dev-app", "aliases": ["backend"]}],
        ),
        "mode": {"replicated": {"replicas": 2.0}},
        "updateConfig": {
            "failureAction": "rollback",
            "monitor": "18s",
            "maxFailureRatio": "0",
            "order": "start-first",
        },
        "endpointSpec": {
            "mode": "vip",
            "ports": [
                {"name": "https", "targetPort": 8443.0, "publishedPort": 8443.0, "publishMode": "host"}
            ],
        },
        "convergeConfig": {"delay": "1s", "timeout": "5m"},
    }
    plan = services.plan_service("x", inputs)
    task = plan.spec["TaskTemplate"]
    container = task["ContainerSpec"]
    assert container["CapabilityDrop"] == ["ALL"] and container["Args"] == ["migrate", "--hold"]
    assert "Command" not in container  # args never replace the ENTRYPOINT
    assert container["Env"] == ["A=1", "B=2"]
    assert container["Healthcheck"] == {
        "Test": ["CMD", "x"],
        "Interval": 5 * 10**9,
        "Timeout": 3 * 10**9,
        "StartPeriod": 90 * 10**9,
        "Retries": 0,  # the provider's schema default
    }
    assert container["Mounts"] == [
        {"Target": "/tmp", "Type": "tmpfs", "TmpfsOptions": {"SizeBytes": 64, "Mode": 1023}}
    ]
    assert container["Secrets"] == [
        {
            "SecretID": "s1",
            "SecretName": "n1",
            "File": {"Name": "/run/secrets/k", "UID": "10001", "GID": "0", "Mode": 256},
        }
    ]
    assert container["StopGracePeriod"] == 30 * 10**9
    assert container["DNSConfig"] == {"Options": ["timeout:1", "attempts:1"]}
    assert task["Resources"] == {"Limits": {"MemoryBytes": 536870912, "NanoCPUs": 10**9}}
    assert task["RestartPolicy"] == {
        "Condition": "on-failure",
        "Delay": 5 * 10**9,
        "MaxAttempts": 5,
        "Window": 120 * 10**9,
    }
    assert task["Networks"] == [{"Target": "pap-dev-app", "Aliases": ["backend"]}]
    assert plan.spec["Mode"] == {"Replicated": {"Replicas": 2}}
    assert plan.spec["UpdateConfig"] == {
        "Parallelism": 1,  # defaults of the provider's schema for what is not given
        "Delay": 0,
        "FailureAction": "rollback",
        "Monitor": 18 * 10**9,
        "MaxFailureRatio": 0.0,
        "Order": "start-first",
    }
    assert plan.spec["EndpointSpec"]["Ports"] == [
        {"Name": "https", "Protocol": "tcp", "TargetPort": 8443, "PublishedPort": 8443, "PublishMode": "host"}
    ]
    assert plan.converge is not None and (plan.converge.delay_seconds, plan.converge.timeout_seconds) == (
        1,
        300,
    )
    assert plan.spec["Labels"] == {"pap.e2e": "1"}


def test_secret_data_must_be_base64() -> None:
    with pytest.raises(ApplyError, match="not base64"):
        secrets.SECRET_TABLE.apply(secrets.FileObjectSpec("s"), {"name": "s", "data": "not base64!"})
    spec = secrets.FileObjectSpec("s")
    data = base64.b64encode(b"value").decode()
    secrets.SECRET_TABLE.apply(
        spec, {"name": "s", "data": data, "labels": [{"label": "pap.stack", "value": "dev"}]}
    )
    assert (spec.data, spec.labels) == (data, {"pap.stack": "dev"})


def test_service_changes_update_in_place_unless_the_provider_forces_new() -> None:
    old = _service(networksAdvanceds=[{"name": "pap-dev-app", "aliases": ["backend"]}])
    new_image = {
        **old,
        "taskSpec": {
            **old["taskSpec"],
            "containerSpec": {**old["taskSpec"]["containerSpec"], "image": "sha256:def"},
        },
    }
    new_alias = {
        **old,
        "taskSpec": {**old["taskSpec"], "networksAdvanceds": [{"name": "pap-dev-app", "aliases": ["api"]}]},
    }
    renamed = {**old, "name": "pap-dev-y"}
    assert harness.service_decision(old, new_image) == "update"
    assert harness.service_decision(old, {**old, "mode": {"replicated": {"replicas": 3}}}) == "replace"
    assert (
        harness.service_decision(
            {**old, "mode": {"replicated": {"replicas": 2}}}, {**old, "mode": {"replicated": {"replicas": 3}}}
        )
        == "update"
    )
    assert harness.service_decision(old, new_alias) == "replace"
    assert harness.service_decision(old, renamed) == "replace"


def test_other_kinds_replace_on_any_change_but_their_in_place_fields() -> None:
    image = harness.replace_unless_only("keepLocally", "forceRemove")
    assert image({"name": "a", "keepLocally": True}, {"name": "a", "keepLocally": False}) == "update"
    assert image({"name": "a", "triggers": {"c": "1"}}, {"name": "a", "triggers": {"c": "2"}}) == "replace"
    assert harness.REPLACE_ON_ANY_CHANGE({"data": "YQ=="}, {"data": "Yg=="}) == "replace"


@pytest.mark.parametrize(
    ("text", "nanos"), [("10s", 10**10), ("1m30s", 9 * 10**10), ("500ms", 5 * 10**8), ("0", 0)]
)
def test_go_durations(text: str, nanos: int) -> None:
    assert go_duration_ns(text) == nanos


def test_tls_material_follows_the_declared_inputs() -> None:
    _, key = keys.private_key({"algorithm": "ECDSA", "ecdsaCurve": "P384"})
    assert isinstance(keys.load_private_key(key["privateKeyPem"]), ec.EllipticCurvePrivateKey)
    assert keys.load_private_key(key["privateKeyPem"]).curve.name == "secp384r1"  # type: ignore[union-attr]
    _, ca = keys.self_signed_cert(
        {
            "privateKeyPem": key["privateKeyPem"],
            "subject": {"commonName": "e2e CA"},
            "validityPeriodHours": 48,
            "isCaCertificate": True,
            "allowedUses": ["cert_signing"],
            "earlyRenewalHours": 1,
        }
    )
    certificate = x509.load_pem_x509_certificate(ca["certPem"].encode())
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime.total_seconds() == 48 * 3600
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True


def test_random_password_honours_its_inputs() -> None:
    _, outputs = keys.random_characters({"length": 40, "special": False, "minNumeric": 5})
    result = outputs["result"]
    assert len(result) == 40 and result.isalnum() and sum(c.isdigit() for c in result) >= 5


class _NotAManager:
    """An engine that is no swarm manager: every /services call answers Docker's 503."""

    MESSAGE = (
        'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this '
        "node to swarm and try again."
    )

    def _url(self, path: str, *args: str) -> str:
        return path.format(*args)

    def _post_json(self, url: str, data: Any, **kwargs: Any) -> str:
        return url

    def _raise_for_status(self, response: str) -> None:
        raise docker.errors.APIError("503 Server Error: Service Unavailable", explanation=self.MESSAGE)


def test_a_service_on_a_non_manager_fails_with_dockers_own_words() -> None:
    with pytest.raises(ApplyError) as raised:
        services.create_service(_NotAManager(), "pap-dev-x", _service())
    assert str(raised.value) == f"pap-dev-x: {_NotAManager.MESSAGE}"


def _register(mocks: harness.ApplyingMocks, typ: str, name: str, inputs: dict[str, Any]) -> str:
    registration = runtime.Registration(urn=f"urn:pulumi:dev::p::{typ}::{name}")
    runtime._CURRENT.registration = registration
    try:
        resource_id, _ = mocks.new_resource(pulumi.runtime.MockResourceArgs(typ, name, inputs, custom=True))
    finally:
        runtime._CURRENT.registration = None
    return str(resource_id)


def test_a_second_run_keeps_updates_replaces_and_deletes_in_order(tmp_path: Path) -> None:
    """pulumi up semantics on fake kinds: same inputs keep the id, a secret's new data is a new secret,
    the service that names it is updated in place, and the old secret goes only after the run, after
    the service on removal."""
    calls: list[str] = []
    mocks = harness.ApplyingMocks(tmp_path, "dev")
    counter = iter(range(100))

    def create(kind: str) -> Callable[[str, Any], tuple[str, dict[str, Any]]]:
        def apply(name: str, inputs: Any) -> tuple[str, dict[str, Any]]:
            resource_id = f"{kind}-{next(counter)}"
            calls.append(f"create {resource_id}")
            return resource_id, dict(inputs)

        return apply

    def delete(resource: harness.Registered) -> None:
        calls.append(f"delete {resource.id}")

    def update(resource: harness.Registered, inputs: Any) -> dict[str, Any]:
        calls.append(f"update {resource.id}")
        return dict(inputs)

    secret_type, service_type = "docker:index/secret:Secret", harness.SERVICE
    mocks.kinds[secret_type] = harness.Kind(create=create("secret"), delete=delete)
    mocks.kinds[service_type] = harness.Kind(
        create=create("service"), decide=harness.service_decision, update=update, delete=delete
    )
    data = base64.b64encode(b"one").decode()

    def run(secret_data: str) -> harness.RunRecord:
        record = mocks.begin_run()
        secret_id = _register(
            mocks, secret_type, "jwt", {"name": f"jwt-{secret_data[:4]}", "data": secret_data}
        )
        _register(
            mocks, service_type, "backend", _service(containerSpec={"secrets": [{"secretId": secret_id}]})
        )
        mocks.finish_run()
        return record

    first = run(data)
    same = run(data)
    rotated = run(base64.b64encode(b"two").decode())
    assert (first.count("create"), same.count("same"), same.count("create") + same.count("update")) == (
        2,
        2,
        0,
    )
    assert rotated.actions["replace"] == [(secret_type, "jwt")]
    assert rotated.actions["update"] == [(service_type, "backend")]
    assert calls[2:] == ["create secret-2", "update service-1", "delete secret-0"]
    assert mocks.remove_all() == [] and calls[-2:] == ["delete service-1", "delete secret-2"]
