"""A change to the dbt project as whole-file edits, the unit every pull request publishes."""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from metapipeline.actions.dbt_changes.project_files import UnsafePathError, safe_path


class RemovalError(ValueError):
    """The removal cannot be planned safely (the message says what to fix by hand)."""


class UneditableFileError(RemovalError):
    """A YAML file an edit needs cannot be loaded for editing (dbt's loader takes what ruamel's
    refuses, e.g. a repeated key): the candidates it names stay, the others can still go."""

    def __init__(self, path: str, why: str):
        super().__init__(f"{path} {why}")
        self.path = path
        self.why = why


@dataclass
class ChangeSet:
    """Whole-file edits relative to the project's default branch: path -> new text, None deletes."""

    files: dict[str, str | None] = field(default_factory=dict)
    before: dict[str, str | None] = field(default_factory=dict)  # the text each edit replaces
    summary: list[str] = field(default_factory=list)
    # Candidates a removal keeps, unique_id -> why: something that stays still references them.
    dropped: dict[str, str] = field(default_factory=dict)
    # What the removal leaves for people to decide (not edited): sources, macros and docs blocks
    # only removed models used, selector descriptions that name removed models.
    follow_ups: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.files)

    def content_hash(self) -> str:
        """Stable over runs: what the change set writes, not how it was planned."""
        canonical = json.dumps(sorted(self.files.items(), key=lambda kv: kv[0]), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def diff(self) -> str:
        """A unified diff against `before`, the way `git diff` shows it."""
        chunks: list[str] = []
        for path in sorted(self.files):
            old, new = self.before.get(path), self.files[path]
            chunks += difflib.unified_diff(
                (old or "").splitlines(keepends=True),
                (new or "").splitlines(keepends=True),
                fromfile=f"a/{path}" if old is not None else "/dev/null",
                tofile=f"b/{path}" if new is not None else "/dev/null",
            )
        return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)

    def apply_to(self, root: Path) -> None:
        """Write the change into a checkout (tests, local runs); paths are checked again here."""
        for path, text in self.files.items():
            target = root / safe_path("", path)
            inside = [p for p in (target, *target.parents) if p != root and p.is_relative_to(root)]
            if any(p.is_symlink() for p in inside):
                raise UnsafePathError(f"refusing to write {path}: it goes through a symlink")
            if text is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
