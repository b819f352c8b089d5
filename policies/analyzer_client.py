"""Talk to the pack as the Pulumi engine does: start it, GetAnalyzerInfo, Configure, Analyze, AnalyzeStack.

The engine runs a Python pack as `python -u -m pulumi.policy <engine address> .` with the pack directory as
working directory (pulumi's `pulumi-analyzer-policy-python` shim); constructing `PolicyPack` in
`__main__.py` starts the gRPC Analyzer server and prints its port on stdout. The engine address is only parsed
by `pulumi.policy` (nothing in this pack logs back to the engine), so a placeholder is passed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

PACK_DIR = Path(__file__).resolve().parent
CONFIG_DIR = PACK_DIR / "config"
ENGINE_ADDRESS_PLACEHOLDER = "127.0.0.1:0"
STARTUP_TIMEOUT_S = 30.0
RPC_TIMEOUT_S = 60.0

_LEVELS = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "remediate": analyzer_pb2.REMEDIATE,
    "disabled": analyzer_pb2.DISABLED,
}
_LEVEL_NAMES = {value: name for name, value in _LEVELS.items()}


class AnalyzerError(RuntimeError):
    """The pack did not start, or its config does not fit the pack."""


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    urn: str
    name: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {
            "policy": self.policy,
            "level": self.level,
            "urn": self.urn,
            "name": self.name,
            "message": self.message,
        }


@dataclass(frozen=True)
class PolicyDescription:
    name: str
    level: str
    description: str
    config_schema: dict[str, Any]


def level_name(level: int) -> str:
    return _LEVEL_NAMES.get(level, str(level))  # type: ignore[call-overload]


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(dict(values))
    return struct


def _read_port(stream: IO[bytes], timeout: float) -> int:
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not result or not result[0].strip().isdigit():
        raise AnalyzerError(f"the policy pack printed no port within {timeout:g} s (got {result[:1]!r})")
    return int(result[0])


@contextmanager
def running_pack(pack_dir: Path = PACK_DIR) -> Iterator[AnalyzerClient]:
    """Start the pack's analyzer server as the engine does, yield a connected client, stop it afterwards."""
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
            [sys.executable, "-u", "-m", "pulumi.policy", ENGINE_ADDRESS_PLACEHOLDER, "."],
            cwd=pack_dir,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        try:
            assert process.stdout is not None
            try:
                port = _read_port(process.stdout, STARTUP_TIMEOUT_S)
            except AnalyzerError as error:
                process.kill()
                process.wait()
                stderr.seek(0)
                raise AnalyzerError(
                    f"{error}; stderr:\n{stderr.read().decode(errors='replace')[-4000:]}"
                ) from None
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                grpc.channel_ready_future(channel).result(timeout=STARTUP_TIMEOUT_S)
                yield AnalyzerClient(analyzer_pb2_grpc.AnalyzerStub(channel))
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def load_stack_config(stack: str, config_dir: Path = CONFIG_DIR) -> dict[str, Any]:
    path = config_dir / f"{stack}.json"
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AnalyzerError(f"no policy config for stack '{stack}' ({path})") from None
    if not isinstance(loaded, dict):
        raise AnalyzerError(f"{path}: expected a JSON object of policy name -> level or settings")
    return loaded


def _check_property(policy: str, key: str, value: Any, schema: Mapping[str, Any]) -> None:
    types: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "boolean": bool,
        "integer": int,
        "number": (int, float),
        "array": list,
        "object": dict,
    }
    expected = types.get(str(schema.get("type", "")))
    wrong_type = expected is not None and (
        not isinstance(value, expected)
        or (schema.get("type") in ("integer", "number") and isinstance(value, bool))
    )
    if wrong_type or ("enum" in schema and value not in schema["enum"]):
        raise AnalyzerError(f"policy config {policy}.{key}: {value!r} does not match {dict(schema)}")


def resolve_config(
    config: Mapping[str, Any], policies: Iterable[PolicyDescription]
) -> dict[str, analyzer_pb2.PolicyConfig]:
    """What the CLI sends for --policy-pack-config: every policy's level and its properties over schema "
    "defaults."""
    by_name = {policy.name: policy for policy in policies}
    unknown = sorted(set(config) - set(by_name) - {"all"})
    if unknown:
        raise AnalyzerError(f"policy config names unknown policies: {', '.join(unknown)}")
    default_level = config.get("all")
    result: dict[str, analyzer_pb2.PolicyConfig] = {}
    for name, policy in by_name.items():
        entry = config.get(name, {})
        level = (
            entry if isinstance(entry, str) else entry.get("enforcementLevel", default_level or policy.level)
        )
        if level not in _LEVELS:
            raise AnalyzerError(f"policy config {name}: unknown enforcement level {level!r}")
        schema = policy.config_schema
        properties = {key: spec["default"] for key, spec in schema.items() if "default" in spec}
        for key, value in entry.items() if isinstance(entry, dict) else ():
            if key == "enforcementLevel":
                continue
            if key not in schema:
                raise AnalyzerError(f"policy config {name}: '{key}' is not a setting of this policy")
            _check_property(name, key, value, schema[key])
            properties[key] = value
        result[name] = analyzer_pb2.PolicyConfig(
            enforcementLevel=_LEVELS[level], properties=_struct(properties)
        )
    return result


def _options(resource: Mapping[str, Any]) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(
        parent=resource.get("parent") or "",
        protect=bool(resource.get("protect", False)),
    )


class AnalyzerClient:
    """The engine's side of the Analyzer protocol, for resources in the plan JSON format."""

    def __init__(self, stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
        self._stub = stub
        self._names: dict[str, str] = {}

    def policies(self) -> list[PolicyDescription]:
        info = self._stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=RPC_TIMEOUT_S)
        return [
            PolicyDescription(
                name=policy.name,
                level=level_name(policy.enforcementLevel),
                description=policy.description,
                config_schema=json_format.MessageToDict(policy.configSchema.properties),
            )
            for policy in info.policies
        ]

    def configure(self, config: Mapping[str, Any]) -> None:
        resolved = resolve_config(config, self.policies())
        self._stub.Configure(
            analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=resolved), timeout=RPC_TIMEOUT_S
        )

    def analyze(self, resource: Mapping[str, Any]) -> list[Violation]:
        request = analyzer_pb2.AnalyzeRequest(
            type=resource["type"],
            urn=resource["urn"],
            name=resource["name"],
            properties=_struct(resource.get("inputs") or {}),
            options=_options(resource),
        )
        response = self._stub.Analyze(request, timeout=RPC_TIMEOUT_S)
        return self._violations(response, default_urn=resource["urn"], default_name=resource["name"])

    def analyze_stack(self, resources: Iterable[Mapping[str, Any]]) -> list[Violation]:
        resources = list(resources)
        self._names.update({resource["urn"]: resource["name"] for resource in resources})
        request = analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(
                    type=resource["type"],
                    urn=resource["urn"],
                    name=resource["name"],
                    properties=_struct(resource.get("inputs") or {}),
                    options=_options(resource),
                    parent=resource.get("parent") or "",
                    dependencies=list(resource.get("dependencies") or []),
                )
                for resource in resources
            ]
        )
        response = self._stub.AnalyzeStack(request, timeout=RPC_TIMEOUT_S)
        return self._violations(response, default_urn="", default_name="")

    def evaluate(self, resources: Iterable[Mapping[str, Any]]) -> list[Violation]:
        """Analyze every resource, then the stack: everything `pulumi preview --policy-pack` would report."""
        resources = list(resources)
        violations = [violation for resource in resources for violation in self.analyze(resource)]
        return violations + self.analyze_stack(resources)

    def _violations(
        self, response: analyzer_pb2.AnalyzeResponse, default_urn: str, default_name: str
    ) -> list[Violation]:
        result = []
        for diagnostic in response.diagnostics:
            urn = diagnostic.urn or default_urn
            message = diagnostic.message
            # The SDK prefixes the policy's description; the rule's own sentence is what the reader needs.
            if message.startswith(diagnostic.description + "\n"):
                message = message[len(diagnostic.description) + 1 :]
            result.append(
                Violation(
                    policy=diagnostic.policyName,
                    level=level_name(diagnostic.enforcementLevel),
                    urn=urn,
                    name=self._names.get(
                        urn, default_name if urn == default_urn else urn.rsplit("::", 1)[-1]
                    ),
                    message=message,
                )
            )
        return result
