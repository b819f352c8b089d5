"""Proxy: nginx, the only container with published ports, its config rendered from the stack config."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_docker as docker

from infra.config import ProxyConfig, TlsConfig
from infra.containers import (
    FILES_DIR,
    SECRETS_DIR,
    ContainerSpec,
    FileUpload,
    NetworkAttachment,
    Port,
    hardened_container,
)
from infra.naming import Naming
from infra.nginx import HTTP_PORT, HTTPS_PORT, NginxFiles, render_nginx_config

TYPE = "pap:platform:Proxy"
UID = 10030
ALIAS = "proxy"
CONTAINER_FILES = NginxFiles(
    certificate=f"{FILES_DIR}/nginx/tls/server.crt",
    private_key=f"{SECRETS_DIR}/tls_key",
    mime_types="/etc/nginx/mime.types",
    runtime_dir="/tmp",  # noqa: S108 - the container's private tmpfs
)
CONFIG_FILE = f"{FILES_DIR}/nginx/nginx.conf"


def public_url(proxy: ProxyConfig) -> str:
    port = "" if proxy.https_port == 443 else f":{proxy.https_port}"
    return f"https://{proxy.server_names[0]}{port}/"


class Proxy(pulumi.ComponentResource):
    container: docker.Container
    url: str

    def __init__(
        self,
        name: str,
        naming: Naming,
        proxy: ProxyConfig,
        tls_config: TlsConfig,
        image: pulumi.Input[str],
        certificate_pem: pulumi.Input[str],
        private_key_pem: pulumi.Output[str],
        backend_aliases: Sequence[str],
        backend_port: int,
        backends: Sequence[docker.Container],
        edge_network: pulumi.Input[str],
        app_network: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        nginx_conf = render_nginx_config(
            proxy, tls_config.profile, backend_aliases, backend_port, CONTAINER_FILES
        )
        bind = str(proxy.bind_address)
        # nginx resolves upstream names once at start; a replaced backend gets a new address, so the
        # backends' IDs are part of the proxy's identity and a new backend restarts the proxy.
        backend_ids = pulumi.Output.all(*(backend.id for backend in backends)).apply(
            lambda ids: ",".join(str(identifier)[:12] for identifier in ids)
        )
        self.container = hardened_container(
            naming,
            ContainerSpec(
                thing="proxy",
                role="proxy",
                image=image,
                uid=UID,
                limits=proxy.limits,
                networks=[
                    NetworkAttachment(edge_network, (ALIAS,)),
                    NetworkAttachment(app_network, (ALIAS,)),
                ],
                files=[
                    FileUpload(CONFIG_FILE, nginx_conf),
                    FileUpload(CONTAINER_FILES.certificate, certificate_pem),
                    FileUpload(CONTAINER_FILES.private_key, private_key_pem, secret=True),
                ],
                ports=[
                    Port(internal=HTTPS_PORT, external=proxy.https_port, ip=bind),
                    Port(internal=HTTP_PORT, external=proxy.http_port, ip=bind),
                ],
                extra_labels={"pap.upstreams": backend_ids},
                start_period="10s",
            ),
            parent=self,
            depends_on=backends,
        )
        self.url = public_url(proxy)
        self.register_outputs({"container": self.container.name, "url": self.url})
