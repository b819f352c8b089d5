"""Image rules: the Dockerfiles the stack builds (CIS Docker 4.x) and, in prod, a promoted service image."""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from ._policy import Report, resource_policy, stack_policy
from ._props import IMAGE, REMOTE_IMAGE, SERVICE, Resource, config_value, is_unknown, text

# The pack lives in <repo>/policies/rules; the repository root is the usual base of relative build contexts.
REPO_ROOT = Path(__file__).resolve().parents[2]
_VARIABLE = re.compile(
    r"\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)
# The application images (service and web frontend), which a promoted stack runs as another stage built them.
DEFAULT_SERVICE_ROLES = ["backend", "migrate", "web"]
DEFAULT_SERVICE_CONTEXTS = ["app", "web"]


@dataclass
class Dockerfile:
    """The parts of a Dockerfile the rules read, with ARG defaults and build args substituted."""

    path: Path
    bases: list[str] = field(default_factory=list)  # FROM images, in order
    final_user: str | None = None  # last USER of the final stage
    add_lines: list[int] = field(default_factory=list)


def _logical_lines(source: str) -> list[tuple[int, str]]:
    """(first line number, instruction) with continuations joined and comments dropped."""
    result: list[tuple[int, str]] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(source.splitlines(), start=1):
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer.append(line[:-1])
            continue
        buffer.append(line)
        result.append((start, " ".join(part.strip() for part in buffer if part.strip())))
        buffer = []
    if buffer:
        result.append((start, " ".join(buffer)))
    return result


def _substitute(value: str, variables: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        if name in variables:
            return variables[name]
        default = match.group("default")
        return default if default is not None else match.group(0)

    return _VARIABLE.sub(replace, value)


def parse_dockerfile(path: Path, source: str, build_args: dict[str, str]) -> Dockerfile:
    dockerfile = Dockerfile(path)
    variables: dict[str, str] = {}
    stages: set[str] = set()
    for number, line in _logical_lines(source):
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        rest = rest.strip()
        if instruction == "ARG":
            name, has_default, default = rest.partition("=")
            name = name.strip()
            if name in build_args:
                variables[name] = build_args[name]
            elif has_default:
                variables[name] = _substitute(default.strip().strip('"'), variables)
        elif instruction == "FROM":
            words = [word for word in rest.split() if not word.startswith("--")]
            if words:
                dockerfile.bases.append(_substitute(words[0], variables))
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.add(words[2].lower())
            dockerfile.final_user = None
        elif instruction == "USER":
            dockerfile.final_user = _substitute(rest, variables)
        elif instruction == "ADD":
            dockerfile.add_lines.append(number)
    # A FROM naming an earlier stage is not a base image.
    dockerfile.bases = [base for base in dockerfile.bases if base.lower() not in stages]
    return dockerfile


def _build_of(resource: Resource) -> dict[str, object] | None:
    if resource.type not in (IMAGE, REMOTE_IMAGE):
        return None
    build = resource.get("build")
    return build if isinstance(build, dict) else None


def _program_dir() -> Path | None:
    """<project root>/<main> of Pulumi.yaml: the working directory the CLI gives the program and its "
    "providers."""
    try:
        project = (REPO_ROOT / "Pulumi.yaml").read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"^main:\s*['\"]?([^'\"\s#]+)", project, re.MULTILINE)
    return REPO_ROOT / match.group(1) if match else None


def _candidates(relative: str) -> list[Path]:
    if posixpath.isabs(relative):
        return [Path(relative)]
    # The analyzer runs in the pack's directory, the program in its own: try each directory it may mean.
    bases = [Path.cwd(), Path(os.environ.get("PWD") or "."), _program_dir(), REPO_ROOT]
    unique: list[Path] = []
    for base in bases:
        if base is not None and (base / relative).resolve() not in [path.resolve() for path in unique]:
            unique.append(base / relative)
    return unique


def dockerfile_location(resource: Resource) -> tuple[str, list[Path]] | None:
    """(how the inputs name it, candidate paths) of the Dockerfile a build uses; None when not a known "
    "build."""
    build = _build_of(resource)
    if build is None:
        return None
    context = build.get("context", ".")
    dockerfile = build.get("dockerfile")
    if is_unknown(context) or is_unknown(dockerfile) or not isinstance(context, str):
        return None
    name = text(dockerfile)
    if resource.type == REMOTE_IMAGE or name is None:
        # RemoteImage names the file inside the context; both default to <context>/Dockerfile.
        relative = posixpath.join(context, name or "Dockerfile")
        return relative, _candidates(relative)
    # Image (v4) takes a path of its own, relative to the working directory; some give it in the context.
    return name, _candidates(name) + _candidates(posixpath.join(context, name))


def load_dockerfile(resource: Resource) -> Dockerfile | str | None:
    """The parsed Dockerfile, an explanation of why it cannot be read, or None for a resource without a "
    "build."""
    location = dockerfile_location(resource)
    if location is None:
        return None
    shown, candidates = location
    build = _build_of(resource) or {}
    raw_args = build.get("args" if resource.type == IMAGE else "buildArgs")
    build_args = (
        {k: v for k, v in raw_args.items() if isinstance(v, str)} if isinstance(raw_args, dict) else {}
    )
    for candidate in candidates:
        try:
            return parse_dockerfile(candidate, candidate.read_text(encoding="utf-8"), build_args)
        except (OSError, UnicodeDecodeError):
            continue
    return f"cannot read {shown} (looked in {', '.join(str(path) for path in candidates)})"


def _is_pinned(image: str) -> bool:
    if "@sha256:" in image or image == "scratch":
        return True
    if "$" in image:
        return False
    last = image.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1] not in ("", "latest")


def dockerfile_readable(args: ResourceValidationArgs, report: Report) -> None:
    resource = Resource.of(args)
    loaded = load_dockerfile(resource)
    if isinstance(loaded, str):
        report(
            f"image '{resource.name}': {loaded}, so the Dockerfile rules could not check it. "
            "Fix: run the preview from the project root, or give build.context as an absolute path."
        )


def dockerfile_non_root_user(args: ResourceValidationArgs, report: Report) -> None:
    resource = Resource.of(args)
    dockerfile = load_dockerfile(resource)
    if not isinstance(dockerfile, Dockerfile):
        return
    user = dockerfile.final_user
    if user is not None and "$" in user:
        return  # an unresolved variable: the service rule on `user` still applies
    if user is None or user.split(":", 1)[0].strip() in ("", "0", "root"):
        found = f'ends with USER "{user}"' if user else "sets no USER in its final stage"
        report(
            f"image '{resource.name}': {dockerfile.path} {found}, so the image runs as root by default. "
            "Fix: end the final stage with USER <uid>:0 (a non-zero UID)."
        )


def dockerfile_copy_not_add(args: ResourceValidationArgs, report: Report) -> None:
    resource = Resource.of(args)
    dockerfile = load_dockerfile(resource)
    if isinstance(dockerfile, Dockerfile) and dockerfile.add_lines:
        lines = ", ".join(str(line) for line in dockerfile.add_lines)
        report(
            f"image '{resource.name}': {dockerfile.path} uses ADD (line {lines}), which fetches URLs and "
            "unpacks "
            "archives implicitly. Fix: use COPY (and an explicit, verified download step if needed)."
        )


def dockerfile_base_image_pinned(args: ResourceValidationArgs, report: Report) -> None:
    resource = Resource.of(args)
    dockerfile = load_dockerfile(resource)
    if not isinstance(dockerfile, Dockerfile):
        return
    for base in dockerfile.bases:
        if not _is_pinned(base):
            report(
                f"image '{resource.name}': {dockerfile.path} builds FROM \"{base}\", which is untagged, "
                "'latest' "
                "or unresolved. Fix: FROM name:tag (or name@sha256:digest); for FROM ${ARG}, give the ARG a "
                "tagged default."
            )


def _context_name(image: Resource) -> str | None:
    build = _build_of(image) or {}
    context = text(build.get("context"))
    return posixpath.basename(posixpath.normpath(context)) if context else None


def service_image_promoted(args: StackValidationArgs, report: Report) -> None:
    config = args.get_config()
    if config_value(config, "buildsAllowed", True) is not False:
        return
    roles = config_value(config, "serviceRoles", DEFAULT_SERVICE_ROLES)
    contexts = config_value(config, "serviceContexts", DEFAULT_SERVICE_CONTEXTS)
    resources = [Resource.of(resource) for resource in args.resources]
    built = {resource.urn: resource for resource in resources if _build_of(resource) is not None}
    offending = {urn for urn, image in built.items() if _context_name(image) in contexts}
    for service in resources:
        if service.type == SERVICE and service.role in roles:
            offending.update(urn for urn in service.dependencies if urn in built)
    for urn in sorted(offending):
        report(
            f"image '{built[urn].name}' builds an application image inside this stack, where only a "
            "promoted image may run. Fix: build and test it in an earlier stage, then reference that image "
            "by digest (RemoteImage name@sha256:... without build).",
            urn,
        )


_DOCKERFILE_REFERENCE = "CIS Docker 4.x"

POLICIES = [
    resource_policy(
        "dockerfile-readable",
        dockerfile_readable,
        prohibits="A built image's Dockerfile must be readable by the pack, or the Dockerfile rules cannot "
        "check it "
        "(advisory: the build context may be relative to another working directory).",
        reference=_DOCKERFILE_REFERENCE,
        level=EnforcementLevel.ADVISORY,
        severity=Severity.LOW,
    ),
    resource_policy(
        "dockerfile-non-root-user",
        dockerfile_non_root_user,
        prohibits="Images whose final stage does not end with a non-root USER are prohibited: they run as "
        "root "
        "wherever the runtime does not override the user.",
        reference="CIS Docker 4.1",
    ),
    resource_policy(
        "dockerfile-copy-not-add",
        dockerfile_copy_not_add,
        prohibits="ADD is prohibited in Dockerfiles: it downloads URLs and unpacks archives implicitly; "
        "use COPY.",
        reference="CIS Docker 4.9",
        severity=Severity.MEDIUM,
    ),
    resource_policy(
        "dockerfile-base-image-pinned",
        dockerfile_base_image_pinned,
        prohibits="Untagged or 'latest' base images are prohibited: builds would not be reproducible and "
        "could "
        "pull in an unreviewed image.",
        reference="CIS Docker 5.28, 4.2",
        severity=Severity.MEDIUM,
    ),
    stack_policy(
        "service-image-promoted",
        service_image_promoted,
        prohibits="Where builds are not allowed (prod), building an application image (the service's or the "
        "web frontend's) in the stack is prohibited: production runs the exact images that passed the "
        "earlier stages.",
        reference="OWASP CI/CD Security Top 10 CICD-SEC-9 (artifact integrity)",
        config={
            "buildsAllowed": {"type": "boolean", "default": True},
            "serviceRoles": {"type": "array", "items": {"type": "string"}, "default": DEFAULT_SERVICE_ROLES},
            "serviceContexts": {
                "type": "array",
                "items": {"type": "string"},
                "default": DEFAULT_SERVICE_CONTEXTS,
            },
        },
    ),
]
