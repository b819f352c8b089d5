"""Networks (overlay): the edge, proxy<->backends, backends<->data tier, database<->off-host backups."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from infra.config import NetworkConfig
from infra.naming import Naming

TYPE = "pap:platform:Networks"


def first_subnet(ipam_configs: object) -> str:
    """The network's first subnet (the backends trust X-Forwarded-For from the proxy's app network only)."""
    for ipam in ipam_configs or []:  # type: ignore[attr-defined]
        subnet = ipam.get("subnet") if isinstance(ipam, dict) else getattr(ipam, "subnet", None)
        if subnet:
            return str(subnet)
    return "127.0.0.1"


class Networks(pulumi.ComponentResource):
    """Four overlays spanning the swarm's nodes; only the edge one leaves the swarm, and the proxy never
    joins the data one. Not attachable: only services of the stack join them, never a stray container."""

    edge: docker.Network
    app: docker.Network
    data: docker.Network
    offsite: docker.Network
    egress: docker.Network | None

    def __init__(
        self,
        name: str,
        naming: Naming,
        config: NetworkConfig,
        offsite_egress: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)

        def network(part: str, internal: bool) -> docker.Network:
            # `encrypted`: IPsec (ESP) between nodes for everything on the overlay.
            options = {"encrypted": ""} if internal and config.encrypted else None
            return docker.Network(
                f"{name}-{part}",
                name=naming.name(part),
                driver="overlay",
                internal=internal,
                attachable=False,
                options=options,
                labels=naming.network_labels(),
                opts=pulumi.ResourceOptions(parent=self),
            )

        # Published ports need a network with a gateway; the proxy is its only member.
        self.edge = network("edge", internal=False)
        self.app = network("app", internal=True)
        self.data = network("data", internal=True)
        # The database and the off-host repository only: a lost data network or node leaves this path.
        self.offsite = network("offsite", internal=True)
        # An off-host repository in S3 must reach its endpoint: a network of its own, nothing else on it.
        self.egress = network("egress", internal=False) if offsite_egress else None
        self.register_outputs(
            {
                "edge": self.edge.name,
                "app": self.app.name,
                "data": self.data.name,
                "offsite": self.offsite.name,
            }
        )

    @property
    def app_subnet(self) -> pulumi.Output[str]:
        return self.app.ipam_configs.apply(first_subnet)
