"""The offline plan: runs the real program under the mock runtime and records every resource it declares.

`python -m infra.plan --stack dev|prod [--format text|json] [--output var/plan-<stack>.json]` always
writes the JSON document (docs/ARCHITECTURE.md, "The offline plan format") to --output and the stack's
outputs to var/stack-outputs/<stack>.json, where a promoted stack's StackReference finds them.
Invalid config: exit 2.
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import rpc, settings
from pulumi.runtime.mocks import MockMonitor

from infra.config import PROJECT, ConfigError, project_config, validate_stack_config
from infra.mocks import STACK_OUTPUTS_DIRS, RealisticMocks, is_secret_value, plain

REPO_ROOT = Path(__file__).resolve().parent.parent
MASK = "[secret]"
STACK_TYPE = "pulumi:pulumi:Stack"
# What the text view shows of a resource; everything is in the JSON document.
KEY_INPUTS = (
    "name",
    "image",
    "user",
    "readOnly",
    "memory",
    "cpus",
    "ports",
    "networksAdvanced",
    "internal",
    "command",
    "envs",
    "uploads",
    "algorithm",
    "ecdsaCurve",
    "rsaBits",
    "validityPeriodHours",
    "earlyRenewalHours",
    "isCaCertificate",
    "dnsNames",
    "ipAddresses",
    "length",
    "build",
)


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: str
    dependencies: list[str]
    inputs: dict[str, Any]  # wire names, secret wrappers kept (masking needs them)

    def document(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "dependencies": self.dependencies,
            "inputs": _integral(plain(self.inputs)),
        }


@dataclass
class PlanRun:
    stack: str
    resources: list[RecordedResource]
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: list[str] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {"stack": self.stack, "resources": [resource.document() for resource in self.resources]}


class RecordingMonitor(MockMonitor):
    """The mock monitor, keeping what the engine shows a policy pack: parent, dependencies, inputs."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.records: list[RecordedResource] = []

    def _record(self, urn: str, request: Any, properties: Any) -> None:
        self.records.append(
            RecordedResource(
                urn=urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                dependencies=sorted(set(request.dependencies)),
                inputs=rpc.deserialize_properties(properties, keep_unknowns=True),
            )
        )

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != STACK_TYPE:
            self._record(response.urn, request, request.object)
        return response

    def ReadResource(self, request: Any) -> Any:  # StackReference is read, not registered
        response = super().ReadResource(request)
        self._record(response.urn, request, request.properties)
        return response


def _integral(value: Any) -> Any:
    """Whole numbers as ints: the wire's numbers are doubles, the engine hands a policy `512`, not `512.0`."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


def _config_value(value: Any) -> tuple[str, bool]:
    """The CLI's form of a config value (objects as JSON text) and whether it holds a `secure:` value."""

    def has_secure(item: Any) -> bool:
        if isinstance(item, dict):
            return "secure" in item or any(has_secure(child) for child in item.values())
        return isinstance(item, list) and any(has_secure(child) for child in item)

    if isinstance(value, dict | list):
        return json.dumps(value), has_secure(value)
    if isinstance(value, bool):
        return str(value).lower(), False
    return str(value), False


def _encrypted_paths(path: str, value: Any) -> list[str]:
    """The dotted paths of the `secure:` (encrypted) values in a config value: the key itself for a top-level
    secret, `key.a.b` for one set with `pulumi config set --secret --path a.b`, `key.a.0` in a list."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return [path]
        return [found for name, item in value.items() for found in _encrypted_paths(f"{path}.{name}", item)]
    if isinstance(value, list):
        return [
            found for index, item in enumerate(value) for found in _encrypted_paths(f"{path}.{index}", item)
        ]
    return []


def read_stack_file(stack: str, path: Path | None = None) -> tuple[dict[str, str], list[str]]:
    """`Pulumi.<stack>.yaml` as the CLI hands it to the program: full keys, string values, secret keys."""
    path = path or REPO_ROOT / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise ConfigError(f"stack '{stack}': no stack file {path}")
    document = yaml.safe_load(path.read_text()) or {}
    raw = document.get("config") or {}
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        # Encrypted values, top-level or nested (`--path`), are refused alike: validating a ciphertext object
        # where a string belongs would only say "Input should be a valid string".
        encrypted = _encrypted_paths(key, value)
        if encrypted:
            one = len(encrypted) == 1
            raise ConfigError(
                f"stack '{stack}': {', '.join(encrypted)} {'is' if one else 'are'} encrypted (secure:); the "
                f"offline plan cannot decrypt {'it' if one else 'them'}. "
                "Run it with a stack file that keeps secrets out, or use `pulumi preview`."
            )
        config[key], secure = _config_value(value)
        if secure:
            secret_keys.append(key)
    return config, secret_keys


def run_program(
    stack: str,
    config: Mapping[str, str],
    secret_keys: list[str] | None = None,
    stack_outputs_dirs: tuple[Path, ...] = STACK_OUTPUTS_DIRS,
) -> PlanRun:
    """Validates `config` (ConfigError), then runs `infra/__main__.py` under the mocks and records it."""
    secret_keys = secret_keys or []
    project_keys = frozenset(key[len(PROJECT) + 1 :] for key in secret_keys if key.startswith(f"{PROJECT}:"))
    validate_stack_config(stack, project_config(config), project_keys)  # fail fast, before any resource

    monitor = RecordingMonitor(RealisticMocks(stack_outputs_dirs))
    settings.ROOT.set(None)  # a new Stack resource per run: several runs share the test process
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(dict(config), secret_keys)
    run = PlanRun(stack=stack, resources=monitor.records)

    def program() -> pulumi.Output[Any]:
        runpy.run_module("infra.__main__", run_name="__main__")
        root = settings.get_root_resource()
        exported: dict[str, Any] = getattr(root, "outputs", {})
        return pulumi.Output.all(
            *(pulumi.Output.from_input(value) for value in exported.values()),
            *(pulumi.Output.from_input(value).is_secret() for value in exported.values()),
        ).apply(lambda resolved: _collect(run, list(exported), resolved))

    pulumi.runtime.test(program)()
    return run


def _collect(run: PlanRun, names: list[str], resolved: list[Any]) -> None:
    values, secret_flags = resolved[: len(names)], resolved[len(names) :]
    run.outputs = dict(zip(names, values, strict=True))
    run.secret_outputs = [name for name, secret in zip(names, secret_flags, strict=True) if secret]


def record_plan(stack: str, stack_outputs_dirs: tuple[Path, ...] = STACK_OUTPUTS_DIRS) -> dict[str, Any]:
    """The plan document of `stack` (without violations), from its committed `Pulumi.<stack>.yaml`."""
    config, secret_keys = read_stack_file(stack)
    return run_program(stack, config, secret_keys, stack_outputs_dirs).document()


def _mask(value: Any) -> Any:
    if is_secret_value(value):
        return MASK
    if isinstance(value, dict):
        return {key: _mask(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item) for item in value]
    return value


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def text_lines(run: PlanRun) -> Iterator[str]:
    """One block per resource: type, name, parent and the key inputs, secrets masked."""
    names = {resource.urn: resource.name for resource in run.resources}
    yield f"Offline plan of stack '{run.stack}': {len(run.resources)} resources"
    for resource in run.resources:
        parent = names.get(resource.parent, "(stack)")
        yield f"+ {resource.type}  {resource.name}  (parent: {parent})"
        masked = _integral(_mask(resource.inputs))
        if "uploads" in resource.inputs:
            # Which files with which modes, never their content (a secret anywhere makes the list secret).
            masked["uploads"] = [
                {"file": upload.get("file"), "permissions": upload.get("permissions")}
                for upload in plain(resource.inputs["uploads"]) or []
            ]
        for key in KEY_INPUTS:
            if key in masked and masked[key] not in (None, [], {}):
                yield f"    {key}: {_short(masked[key])}"
    yield "Outputs:"
    for name, value in run.outputs.items():
        shown = MASK if name in run.secret_outputs else _short(value, 100)
        yield f"    {name}: {shown}"


def write_outputs(run: PlanRun, directory: Path) -> Path:
    """The stack's outputs as a promoted stack's StackReference reads them in the offline plan."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{run.stack}.json"
    # Secret outputs keep their names only: a promoted stack reads image IDs, never another stack's secrets.
    shown = {name: MASK if name in run.secret_outputs else value for name, value in run.outputs.items()}
    document = {"outputs": shown, "secretOutputNames": run.secret_outputs}
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.plan", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--output", type=Path, help="where to write the JSON document (default var/plan-<stack>.json)"
    )
    parser.add_argument("--stack-file", type=Path, help="the stack's config (default Pulumi.<stack>.yaml)")
    args = parser.parse_args(argv)
    output: Path = args.output or REPO_ROOT / "var" / f"plan-{args.stack}.json"
    try:
        config, secret_keys = read_stack_file(args.stack, args.stack_file)
        run = run_program(args.stack, config, secret_keys)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(run.document(), indent=2, sort_keys=True) + "\n")
    write_outputs(run, STACK_OUTPUTS_DIRS[0])
    if args.format == "text":
        print("\n".join(text_lines(run)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
