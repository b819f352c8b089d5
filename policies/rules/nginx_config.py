"""The proxy's nginx configuration as rules see it: docker.ServiceConfig data a service mounts, parsed.

A service mounts configs through `taskSpec.containerSpec.configs[]` ({configName, fileName}); the content is
the base64 `data` of the docker.ServiceConfig of that name. Includes are followed only into other configs
mounted into the same service (the rest, like mime.types, come from the image and carry no policy). Blocks
keep a parent link because header rules must compute what each block inherits.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import functools
import posixpath
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import crossplane
from pulumi_policy import PolicyResource

from ._props import SERVICE_CONFIG, Resource, dicts, is_unknown, text

CONFIG_SUFFIX = "nginx.conf"
LOOPBACK_HOSTS = ("127.0.0.1", "[::1]", "localhost")


class NginxParseError(ValueError):
    """crossplane refused the configuration (syntax, unknown directive, directive in the wrong context)."""


@dataclass
class Directive:
    name: str
    args: list[str]
    line: int
    block: list[Directive] | None = None
    parent: Directive | None = field(default=None, repr=False)

    def children(self, name: str) -> list[Directive]:
        return [child for child in self.block or [] if child.name == name]

    def walk(self) -> Iterator[Directive]:
        for child in self.block or []:
            yield child
            yield from child.walk()

    def describe(self) -> str:
        if self.name == "main":
            return "the main context"
        return f"{self.name} {' '.join(self.args)}".strip() + f" (line {self.line})"


@dataclass
class NginxConfig:
    path: str  # where the service's tasks read it
    root: Directive
    source: Resource | None = None  # the docker.ServiceConfig that holds it

    def servers(self) -> list[Directive]:
        return [
            directive for directive in self.root.walk() if directive.name == "server" and _in_http(directive)
        ]


@dataclass(frozen=True)
class MountedFile:
    """A config file in a service's tasks: its content (None when unknown in a preview) and its resource."""

    content: str | None
    source: Resource | None
    error: str | None = None  # why a known `data` cannot be read


def _in_http(directive: Directive) -> bool:
    parent = directive.parent
    return parent is not None and parent.name == "http"


def service_configs(resources: Iterable[PolicyResource]) -> dict[str, Resource]:
    """The stack's docker.ServiceConfig resources by the name a service mounts them by (physical name)."""
    found: dict[str, Resource] = {}
    for config in (Resource.of(resource) for resource in resources):
        name = config.get("name")
        if config.type == SERVICE_CONFIG and isinstance(name, str):
            found[name] = config
    return found


def decoded_data(config: Resource) -> str | None:
    """A ServiceConfig's content (`data` is base64); None when unknown in a preview; ValueError if invalid."""
    data = config.get("data")
    if not isinstance(data, str):
        return None
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise ValueError(f"the data of service config '{config.name}' is not base64 of UTF-8 text") from error


def mounted_files(service: Resource, configs: Mapping[str, Resource]) -> dict[str, MountedFile]:
    """Target path -> mounted file of the configs a service mounts (taskSpec.containerSpec.configs)."""
    files: dict[str, MountedFile] = {}
    for mount in dicts(service.spec("configs")):
        path = text(mount.get("fileName"))
        if not path:
            continue
        config = configs.get(text(mount.get("configName")) or "")
        try:
            files[posixpath.normpath(path)] = MountedFile(decoded_data(config) if config else None, config)
        except ValueError as error:
            files[posixpath.normpath(path)] = MountedFile(None, config, str(error))
    return files


def mounts_unknown(service: Resource) -> bool:
    """Whether a preview cannot tell which configs the service mounts, or under which path."""
    mounts = service.spec("configs")
    return is_unknown(mounts) or (
        isinstance(mounts, list)
        and any(
            not isinstance(mount, dict)
            or is_unknown(mount.get("fileName"))
            or is_unknown(mount.get("configName"))
            for mount in mounts
        )
    )


@functools.lru_cache(maxsize=64)
def _parse_text(path: str, content: str, check_context: bool = True) -> list[dict[str, Any]]:
    """crossplane parses files only: write the content to a throwaway file with the same name.

    An included file is parsed on its own, outside the context it is included in: its contexts go unchecked.
    Cached: every nginx rule reads the same config in every analysis (callers never mutate the result).
    """
    with tempfile.TemporaryDirectory(prefix="pap-nginx-") as directory:
        local = Path(directory) / posixpath.basename(path)
        local.write_text(content, encoding="utf-8")
        try:
            payload = crossplane.parse(
                str(local), single=True, catch_errors=False, check_ctx=check_context, check_args=True
            )
        except crossplane.errors.NgxParserBaseException as error:
            raise NginxParseError(str(error).replace(str(local), path)) from None
    if payload["status"] != "ok":
        errors = "; ".join(str(error.get("error", "")) for error in payload.get("errors", []))
        raise NginxParseError(errors.replace(str(local), path))
    parsed: list[dict[str, Any]] = payload["config"][0]["parsed"]
    return parsed


def _build(
    nodes: list[dict[str, Any]], parent: Directive, files: Mapping[str, MountedFile], seen: set[str]
) -> None:
    assert parent.block is not None
    for node in nodes:
        if node["directive"] == "include":
            pattern = posixpath.normpath(node["args"][0]) if node["args"] else ""
            for path in sorted(p for p in files if fnmatch.fnmatch(p, pattern) and p not in seen):
                content = files[path].content
                if content is not None:
                    _build(_parse_text(path, content, check_context=False), parent, files, seen | {path})
            continue
        directive = Directive(
            node["directive"], list(node.get("args", [])), node.get("line", 0), parent=parent
        )
        if "block" in node:
            directive.block = []
            _build(node["block"], directive, files, seen)
        parent.block.append(directive)


def main_config_path(files: Mapping[str, MountedFile]) -> str | None:
    return next((path for path in sorted(files) if path.endswith(CONFIG_SUFFIX)), None)


def load_nginx_config(service: Resource, configs: Mapping[str, Resource]) -> NginxConfig | str | None:
    """The parsed config, why it cannot be parsed, or None when the service mounts no (known) nginx.conf."""
    files = mounted_files(service, configs)
    main = main_config_path(files)
    if main is None:
        return None
    if files[main].error:
        return f"{main}: {files[main].error}"
    if files[main].content is None:
        return None
    root = Directive("main", [], 0, block=[])
    try:
        _build(_parse_text(main, files[main].content or ""), root, files, {main})
    except NginxParseError as error:
        return f"{main} does not parse: {error}"
    return NginxConfig(main, root, files[main].source)


def effective(block: Directive, name: str) -> list[Directive]:
    """The `name` directives in force in `block`: its own, else the nearest ancestor's (nginx array "
    "inheritance)."""
    current: Directive | None = block
    while current is not None:
        own = current.children(name)
        if own:
            return own
        current = current.parent
    return []


def listens_tls(server: Directive) -> bool:
    return any("ssl" in listen.args[1:] for listen in server.children("listen")) or any(
        ssl.args[:1] == ["on"] for ssl in server.children("ssl")
    )


def listens_loopback_only(server: Directive) -> bool:
    listens = server.children("listen")
    return bool(listens) and all(
        any(listen.args[0].startswith(host + ":") or listen.args[0] == host for host in LOOPBACK_HOSTS)
        for listen in listens
        if listen.args
    )


def response_blocks(server: Directive) -> Iterator[Directive]:
    """The server and every location (and `if`) in it: each is a place where add_header inheritance "
    "restarts."""
    yield server
    for directive in server.walk():
        if directive.name in ("location", "if"):
            yield directive


def variable_value(block: Directive, variable: str) -> str | None:
    """The value `set $name value;` gives a variable in `block`: its own `set`, else the nearest ancestor's
    (a server-level `set` runs before every location's)."""
    current: Directive | None = block
    while current is not None:
        for directive in reversed(current.children("set")):
            if len(directive.args) >= 2 and directive.args[0] == variable:
                return directive.args[1]
        current = current.parent
    return None


def proxied_host(block: Directive) -> str | None:
    """The host a block's own `proxy_pass` forwards to (variables resolved, scheme and port dropped), or None
    when it proxies nothing or the host cannot be told from the config."""
    passes = block.children("proxy_pass")
    if not passes or not passes[-1].args:
        return None
    target = passes[-1].args[0].split("://", 1)[-1]
    authority = target.split("/", 1)[0]
    if authority.startswith("$"):
        resolved = variable_value(block, authority)
        if resolved is None:
            return None
        authority = resolved.split("://", 1)[-1].split("/", 1)[0]
    host = authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority
    if not host or "$" in host:
        return None  # still a variable (or empty): not knowable from the config
    return host
