"""The dbt project's files as text: read from a checkout or a repository tarball, and the one check
every path the removal reads or writes goes through (`safe_path`)."""

from __future__ import annotations

import io
import posixpath
import re
import tarfile
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

TEXT_SUFFIXES = (".sql", ".py", ".yml", ".yaml", ".md", ".csv", ".txt", ".jinja", ".j2")
SKIPPED_DIRS = frozenset({".git", "target", "logs", "dbt_packages", "dbt_modules", ".venv", "__pycache__"})


class UnsafePathError(ValueError):
    """A path that would leave the dbt project: refused before anything is written."""


@dataclass(frozen=True)
class ProjectFiles:
    files: dict[str, str]
    symlinks: frozenset[str]


def safe_path(project_root: str, relative: str, symlinks: Collection[str] = ()) -> str:
    """`relative` joined to `project_root`, refused if it could point outside the project."""
    for part in (project_root, relative):
        if not isinstance(part, str):
            raise UnsafePathError(f"refusing path {part!r}: not a string")
        if part.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", part) or "\\" in part or "\0" in part:
            raise UnsafePathError(f"refusing path {part!r}: absolute or not a plain relative path")
        if ".." in part.split("/"):
            raise UnsafePathError(f"refusing path {part!r}: it climbs out of the dbt project")
    if not relative.strip("/"):
        raise UnsafePathError("refusing an empty path")
    joined = posixpath.normpath(posixpath.join(project_root, relative))
    # A symlinked file or directory could point anywhere: never edit through one.
    prefixes = [posixpath.join(*joined.split("/")[: i + 1]) for i in range(joined.count("/") + 1)]
    linked = next((p for p in prefixes if p in symlinks), None)
    if linked:
        raise UnsafePathError(f"refusing path {joined!r}: {linked!r} is a symlink")
    return joined


def is_project_text_file(relative: str) -> bool:
    """Whether a file (path relative to the project) is one a removal may read or edit."""
    parts = relative.split("/")
    return relative.endswith(TEXT_SUFFIXES) and not SKIPPED_DIRS.intersection(parts[:-1])


def read_project(root: Path) -> ProjectFiles:
    """Text files of a local dbt project, keyed by relative path; symlinks are listed, never followed."""
    files: dict[str, str] = {}
    symlinks: set[str] = set()

    def walk(directory: Path) -> None:
        for entry in sorted(directory.iterdir()):
            relative = entry.relative_to(root).as_posix()
            if entry.is_symlink():
                symlinks.add(relative)
            elif entry.is_dir() and entry.name not in SKIPPED_DIRS:
                walk(entry)
            elif entry.is_file() and is_project_text_file(relative):
                files[relative] = entry.read_text()

    walk(root)
    return ProjectFiles(files, frozenset(symlinks))


def read_archive(tar_gz: bytes, project_root: str = "") -> ProjectFiles:
    """Text files under `project_root` of a repository tarball (GitHub's: one top directory),
    keyed by repository path; symlinks are listed, never followed."""
    files: dict[str, str] = {}
    symlinks: set[str] = set()
    prefix = f"{project_root.strip('/')}/" if project_root.strip("/") else ""
    try:
        with tarfile.open(fileobj=io.BytesIO(tar_gz), mode="r:gz") as archive:
            for member in archive:
                path = member.name.partition("/")[2]  # drop GitHub's "<owner>-<repo>-<sha>/" directory
                if not path or not path.startswith(prefix) or member.isdir():
                    continue
                try:
                    safe_path("", path)  # git never stores such a name: the archive is not what it seems
                except UnsafePathError as exc:
                    raise UnsafePathError(f"refusing the repository archive: {exc}") from None
                if member.issym() or member.islnk():
                    symlinks.add(path)
                elif member.isfile() and is_project_text_file(path.removeprefix(prefix)):
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        files[path] = extracted.read().decode("utf-8", errors="replace")
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise ValueError(f"the repository archive is not a readable .tar.gz ({exc})") from None
    return ProjectFiles(files, frozenset(symlinks))
