"""The files a `docker build` of a context is sent (.dockerignore as Docker applies it), and their digest.

The digest is the image's rebuild trigger (infra/images.py), so it must cover exactly the files the build is
sent: a file the digest missed would leave a stale image, a file it counted needlessly (app/web's 400 MB of
node_modules, which .dockerignore keeps out of the context) would rebuild it and slow every plan down.
The matching follows moby's patternmatcher (what the engine's CLI and the provider use, and docker-py
mirrors): patterns are cleaned paths, `*` and `?` stop at `/`, `**` spans directories, `!` re-includes, the
last matching pattern wins, a pattern matching a directory matches everything in it, and an excluded
directory is not entered unless an exception pattern starts with its path. The Dockerfile and .dockerignore
are always sent.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILE = ".dockerignore"
ALWAYS_SENT = ("Dockerfile", IGNORE_FILE)


@dataclass(frozen=True)
class Pattern:
    text: str  # cleaned, without the leading "!"
    exclusion: bool  # a "!" pattern: re-includes what earlier patterns excluded
    regex: re.Pattern[str]

    def matches(self, path: str) -> bool:
        """The path itself or one of its parent directories matches."""
        if self.regex.match(path):
            return True
        parts = path.split("/")[:-1]
        return any(self.regex.match("/".join(parts[: index + 1])) for index in range(len(parts)))


def _regex(pattern: str) -> re.Pattern[str]:
    out, index = "^", 0
    while index < len(pattern):
        char = pattern[index]
        if char == "*" and pattern[index + 1 : index + 2] == "*":
            index += 2
            if pattern[index : index + 1] == "/":
                index += 1  # "**/" is "**"
            out += ".*" if index >= len(pattern) else "(.*/)?"
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "\\" and index + 1 < len(pattern):
            index += 1
            out += re.escape(pattern[index])
        elif char in ".$+(){}|":
            out += "\\" + char
        else:
            out += char  # character classes pass through, as in Go's regexp
        index += 1
    return re.compile(out + "$")


def read_patterns(context: Path) -> list[Pattern]:
    """The context's .dockerignore (none: nothing is ignored)."""
    try:
        lines = (context / IGNORE_FILE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    patterns = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        text = posixpath.normpath(line[1:].strip() if exclusion else line).lstrip("/")
        patterns.append(Pattern(text, exclusion, _regex(text)))
    return patterns


def is_excluded(path: str, patterns: list[Pattern]) -> bool:
    excluded = False
    for pattern in patterns:
        # An exclusion can only change an excluded path, an inclusion only a kept one.
        if pattern.exclusion == excluded and pattern.matches(path):
            excluded = not pattern.exclusion
    return excluded


def _may_reinclude(directory: str, patterns: list[Pattern]) -> bool:
    return any(pattern.exclusion and (pattern.text + "/").startswith(directory + "/") for pattern in patterns)


def context_files(context: Path) -> list[str]:
    """The relative paths (POSIX) of the regular files a build of `context` is sent, sorted."""
    patterns = read_patterns(context)
    found: list[str] = []
    for root, directories, files in os.walk(context):
        relative_root = Path(root).relative_to(context).as_posix()
        prefix = "" if relative_root == "." else relative_root + "/"
        kept = []
        for name in sorted(directories):
            path = prefix + name
            if (context / path).is_symlink():
                files.append(name)  # sent as a link, never followed
            elif not is_excluded(path, patterns) or _may_reinclude(path, patterns):
                kept.append(name)
        directories[:] = kept
        for name in files:
            path = prefix + name
            if path in ALWAYS_SENT or not is_excluded(path, patterns):
                found.append(path)
    return sorted(found)


def context_digest(context: Path) -> str:
    """A digest of the files (path and content; a link's target) a build of `context` is sent."""
    digest = hashlib.sha256()
    for relative in context_files(context):
        path = context / relative
        content = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
        digest.update(relative.encode())
        digest.update(b"\0")
        digest.update(content)
        digest.update(b"\0")
    return digest.hexdigest()
