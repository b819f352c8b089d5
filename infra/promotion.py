"""Promotion: the service image a promoted stack (prod) runs, by the immutable ID another stack exported."""

from __future__ import annotations

import pulumi

from infra.config import PromotionConfig
from infra.outputs import SERVICE_IMAGE

TYPE = "pap:platform:Promotion"


class Promotion(pulumi.ComponentResource):
    """Reads `serviceImage` from the dev stack; `pinnedImage` overrides it (rollback to an earlier build)."""

    service_image: pulumi.Output[str]

    def __init__(
        self, name: str, config: PromotionConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        promoted: pulumi.Output[str] | None = None
        if config.dev_stack is not None:
            reference = pulumi.StackReference(
                f"{name}-source", stack_name=config.dev_stack, opts=pulumi.ResourceOptions(parent=self)
            )
            promoted = reference.require_output(SERVICE_IMAGE).apply(str)
        if config.pinned_image is not None:
            self.service_image = pulumi.Output.from_input(config.pinned_image)
        elif promoted is not None:
            self.service_image = promoted
        else:
            raise ValueError("promotion needs promotion.devStack or promotion.pinnedImage")
        self.register_outputs({"serviceImage": self.service_image})
