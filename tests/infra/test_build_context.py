"""The image digests cover exactly what a docker build is sent: .dockerignore applied as Docker does."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker.utils.build import exclude_paths

from infra.build_context import context_digest, context_files
from infra.images import DATA_IMAGES, REPO_ROOT, SERVICE_CONTEXT, WEB_CONTEXT

CONTEXTS = [SERVICE_CONTEXT, WEB_CONTEXT, *(REPO_ROOT / "infra" / "images" / d for d in DATA_IMAGES.values())]


def _sent_by_docker_py(context: Path) -> list[str]:
    """The regular files docker-py (the e2e harness's and the image tests' builder) puts in the context."""
    ignore = context / ".dockerignore"
    patterns = ignore.read_text().splitlines() if ignore.is_file() else []
    paths = exclude_paths(str(context), patterns, "Dockerfile")
    return sorted(p for p in paths if (context / p).is_file() or (context / p).is_symlink())


@pytest.mark.parametrize("context", CONTEXTS, ids=[str(c.relative_to(REPO_ROOT)) for c in CONTEXTS])
def test_the_digest_covers_what_docker_sends(context: Path) -> None:
    assert context_files(context) == _sent_by_docker_py(context)


def test_the_service_context_leaves_the_frontend_out() -> None:
    files = context_files(SERVICE_CONTEXT)
    assert not [path for path in files if path.startswith("web/")]
    assert "Dockerfile" in files and "main.py" in files


def test_the_web_context_is_the_assembled_server_and_the_helpers() -> None:
    files = context_files(WEB_CONTEXT)
    top = {path.split("/", 1)[0] for path in files}
    assert top <= {".dockerignore", "Dockerfile", "docker", ".image"}, top
    assert ".image/.stamp" not in files


TRICKY_IGNORE = """
# comment
*
!keep/
keep/**/*.log
!keep/deep/important.log
**/secret.txt
/rooted.txt
"""
TRICKY_FILES = [
    "Dockerfile",
    "top.txt",
    "rooted.txt",
    "keep/a.txt",
    "keep/b.log",
    "keep/deep/c.log",
    "keep/deep/important.log",
    "keep/deep/secret.txt",
    "other/keep/a.txt",
    "other/secret.txt",
]


def test_exceptions_globstars_and_roots_match_docker_py(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text(TRICKY_IGNORE)
    for relative in TRICKY_FILES:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(relative)
    found = context_files(tmp_path)
    assert found == _sent_by_docker_py(tmp_path)
    assert found == [".dockerignore", "Dockerfile", "keep/a.txt", "keep/deep/important.log"]


def test_the_digest_changes_with_a_sent_file_only(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("node_modules\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "big.js").write_text("1")
    before = context_digest(tmp_path)
    (tmp_path / "node_modules" / "big.js").write_text("2")
    assert context_digest(tmp_path) == before
    (tmp_path / "Dockerfile").write_text("FROM scratch\nUSER 1\n")
    assert context_digest(tmp_path) != before
