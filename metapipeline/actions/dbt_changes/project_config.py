"""Project-level configuration a removal prunes: `dbt_project.yml` config blocks (by fqn) and
`selectors.yml` criteria that select only removed models."""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Collection, Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from metapipeline.actions.dbt_changes.plan import Plan
from metapipeline.actions.dbt_changes.refs import model_label, version_key
from metapipeline.actions.dbt_changes.yaml_edit import YamlFile


def edit_dbt_project(plan: Plan) -> None:
    path = plan.path("dbt_project.yml")
    if path not in plan.files:
        return
    yaml = plan.yaml(path)
    project = (plan.manifest.get("metadata") or {}).get("project_name")
    configs = yaml.doc.get("models") if isinstance(yaml.doc, CommentedMap) else None
    if not isinstance(configs, CommentedMap) or not isinstance(configs.get(project), CommentedMap):
        return
    for node in plan.removed.values():
        # fqn: [project, directories..., name(, "v1")]; config keys may carry no "+" (a "+" key is
        # a config). A model removed with all its versions loses the block its name keys.
        fqn = node["fqn"][1:]
        if node["name"] in plan.whole_names and fqn[-1:] == [f"v{version_key(node)}"]:
            fqn = fqn[:-1]
        trail: list[tuple[CommentedMap, str]] = []
        level = configs[project]
        for part in fqn:
            if not isinstance(level, CommentedMap) or part not in level or yaml.is_deleted(level, part):
                break
            trail.append((level, part))
            level = level[part]
        else:
            for container, key in reversed(trail):
                yaml.delete(container, key)
                if yaml.remaining(container):
                    break  # keep parents that still configure something
            label = model_label(node) if fqn == node["fqn"][1:] else node["name"]
            plan.summary.append(f"remove the {label} config block from {path}")


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


def edit_selectors(plan: Plan) -> None:
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
    plan: Plan, yaml: YamlFile, evaluator: _SelectorEvaluator, definition: Any, selector: str
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
