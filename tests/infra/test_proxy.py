"""Proxy: the rendered nginx.conf as a Swarm config, the upstream through the backend's VIP, and the refusal
to deploy where the engine would publish the ports on another address than proxy.bindAddress."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra.mocks import GATEWAY_BRIDGE, RealisticMocks
from infra.plan import PlanRun
from infra.proxy import BINDING_OPTION, IngressBindingError, check_ingress_binding
from tests.infra.helpers import (
    CONFIG_FILE_MODE,
    SERVICE,
    config_mounts,
    mocked_with,
    mounted,
    of_type,
    run_stack,
    the_service,
)

GET_NETWORK = "docker:index/getNetwork:getNetwork"
NGINX_CONF = "/run/pap/nginx/nginx.conf"
CERTIFICATE = "/run/pap/nginx/tls/server.crt"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_proxy_mounts_the_rendered_config(stack: str, request: pytest.FixtureRequest) -> None:
    plan: PlanRun = request.getfixturevalue(stack)
    proxy = the_service(plan, "proxy")
    mounts = config_mounts(proxy)
    assert set(mounts) == {NGINX_CONF, CERTIFICATE}
    for mount in mounts.values():
        assert mount["fileMode"] == CONFIG_FILE_MODE == 0o444
        assert (mount["fileUid"], mount["fileGid"]) == ("10030", "0")
        assert mount["configName"].startswith(f"pap-{stack}-")
    text = mounted(plan, proxy, NGINX_CONF)
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in text
    assert f"ssl_certificate {CERTIFICATE};" in text
    assert "ssl_certificate_key /run/secrets/tls_key;" in text
    assert "listen 8443 ssl http2 default_server;" in text


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_upstream_is_the_backend_service_not_its_tasks(stack: str, request: pytest.FixtureRequest) -> None:
    """One name, the service's, whatever the replica count: a rolled or moved task needs no new config."""
    plan: PlanRun = request.getfixturevalue(stack)
    text = mounted(plan, the_service(plan, "proxy"), NGINX_CONF)
    assert "set $backend backend:8000;" in text
    assert "resolver 127.0.0.11 valid=2s ipv6=off;" in text
    assert not [line for line in text.splitlines() if line.strip().startswith("upstream ")]
    assert "backend-1" not in text
    backend = the_service(plan, "backend")
    aliases = [
        alias for network in backend.inputs["taskSpec"]["networksAdvanceds"] for alias in network["aliases"]
    ]
    assert "backend" in aliases


def test_proxy_waits_for_the_backend_service(plan: PlanRun) -> None:
    assert the_service(plan, "backend").urn in the_service(plan, "proxy").dependencies


# ---------------------------------------------------------------- where the engine publishes


def test_matching_binding_passes() -> None:
    check_ingress_binding("127.0.0.1", {BINDING_OPTION: "127.0.0.1"}, "dev")
    check_ingress_binding(EVERY_ADDRESS, {}, "prod")  # no option: Docker binds every address
    check_ingress_binding(EVERY_ADDRESS, None, "prod")


EVERY_ADDRESS = "0.0.0.0"  # noqa: S104 - Docker's default binding, the case the program must refuse


@pytest.mark.parametrize(
    ("options", "bound"),
    [({BINDING_OPTION: "192.0.2.7"}, "192.0.2.7"), ({}, EVERY_ADDRESS), (None, EVERY_ADDRESS)],
)
def test_another_binding_is_refused_naming_the_fix(options: dict[str, str] | None, bound: str) -> None:
    with pytest.raises(IngressBindingError) as raised:
        check_ingress_binding("127.0.0.1", options, "dev")
    message = str(raised.value)
    assert "stack 'dev'" in message
    assert "proxy.bindAddress is 127.0.0.1" in message
    assert f"publishes service ports on {bound}" in message
    assert f"--opt {BINDING_OPTION}=127.0.0.1" in message
    assert "docker swarm init" in message


class _GatewayBridgeMocks(RealisticMocks):
    """An engine whose docker_gwbridge has other options, or none at all (not a swarm node)."""

    def __init__(self, stack_outputs_dirs: tuple[Path, ...], options: dict[str, str] | None) -> None:
        super().__init__(stack_outputs_dirs)
        self._options = options

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        if args.token == GET_NETWORK and args.args.get("name") == GATEWAY_BRIDGE:
            if self._options is None:
                # How the engine answers an invoke the provider failed: a failure, not a crashed program.
                return {}, [("name", f"Unable to find network with name or id: {GATEWAY_BRIDGE}")]
            answer, failures = super().call(args)
            return {**answer, "options": self._options}, failures
        return super().call(args)


def _deploy_on(options: dict[str, str] | None, stack_outputs_dir: Path) -> PlanRun:
    with mocked_with(lambda dirs: _GatewayBridgeMocks(dirs, options)):
        return run_stack("dev", stack_outputs_dir)


def test_the_program_reads_the_gateway_bridge(stack_outputs_dir: Path) -> None:
    run = _deploy_on(
        {BINDING_OPTION: "127.0.0.1", "com.docker.network.bridge.name": GATEWAY_BRIDGE}, stack_outputs_dir
    )
    assert len(of_type(run, SERVICE)) == 8


def test_a_bridge_bound_elsewhere_fails_the_program(stack_outputs_dir: Path) -> None:
    with pytest.raises(IngressBindingError) as raised:
        _deploy_on({BINDING_OPTION: EVERY_ADDRESS}, stack_outputs_dir)
    message = str(raised.value)
    assert "stack 'dev': proxy.bindAddress is 127.0.0.1" in message
    assert "publishes service ports on 0.0.0.0" in message
    assert "docker swarm init" in message


def test_an_engine_without_a_gateway_bridge_fails_the_program(stack_outputs_dir: Path) -> None:
    with pytest.raises(IngressBindingError) as raised:
        _deploy_on(None, stack_outputs_dir)
    message = str(raised.value)
    assert f"stack 'dev': the Docker engine has no {GATEWAY_BRIDGE} network" in message
    assert "`docker swarm init`" in message


def test_a_bind_address_the_engine_honours_deploys(stack_outputs_dir: Path) -> None:
    with mocked_with(lambda dirs: _GatewayBridgeMocks(dirs, {BINDING_OPTION: "192.0.2.7"})):
        run = run_stack("dev", stack_outputs_dir, {"proxy": {"bindAddress": "192.0.2.7"}})
    assert len(of_type(run, SERVICE)) == 8
