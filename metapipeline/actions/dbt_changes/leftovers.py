"""What a removal leaves unused without editing it: sources, macros and docs blocks that only the
removed models used. They may serve something the manifest does not show (a `run-operation`, a
notebook, another repository), so the pull request lists them for people to decide."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from metapipeline.actions.dbt_changes.plan import Plan

# Sections of the manifest whose entries read sources, call macros or use docs blocks.
USING_SECTIONS = (
    "nodes",
    "sources",
    "exposures",
    "metrics",
    "semantic_models",
    "saved_queries",
    "unit_tests",
)


def left_unused(plan: Plan) -> list[str]:
    """One line per source, macro and docs block something used before the removal and nothing
    uses after it."""
    manifest, project = plan.manifest, (plan.manifest.get("metadata") or {}).get("project_name")
    before = list(_users(manifest))
    after = [(uid, node) for uid, node in before if uid not in plan.gone]
    lines = []
    sources = manifest.get("sources") or {}
    for unique_id in sorted(_read_sources(before) - _read_sources(after)):
        source = sources.get(unique_id) or {}
        if source.get("package_name") in (project, None):
            name = f"{source.get('source_name')}.{source.get('name')}"
            lines.append(
                f"the source {name} ({source.get('original_file_path')}): only removed models read it"
            )
    macros = manifest.get("macros") or {}
    for unique_id in sorted(_called_macros(macros, before) - _called_macros(macros, after)):
        macro = macros.get(unique_id) or {}
        if macro.get("package_name") == project:
            lines.append(
                f"the macro {macro.get('name')} ({macro.get('original_file_path')}): only removed models call it"
            )
    docs = manifest.get("docs") or {}
    for unique_id in sorted(_doc_blocks(before) - _doc_blocks(after)):
        doc = docs.get(unique_id) or {}
        path = doc.get("original_file_path")
        if doc.get("package_name") != project or not isinstance(path, str):
            continue
        text = plan.current(plan.path(path)) or ""
        if re.search(rf"{{%-?\s*docs\s+{re.escape(str(doc.get('name')))}\s*-?%}}", text):  # not removed
            lines.append(f"the docs block {doc.get('name')} ({path}): only removed models used it")
    return lines


def _users(manifest: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for section in USING_SECTIONS:
        for unique_id, node in (manifest.get(section) or {}).items():
            if isinstance(node, dict):
                yield unique_id, node
    for unique_id, nodes in (manifest.get("disabled") or {}).items():  # a disabled node may come back
        for node in nodes if isinstance(nodes, list) else ():
            if isinstance(node, dict):
                yield unique_id, node


def _parents(node: Mapping[str, Any], kind: str) -> set[str]:
    depends_on = node.get("depends_on")
    found = depends_on.get(kind) if isinstance(depends_on, Mapping) else None
    return {p for p in found if isinstance(p, str)} if isinstance(found, list) else set()


def _read_sources(users: list[tuple[str, dict[str, Any]]]) -> set[str]:
    return {p for _, node in users for p in _parents(node, "nodes") if p.startswith("source.")}


def _called_macros(macros: Mapping[str, Any], users: list[tuple[str, dict[str, Any]]]) -> set[str]:
    """Every macro the users call, directly or through other macros."""
    called: set[str] = set()
    waiting = [m for _, node in users for m in _parents(node, "macros")]
    while waiting:
        macro = waiting.pop()
        if macro not in called:
            called.add(macro)
            waiting += _parents(macros.get(macro) or {}, "macros")
    return called


def _doc_blocks(users: list[tuple[str, dict[str, Any]]]) -> set[str]:
    """Docs blocks the users' descriptions use (dbt >= 1.10 lists them as `doc_blocks`)."""
    found: set[str] = set()
    for _, node in users:
        holders = [node, *((node.get("columns") or {}).values())]
        for holder in holders:
            blocks = holder.get("doc_blocks") if isinstance(holder, Mapping) else None
            found |= {b for b in blocks if isinstance(b, str)} if isinstance(blocks, list) else set()
    return found


_YAML_KEY = re.compile(
    r"""^(?P<lead>[ ]*(?:-[ ]+)*)(?P<key>'[^']*'|"[^"]*"|[^\s#'"-][^:#]*?)[ ]*:(?:[ ]|$)(?P<value>.*)"""
)


def yaml_trail(lines: list[str]) -> list[str]:
    """The keys (and list items, by `name`) that hold the last of `lines`, outermost first: where a
    line stands in a YAML file, read from its indentation."""
    trail: list[str] = []
    column = len(lines[-1]) - len(lines[-1].lstrip())
    for line in reversed(lines[:-1]):
        match = _YAML_KEY.match(line)
        if not match:
            continue
        lead = match["lead"]
        start = len(lead) - len(lead.lstrip(" "))  # where its dash (or key) stands
        is_item = "-" in lead
        if len(lead) < column:
            trail.append(match["key"].strip("'\""))
            column = start if is_item else len(lead)
        elif is_item and start < column:  # an item whose first key is a sibling of the trail's
            if match["key"] == "name":
                trail.append(match["value"].split("#")[0].strip().strip("'\""))
            column = start
    return trail[::-1]
