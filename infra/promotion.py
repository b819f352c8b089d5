"""Promotion: the service and web images a promoted stack (prod) runs, by the IDs another stack exported."""

from __future__ import annotations

import pulumi

from infra.config import PromotionConfig
from infra.outputs import SERVICE_IMAGE, WEB_IMAGE

TYPE = "pap:platform:Promotion"


class Promotion(pulumi.ComponentResource):
    """Reads `serviceImage` and `webImage` from the dev stack; `pinnedImage` and `pinnedWebImage` override
    them (rollback to an earlier build)."""

    service_image: pulumi.Output[str]
    web_image: pulumi.Output[str]

    def __init__(
        self, name: str, config: PromotionConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        reference: pulumi.StackReference | None = None
        if config.dev_stack is not None:
            reference = pulumi.StackReference(
                f"{name}-source", stack_name=config.dev_stack, opts=pulumi.ResourceOptions(parent=self)
            )

        def image(pinned: str | None, output_name: str, key: str) -> pulumi.Output[str]:
            if pinned is not None:
                return pulumi.Output.from_input(pinned)
            if reference is None:
                raise ValueError(f"promotion needs promotion.devStack or promotion.{key}")
            return reference.require_output(output_name).apply(str)

        self.service_image = image(config.pinned_image, SERVICE_IMAGE, "pinnedImage")
        self.web_image = image(config.pinned_web_image, WEB_IMAGE, "pinnedWebImage")
        self.register_outputs({"serviceImage": self.service_image, "webImage": self.web_image})
