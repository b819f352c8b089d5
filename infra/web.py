"""Web: the Next.js frontend, replicated and rolled start-first like the backends, on the app network only."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from infra.config import WebConfig
from infra.naming import Naming
from infra.networks import Networks
from infra.swarm import Health, NetworkAttachment, ServiceSpec, hardened_service

TYPE = "pap:platform:Web"
UID = 10050
PORT = 3000
ALIAS = "web"  # the proxy's upstream for every path outside the API: the service's name on the app network
# The frontend's own default policy (app/web/src/lib/csp.ts) plus upgrade-insecure-requests, since the
# stack serves it behind TLS only. The frontend puts a fresh nonce in place of every {nonce} per response;
# nginx passes this header through (infra/nginx.py) and the policy pack checks this template.
CSP = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'strict-dynamic'; "
    "style-src 'self' 'nonce-{nonce}'; img-src 'self' blob:; font-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
    "manifest-src 'self'; worker-src 'self'; upgrade-insecure-requests"
)


def web_env(config: WebConfig) -> dict[str, str]:
    """The frontend's run-time settings (app/web's contract); it reads no secret."""
    return {
        "PORT": str(PORT),
        "HOSTNAME": "0.0.0.0",  # noqa: S104 - the task's own interfaces: the proxy reaches it over the app network
        "NODE_ENV": "production",
        "NEXT_TELEMETRY_DISABLED": "1",
        "NODE_OPTIONS": f"--max-old-space-size={config.heap_mb}",
        "PAP_WEB_CSP": CSP,
    }


class Web(pulumi.ComponentResource):
    """The pages, served by `node server.js` on the app network; nginx is its only client."""

    service: docker.Service
    host = ALIAS
    port = PORT

    def __init__(
        self,
        name: str,
        *,
        naming: Naming,
        config: WebConfig,
        image: pulumi.Input[str],
        networks: Networks,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        self.service = hardened_service(
            naming,
            ServiceSpec(
                thing="web",
                role="web",
                image=image,
                uid=UID,
                resources=config,
                networks=[NetworkAttachment(networks.app.name, (ALIAS,))],
                env=web_env(config),
                replicas=config.replicas,
                # A new task is healthy before an old one stops: pages never go away during a release.
                order="start-first",
                health=Health(start_period="20s"),
                stop_grace_period="10s",
            ),
            parent=self,
        )
        self.register_outputs({"service": self.service.name})
