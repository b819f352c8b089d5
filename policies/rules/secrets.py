"""Secret handling: no secret literal in service env or build args, Swarm secrets mounted owner-only and
actually mounted where the env points (a secret file, or a directory of them), no key material in
(unencrypted, world-readable) configs."""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs, Severity, StackValidationArgs

from ._policy import Report, resource_policy, stack_policy
from ._props import (
    IMAGE,
    REMOTE_IMAGE,
    SECRET,
    SERVICE,
    SERVICE_CONFIG,
    Resource,
    dicts,
    has_unknown_items,
    is_unknown,
    number,
    services,
    text,
    uid_of,
)

SECRET_NAME = re.compile(r"password|passwd|secret|token|key|credential", re.IGNORECASE)
SECRETS_DIR = "/run/secrets/"  # where Swarm mounts a service's secrets (a tmpfs)
PRIVATE_KEY_MARKER = "PRIVATE KEY-----"
URL_WITH_PASSWORD = re.compile(r"://[^/\s@]*:[^/\s@]+@")
# Swarm's defaults for a secret file: mode 0444, owner 0:0.
DEFAULT_SECRET_MODE = 0o444
DEFAULT_SECRET_UID = "0"  # noqa: S105 - a user ID
GROUP_AND_OTHER_BITS = 0o077


def _named_values(resource: Resource) -> Iterator[tuple[str, str, str]]:
    """(where, name, value) of every known environment variable or build arg of the resource."""
    if resource.type == SERVICE:
        env = resource.spec("env")
        for name, value in env.items() if isinstance(env, dict) else ():
            if isinstance(value, str):
                yield "taskSpec.containerSpec.env", name, value
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
                f"{resource.describe()} sets {name} in plain {where} with a literal value, visible to anyone "
                "who can inspect the service or image. Fix: declare a docker.Secret, mount it in "
                f"taskSpec.containerSpec.secrets under {SECRETS_DIR} and pass {name}_FILE."
            )
        elif URL_WITH_PASSWORD.search(value):
            report(
                f"{resource.describe()} sets {name} in plain {where} to a URL with an embedded password. "
                "Fix: drop the password from the URL and pass it through a *_FILE setting (a docker.Secret)."
            )


def secret_mount_path(mount: dict[str, object]) -> str | None:
    """Where a containerSpec.secrets entry appears in the task (a relative fileName is under /run/secrets)."""
    name = text(mount.get("fileName"))
    if not name:
        return None
    return posixpath.normpath(name if posixpath.isabs(name) else SECRETS_DIR + name)


def _mode(value: object) -> int | None:
    if value is None:
        return DEFAULT_SECRET_MODE
    mode = number(value)
    return int(mode) if mode is not None else None


def secret_files_owner_only(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type != SERVICE:
        return
    service = Resource.of(args)
    user = service.spec("user")
    # Only a numeric UID can own a secret file; `service-non-root` reports any other user.
    uid = uid_of(user) if isinstance(user, str) and uid_of(user).isdigit() else None
    for index, mount in enumerate(dicts(service.spec("secrets"))):
        where = f"taskSpec.containerSpec.secrets[{index}] ({secret_mount_path(mount) or '?'})"
        problems = []
        mode_value = mount.get("fileMode")
        mode = None if is_unknown(mode_value) else _mode(mode_value)
        if not is_unknown(mode_value) and (mode is None or mode & GROUP_AND_OTHER_BITS):
            shown = f"0o{mode:o}" if mode is not None else repr(mode_value)
            default = " (the default)" if mode_value is None else ""
            problems.append(f"fileMode {shown}{default} lets other UIDs read it (group or other bits)")
        file_uid = mount.get("fileUid")
        owner = DEFAULT_SECRET_UID if file_uid is None else file_uid
        if uid is not None and not is_unknown(owner) and str(owner) != uid:
            default = " (the default)" if file_uid is None else ""
            problems.append(
                f"fileUid {owner}{default} is not the task's UID {uid}, so the process cannot read it"
            )
        if problems:
            owner_fix = (
                f'"{uid}"' if uid not in (None, "0") else "the service's non-root UID (service-non-root)"
            )
            report(
                f"service '{service.name}' {where}: {'; '.join(problems)}. Fix: fileMode 256 (0o400), "
                f'fileUid {owner_fix}, fileGid "0".'
            )


def _declared_secrets(args: StackValidationArgs) -> set[str] | None:
    """The names of the stack's docker.Secret resources; None when a preview cannot know one of them."""
    names: set[str] = set()
    for secret in (Resource.of(resource) for resource in args.resources):
        if secret.type != SECRET:
            continue
        name = secret.get("name")
        if not isinstance(name, str):
            return None
        names.add(name)
    return names


def _under(directory: str, path: str) -> bool:
    return path.startswith(directory.rstrip("/") + "/")


def _foreign_secret(mount: dict[str, object], declared: set[str] | None) -> str | None:
    """The secretName of a mount that is no docker.Secret of this stack, or None."""
    secret_name = mount.get("secretName")
    if isinstance(secret_name, str) and declared is not None and secret_name not in declared:
        return secret_name
    return None


def service_secret_files_mounted(args: StackValidationArgs, report: Report) -> None:
    declared = _declared_secrets(args)
    for service in services(args.resources):
        mounts = service.spec("secrets")
        if has_unknown_items(mounts) or any(is_unknown(mount.get("fileName")) for mount in dicts(mounts)):
            continue
        by_path = {path: mount for mount in dicts(mounts) if (path := secret_mount_path(mount))}
        for _, name, value in _named_values(service):
            if not value.startswith(SECRETS_DIR):
                continue
            target = posixpath.normpath(value)
            mount = by_path.get(target)
            # A directory of secret files (pgBackRest's PGBACKREST_CONFIG_INCLUDE_PATH: every *.conf in it).
            inside = [by_path[path] for path in sorted(by_path) if _under(target, path)]
            if mount is not None:
                foreign = [secret] if (secret := _foreign_secret(mount, declared)) else []
            elif inside:
                foreign = [secret for item in inside if (secret := _foreign_secret(item, declared))]
            else:
                report(
                    f"service '{service.name}' points {name} at {value}, but mounts no secret there nor "
                    "under it (taskSpec.containerSpec.secrets), so the task fails reading it. Fix: declare "
                    f'the docker.Secret and mount it with secretName = its name and fileName "{value}" (for '
                    f'a directory of secret files, fileName "{target}/<file>").',
                    service.urn,
                )
                continue
            where = "there" if mount is not None else "under it"
            for secret in foreign:
                report(
                    f"service '{service.name}' points {name} at {value}, but mounts secret '{secret}' "
                    f"{where}, which is no docker.Secret of this stack. Fix: declare the docker.Secret in "
                    "this stack and mount it by its name (secretName).",
                    service.urn,
                )


def _decoded(value: object) -> str | None:
    encoded = text(value)
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return encoded  # not base64: Docker would refuse it, but it may still hold a key


def configs_hold_no_key_material(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type != SERVICE_CONFIG:
        return
    config = Resource.of(args)
    content = _decoded(config.get("data"))
    if content is not None and PRIVATE_KEY_MARKER in content:
        report(
            f"service config '{config.name}' holds a private key: Swarm configs are not encrypted at rest, "
            "`docker config inspect` shows them and tasks get them 0444 by default. Fix: put the key into a "
            "docker.Secret and mount it with fileMode 256 (0o400)."
        )


POLICIES = [
    resource_policy(
        "no-plaintext-secrets",
        no_plaintext_secrets,
        prohibits="Secret-looking values (password, secret, token, key, credential, passwords in URLs) are "
        "prohibited in plain service env and image build args: docker service inspect and image history "
        "show them. Pass a *_FILE path to a docker.Secret mounted under /run/secrets instead.",
        reference="OWASP Docker Security Cheat Sheet rule 12; CIS Docker 4.10",
        severity=Severity.CRITICAL,
    ),
    resource_policy(
        "secret-files-owner-only",
        secret_files_owner_only,
        prohibits="Mounted secrets must be readable by the task's own UID only: fileMode without group or "
        "other bits (0o400) and fileUid equal to the service user's UID (Swarm's default is 0444 owned by "
        "root).",
        reference="CIS Docker 4.10; OWASP Secrets Management Cheat Sheet",
    ),
    stack_policy(
        "service-secret-files-mounted",
        service_secret_files_mounted,
        prohibits="An env value pointing under /run/secrets must be the fileName of a secret the service "
        "mounts from a docker.Secret of this stack, or a directory holding such secret files (an include "
        "path): a secret from anywhere else is managed by nobody (no rotation, no content digest), and an "
        "unmounted one fails the task at start.",
        reference="OWASP Secrets Management Cheat Sheet",
        severity=Severity.MEDIUM,
    ),
    resource_policy(
        "configs-hold-no-key-material",
        configs_hold_no_key_material,
        prohibits="Private keys in docker.ServiceConfig data are prohibited: configs are not encrypted at "
        "rest, are readable through the API and mounted world-readable; keys belong in a docker.Secret.",
        reference="CIS Docker 4.10; OWASP Secrets Management Cheat Sheet",
        severity=Severity.CRITICAL,
    ),
]
