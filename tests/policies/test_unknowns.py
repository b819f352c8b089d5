"""Values unknown during a preview never crash a rule (the engine sends pulumi-policy's unknown sentinels).

Every property of every recorded resource, at every depth, is made unknown in turn and analyzed by the real
server: the RPC must succeed and no rule may give up with pulumi-policy's "can't run policy ... during
preview" (each rule handles unknowns itself). A whole top-level input unknown must not make a rule fail the
resource either: the rule skips, and runs again when `pulumi up` knows the value.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from pulumi_policy.proxy import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
)

from policies.analyzer_client import AnalyzerClient, Violation, load_stack_config

Path = tuple[str | int, ...]
ANY_INDEX = "*"  # in STACK_RULE_INPUTS: any item of a list
GAVE_UP = "during preview"
# The inputs stack rules read, per resource type (every nested value below them, and each object above them,
# is made unknown in turn). The rest is covered by the per-resource test: one AnalyzeStack per leaf of
# everything would take minutes, as the SDK deserializes every resource again for each stack policy.
STACK_RULE_INPUTS: dict[str, frozenset[Path]] = {
    "docker:index/service:Service": frozenset(
        {
            ("labels",),
            ("endpointSpec",),
            ("taskSpec", "networksAdvanceds"),
            ("taskSpec", "placement"),
            ("taskSpec", "containerSpec", "args"),
            ("taskSpec", "containerSpec", "image"),
            ("taskSpec", "containerSpec", "mounts"),
            ("taskSpec", "containerSpec", "configs"),
            ("taskSpec", "containerSpec", "env"),
            ("taskSpec", "containerSpec", "secrets", ANY_INDEX, "fileName"),
            ("taskSpec", "containerSpec", "secrets", ANY_INDEX, "secretName"),
        }
    ),
    "docker:index/secret:Secret": frozenset({("name",)}),
    "docker:index/network:Network": frozenset({("name",), ("internal",)}),
    "docker:index/volume:Volume": frozenset({("name",)}),
    "docker:index/serviceConfig:ServiceConfig": frozenset({("name",), ("data",)}),
    "docker:index/remoteImage:RemoteImage": frozenset({("build", "context")}),
}


def _matches(path: Path, prefix: Path) -> bool:
    return len(path) == len(prefix) and all(
        (wanted == ANY_INDEX and isinstance(key, int)) or wanted == key
        for key, wanted in zip(path, prefix, strict=True)
    )


def read_by_stack_rules(resource_type: str, path: Path) -> bool:
    """`path` is an input stack rules read for this type, lies below one, or is an object holding one."""
    return any(
        _matches(path[: len(prefix)], prefix) or _matches(path, prefix[: len(path)])
        for prefix in STACK_RULE_INPUTS.get(resource_type, frozenset())
    )


def sentinel(value: Any) -> str:
    if isinstance(value, bool):
        return UNKNOWN_BOOLEAN_VALUE
    if isinstance(value, int | float):
        return UNKNOWN_NUMBER_VALUE
    if isinstance(value, list):
        return UNKNOWN_ARRAY_VALUE
    if isinstance(value, dict):
        return UNKNOWN_OBJECT_VALUE
    return UNKNOWN_STRING_VALUE


def paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every subtree and leaf below the top level."""
    children: list[tuple[str | int, Any]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    for key, child in children:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def with_unknown(item: dict[str, Any], path: Path) -> dict[str, Any]:
    copied = copy.deepcopy(item)
    holder: Any = copied["inputs"]
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = sentinel(holder[path[-1]])
    return copied


def _gave_up(violations: list[Violation]) -> list[str]:
    return [f"{v.policy}: {v.message}" for v in violations if GAVE_UP in v.message]


@pytest.fixture(scope="module", params=["dev", "prod"])
def configured(
    request: pytest.FixtureRequest, analyzer: AnalyzerClient
) -> tuple[AnalyzerClient, dict[str, Any]]:
    analyzer.configure(load_stack_config(request.param))
    return analyzer, request.getfixturevalue(f"{request.param}_plan")


def test_every_unknown_property_is_analyzed_without_crashing(
    configured: tuple[AnalyzerClient, dict[str, Any]],
) -> None:
    analyzer, plan = configured
    checked = 0
    for item in plan["resources"]:
        baseline = {(v.policy, v.level) for v in analyzer.analyze(item)}
        for path in paths(item["inputs"]):
            violations = analyzer.analyze(with_unknown(item, path))  # raises on a crashed rule (gRPC error)
            assert _gave_up(violations) == [], (item["name"], path)
            if len(path) == 1:
                added = {(v.policy, v.level) for v in violations} - baseline
                assert not [p for p, level in added if level == "mandatory"], (item["name"], path, added)
            checked += 1
    assert checked > 500  # the real program's inputs, not a token sample


def test_stack_rules_survive_every_top_level_input_unknown(
    configured: tuple[AnalyzerClient, dict[str, Any]],
) -> None:
    analyzer, plan = configured
    everything_unknown = []
    for item in plan["resources"]:
        copied = copy.deepcopy(item)
        copied["inputs"] = {key: sentinel(value) for key, value in item["inputs"].items()}
        everything_unknown.append(copied)
    violations = analyzer.analyze_stack(everything_unknown)
    assert _gave_up(violations) == []
    assert [v for v in violations if v.level == "mandatory"] == []


def test_stack_rules_survive_unknown_leaves(analyzer: AnalyzerClient, dev_plan: dict[str, Any]) -> None:
    """Dev only: prod runs the same stack rules on the same shapes (one AnalyzeStack per leaf is the slow "
    "part)."""
    analyzer.configure(load_stack_config("dev"))
    resources = dev_plan["resources"]
    checked = 0
    for index, item in enumerate(resources):
        for path in paths(item["inputs"]):
            if not read_by_stack_rules(item["type"], path):
                continue
            mutated = [*resources[:index], with_unknown(item, path), *resources[index + 1 :]]
            assert _gave_up(analyzer.analyze_stack(mutated)) == [], (item["name"], path)
            checked += 1
    assert checked > 100
