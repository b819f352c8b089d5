"""The proxy's nginx configuration as rules see it: found in a container's uploads, parsed with crossplane.

Includes are followed only into other files uploaded to the same container (the rest, like mime.types, come
from the image and carry no policy). Blocks keep a parent link because header rules must compute what each
block inherits.
"""

from __future__ import annotations

import fnmatch
import functools
import posixpath
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import crossplane

from ._props import CONTAINER, Resource, dicts, is_unknown, text

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
    path: str  # where the container reads it
    root: Directive

    def servers(self) -> list[Directive]:
        return [
            directive for directive in self.root.walk() if directive.name == "server" and _in_http(directive)
        ]


def _in_http(directive: Directive) -> bool:
    parent = directive.parent
    return parent is not None and parent.name == "http"


def uploaded_files(container: Resource) -> dict[str, str | None]:
    """Target path -> content (None when unknown in a preview) of the container's text uploads."""
    files: dict[str, str | None] = {}
    for upload in dicts(container.get("uploads")):
        path = text(upload.get("file"))
        content = upload.get("content")
        if path:
            files[posixpath.normpath(path)] = None if is_unknown(content) else text(content)
    return files


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
    nodes: list[dict[str, Any]], parent: Directive, files: dict[str, str | None], seen: set[str]
) -> None:
    assert parent.block is not None
    for node in nodes:
        if node["directive"] == "include":
            pattern = posixpath.normpath(node["args"][0]) if node["args"] else ""
            for path in sorted(p for p in files if fnmatch.fnmatch(p, pattern) and p not in seen):
                content = files[path]
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


def load_nginx_config(container: Resource) -> NginxConfig | str | None:
    """The parsed config, a reason it cannot be parsed, or None when the resource ships no (known) "
    "nginx.conf."""
    if container.type != CONTAINER:
        return None
    files = uploaded_files(container)
    main = next((path for path in sorted(files) if path.endswith(CONFIG_SUFFIX)), None)
    if main is None or files[main] is None:
        return None
    root = Directive("main", [], 0, block=[])
    try:
        _build(_parse_text(main, files[main] or ""), root, files, {main})
    except NginxParseError as error:
        return f"{main} does not parse: {error}"
    return NginxConfig(main, root)


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
