"""Image and TLS rules called directly (no analyzer): edge cases the recorded program does not exercise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies.rules import (
    images,
    tls,
)
from policies.rules._props import (
    PRIVATE_KEY,
    REMOTE_IMAGE,
    SELF_SIGNED_CERT,
)
from tests.policies.support import (
    plan_item,
    run_resource_rule,
    run_stack_rule,
    service_item,
)

# --- tls ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "profile", "fires"),
    [
        ({"algorithm": "ECDSA", "ecdsaCurve": "P256"}, "modern", False),
        ({"algorithm": "ECDSA", "ecdsaCurve": "P384"}, "intermediate", False),
        ({"algorithm": "ECDSA"}, "intermediate", True),  # the provider's default curve is P224
        ({"algorithm": "RSA"}, "intermediate", False),  # default 2048 bits
        ({"algorithm": "RSA", "rsaBits": 1024}, "intermediate", True),
        ({"algorithm": "RSA", "rsaBits": 4096}, "modern", True),
        ({"algorithm": "ED25519"}, "intermediate", True),
    ],
)
def test_key_strength(props: dict[str, Any], profile: str, fires: bool) -> None:
    messages = run_resource_rule(tls.tls_key_strength, PRIVATE_KEY, props, {"profile": profile})
    assert bool(messages) is fires


def test_certificate_lifetime_ca_and_float_config() -> None:
    rule = tls.tls_certificate_lifetime
    ca = {"isCaCertificate": True, "validityPeriodHours": 24 * 1000, "earlyRenewalHours": 720}
    assert (
        run_resource_rule(rule, SELF_SIGNED_CERT, ca, {"maxValidityDays": 90.0, "caMaxValidityDays": 1825.0})
        == []
    )
    leaf = {"validityPeriodHours": 24 * 91, "earlyRenewalHours": 720}
    assert run_resource_rule(rule, SELF_SIGNED_CERT, leaf, {"maxValidityDays": 90.0})
    assert run_resource_rule(
        rule, SELF_SIGNED_CERT, {"validityPeriodHours": 24 * 90}, {"maxValidityDays": 90.0}
    )


# --- images ------------------------------------------------------------------------------------------------


def test_dockerfile_parsing(tmp_path: Path) -> None:
    source = (
        "ARG BASE=debian:bookworm-slim\nARG UID=10001\n"
        "FROM --platform=linux/amd64 ${BASE} AS build\nRUN apt-get update \\\n && true\n"
        "FROM ${RUNTIME:-debian:12}\nCOPY --from=build /a /a\n# USER root\nUSER ${UID}:0\n"
    )
    parsed = images.parse_dockerfile(tmp_path / "Dockerfile", source, {"BASE": "debian:bookworm"})
    assert parsed.bases == ["debian:bookworm", "debian:12"]
    assert parsed.final_user == "10001:0"
    assert parsed.add_lines == []


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("debian:bookworm-slim", True),
        ("localhost:5000/debian", False),
        ("localhost:5000/debian:12", True),
        ("debian:latest", False),
        ("debian@sha256:" + "c" * 64, True),
        ("scratch", True),
        ("${UNSET}", False),
    ],
)
def test_base_image_pinning(image: str, pinned: bool) -> None:
    assert images._is_pinned(image) is pinned


def test_dockerfile_of_a_remote_image_is_found_in_its_context(tmp_path: Path) -> None:
    (tmp_path / "Containerfile").write_text("FROM debian:12\nADD x /x\nUSER 1:0\n")
    props = {"build": {"context": str(tmp_path), "dockerfile": "Containerfile"}}
    assert run_resource_rule(images.dockerfile_copy_not_add, REMOTE_IMAGE, props)
    assert run_resource_rule(images.dockerfile_non_root_user, REMOTE_IMAGE, props) == []
    unknown = {"build": {"context": UNKNOWN_STRING_VALUE}}
    assert run_resource_rule(images.dockerfile_readable, REMOTE_IMAGE, unknown) == []


def test_service_image_found_by_build_context() -> None:
    image = plan_item(REMOTE_IMAGE, "svc", {"build": {"context": "/work/app/"}})
    assert run_stack_rule(images.service_image_promoted, [image], {"buildsAllowed": False})
    assert run_stack_rule(images.service_image_promoted, [image], {"buildsAllowed": True}) == []
    assert run_stack_rule(images.service_image_promoted, [image], None) == []


def test_service_image_found_by_a_service_dependency() -> None:
    image = plan_item(REMOTE_IMAGE, "built", {"build": {"context": "/elsewhere/service"}})
    backend = service_item("backend", "backend")
    backend["dependencies"] = [image["urn"]]
    reported = run_stack_rule(images.service_image_promoted, [image, backend], {"buildsAllowed": False})
    assert [urn for _, urn in reported] == [image["urn"]]
