"""Helpers shared by the policy tests: plan edits, nginx.conf edits, and running rules directly or via the "
"analyzer."""

from __future__ import annotations

import base64
import copy
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import crossplane
from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from policies.analyzer_client import AnalyzerClient, Violation, load_stack_config
from policies.rules._props import SERVICE

Plan = dict[str, Any]
PlanEdit = Callable[[Plan], None]
InputsEdit = Callable[[dict[str, Any]], None]
NGINX_CONF_SUFFIX = "nginx.conf"


def resource(plan: Plan, name: str) -> dict[str, Any]:
    matches = [item for item in plan["resources"] if item["name"] == name]
    assert len(matches) == 1, f"the recorded plan has {len(matches)} resources named {name!r}"
    return matches[0]


def edited(plan: Plan, *edits: PlanEdit) -> Plan:
    copied = copy.deepcopy(plan)
    for edit in edits:
        edit(copied)
    return copied


def on(name: str, edit: InputsEdit) -> PlanEdit:
    """A plan edit that changes the inputs of the resource called `name`."""

    def apply(plan: Plan) -> None:
        edit(resource(plan, name)["inputs"])

    return apply


def _holder(inputs: dict[str, Any], path: str, create: bool = False) -> tuple[Any, str | int]:
    """The object holding the value at a dotted path (`taskSpec.containerSpec.user`) and its key."""
    *parents, last = path.split(".")
    holder: Any = inputs
    for key in parents:
        if isinstance(holder, list):
            holder = holder[int(key)]
        elif create:
            holder = holder.setdefault(key, {})
        else:
            assert key in holder, f"the recorded resource has no {path!r}"
            holder = holder[key]
    return holder, int(last) if isinstance(holder, list) else last


def set_input(path: str, value: Any) -> InputsEdit:
    """Set the input at a dotted path, creating missing objects on the way."""

    def apply(inputs: dict[str, Any]) -> None:
        holder, key = _holder(inputs, path, create=True)
        holder[key] = copy.deepcopy(value)

    return apply


def drop_input(path: str) -> InputsEdit:
    def apply(inputs: dict[str, Any]) -> None:
        holder, key = _holder(inputs, path)
        assert isinstance(holder, list) or key in holder, f"the recorded resource has no {path!r} to remove"
        del holder[key]

    return apply


def append_input(path: str, item: Any) -> InputsEdit:
    def apply(inputs: dict[str, Any]) -> None:
        holder, key = _holder(inputs, path, create=True)
        holder.setdefault(key, []).append(copy.deepcopy(item))

    return apply


def spec(key: str) -> str:
    """The dotted path of a Service's `taskSpec.containerSpec` input."""
    return f"taskSpec.containerSpec.{key}"


def remove_resource(name: str) -> PlanEdit:
    def apply(plan: Plan) -> None:
        plan["resources"] = [item for item in plan["resources"] if item["name"] != name]

    return apply


def add_resource(item: dict[str, Any]) -> PlanEdit:
    return lambda plan: plan["resources"].append(copy.deepcopy(item))


def nginx_payload(content: str) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="pap-test-nginx-") as directory:
        path = Path(directory) / NGINX_CONF_SUFFIX
        path.write_text(content)
        parsed: list[dict[str, Any]] = crossplane.parse(str(path), single=True, catch_errors=False)["config"][
            0
        ]["parsed"]
    return parsed


def edit_nginx(edit: Callable[[list[dict[str, Any]]], None]) -> InputsEdit:
    """Rewrite a ServiceConfig's nginx.conf (base64 `data`) with crossplane (parse, edit the tree, build)."""

    def apply(inputs: dict[str, Any]) -> None:
        payload = nginx_payload(decode(inputs["data"]))
        edit(payload)
        inputs["data"] = encode(crossplane.build(payload) + "\n")

    return apply


def encode(content: str) -> str:
    return base64.b64encode(content.encode()).decode()


def decode(data: str) -> str:
    return base64.b64decode(data).decode()


def blocks(payload: list[dict[str, Any]], directive: str, *args: str) -> list[dict[str, Any]]:
    """Every block `directive args...` in the tree, at any depth."""
    found: list[dict[str, Any]] = []
    for node in payload:
        if node["directive"] == directive and (not args or node["args"] == list(args)):
            found.append(node)
        found.extend(blocks(node.get("block", []), directive, *args))
    return found


def directives(payload: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return blocks(payload, name)


def evaluate(
    client: AnalyzerClient, plan: Plan, stack: str, config: dict[str, Any] | None = None
) -> list[Violation]:
    """Configure the pack with the stack's config file (or `config`), then analyze the plan as the CLI."""
    client.configure(config if config is not None else load_stack_config(stack))
    return client.evaluate(plan["resources"])


def new_violations(violations: Iterable[Violation], baseline: Iterable[Violation]) -> list[Violation]:
    seen = {(violation.policy, violation.urn) for violation in baseline}
    return [violation for violation in violations if (violation.policy, violation.urn) not in seen]


def run_resource_rule(
    rule: Callable[[ResourceValidationArgs, Any], None],
    resource_type: str,
    props: dict[str, Any],
    config: dict[str, Any] | None = None,
    name: str = "subject",
) -> list[str]:
    """Call a resource rule's validate function directly; return the messages it reported."""
    messages: list[str] = []
    urn = f"urn:pulumi:test::pap::{resource_type}::{name}"
    args = ResourceValidationArgs(resource_type, props, urn, name, None, None, config)
    rule(args, lambda message, urn=None: messages.append(message))
    return messages


def run_stack_rule(
    rule: Callable[[StackValidationArgs, Any], None],
    resources: Iterable[dict[str, Any]],
    config: dict[str, Any] | None = None,
) -> list[tuple[str, str | None]]:
    """Call a stack rule directly with plan-format resources; return (message, urn) pairs."""
    items = list(resources)
    by_urn = {
        item["urn"]: PolicyResource(
            item["type"], item["inputs"], item["urn"], item["name"], None, None, None, [], {}
        )
        for item in items
    }
    for item in items:
        by_urn[item["urn"]].dependencies.extend(
            by_urn[d] for d in item.get("dependencies", []) if d in by_urn
        )
    reported: list[tuple[str, str | None]] = []
    rule(
        StackValidationArgs(list(by_urn.values()), config),
        lambda message, urn=None: reported.append((message, urn)),
    )
    return reported


def service_props(**container_spec: Any) -> dict[str, Any]:
    """Service inputs with just these `taskSpec.containerSpec` inputs."""
    return {"taskSpec": {"containerSpec": container_spec}}


def service_messages(rule: Any, config: dict[str, Any] | None = None, **container_spec: Any) -> list[str]:
    """A resource rule's messages for a service with these `taskSpec.containerSpec` inputs."""
    return run_resource_rule(rule, SERVICE, service_props(**container_spec), config)


def plan_item(resource_type: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """A resource in the plan format, for `run_stack_rule`."""
    urn = f"urn:pulumi:test::pap::{resource_type}::{name}"
    return {"urn": urn, "type": resource_type, "name": name, "inputs": inputs}


def service_item(name: str, role: str | None, **inputs: Any) -> dict[str, Any]:
    """A service in the plan format, labelled with its pap.role."""
    labels = [{"label": "pap.role", "value": role}] if role else []
    return plan_item(SERVICE, name, {"labels": labels, **inputs})
