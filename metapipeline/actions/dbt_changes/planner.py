"""Planning the removal of unused dbt models: `plan_removal`, the change set's one entry point.

`plan_removal` is pure: it takes the project's files as text (read from the default branch through
the GitHub API, or from a local checkout with `read_project`), the manifest and the unused models,
and returns a `ChangeSet` (path -> new text, or None to delete). For each model it

- deletes its SQL or Python file (one version's file, for a versioned model);
- removes its entry from properties YAML (or the removed versions' `- v:` items when other versions
  stay), plus its unit tests, generic tests of other resources that `ref()` it, and `depends_on`
  entries of generated (`mode_*`) exposures; a YAML file left without entries is deleted;
- deletes singular tests and `{% docs %}` blocks that only it used;
- removes the `dbt_project.yml` config blocks it leaves applying to nothing (its own, by fqn, and
  those of folders it empties), which dbt would warn about;
- drops criteria of `selectors.yml` that only select removed models, and a selector whose whole
  definition only selected removed models (criteria it cannot evaluate are always kept).

A candidate that something staying still references (a snapshot, an analysis, a disabled node, a
singular test of kept models, the latest version of a model whose other versions stay, any file
left with a `ref()` to it) is not removed: `ChangeSet.dropped` says why, and a candidate a dropped
one reads is dropped too, and so is one a YAML file names that cannot be edited (dbt takes a
repeated key, the round-trip editor does not). A reference the manifest does not show (a macro, a
key dbt ignores) is named by file, line and, in YAML, the keys above it. `RemovalError` is left for
what cannot be planned at all (a candidate the manifest does not know, its file not read, a project
file that does not load); paths that leave the project (traversal, absolute paths, symlinks) fail
with `UnsafePathError`. Sources, macros and docs blocks only removed models used, and selector
descriptions naming removed models, are `ChangeSet.follow_ups`: listed, never edited.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from metapipeline.actions.dbt_changes.blockers import Blockers
from metapipeline.actions.dbt_changes.changeset import ChangeSet, RemovalError, UneditableFileError
from metapipeline.actions.dbt_changes.docs_blocks import delete_orphaned_docs
from metapipeline.actions.dbt_changes.leftovers import left_unused, yaml_trail
from metapipeline.actions.dbt_changes.plan import Plan
from metapipeline.actions.dbt_changes.project_config import edit_dbt_project, edit_selectors
from metapipeline.actions.dbt_changes.project_files import safe_path
from metapipeline.actions.dbt_changes.properties import edit_property_files
from metapipeline.actions.dbt_changes.refs import ModelIndex, model_label
from metapipeline.actions.dbt_changes.yaml_edit import ParseCache, has_entries
from metapipeline.dbt.manifest import ManifestError, check_manifest
from metapipeline.platform.unused import UnusedModel

REFERENCING_SUFFIXES = (".sql", ".py", ".yml", ".yaml", ".md")  # files a `ref()` may stand in


def plan_removal(
    project_files: Mapping[str, str],
    manifest: dict[str, Any],
    models: Sequence[UnusedModel],
    project_root: str = "",
    *,
    symlinks: Collection[str] = (),
    parse_cache: ParseCache | None = None,
) -> ChangeSet:
    """The change set removing `models`, less those something staying references (listed with why
    in its `dropped`). `project_files` maps repository paths (under `project_root`) to text;
    `symlinks` lists paths that are symlinks there (never edited). `parse_cache` keeps YAML parses
    for the next plan (the result is the same with or without)."""
    if project_root:
        project_root = safe_path("", project_root.strip("/"), symlinks)
    try:
        check_manifest(manifest)
    except ManifestError as exc:
        raise RemovalError(f"cannot plan a removal from this manifest: {exc}") from None
    candidates = _candidate_nodes(manifest, models)
    for node in candidates.values():
        safe_path(project_root, node["original_file_path"], symlinks)  # refused even if it is kept
    index = ModelIndex(manifest)
    blockers = Blockers(manifest, index, candidates)
    dropped: dict[str, str] = {}
    while True:
        removed = blockers.settle(dropped)
        if not removed:
            return ChangeSet(dropped=dict(sorted(dropped.items())))
        plan = Plan(project_root, project_files, symlinks, manifest, index, removed, parse_cache)
        try:
            _plan_edits(plan)
        except UneditableFileError as error:
            # Only the candidates that file concerns are blocked by it: keep them, plan the rest.
            concerned = _concerned(plan, error)
            if not concerned:
                raise
            dropped.update(concerned)
            continue
        # A reference the manifest does not show (a macro, a YAML key dbt ignores): keep what it
        # names and plan again without it.
        left = _references_left(plan)
        if not left:
            break
        dropped.update(left)
    change = _change_set(plan, project_files)
    change.dropped = dict(sorted(dropped.items()))
    change.follow_ups = [*left_unused(plan), *plan.follow_ups]
    return change


def _plan_edits(plan: Plan) -> None:
    for _, node in sorted(plan.removed.items()):
        plan.delete_file(plan.path(node["original_file_path"]), f"the {model_label(node)} model")
    edit_property_files(plan)
    _delete_singular_tests(plan)
    edit_dbt_project(plan)
    edit_selectors(plan)
    delete_orphaned_docs(plan)


def _change_set(plan: Plan, project_files: Mapping[str, str]) -> ChangeSet:
    change = ChangeSet()
    for path in sorted(set(plan.yaml_files) | plan.deletions | set(plan.rewrites)):
        new = plan.current(path)
        # Only a file this plan emptied goes; one read but not edited (a comment named a removed
        # model, or it was empty already) is someone else's and stays.
        edited = path in plan.rewrites or (path in plan.yaml_files and plan.yaml_files[path].changed)
        if new is not None and edited and not has_entries(path, new):
            new = None
            plan.summary.append(f"delete {path} (no entries left)")
        if new != project_files[path]:
            change.files[path] = new
            change.before[path] = project_files[path]
    change.summary = list(dict.fromkeys(plan.summary))  # one line per distinct edit
    return change


def _candidate_nodes(manifest: dict[str, Any], models: Sequence[UnusedModel]) -> dict[str, dict[str, Any]]:
    project = (manifest.get("metadata") or {}).get("project_name")
    candidates = {}
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
        candidates[model.unique_id] = node
    return candidates


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _delete_singular_tests(plan: Plan) -> None:
    for node in (plan.manifest.get("nodes") or {}).values():
        if node.get("resource_type") != "test" or not (node.get("original_file_path") or "").endswith(".sql"):
            continue
        if node.get("test_metadata"):
            continue  # generic tests live in properties YAML, handled there
        parents = set((node.get("depends_on") or {}).get("nodes") or ())
        if parents and parents <= set(plan.removed):
            plan.delete_file(plan.path(node["original_file_path"]), "a test only of removed models")


def _references_left(plan: Plan) -> dict[str, str]:
    """Removed models a file left behind still `ref()`s: unique_id -> where, by line."""
    left: dict[str, str] = {}
    for path in sorted(plan.files):
        text = plan.current(path) if path.endswith(REFERENCING_SUFFIXES) else None
        for unique_id, match in plan.refs.references(text or ""):
            if unique_id not in left:
                line, content = _line_as_read(plan, path, unique_id, _position(path, match))
                left[unique_id] = f"referenced in {plan.relative(path)} line {line}: {content}"
    return left


def _position(path: str, match: re.Match[str]) -> tuple[int, str]:
    """The line number of a `ref()`, and its line: in YAML followed by the keys above it (a key
    dbt ignores, a misspelt `data_test:`, is why the manifest does not show the reference)."""
    end = match.string.find("\n", match.start())
    lines = match.string[: end if end >= 0 else len(match.string)].splitlines() or [""]
    content = lines[-1].strip()[:100]
    if path.endswith((".yml", ".yaml")) and (trail := yaml_trail(lines)):
        content += f" (under {' > '.join(trail)})"
    return len(lines), content


def _line_as_read(plan: Plan, path: str, unique_id: str, where: tuple[int, str]) -> tuple[int, str]:
    """`where` in the file as read, which reviewers see: the edits only cut lines above it."""
    original = plan.files[path]
    for _, match in (m for m in plan.refs.references(original) if m[0] == unique_id):
        if (found := _position(path, match))[1] == where[1]:
            return found
    return where


def _concerned(plan: Plan, error: UneditableFileError) -> dict[str, str]:
    """The removed models a YAML file that cannot be edited names (an edit there concerns them)."""
    text, where = plan.files.get(error.path, ""), plan.relative(error.path)
    return {
        unique_id: f"{where} {error.why}"
        for unique_id, node in plan.removed.items()
        if re.search(rf"(?<![\w-]){re.escape(node['name'])}(?![\w-])", text)
    }
