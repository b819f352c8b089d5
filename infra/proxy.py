"""Proxy: nginx, the only service that publishes ports, its config rendered from the stack config; the API
to the backends, every other path to the web frontend."""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_docker as docker

from infra.backend import ALIAS as BACKEND_ALIAS
from infra.backend import PORT as BACKEND_PORT
from infra.backend import Backend
from infra.config import ProxyConfig, TlsConfig
from infra.naming import Naming
from infra.networks import Networks
from infra.nginx import HTTP_PORT, HTTPS_PORT, NginxFiles, Upstream, render_nginx_config
from infra.swarm import (
    FILES_DIR,
    INGRESS_NODE_CONSTRAINT,
    ConfigFile,
    Health,
    NetworkAttachment,
    Port,
    SecretFile,
    ServiceSpec,
    hardened_service,
    swarm_config,
    swarm_secret,
)
from infra.web import Web

TYPE = "pap:platform:Proxy"
UID = 10030
ALIAS = "proxy"
GATEWAY_BRIDGE = "docker_gwbridge"
BINDING_OPTION = "com.docker.network.bridge.host_binding_ipv4"
TLS_KEY = "tls_key"
CONTAINER_FILES = NginxFiles(
    certificate=f"{FILES_DIR}/nginx/tls/server.crt",
    private_key=f"/run/secrets/{TLS_KEY}",
    mime_types="/etc/nginx/mime.types",
    runtime_dir="/tmp",  # noqa: S108 - the task's private tmpfs
)
CONFIG_FILE = f"{FILES_DIR}/nginx/nginx.conf"


class IngressBindingError(Exception):
    """The engine would publish the proxy's ports on another address than the stack config says."""


def public_url(proxy: ProxyConfig) -> str:
    port = "" if proxy.https_port == 443 else f":{proxy.https_port}"
    return f"https://{proxy.server_names[0]}{port}/"


def check_ingress_binding(bind_address: str, bridge_options: dict[str, str] | None, stack: str) -> None:
    """Swarm publishes a host-mode port on every address of the node unless the node's docker_gwbridge
    says otherwise: its `host_binding_ipv4` option is the one place the engine takes a bind address, so the
    program refuses a stack whose proxy.bindAddress the engine would not honour."""
    bound = (bridge_options or {}).get(BINDING_OPTION, "0.0.0.0")  # noqa: S104 - Docker's default
    if ipaddress.ip_address(bound) == ipaddress.ip_address(bind_address):
        return
    raise IngressBindingError(
        f"stack '{stack}': proxy.bindAddress is {bind_address}, but this engine publishes service ports on "
        f"{bound} ({GATEWAY_BRIDGE} option {BINDING_OPTION}). Swarm cannot bind a published port to one "
        f"address by itself: recreate {GATEWAY_BRIDGE} with `--opt {BINDING_OPTION}={bind_address}` before "
        f"`docker swarm init` (tools/docker-engine.sh does; README, 'Prerequisites'), or set "
        f"proxy.bindAddress to {bound}."
    )


def gateway_bridge_options(stack: str) -> dict[str, str]:
    """docker_gwbridge's options; the bridge exists on every swarm node and only there."""
    try:
        bridge = docker.get_network(name=GATEWAY_BRIDGE)
    except Exception as error:  # the provider reports a missing network as a generic invoke failure
        raise IngressBindingError(
            f"stack '{stack}': the Docker engine has no {GATEWAY_BRIDGE} network, so it is not a swarm node "
            f"and cannot run the platform's services. Make it a swarm manager first: `docker swarm init` "
            f"(README, 'Prerequisites'; tools/docker-engine.sh does it here). ({error})"
        ) from None
    return dict(bridge.options or {})


class Proxy(pulumi.ComponentResource):
    service: docker.Service
    url: str

    def __init__(
        self,
        name: str,
        *,
        naming: Naming,
        proxy: ProxyConfig,
        tls_config: TlsConfig,
        image: pulumi.Input[str],
        certificate_pem: pulumi.Input[str],
        private_key_pem: pulumi.Output[str],
        backend: Backend,
        web: Web,
        networks: Networks,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        check_ingress_binding(str(proxy.bind_address), gateway_bridge_options(naming.stack), naming.stack)
        # Upstreams by service name: Swarm's DNS answers with the healthy tasks, so a rolled or rescheduled
        # backend or frontend never needs a proxy restart.
        nginx_conf = render_nginx_config(
            proxy,
            tls_config.profile,
            backend=Upstream(BACKEND_ALIAS, BACKEND_PORT),
            web=Upstream(web.host, web.port),
            files=CONTAINER_FILES,
            deck_max_mb=backend.deck_max_mb,
        )
        self.service = hardened_service(
            naming,
            ServiceSpec(
                thing="proxy",
                role="proxy",
                image=image,
                uid=UID,
                resources=proxy,
                networks=[
                    NetworkAttachment(networks.edge.name, (ALIAS,)),
                    NetworkAttachment(networks.app.name, (ALIAS,)),
                ],
                configs=[
                    ConfigFile(CONFIG_FILE, swarm_config(naming, "nginx-conf", nginx_conf, parent=self)),
                    ConfigFile(
                        CONTAINER_FILES.certificate,
                        swarm_config(naming, "tls-cert", certificate_pem, parent=self),
                    ),
                ],
                secrets=[SecretFile(TLS_KEY, swarm_secret(naming, "tls-key", private_key_pem, parent=self))],
                ports=[
                    Port("https", internal=HTTPS_PORT, external=proxy.https_port),
                    Port("http", internal=HTTP_PORT, external=proxy.http_port),
                ],
                # A host-mode port is held by one task per node: the old task must free it first.
                order="stop-first",
                constraints=[INGRESS_NODE_CONSTRAINT],
                health=Health(start_period="10s"),
                stop_grace_period="10s",  # SIGQUIT: nginx finishes open requests
            ),
            parent=self,
            depends_on=[backend.service, web.service],
        )
        self.url = public_url(proxy)
        self.register_outputs({"service": self.service.name, "url": self.url})
