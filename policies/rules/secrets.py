"""Secret handling: no secret literals in environment variables or build args, key files readable by owner "
"and group only."""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs, Severity

from ._policy import Report, resource_policy
from ._props import CONTAINER, IMAGE, REMOTE_IMAGE, Resource, dicts, is_unknown, text

SECRET_NAME = re.compile(r"password|passwd|secret|token|key|credential", re.IGNORECASE)
SECRETS_DIR = "/run/pap/secrets/"
KEY_FILE_SUFFIXES = (".key",)
PRIVATE_KEY_MARKER = "PRIVATE KEY-----"
URL_WITH_PASSWORD = re.compile(r"://[^/\s@]*:[^/\s@]+@")
# Uploads without `permissions` are written 0644 by the provider.
DEFAULT_UPLOAD_MODE = 0o644
OTHERS_BITS = 0o007


def _named_values(resource: Resource) -> Iterator[tuple[str, str, str]]:
    """(where, name, value) of every known environment variable or build arg of the resource."""
    if resource.type == CONTAINER:
        envs = resource.get("envs")
        for entry in envs if isinstance(envs, list) else []:
            if isinstance(entry, str) and "=" in entry:
                name, value = entry.split("=", 1)
                yield "envs", name, value
    elif resource.type in (IMAGE, REMOTE_IMAGE):
        build = resource.get("build")
        key = "args" if resource.type == IMAGE else "buildArgs"
        args = build.get(key) if isinstance(build, dict) else None
        for name, value in args.items() if isinstance(args, dict) else ():
            if isinstance(value, str):
                yield f"build.{key}", name, value


def _is_file_reference(name: str, value: str) -> bool:
    return name.upper().endswith("_FILE") or value.startswith(SECRETS_DIR)


def no_plaintext_secrets(args: ResourceValidationArgs, report: Report) -> None:
    resource = Resource.of(args)
    for where, name, value in _named_values(resource):
        if not value or _is_file_reference(name, value):
            continue
        # The value itself is never echoed: messages end up in CI logs.
        if SECRET_NAME.search(name):
            report(
                f"'{resource.name}' sets {name} in plain {where} with a literal value, visible to anyone "
                "who can "
                f"inspect the container or image. Fix: upload it under {SECRETS_DIR} and pass {name}_FILE."
            )
        elif URL_WITH_PASSWORD.search(value):
            report(
                f"'{resource.name}' sets {name} in plain {where} to a URL with an embedded password. "
                f"Fix: drop the password from the URL and pass it through a *_FILE setting."
            )


def _upload_content(upload: dict[str, object]) -> str | None:
    content = text(upload.get("content"))
    if content is not None:
        return content
    encoded = text(upload.get("contentBase64"))
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return None


def holds_key_material(upload: dict[str, object]) -> bool:
    path = text(upload.get("file")) or ""
    content = _upload_content(upload)
    return (
        posixpath.normpath(path).startswith(SECRETS_DIR.rstrip("/") + "/")
        or path.endswith(KEY_FILE_SUFFIXES)
        or (content is not None and PRIVATE_KEY_MARKER in content)
    )


def _mode(upload: dict[str, object]) -> int | None:
    permissions = upload.get("permissions")
    if permissions is None:
        return DEFAULT_UPLOAD_MODE
    try:
        return int(str(permissions), 8)
    except ValueError:
        return None


def key_material_owner_only(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type != CONTAINER:
        return
    container = Resource.of(args)
    for upload in dicts(container.get("uploads")):
        if (
            is_unknown(upload.get("permissions"))
            or is_unknown(upload.get("file"))
            or not holds_key_material(upload)
        ):
            continue
        mode = _mode(upload)
        if mode is None or mode & OTHERS_BITS:
            shown = f"{mode:04o}" if mode is not None else repr(upload.get("permissions"))
            report(
                f"container '{container.name}' writes key material to {upload.get('file')} with mode "
                f"{shown}, "
                'readable by other users. Fix: permissions "0440" (owner root and the container\'s group 0).'
            )


POLICIES = [
    resource_policy(
        "no-plaintext-secrets",
        no_plaintext_secrets,
        prohibits="Secret-looking values (password, secret, token, key, credential, passwords in URLs) are "
        "prohibited in plain container envs and image build args: docker inspect and image history show "
        "them. "
        "Pass a *_FILE path to a file uploaded under /run/pap/secrets instead.",
        reference="OWASP Docker Security Cheat Sheet rule 12; CIS Docker 4.10",
        severity=Severity.CRITICAL,
    ),
    resource_policy(
        "key-material-owner-only",
        key_material_owner_only,
        prohibits="Uploaded files holding key material (PEM private keys, /run/pap/secrets/*, *.key) must "
        "give "
        "no permission to others (mode & 0o007 == 0). The Docker provider writes uploads as root:root and "
        "the containers run as <UID>:0, so 0440 lets the owner and the container's group 0 read them, "
        "nobody else.",
        reference="CIS Docker 4.10; OWASP Secrets Management Cheat Sheet",
        severity=Severity.HIGH,
    ),
]
