"""Promotion: prod runs the image dev built (StackReference) and builds none; pinnedImage rolls back."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.plan import PlanRun
from tests.infra.helpers import (
    DEV_IMAGE,
    REMOTE_IMAGE,
    STACK_REFERENCE,
    by_role,
    container_spec,
    inputs,
    of_type,
    run_stack,
    write_dev_outputs,
)


def _service_contexts(plan: PlanRun) -> list[str]:
    return [inputs(image)["build"]["context"] for image in of_type(plan, REMOTE_IMAGE)]


def test_dev_builds_the_service_image_and_exports_its_id(dev: PlanRun) -> None:
    assert "app" in {Path(context).name for context in _service_contexts(dev)}
    assert not of_type(dev, STACK_REFERENCE)
    assert dev.outputs["serviceImage"].startswith("sha256:")
    for role in ("backend", "migrate"):
        assert all(container_spec(s)["image"] == dev.outputs["serviceImage"] for s in by_role(dev, role))


def test_every_image_builds_on_the_configured_base(dev: PlanRun) -> None:
    images = of_type(dev, REMOTE_IMAGE)
    assert len(images) == 5
    for image in images:
        build = inputs(image)["build"]
        assert build["buildArgs"] == {"BASE_IMAGE": "debian:bookworm-slim"}
        assert (Path.cwd() / build["context"] / build["dockerfile"]).parent.is_dir()
        assert inputs(image)["keepLocally"] is True


def test_prod_deploys_dev_image_through_a_stack_reference(prod: PlanRun) -> None:
    (reference,) = of_type(prod, STACK_REFERENCE)
    assert inputs(reference)["name"] == "organization/presentation-analytics/dev"
    assert "app" not in {Path(context).name for context in _service_contexts(prod)}
    assert len(of_type(prod, REMOTE_IMAGE)) == 4
    for role in ("backend", "migrate"):
        for service in by_role(prod, role):
            assert container_spec(service)["image"] == DEV_IMAGE
            assert reference.urn in service.dependencies
    assert prod.outputs["serviceImage"] == DEV_IMAGE


def test_pinned_image_rolls_back(stack_outputs_dir: Path) -> None:
    earlier = "sha256:" + "e" * 64
    run = run_stack("prod", stack_outputs_dir, {"promotion": {"pinnedImage": earlier}})
    promoted = [*by_role(run, "backend"), *by_role(run, "migrate")]
    assert [container_spec(service)["image"] for service in promoted] == [earlier, earlier]
    assert run.outputs["serviceImage"] == earlier


def test_a_new_dev_image_is_what_prod_gets(tmp_path: Path) -> None:
    newer = "sha256:" + "f" * 64
    write_dev_outputs(tmp_path, newer)
    run = run_stack("prod", tmp_path)
    promoted = [*by_role(run, "backend"), *by_role(run, "migrate")]
    assert {container_spec(service)["image"] for service in promoted} == {newer}


def test_missing_dev_outputs_say_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"make plan STACK=dev"):
        run_stack("prod", tmp_path)
