"""Builders that give every rule the same shape: kebab-case name, reference in the description, explicit "
"level."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidation,
    StackValidationArgs,
    StackValidationPolicy,
)


class Report(Protocol):
    """The `report_violation` callback the analyzer passes (the SDK's alias wrongly makes `urn` mandatory)."""

    def __call__(self, message: str, urn: str | None = None) -> None: ...


ResourceRule = Callable[[ResourceValidationArgs, Report], None]
StackRule = Callable[[StackValidationArgs, Report], None]


def _schema(config: Mapping[str, Mapping[str, Any]] | None) -> PolicyConfigSchema | None:
    return (
        PolicyConfigSchema(properties={key: dict(spec) for key, spec in config.items()}) if config else None
    )


def resource_policy(
    name: str,
    validate: ResourceRule,
    *,
    prohibits: str,
    reference: str,
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
    severity: Severity = Severity.HIGH,
    config: Mapping[str, Mapping[str, Any]] | None = None,
) -> ResourceValidationPolicy:
    """A resource rule; `prohibits` says what is refused and why, `reference` names the CIS/OWASP/Mozilla "
    "control."""
    return ResourceValidationPolicy(
        name=name,
        description=f"{prohibits} [{reference}]",
        validate=cast(ResourceValidation, validate),
        enforcement_level=level,
        severity=severity,
        config_schema=_schema(config),
    )


def stack_policy(
    name: str,
    validate: StackRule,
    *,
    prohibits: str,
    reference: str,
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
    severity: Severity = Severity.HIGH,
    config: Mapping[str, Mapping[str, Any]] | None = None,
) -> StackValidationPolicy:
    """A stack rule (sees every resource at once); same conventions as `resource_policy`."""
    return StackValidationPolicy(
        name=name,
        description=f"{prohibits} [{reference}]",
        validate=cast(StackValidation, validate),
        enforcement_level=level,
        severity=severity,
        config_schema=_schema(config),
    )
