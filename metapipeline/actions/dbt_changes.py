"""File edits that remove unused dbt models, as a change set for a pull request.

`plan_removal` is pure: it takes the project's files as text (read from the default branch through
the GitHub API, or from a local checkout with `read_project`), the manifest and the unused models,
and returns a `ChangeSet` (path -> new text, or None to delete). For each model it

- deletes its SQL or Python file;
- removes its entry from properties YAML, plus its unit tests, generic tests of other resources that
  `ref()` it, and `depends_on` entries of generated (`mode_*`) exposures; a YAML file left without
  entries is deleted;
- deletes singular tests and `{% docs %}` blocks that only it used;
- removes its config block from `dbt_project.yml` (`models:` by fqn);
- drops criteria of `selectors.yml` that only select removed models, and a selector whose whole
  definition only selected removed models (criteria it cannot evaluate are always kept).

YAML is edited by deleting whole lines at the positions ruamel.yaml's round-trip loader reports, so
everything else in an edited file stays byte-identical (comments, order, quoting, blank lines).
Only a flow-style container (`[a, b]`) is re-emitted by ruamel.yaml's round-trip dumper.

Anything left that still references a removed model makes planning fail with `RemovalError` rather
than propose a project that no longer parses; paths that leave the project (traversal, absolute
paths, symlinks) fail with `UnsafePathError`.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import hashlib
import io
import json
import os
import pickle
import posixpath
import re
import tarfile
import time
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import ruamel.yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.events import (
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamStartEvent,
)
from ruamel.yaml.util import load_yaml_guess_indent

from metapipeline.dbt.manifest import ManifestError, check_manifest
from metapipeline.markdown import escape as md_escape
from metapipeline.markdown import fitting
from metapipeline.platform.unused import GENERATED_EXPOSURE_PREFIX, UnusedModel
from metapipeline.unpickling import collector_paused

TEXT_SUFFIXES = (".sql", ".py", ".yml", ".yaml", ".md", ".csv", ".txt", ".jinja", ".j2")
SKIPPED_DIRS = frozenset({".git", "target", "logs", "dbt_packages", "dbt_modules", ".venv", "__pycache__"})
# YAML files in a project root that are not properties files.
NON_PROPERTY_FILES = frozenset(
    {"dbt_project.yml", "selectors.yml", "profiles.yml", "packages.yml", "dependencies.yml"}
)
PROPERTY_SECTIONS = ("models", "seeds", "snapshots", "analyses", "sources", "exposures", "unit_tests")


class UnsafePathError(ValueError):
    """A path that would leave the dbt project: refused before anything is written."""


class RemovalError(ValueError):
    """The removal cannot be planned safely (the message says what to fix by hand)."""


@dataclass
class ChangeSet:
    """Whole-file edits relative to the project's default branch: path -> new text, None deletes."""

    files: dict[str, str | None] = field(default_factory=dict)
    before: dict[str, str | None] = field(default_factory=dict)  # the text each edit replaces
    summary: list[str] = field(default_factory=list)

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


@dataclass(frozen=True)
class ModelRunInfo:
    """What the run history says about a model, for the pull request's table."""

    last_run_at: datetime | None = None
    run_time_s: float | None = None  # typical (e.g. median) execution time per run


@dataclass(frozen=True)
class ProjectFiles:
    files: dict[str, str]
    symlinks: frozenset[str]


# -- paths ---------------------------------------------------------------------------------------


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


# -- YAML edits that keep everything else byte-identical ------------------------------------------


class _GuessOnly:
    """Stands in for the loader `load_yaml_guess_indent` calls: its guess reads only the text, and
    loading there would parse the file a second time."""

    @staticmethod
    def load(_text: str) -> None:
        return None


def _guess_indent(text: str) -> tuple[int | None, int | None]:
    _, sequence_indent, offset = load_yaml_guess_indent(text, yaml=_GuessOnly())
    return sequence_indent, offset


def _round_trip_yaml(indent: tuple[int | None, int | None]) -> YAML:
    sequence_indent, offset = indent
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long descriptions
    offset = offset or 0
    yaml.indent(mapping=offset or 2, sequence=sequence_indent or 2, offset=offset)
    return yaml


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_comment_or_blank(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")


Parsed = tuple[tuple[int | None, int | None], Any]  # (indentation guess, round-trip document)


def _parse(text: str) -> Parsed:
    indentation = _guess_indent(text)  # can fail on odd text too: same error as a bad load
    return indentation, _round_trip_yaml(indentation).load(text)


class ParseCache:
    """Round-trip parses of YAML files, on local disk by the digest of their text.

    ruamel's round-trip loader is pure Python (about 250 KB/s: 9 s for the 2 MB of property files
    of a 10,000-model project) and most property files are the same from one day to the next; an
    unpickled parse takes a few milliseconds. Entries are pickles, so the directory must be one
    only this deployment writes (DAGSTER_HOME's storage), never a shared store. An entry that
    cannot be read is parsed again; one unused for `keep_days` is removed by `prune`.
    """

    FORMAT = 1  # bump when what `_parse` returns changes

    def __init__(self, directory: Path, keep_days: int = 30):
        self.directory = directory
        self.keep_days = keep_days
        self.hits = self.misses = self.unreadable = self.unsaved = 0

    def load(self, text: str) -> Parsed | None:
        path = self._path(text)
        try:
            payload = zlib.decompress(path.read_bytes())
            with collector_paused():
                parsed = pickle.loads(payload)
            os.utime(path)  # still in use: `prune` keeps it
        except FileNotFoundError:
            self.misses += 1
            return None
        except Exception:  # a torn or foreign file: parse again, and overwrite it
            self.unreadable += 1
            return None
        self.hits += 1
        return parsed

    def save(self, text: str, parsed: Parsed) -> None:
        path = self._path(text)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(zlib.compress(pickle.dumps(parsed, pickle.HIGHEST_PROTOCOL), 1))
            os.replace(partial, path)  # readers never see half a file
        except OSError:  # a full or read-only disk costs the next plan a parse, nothing more
            self.unsaved += 1
            partial.unlink(missing_ok=True)

    def prune(self) -> int:
        """Remove entries unused for `keep_days`; the number removed."""
        cutoff = time.time() - self.keep_days * 86400
        removed = 0
        for path in self.directory.glob("*.parse"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # another run pruned it first
                pass
        return removed

    def _path(self, text: str) -> Path:
        key = f"{self.FORMAT}\0{ruamel.yaml.__version__}\0{text}"
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()}.parse"


class _YamlFile:
    """A YAML file loaded round-trip, with deletions recorded and rendered at the end."""

    def __init__(self, path: str, text: str, cache: ParseCache | None = None):
        self.path = path
        self.text = text
        parsed = cache.load(text) if cache is not None else None
        if parsed is None:
            try:
                parsed = _parse(text)
            except Exception as error:  # ruamel raises many types; all mean "cannot edit this safely"
                raise RemovalError(f"{path} is not valid YAML: {error}") from error
            if cache is not None:
                cache.save(text, parsed)
        self.indentation, self.doc = parsed
        self.lines = text.splitlines(keepends=True)
        self._deleted: list[tuple[CommentedMap | CommentedSeq, Any]] = []
        self._dumped: str | None = None  # a dump mutates the document: render once, edit no more
        self._rendered: str | None = None  # render() until the next delete()

    def is_deleted(self, container: CommentedMap | CommentedSeq, key: Any) -> bool:
        return any(c is container and k == key for c, k in self._deleted)

    def remaining(self, container: CommentedMap | CommentedSeq) -> list[Any]:
        keys = range(len(container)) if isinstance(container, CommentedSeq) else list(container)
        return [k for k in keys if not self.is_deleted(container, k)]

    def delete(self, container: CommentedMap | CommentedSeq, key: Any) -> None:
        if self._dumped is not None:
            raise RuntimeError(f"{self.path}: edited after it was rendered")
        if not self.is_deleted(container, key):
            self._deleted.append((container, key))
            self._rendered = None

    @property
    def changed(self) -> bool:
        return bool(self._deleted)

    @property
    def deleted_nodes(self) -> list[Any]:
        return [container[key] for container, key in self._deleted]

    def render(self) -> str:
        if self._rendered is None:
            self._rendered = self._render()
        return self._rendered

    def _render(self) -> str:
        if not self._deleted:
            return self.text
        if self._dumped is not None or any(self._needs_dump(c, k) for c, k in self._deleted):
            self._dumped = self._dumped if self._dumped is not None else self._dump()
            return self._dumped
        dropped: set[int] = set()
        for container, key in self._deleted:
            dropped.update(range(*self._line_range(container, key)))
        return "".join(line for number, line in enumerate(self.lines) if number not in dropped)

    def _position(self, container: CommentedMap | CommentedSeq, key: Any) -> tuple[int, int]:
        return container.lc.item(key) if isinstance(container, CommentedSeq) else container.lc.key(key)

    def _needs_dump(self, container: CommentedMap | CommentedSeq, key: Any) -> bool:
        """Flow style, or siblings sharing a line: whole lines cannot be cut out."""
        if container.fa.flow_style():
            return True
        keys = list(range(len(container))) if isinstance(container, CommentedSeq) else list(container)
        lines = [self._position(container, k)[0] for k in keys]
        return len(set(lines)) != len(lines)

    def _line_range(self, container: CommentedMap | CommentedSeq, key: Any) -> tuple[int, int]:
        """Lines [start, end) holding one entry, with the comment lines directly above it."""
        line, column = self._position(container, key)
        is_seq = isinstance(container, CommentedSeq)
        text = self.lines[line]
        marker = text.rfind("-", 0, column) if is_seq else column
        marker = marker if marker >= 0 else column
        keys = list(range(len(container))) if is_seq else list(container)
        following = keys[keys.index(key) + 1 :]
        last = not following
        if following:
            end = self._position(container, following[0])[0]
        else:
            end = line + 1
            while end < len(self.lines):
                candidate = self.lines[end]
                if not _is_comment_or_blank(candidate):
                    depth = _indent(candidate)
                    inside = depth > marker or (
                        not is_seq and depth == marker and candidate.lstrip().startswith("- ")
                    )
                    if not inside:
                        break
                end += 1
        # Comments directly above the next thing describe that thing; comments above this entry, this.
        while end - 1 > line and (
            (last and not self.lines[end - 1].strip())
            or (self.lines[end - 1].lstrip().startswith("#") and _indent(self.lines[end - 1]) <= marker)
        ):
            end -= 1
        start = line
        while start > 0 and self.lines[start - 1].lstrip().startswith("#"):
            if _indent(self.lines[start - 1]) != marker:
                break
            start -= 1
        # The last entry goes with the blank line that separated it, not the one after it.
        if last and (end == len(self.lines) or not self.lines[end].strip()):
            while start > 0 and not self.lines[start - 1].strip():
                start -= 1
        return start, end

    def _dump(self) -> str:
        # Deleting from the highest index keeps the other recorded indices valid.
        ordered = sorted(self._deleted, key=lambda ck: ck[1] if isinstance(ck[1], int) else 0, reverse=True)
        for container, key in ordered:
            del container[key]
        out = io.StringIO()
        _round_trip_yaml(self.indentation).dump(self.doc, out)
        return out.getvalue()


def _dump_node(node: Any) -> str:
    if type(node) is str:  # a plain string (no anchor, comment or style) dumps the same every time
        return _dump_string(node)
    out = io.StringIO()
    YAML().dump(node, out)
    return out.getvalue()


@functools.lru_cache(maxsize=1024)
def _dump_string(node: str) -> str:
    out = io.StringIO()
    YAML().dump(node, out)
    return out.getvalue()


def _ref_pattern(names: Iterable[str]) -> re.Pattern[str]:
    """`ref('name')`, `ref("pkg", "name")`, `dbt.ref('name')` for any of `names`."""
    alternatives = "|".join(re.escape(n) for n in sorted(names))
    return re.compile(rf"""\bref\(\s*(?:['"][\w-]+['"]\s*,\s*)?['"](?:{alternatives})['"]\s*(?:,[^)]*)?\)""")


# -- planning ---------------------------------------------------------------------------------------


@dataclass
class _Plan:
    project_root: str
    files: Mapping[str, str]
    symlinks: Collection[str]
    manifest: dict[str, Any]
    removed: dict[str, dict[str, Any]]  # unique_id -> manifest node
    parse_cache: ParseCache | None = None
    yaml_files: dict[str, _YamlFile] = field(default_factory=dict)
    deletions: set[str] = field(default_factory=set)
    rewrites: dict[str, str] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)

    @property
    def names(self) -> set[str]:
        return {node["name"] for node in self.removed.values()}

    def path(self, relative: str) -> str:
        return safe_path(self.project_root, relative, self.symlinks)

    def text(self, path: str) -> str:
        if path not in self.files:
            raise RemovalError(f"{path} is not among the project files read from the default branch")
        return self.files[path]

    def yaml(self, path: str) -> _YamlFile:
        if path not in self.yaml_files:
            self.yaml_files[path] = _YamlFile(path, self.text(path), self.parse_cache)
        return self.yaml_files[path]

    def delete_file(self, path: str, why: str) -> None:
        self.text(path)
        self.deletions.add(path)
        self.summary.append(f"delete {path} ({why})")

    def relative(self, path: str) -> str:
        return posixpath.relpath(path, self.project_root) if self.project_root else path

    def current(self, path: str) -> str | None:
        """A file's text once the planned edits are applied so far (None if deleted)."""
        if path in self.deletions:
            return None
        if path in self.yaml_files and self.yaml_files[path].changed:
            return self.yaml_files[path].render()
        return self.rewrites.get(path, self.files.get(path))


def plan_removal(
    project_files: Mapping[str, str],
    manifest: dict[str, Any],
    models: Sequence[UnusedModel],
    project_root: str = "",
    *,
    symlinks: Collection[str] = (),
    parse_cache: ParseCache | None = None,
) -> ChangeSet:
    """The change set removing `models`. `project_files` maps repository paths (under
    `project_root`) to text; `symlinks` lists paths that are symlinks there (never edited).
    `parse_cache` keeps YAML parses for the next plan (the result is the same with or without)."""
    if project_root:
        project_root = safe_path("", project_root.strip("/"), symlinks)
    try:
        check_manifest(manifest)
    except ManifestError as exc:
        raise RemovalError(f"cannot plan a removal from this manifest: {exc}") from None
    plan = _Plan(
        project_root, project_files, symlinks, manifest, _removed_nodes(manifest, models), parse_cache
    )
    if not plan.removed:
        return ChangeSet()
    for _, node in sorted(plan.removed.items()):
        path = plan.path(node["original_file_path"])
        plan.delete_file(path, f"the {node['name']} model")
    _edit_property_files(plan)
    _delete_singular_tests(plan)
    _edit_dbt_project(plan)
    _edit_selectors(plan)
    _delete_orphaned_docs(plan)
    _check_no_reference_left(plan)

    change = ChangeSet()
    for path in sorted(set(plan.yaml_files) | plan.deletions | set(plan.rewrites)):
        new = plan.current(path)
        # Only a file this plan emptied goes; one read but not edited (a comment named a removed
        # model, or it was empty already) is someone else's and stays.
        edited = path in plan.rewrites or (path in plan.yaml_files and plan.yaml_files[path].changed)
        if new is not None and edited and not _has_entries(path, new):
            new = None
            plan.summary.append(f"delete {path} (no entries left)")
        if new != project_files[path]:
            change.files[path] = new
            change.before[path] = project_files[path]
    change.summary = list(dict.fromkeys(plan.summary))  # one line per distinct edit
    return change


def _removed_nodes(manifest: dict[str, Any], models: Sequence[UnusedModel]) -> dict[str, dict[str, Any]]:
    project = (manifest.get("metadata") or {}).get("project_name")
    removed = {}
    for model in models:
        node = (manifest.get("nodes") or {}).get(model.unique_id)
        if node is None or node.get("resource_type") != "model":
            raise RemovalError(f"{model.unique_id} is not a model in the manifest")
        if project and node.get("package_name") != project:
            raise RemovalError(
                f"{model.unique_id} belongs to the package {node.get('package_name')}, not {project}: "
                "remove it there"
            )
        fqn = node.get("fqn")
        if not node.get("original_file_path") or not isinstance(fqn, list) or not all(map(_is_text, fqn)):
            raise RemovalError(f"{model.unique_id}: the manifest gives no original_file_path or fqn")
        if model.path and model.path != node["original_file_path"]:
            raise RemovalError(
                f"{model.unique_id}: the graph says {model.path}, the manifest {node['original_file_path']}"
            )
        removed[model.unique_id] = node
    return removed


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _property_files(plan: _Plan) -> Iterator[str]:
    for path in sorted(plan.files):
        relative = plan.relative(path)
        if (
            not relative.startswith("../")
            and relative.endswith((".yml", ".yaml"))
            and relative not in NON_PROPERTY_FILES
            and relative.split("/")[0] not in SKIPPED_DIRS
        ):
            yield path


def _edit_property_files(plan: _Plan) -> None:
    names = plan.names
    refs = _ref_pattern(names)
    for path in _property_files(plan):
        if not any(name in plan.files[path] for name in names):
            continue  # cheap skip: most files never mention a removed model
        yaml = plan.yaml(path)
        if not isinstance(yaml.doc, CommentedMap):
            continue
        for section in PROPERTY_SECTIONS:
            entries = yaml.doc.get(section)
            if not isinstance(entries, CommentedSeq):
                continue
            for index, entry in enumerate(entries):
                if not isinstance(entry, CommentedMap):
                    continue
                if _entry_is_removed(section, entry, names):
                    yaml.delete(entries, index)
                    plan.summary.append(f"remove {entry['name']} from {path}")
                    continue
                if section == "exposures":
                    _edit_exposure(plan, yaml, entry, refs)
                else:
                    _drop_tests(plan, yaml, entry, refs)
            if entries and not yaml.remaining(entries):
                yaml.delete(yaml.doc, section)


def _entry_is_removed(section: str, entry: CommentedMap, names: set[str]) -> bool:
    if section == "models":
        return entry.get("name") in names
    if section == "unit_tests":
        return entry.get("model") in names
    return False


def _edit_exposure(plan: _Plan, yaml: _YamlFile, entry: CommentedMap, refs: re.Pattern[str]) -> None:
    """Generated exposures follow Mode: drop refs to removed models; hand-written ones are people's."""
    depends_on = entry.get("depends_on")
    name = str(entry.get("name", ""))
    if not isinstance(depends_on, CommentedSeq) or not name.startswith(GENERATED_EXPOSURE_PREFIX):
        return  # a hand-written exposure that refs a removed model fails the final check
    for index, item in enumerate(depends_on):
        if refs.search(str(item)):
            yaml.delete(depends_on, index)
    if not yaml.remaining(depends_on):
        exposures = yaml.doc["exposures"]
        yaml.delete(exposures, next(i for i, e in enumerate(exposures) if e is entry))
        plan.summary.append(f"remove the generated exposure {name} (it read only removed models)")


def _drop_tests(plan: _Plan, yaml: _YamlFile, entry: CommentedMap, refs: re.Pattern[str]) -> None:
    """Generic tests on kept resources that `ref()` a removed model (e.g. relationships)."""
    holders = [entry, *[c for c in entry.get("columns") or [] if isinstance(c, CommentedMap)]]
    for table in entry.get("tables") or []:  # sources
        if isinstance(table, CommentedMap):
            holders += [table, *[c for c in table.get("columns") or [] if isinstance(c, CommentedMap)]]
    for holder in holders:
        for key in ("data_tests", "tests"):
            tests = holder.get(key)
            if not isinstance(tests, CommentedSeq):
                continue
            for index, test in enumerate(tests):
                if refs.search(_dump_node(test)):
                    yaml.delete(tests, index)
                    plan.summary.append(f"remove a test of {holder.get('name')} in {yaml.path}")
            if not yaml.remaining(tests):
                yaml.delete(holder, key)


def _delete_singular_tests(plan: _Plan) -> None:
    for node in (plan.manifest.get("nodes") or {}).values():
        if node.get("resource_type") != "test" or not (node.get("original_file_path") or "").endswith(".sql"):
            continue
        if node.get("test_metadata"):
            continue  # generic tests live in properties YAML, handled there
        parents = set((node.get("depends_on") or {}).get("nodes") or ())
        if parents and parents <= set(plan.removed):
            plan.delete_file(plan.path(node["original_file_path"]), "a test only of removed models")


def _edit_dbt_project(plan: _Plan) -> None:
    path = plan.path("dbt_project.yml")
    if path not in plan.files:
        return
    yaml = plan.yaml(path)
    project = (plan.manifest.get("metadata") or {}).get("project_name")
    configs = yaml.doc.get("models") if isinstance(yaml.doc, CommentedMap) else None
    if not isinstance(configs, CommentedMap) or not isinstance(configs.get(project), CommentedMap):
        return
    for node in plan.removed.values():
        # fqn: [project, directories..., name]; config keys may carry no "+" (a "+" key is a config).
        trail: list[tuple[CommentedMap, str]] = []
        level = configs[project]
        for part in node["fqn"][1:]:
            if not isinstance(level, CommentedMap) or part not in level or yaml.is_deleted(level, part):
                break
            trail.append((level, part))
            level = level[part]
        else:
            for container, key in reversed(trail):
                yaml.delete(container, key)
                if yaml.remaining(container):
                    break  # keep parents that still configure something
            plan.summary.append(f"remove the {node['name']} config block from {path}")


# -- selectors ---------------------------------------------------------------------------------------

_UNKNOWN = None


def _selectable(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [n for n in (manifest.get("nodes") or {}).values() if n.get("resource_type") != "test"]
    return (
        nodes
        + list((manifest.get("sources") or {}).values())
        + list((manifest.get("exposures") or {}).values())
    )


def _fqn_match(node: dict[str, Any], value: str) -> bool:
    parts = value.split(".")
    if len(parts) == 1 and fnmatch.fnmatchcase(node["name"], value):
        return True
    fqn = node.get("fqn") or []
    return any(
        len(parts) <= len(candidate)
        and all(fnmatch.fnmatchcase(c, p) for c, p in zip(candidate, parts, strict=False))
        for candidate in (fqn, fqn[1:])
    )


def _method_matches(nodes: list[dict[str, Any]], method: str, value: str) -> set[str] | None:
    """Unique ids a selector method picks before graph operators; None for methods not evaluated."""
    value = value.strip()
    if method == "fqn":
        return {n["unique_id"] for n in nodes if _fqn_match(n, value)}
    if method == "path":
        prefix = value.rstrip("/")
        return {
            n["unique_id"]
            for n in nodes
            if (p := n.get("original_file_path") or "") == prefix
            or p.startswith(prefix + "/")
            or fnmatch.fnmatchcase(p, value)
        }
    if method == "tag":
        return {
            n["unique_id"] for n in nodes if any(fnmatch.fnmatchcase(t, value) for t in n.get("tags") or ())
        }
    if method == "file":
        return {
            n["unique_id"]
            for n in nodes
            if fnmatch.fnmatchcase(posixpath.basename(n.get("original_file_path") or ""), value)
        }
    return _UNKNOWN


def _string_criterion(text: str) -> tuple[str, str] | None:
    """A CLI-style criterion like `+tag:ops` or `fct_orders+`; None when it is a set expression."""
    if re.search(r"[\s,]", text.strip()):
        return None
    core = re.sub(r"^(@|\d*\+)|\+\d*$", "", text.strip())
    method, sep, value = core.partition(":")
    return (method.split(".")[0], value) if sep else ("fqn", core)


class _SelectorEvaluator:
    def __init__(self, manifest: dict[str, Any], removed: Collection[str]):
        self.nodes = _selectable(manifest)
        self.removed = set(removed)
        self.dropped_selectors: set[str] = set()

    def only_removed(self, definition: Any) -> bool:
        """True when `definition` certainly selects something today and only removed models."""
        if isinstance(definition, str):
            parsed = _string_criterion(definition)
            return parsed is not None and self._criterion_dead(*parsed)
        if not isinstance(definition, Mapping):
            return False
        if "union" in definition:
            included = [d for d in definition["union"] or [] if not _is_exclude(d)]
            return bool(included) and all(self.only_removed(d) for d in included)
        if "intersection" in definition:
            included = [d for d in definition["intersection"] or [] if not _is_exclude(d)]
            return any(self.only_removed(d) for d in included)
        if "method" in definition and "value" in definition:
            return self._criterion_dead(str(definition["method"]), str(definition["value"]))
        return False

    def _criterion_dead(self, method: str, value: str) -> bool:
        if method == "selector":
            return value in self.dropped_selectors
        matches = _method_matches(self.nodes, method, value)
        return matches is not None and bool(matches) and matches <= self.removed


def _is_exclude(definition: Any) -> bool:
    return isinstance(definition, Mapping) and "exclude" in definition


def _edit_selectors(plan: _Plan) -> None:
    path = plan.path("selectors.yml")
    if path not in plan.files:
        return
    yaml = plan.yaml(path)
    selectors = yaml.doc.get("selectors") if isinstance(yaml.doc, CommentedMap) else None
    if not isinstance(selectors, CommentedSeq):
        return
    evaluator = _SelectorEvaluator(plan.manifest, plan.removed)
    # A dropped selector can make another one (method: selector) dead: repeat until nothing moves.
    while True:
        newly = [
            (i, s)
            for i, s in enumerate(selectors)
            if isinstance(s, CommentedMap)
            and not yaml.is_deleted(selectors, i)
            and evaluator.only_removed(s.get("definition"))
        ]
        if not newly:
            break
        for index, selector in newly:
            yaml.delete(selectors, index)
            evaluator.dropped_selectors.add(str(selector.get("name")))
            plan.summary.append(f"drop the selector {selector.get('name')} (it selected only removed models)")
    for index, selector in enumerate(selectors):
        if isinstance(selector, CommentedMap) and not yaml.is_deleted(selectors, index):
            _prune_criteria(plan, yaml, evaluator, selector.get("definition"), str(selector.get("name")))


def _prune_criteria(
    plan: _Plan, yaml: _YamlFile, evaluator: _SelectorEvaluator, definition: Any, selector: str
) -> None:
    """Drop union members and exclusions that only name removed models; never touch intersections'
    members (dropping one would widen the selection)."""
    if not isinstance(definition, CommentedMap):
        return
    for operator in ("union", "intersection"):
        members = definition.get(operator)
        if not isinstance(members, CommentedSeq):
            continue
        for index, member in enumerate(members):
            if _is_exclude(member):
                excluded = member["exclude"]
                if isinstance(excluded, CommentedSeq):
                    for j, criterion in enumerate(excluded):
                        if evaluator.only_removed(criterion):
                            yaml.delete(excluded, j)
                            plan.summary.append(
                                f"drop an exclusion of removed models from the selector {selector}"
                            )
                    if not yaml.remaining(excluded):
                        yaml.delete(members, index)
                elif evaluator.only_removed(excluded):
                    yaml.delete(members, index)
            elif operator == "union" and evaluator.only_removed(member):
                yaml.delete(members, index)
                plan.summary.append(f"drop a criterion of the selector {selector} (only removed models)")
            else:
                _prune_criteria(plan, yaml, evaluator, member, selector)


# -- docs blocks and the final check ------------------------------------------------------------------

_DOC_REF = re.compile(r"""\bdoc\(\s*(?:['"][\w-]+['"]\s*,\s*)?['"](\w+)['"]\s*\)""")


def _delete_orphaned_docs(plan: _Plan) -> None:
    """`{% docs %}` blocks the removed entries used and nothing left uses."""
    used_by_removed = {
        name
        for yaml in plan.yaml_files.values()
        for node in yaml.deleted_nodes
        for text in _strings(node)
        for name in _DOC_REF.findall(text)
    }
    if not used_by_removed:
        return
    still_used = {
        name for path in plan.files if (text := plan.current(path)) for name in _DOC_REF.findall(text)
    }
    project = (plan.manifest.get("metadata") or {}).get("project_name")
    for name in sorted(used_by_removed - still_used):
        doc = (plan.manifest.get("docs") or {}).get(f"doc.{project}.{name}")
        if not isinstance(doc, dict) or not isinstance(doc.get("original_file_path"), str):
            continue  # a docs section the manifest check does not cover: leave the block alone
        path = plan.path(doc["original_file_path"])
        text = plan.current(path) or ""
        block = re.compile(
            rf"{{%-?\s*docs\s+{re.escape(name)}\s*-?%}}.*?{{%-?\s*enddocs\s*-?%}}[ \t]*\n?(?:[ \t]*\n)?",
            re.DOTALL,
        )
        new, count = block.subn("", text, count=1)
        if count:
            plan.rewrites[path] = new
            plan.summary.append(f"remove the docs block {name} from {path}")
            if not new.strip():
                plan.deletions.add(path)


def _strings(node: Any) -> Iterator[str]:
    """Every string in a loaded YAML node, keys included (not its comments: a comment uses nothing)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _strings(item)


def _check_no_reference_left(plan: _Plan) -> None:
    refs = _ref_pattern(plan.names)
    left = sorted(
        path
        for path in plan.files
        if path.endswith((".sql", ".py", ".yml", ".yaml", ".md"))
        and (text := plan.current(path)) is not None
        and refs.search(text)
    )
    if left:
        raise RemovalError(
            "still referenced after the removal, edit by hand or protect the models: " + ", ".join(left)
        )


def _has_entries(path: str, text: str) -> bool:
    """False for a properties file left with nothing but `version:` (or nothing at all)."""
    if path.endswith(".md"):
        return bool(text.strip())
    if not path.endswith((".yml", ".yaml")):
        return True
    if _opens_with_a_list(text):
        return True
    try:
        doc = YAML(typ="safe").load(text)
    except Exception:  # a parse problem is dbt's to report, not a reason to delete
        return True
    if not isinstance(doc, dict):
        return doc is not None
    return any(value for key, value in doc.items() if key != "version")


def _opens_with_a_list(text: str) -> bool:
    """True only where `_has_entries` is True too, read from the first parse events instead of a
    load of the whole file: the document is a mapping in which a key other than `version` holds a
    non-empty sequence (a properties file opens `version: 2`, `models:`). Whatever follows, the safe
    loader then fails (the file is kept) or returns a dict holding that non-empty list: it refuses
    duplicate keys, and the text has no tag (`!`) and no merge key (`<<` turns that check off)."""
    if "<<" in text or "!" in text:
        return False
    events = YAML(typ="safe").parse(text)
    try:
        opening = [type(next(events)) for _ in range(3)]
        if opening != [StreamStartEvent, DocumentStartEvent, MappingStartEvent]:
            return False
        while isinstance(key := next(events), ScalarEvent):
            value = next(events)
            if isinstance(value, SequenceStartEvent) and key.value != "version":
                if not isinstance(next(events), SequenceEndEvent):
                    return True
                continue  # an empty list: try the next key
            depth = int(isinstance(value, CollectionStartEvent))  # skip the rest of this value
            while depth:
                event = next(events)
                depth += isinstance(event, CollectionStartEvent) - isinstance(event, CollectionEndEvent)
        return False
    except Exception:  # a parse error: leave the verdict to the full load
        return False
    finally:
        events.close()


# -- pull request text ---------------------------------------------------------------------------------

# Shares of the 65,536 characters GitHub takes in a pull request body (the rest: text and markers).
TABLE_CHARS = 30_000
DIAGRAM_CHARS = 12_000  # GitHub draws no Mermaid diagram past 50,000 characters; people stop earlier
CHANGES_CHARS = 12_000
KEEP_HELP = """\
### Keeping a model

Removal is proposed because nothing live reads these models. To keep one, protect it and this pull
request drops it on the next run:

```yaml
models:
  - name: <model>
    config:
      tags: [keep]        # or
      meta:
        keep: true
```
"""


def _cell(value: Any) -> str:
    # People type names and owners: escape Markdown, HTML entities and @mentions (a silent ping). A
    # lone surrogate (JSON allows one) has no UTF-8 form, so GitHub could not take the body.
    html = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SURROGATE.sub("\ufffd", md_escape(html).replace("@", "@\u2060"))


_SURROGATE = re.compile("[\ud800-\udfff]")


def _mermaid_label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.:\- ]", "_", text)[:80]


def _neighbours(manifest: dict[str, Any], unique_ids: Collection[str]) -> list[tuple[str, str]]:
    """Edges (parent, child) one hop around the removed models, from the manifest."""
    edges = set()
    for uid in unique_ids:
        for parent in manifest.get("parent_map", {}).get(uid, ()):
            edges.add((parent, uid))
        for child in manifest.get("child_map", {}).get(uid, ()):
            if not child.startswith("test."):
                edges.add((uid, child))
    return sorted(edges)


def _mermaid(manifest: dict[str, Any], removed: Collection[str]) -> str:
    edges = _neighbours(manifest, removed)
    nodes = sorted({n for edge in edges for n in edge} | set(removed))
    ids = {node: f"n{i}" for i, node in enumerate(nodes)}
    lines = ["```mermaid", "flowchart LR"]
    for node in nodes:
        name = node.split(".", 2)[-1]
        lines.append(f'  {ids[node]}["{_mermaid_label(name)}"]')
    lines += [f"  {ids[a]} --> {ids[b]}" for a, b in edges]
    if removed:
        lines.append("  classDef removed fill:#fdd,stroke:#c00,stroke-dasharray: 4 2")
        lines.append(f"  class {','.join(ids[n] for n in sorted(removed))} removed")
    lines.append("```")
    return "\n".join(lines)


def removal_pr_text(
    models: Sequence[UnusedModel],
    run_info: Mapping[str, ModelRunInfo],
    manifest: dict[str, Any],
    *,
    change: ChangeSet | None = None,
) -> tuple[str, str]:
    """Title and Markdown body of the removal pull request."""
    count = len(models)
    title = f"Remove {count} unused dbt model{'s' if count != 1 else ''}"
    header = "| model | owner | last run | run time | why it is unused |\n|---|---|---|---|---|"
    rows = []
    for model in sorted(models, key=lambda m: m.name):
        info = run_info.get(model.unique_id, ModelRunInfo())
        last_run = info.last_run_at.strftime("%Y-%m-%d") if info.last_run_at else "never"
        run_time = f"{info.run_time_s:.1f} s" if info.run_time_s is not None else "n/a"
        cells = [model.name, model.owner or "unknown", last_run, run_time, model.why]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if (shown := fitting(rows, TABLE_CHARS)) < len(rows):
        rows = [*rows[:shown], f"| ... and {len(rows) - shown} more: see Files changed | | | | |"]
    diagram = _mermaid(manifest, [m.unique_id for m in models])
    if len(diagram) > DIAGRAM_CHARS:
        diagram = f"_{count} models and their neighbours are too many to draw here._"
    parts = [
        f"metapipeline found {count} dbt model{'s' if count != 1 else ''} with no path to any live consumer "
        "(an active Mode report, a hand-written exposure or a protected model).",
        "\n".join([header, *rows]),
        "### Removed models and their neighbours\n\n" + diagram,
    ]
    if change and change.summary:
        lines = [f"- {_cell(line)}" for line in change.summary]
        if (shown := fitting(lines, CHANGES_CHARS)) < len(lines):
            lines = [*lines[:shown], f"- ... and {len(lines) - shown} more: see Files changed"]
        parts.append("### Changes\n\n" + "\n".join(lines))
    parts.append(KEEP_HELP)
    return title, "\n\n".join(parts)
