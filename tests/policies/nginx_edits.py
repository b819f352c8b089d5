"""Edits of a parsed nginx.conf (crossplane's payload) that make the mutations of the nginx rules."""

from __future__ import annotations

from typing import Any

from tests.policies.support import blocks

SECURITY_HEADER_DROPPED = "X-Frame-Options"


def drop_header_in_api_location(payload: list[dict[str, Any]]) -> None:
    (location,) = blocks(payload, "location", "/api/v1/")
    location["block"] = [
        node
        for node in location["block"]
        if not (node["directive"] == "add_header" and node["args"][0] == SECURITY_HEADER_DROPPED)
    ]


def _frontend_location(payload: list[dict[str, Any]]) -> dict[str, Any]:
    (location,) = [
        block
        for block in blocks(payload, "location", "/")
        if any(
            node["directive"] == "proxy_pass" and node["args"] == ["http://$web"] for node in block["block"]
        )
    ]
    return location


def drop_header_in_frontend_location(payload: list[dict[str, Any]]) -> None:
    location = _frontend_location(payload)
    location["block"] = [
        node
        for node in location["block"]
        if not (node["directive"] == "add_header" and node["args"][0] == SECURITY_HEADER_DROPPED)
    ]


def hide_csp_in_frontend_location(payload: list[dict[str, Any]]) -> None:
    """The frontend's own CSP (its nonce) hidden, and none added in its place."""
    _frontend_location(payload)["block"].append(
        {"directive": "proxy_hide_header", "args": ["Content-Security-Policy"]}
    )


def drop_always_in_server(payload: list[dict[str, Any]]) -> None:
    server = next(
        block for block in servers(payload) if any(d["args"][1:2] == ["ssl"] for d in listens(block))
    )
    for node in server["block"]:
        if node["directive"] == "add_header" and node["args"][0] == "Strict-Transport-Security":
            node["args"] = node["args"][:2]


def servers(payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """server blocks (upstream's `server` lines have no block)."""
    return [block for block in blocks(payload, "server") if "block" in block]


def listens(server: dict[str, Any]) -> list[dict[str, Any]]:
    return [node for node in server["block"] if node["directive"] == "listen"]


def set_directive(name: str, *args: str) -> Any:
    def apply(payload: list[dict[str, Any]]) -> None:
        nodes = [
            node
            for block in blocks(payload, "http")
            for node in walk(block["block"])
            if node["directive"] == name
        ]
        assert nodes, f"the recorded nginx.conf has no {name}"
        for node in nodes:
            node["args"] = list(args)

    return apply


def walk(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for node in nodes:
        found.append(node)
        found.extend(walk(node.get("block", [])))
    return found


def csp_unsafe_inline(payload: list[dict[str, Any]]) -> None:
    for node in walk(payload):
        if node["directive"] == "add_header" and node["args"][0] == "Content-Security-Policy":
            node["args"][1] = node["args"][1].replace(
                "default-src 'self'", "default-src 'self' 'unsafe-inline'"
            )


def plain_http_served(payload: list[dict[str, Any]]) -> None:
    server = next(
        block for block in servers(payload) if any(d["directive"] == "return" for d in block["block"])
    )
    server["block"] = [node for node in server["block"] if node["directive"] != "return"]
    server["block"].append(
        {
            "directive": "location",
            "args": ["/"],
            "block": [{"directive": "proxy_pass", "args": ["http://backend"]}],
        }
    )
