"""Networks: the proxy's edge, proxy<->backends (internal) and backends<->data tier (internal)."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from infra.naming import Naming

TYPE = "pap:platform:Networks"


class Networks(pulumi.ComponentResource):
    """Three bridges; only the edge one reaches the host, and the proxy never joins the data one."""

    edge: docker.Network
    app: docker.Network
    data: docker.Network

    def __init__(self, name: str, naming: Naming, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)

        def network(part: str, internal: bool) -> docker.Network:
            return docker.Network(
                f"{name}-{part}",
                name=naming.name(part),
                driver="bridge",
                internal=internal,
                attachable=False,
                labels=naming.network_labels(),
                opts=pulumi.ResourceOptions(parent=self),
            )

        # Published ports need a non-internal bridge; the proxy is its only member.
        self.edge = network("edge", internal=False)
        self.app = network("app", internal=True)
        self.data = network("data", internal=True)
        self.register_outputs({"edge": self.edge.name, "app": self.app.name, "data": self.data.name})
