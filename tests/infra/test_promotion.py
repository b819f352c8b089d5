"""Promotion: prod runs the service and web images dev built (StackReference) and builds neither; pinned
images roll back."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import ConfigError, validate_stack_config
from infra.plan import PlanRun
from tests.infra.helpers import (
    DEV_IMAGE,
    DEV_WEB_IMAGE,
    REMOTE_IMAGE,
    STACK_REFERENCE,
    by_role,
    container_spec,
    inputs,
    of_type,
    run_stack,
    the_service,
    write_dev_outputs,
)

APPLICATION_CONTEXTS = {"app", "web"}


def _contexts(plan: PlanRun) -> set[str]:
    return {Path(inputs(image)["build"]["context"]).name for image in of_type(plan, REMOTE_IMAGE)}


def _images(plan: PlanRun) -> dict[str, set[str]]:
    """Role -> the images its services run, for the roles that run the application images."""
    return {
        role: {container_spec(service)["image"] for service in by_role(plan, role)}
        for role in ("backend", "migrate", "web")
    }


def test_dev_builds_the_service_and_web_images_and_exports_their_ids(dev: PlanRun) -> None:
    assert _contexts(dev) >= APPLICATION_CONTEXTS
    assert not of_type(dev, STACK_REFERENCE)
    service, web = dev.outputs["serviceImage"], dev.outputs["webImage"]
    assert service.startswith("sha256:") and web.startswith("sha256:") and service != web
    assert _images(dev) == {"backend": {service}, "migrate": {service}, "web": {web}}


def test_every_image_builds_on_the_configured_base(dev: PlanRun) -> None:
    images = of_type(dev, REMOTE_IMAGE)
    assert len(images) == 5  # service, web, database (the backup repositories' too), cache, proxy
    for image in images:
        build = inputs(image)["build"]
        assert build["buildArgs"] == {"BASE_IMAGE": "debian:bookworm-slim"}
        assert (Path.cwd() / build["context"] / build["dockerfile"]).is_file()
        assert inputs(image)["keepLocally"] is True


def test_prod_deploys_dev_images_through_a_stack_reference(prod: PlanRun) -> None:
    (reference,) = of_type(prod, STACK_REFERENCE)
    assert inputs(reference)["name"] == "organization/presentation-analytics/dev"
    assert not APPLICATION_CONTEXTS & _contexts(prod)
    assert len(of_type(prod, REMOTE_IMAGE)) == 3  # database, cache, proxy
    assert _images(prod) == {"backend": {DEV_IMAGE}, "migrate": {DEV_IMAGE}, "web": {DEV_WEB_IMAGE}}
    for role in ("backend", "migrate", "web"):
        for service in by_role(prod, role):
            assert reference.urn in service.dependencies
    assert (prod.outputs["serviceImage"], prod.outputs["webImage"]) == (DEV_IMAGE, DEV_WEB_IMAGE)


def test_pinned_images_roll_back(stack_outputs_dir: Path) -> None:
    earlier, earlier_web = "sha256:" + "e" * 64, "sha256:" + "c" * 64
    pins = {"pinnedImage": earlier, "pinnedWebImage": earlier_web}
    run = run_stack("prod", stack_outputs_dir, {"promotion": pins})
    assert _images(run) == {"backend": {earlier}, "migrate": {earlier}, "web": {earlier_web}}
    assert (run.outputs["serviceImage"], run.outputs["webImage"]) == (earlier, earlier_web)
    # One pinned, the other still follows dev.
    only_web = run_stack("prod", stack_outputs_dir, {"promotion": {"pinnedWebImage": earlier_web}})
    assert _images(only_web)["web"] == {earlier_web} and _images(only_web)["backend"] == {DEV_IMAGE}


def test_pinned_images_without_a_dev_stack_go_together() -> None:
    without_dev = {"devStack": None, "pinnedImage": "sha256:" + "e" * 64}
    with pytest.raises(ConfigError) as refused:
        validate_stack_config("prod", {"promotion": without_dev}, frozenset())
    message = str(refused.value)
    assert "stack 'prod': presentation-analytics:promotion" in message
    assert "pinnedImage without devStack needs pinnedWebImage too" in message
    both = {**without_dev, "pinnedWebImage": "sha256:" + "c" * 64}
    assert not validate_stack_config("prod", {"promotion": both}, frozenset()).builds_app_images


def test_new_dev_images_are_what_prod_gets(tmp_path: Path) -> None:
    newer, newer_web = "sha256:" + "f" * 64, "sha256:" + "a" * 64
    write_dev_outputs(tmp_path, newer, newer_web)
    run = run_stack("prod", tmp_path)
    assert _images(run) == {"backend": {newer}, "migrate": {newer}, "web": {newer_web}}
    assert container_spec(the_service(run, "web"))["image"] == newer_web


def test_missing_dev_outputs_say_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"make plan STACK=dev"):
        run_stack("prod", tmp_path)
