"""Fill app/.wheelhouse/ with wheels of the service's runtime dependencies for the image's Python.

Containers cannot reach PyPI (its TLS is re-signed by a CA only the host trusts), so app/Dockerfile installs
from this directory with --no-index, exactly the pins in its requirements.txt. The image's interpreter is
Debian bookworm's CPython 3.11.2 on glibc 2.36, not the host's. pip honours --python-version only for tags
and Requires-Python, while it evaluates environment markers against the host interpreter: a dependency behind
`python_full_version < "3.11.3"` (redis needs async-timeout there) would be missed. So after pip resolves,
the markers of every downloaded wheel are evaluated for the target and whatever is missing is fetched too.

The versions are those installed in the interpreter running this script (the project's .venv, where the
test suite runs), passed to pip as constraints: the image runs what the tests ran. Incremental: skipped when
the dependency list and the target are unchanged since the last complete run and every pinned wheel still
has the host's version.
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable
from importlib.metadata import distributions
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parent.parent
# Debian bookworm: python3 3.11.2, glibc 2.36.
TARGET_PYTHON = os.environ.get("WHEELHOUSE_PYTHON_FULL_VERSION", "3.11.2")
TARGET_GLIBC_MINOR = int(os.environ.get("WHEELHOUSE_GLIBC_MINOR", "36"))
MAX_COMPLETION_ROUNDS = 5
PIP_NOISE = "is ignored: it is neither a file nor a directory"
PROJECT = "presentation-analytics-platform"


def log(message: str) -> None:
    print(f"wheelhouse: {message}", file=sys.stderr)


def project_dependencies(pyproject: Path) -> list[str]:
    with pyproject.open("rb") as file:
        return list(tomllib.load(file)["project"]["dependencies"])


def platform_tags() -> list[str]:
    # pip does not expand a --platform tag to the older manylinux tags a glibc 2.36 system accepts.
    legacy = ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64"]
    return legacy + [f"manylinux_2_{minor}_x86_64" for minor in range(5, TARGET_GLIBC_MINOR + 1)]


def target_environment() -> dict[str, str]:
    environment: dict[str, str] = {key: str(value) for key, value in default_environment().items()}
    major_minor = ".".join(TARGET_PYTHON.split(".")[:2])
    environment.update(
        python_full_version=TARGET_PYTHON,
        python_version=major_minor,
        implementation_version=TARGET_PYTHON,
        implementation_name="cpython",
        platform_python_implementation="CPython",
        sys_platform="linux",
        platform_system="Linux",
        platform_machine="x86_64",
        os_name="posix",
    )
    return environment


def fingerprint(dependencies: Iterable[str]) -> str:
    key = {"dependencies": list(dependencies), "python": TARGET_PYTHON, "glibc": TARGET_GLIBC_MINOR}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def host_versions() -> dict[str, str]:
    """Canonical name -> version of every distribution installed with this interpreter (but the project)."""
    return {
        str(canonicalize_name(d.metadata["Name"])): d.version
        for d in distributions()
        if d.metadata["Name"] and canonicalize_name(d.metadata["Name"]) != PROJECT
    }


def pins(dest: Path) -> dict[str, str]:
    """Canonical name -> version pinned in an existing wheelhouse's requirements.txt."""
    lines = (dest / "requirements.txt").read_text().split()
    return {canonicalize_name(name): version for name, _, version in (line.partition("==") for line in lines)}


def drifted_from_host(dest: Path) -> list[str]:
    host = host_versions()
    return [
        f"{name} {version} (host {host[name]})"
        for name, version in pins(dest).items()
        if host.get(name, version) != version
    ]


def pip_download(requirements: list[str], dest: Path, constraints: Path | None) -> None:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    if constraints is not None:
        command += ["--constraint", str(constraints)]
    command += ["--only-binary=:all:", "--implementation", "cp", "--python-version", TARGET_PYTHON]
    command += ["--abi", "cp" + "".join(TARGET_PYTHON.split(".")[:2])]
    for tag in platform_tags():
        command += ["--platform", tag]
    command += ["--dest", str(dest), *requirements]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        # This machine's pip.conf names local indexes that warn for every package: keep only the real errors.
        output = result.stdout + result.stderr
        sys.stderr.write("".join(line for line in output.splitlines(True) if PIP_NOISE not in line))
        raise SystemExit(f"wheelhouse: pip download failed ({result.returncode})")


def wheel_metadata(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        message = email.parser.BytesParser().parsebytes(archive.read(name), headersonly=True)
    return message.get_all("Requires-Dist") or []


def missing_for_target(dest: Path, top_level: list[str]) -> list[str]:
    """Requirements active on the target interpreter that no downloaded wheel satisfies."""
    environment = target_environment()
    wheels = {parse_wheel_filename(w.name)[0]: w for w in dest.glob("*.whl")}
    extras: dict[str, set[str]] = {}
    pending = [Requirement(text) for text in top_level]
    seen: set[tuple[str, frozenset[str]]] = set()
    missing: dict[str, Requirement] = {}
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        extras.setdefault(name, set()).update(requirement.extras)
        key = (name, frozenset(extras[name]))
        if key in seen:
            continue
        seen.add(key)
        wheel = wheels.get(name)
        if wheel is None:
            missing[name] = requirement
            continue
        if str(parse_wheel_filename(wheel.name)[1]) not in requirement.specifier:
            missing[name] = requirement
            continue
        for text in wheel_metadata(wheel):
            dependency = Requirement(text)
            markers = dependency.marker
            active = markers is None or any(
                markers.evaluate({**environment, "extra": extra}) for extra in (extras[name] | {""})
            )
            if active:
                pending.append(dependency)
    return [str(Requirement(f"{r.name}{r.specifier}")) for r in missing.values()]


def write_pins(dest: Path) -> None:
    pins = sorted(
        f"{parse_wheel_filename(w.name)[0]}=={parse_wheel_filename(w.name)[1]}" for w in dest.glob("*.whl")
    )
    (dest / "requirements.txt").write_text("\n".join(pins) + "\n")


def build(dest: Path, pyproject: Path) -> None:
    dependencies = project_dependencies(pyproject)
    stamp = fingerprint(dependencies)
    stamp_file = dest / ".stamp"
    if (
        stamp_file.is_file()
        and stamp_file.read_text().strip() == stamp
        and (dest / "requirements.txt").is_file()
    ):
        drift = drifted_from_host(dest)
        if not drift:
            log(f"up to date ({dest})")
            return
        log(f"the host's versions changed: {', '.join(drift)}")
    # Built beside the destination and swapped in whole: an interrupted run never leaves a wheelhouse that
    # looks complete, and wheels of dropped dependencies do not linger.
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{dest.name}.tmp.", dir=dest.parent))
    try:
        log(f"downloading wheels for CPython {TARGET_PYTHON}, manylinux glibc 2.{TARGET_GLIBC_MINOR}, x86_64")
        constraints = work / "host-versions.txt"
        constraints.write_text(
            "".join(f"{name}=={version}\n" for name, version in sorted(host_versions().items()))
        )
        pip_download(dependencies, work, constraints)
        for _ in range(MAX_COMPLETION_ROUNDS):
            missing = missing_for_target(work, dependencies)
            if not missing:
                break
            log(f"adding what the target's markers need: {', '.join(missing)}")
            # Not installed on the host (their markers are false there), so no host version to follow.
            pip_download(missing, work, None)
        else:
            raise SystemExit(f"wheelhouse: still incomplete after {MAX_COMPLETION_ROUNDS} rounds: {missing}")
        constraints.unlink()
        write_pins(work)
        (work / ".stamp").write_text(stamp + "\n")
        shutil.rmtree(dest, ignore_errors=True)
        work.rename(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = sum(f.stat().st_size for f in dest.iterdir()) / 1e6
    log(f"{len(list(dest.glob('*.whl')))} wheels, {size:.0f} MB in {dest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=ROOT / "app" / ".wheelhouse")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    arguments = parser.parse_args()
    build(arguments.dest, arguments.pyproject)


if __name__ == "__main__":
    main()
