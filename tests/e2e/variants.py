"""Copies of the service build context (app/) that differ in one way, for the rollout checks.

The program builds the service image from `infra.images.SERVICE_CONTEXT`; a check points it at one of these
copies for one deploy run. Each copy lives under var/e2e/variants/ and is rebuilt from app/ on every call,
so it never drifts from the source the rest of the session deploys.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.e2e.deploy import REPO_ROOT

SOURCE = REPO_ROOT / "app"
VARIANTS_DIR = REPO_ROOT / "var" / "e2e" / "variants"
VERSION_LINE = re.compile(r'^__version__ = "(?P<version>[^"]+)"$', re.MULTILINE)
HEALTHCHECK = Path("docker") / "pap-healthcheck"
# What tools/wheelhouse.sh and local runs leave in app/ that the image build never reads.
_NOT_COPIED = shutil.ignore_patterns(
    "__pycache__", "*.py[cod]", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".wheelhouse.tmp.*", "var"
)
FRONTEND = (
    "web"  # app/web: its own image (app/.dockerignore leaves it out of the service's), 400 MB of node_modules
)


def _not_copied(directory: str, names: list[str]) -> set[str]:
    ignored = set(_NOT_COPIED(directory, names))
    return ignored | ({FRONTEND} if Path(directory) == SOURCE else set())


FAILING_HEALTHCHECK = '''#!/usr/bin/python3
"""e2e variant (tests/e2e/variants.py): a healthcheck that always fails, so Swarm must roll back."""

import sys

print("unhealthy: the e2e failing-healthcheck variant", file=sys.stderr)
sys.exit(1)
'''


def source_version(context: Path = SOURCE) -> str:
    """`__version__` of the package in `context` (what /health reports as "version")."""
    match = VERSION_LINE.search((context / "__init__.py").read_text())
    if match is None:
        raise LookupError(f'{context / "__init__.py"} has no line `__version__ = "..."`')
    return match.group("version")


def _copy(name: str) -> Path:
    if not (SOURCE / ".wheelhouse").is_dir():
        raise FileNotFoundError(f"{SOURCE / '.wheelhouse'} is missing: run tools/wheelhouse.sh first")
    target = VARIANTS_DIR / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(SOURCE, target, ignore=_not_copied, symlinks=True)
    return target


def _set_version(context: Path, version: str) -> None:
    init = context / "__init__.py"
    text, replaced = VERSION_LINE.subn(f'__version__ = "{version}"', init.read_text(), count=1)
    if replaced != 1:
        raise LookupError(f'{init} has no line `__version__ = "..."`')
    init.write_text(text)


def with_version(version: str, name: str = "version") -> Path:
    """app/ with `__version__` changed: a new image whose /health says `version`."""
    context = _copy(name)
    _set_version(context, version)
    return context


def with_failing_healthcheck(version: str, name: str = "unhealthy") -> Path:
    """app/ with a new version and a `pap-healthcheck` that always exits 1: its tasks never become healthy.

    The service itself is unchanged, so whatever Swarm does is due to the health check alone.
    """
    context = with_version(version, name)
    script = context / HEALTHCHECK
    mode = script.stat().st_mode
    script.unlink()  # a new file, whatever the copy made of the original
    script.write_text(FAILING_HEALTHCHECK)
    script.chmod(mode)
    return context
