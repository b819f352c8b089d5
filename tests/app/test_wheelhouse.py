"""tools/wheelhouse.py: what the image's interpreter needs beyond what pip resolved on the host."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheelhouse() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wheelhouse", ROOT / "tools" / "wheelhouse.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["wheelhouse"] = module
    spec.loader.exec_module(module)
    return module


def make_wheel(directory: Path, name: str, version: str, requires: list[str]) -> None:
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {requirement}\n" for requirement in requires)
    with zipfile.ZipFile(directory / f"{name}-{version}-py3-none-any.whl", "w") as archive:
        archive.writestr(f"{name}-{version}.dist-info/METADATA", metadata)


REDIS_REQUIRES = [
    'async-timeout>=4.0.3; python_full_version < "3.11.3"',
    'hiredis>=3.0.0; extra == "hiredis"',
    'pywin32; sys_platform == "win32"',
]


def test_a_dependency_behind_a_target_only_marker_is_found(wheelhouse: ModuleType, tmp_path: Path) -> None:
    # Debian bookworm's python3 is 3.11.2: redis needs async-timeout there, not on a newer host.
    make_wheel(tmp_path, "redis", "5.2.0", REDIS_REQUIRES)
    assert wheelhouse.missing_for_target(tmp_path, ["redis>=5"]) == ["async-timeout>=4.0.3"]


def test_extras_of_the_top_level_requirement_count(wheelhouse: ModuleType, tmp_path: Path) -> None:
    make_wheel(tmp_path, "redis", "5.2.0", REDIS_REQUIRES)
    assert sorted(wheelhouse.missing_for_target(tmp_path, ["redis[hiredis]>=5"])) == [
        "async-timeout>=4.0.3",
        "hiredis>=3.0.0",
    ]


def test_complete_when_every_active_requirement_has_a_fitting_wheel(
    wheelhouse: ModuleType, tmp_path: Path
) -> None:
    make_wheel(tmp_path, "redis", "5.2.0", REDIS_REQUIRES)
    make_wheel(tmp_path, "async_timeout", "5.0.1", [])
    assert wheelhouse.missing_for_target(tmp_path, ["redis>=5"]) == []
    # A wheel of the wrong version does not satisfy the requirement.
    assert wheelhouse.missing_for_target(tmp_path, ["redis>=6"]) == ["redis>=6"]


def test_platform_tags_cover_every_manylinux_up_to_bookworms_glibc(wheelhouse: ModuleType) -> None:
    tags = wheelhouse.platform_tags()
    assert {"manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"} <= set(tags)
    assert "manylinux_2_36_x86_64" in tags and "manylinux_2_37_x86_64" not in tags
