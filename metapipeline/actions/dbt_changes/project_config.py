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
from metapipeline.actions.dbt_changes.yaml_edit import YamlFile

# `dbt_project.yml` sections whose config paths dbt matches against fqns of one resource type.
CONFIG_SECTIONS = {"models": "model", "data_tests": "test", "tests": "test", "unit_tests": "unit_test"}


def edit_dbt_project(plan: Plan) -> None:
    """Remove the config blocks the removal leaves applying to nothing: the removed models' own
    and their emptied folders'. dbt warns "Configuration paths exist in your dbt_project.yml file
    which do not apply to any resources" for each one left; a block that applied to nothing before
    is not this change's to remove."""
    path = plan.path("dbt_project.yml")
    if path not in plan.files:
        return
    yaml = plan.yaml(path)
    project = str((plan.manifest.get("metadata") or {}).get("project_name"))
    before, gone = _resource_fqns(plan.manifest), plan.gone
    # dbt counts every disabled node's fqn as a use of any section's paths.
    disabled = {fqn for kind, fqn, _ in before if kind == "disabled"}
    for section, kind in CONFIG_SECTIONS.items():
        configs = yaml.doc.get(section) if isinstance(yaml.doc, CommentedMap) else None
        if not isinstance(configs, CommentedMap) or not isinstance(configs.get(project), CommentedMap):
            continue
        used_before = _prefixes({fqn for k, fqn, _ in before if k == kind} | disabled)
        used_after = _prefixes({fqn for k, fqn, uid in before if k == kind and uid not in gone} | disabled)
        _prune_config(plan, yaml, configs, project, (project,), used_before, used_after, section)


def _prune_config(
    plan: Plan,
    yaml: YamlFile,
    container: CommentedMap,
    key: str,
    config_path: tuple[str, ...],
    used_before: set[tuple[str, ...]],
    used_after: set[tuple[str, ...]],
    section: str,
) -> bool:
    """Delete `container[key]` when the removal leaves it applying to nothing (its path begins the
    fqn of no resource left), else its children that it leaves so; True when it was deleted. A
    container left without keys goes too."""
    block = container[key]
    if config_path in used_before and config_path not in used_after:
        yaml.delete(container, key)
        plan.summary.append(
            f"remove the config block {'.'.join((section, *config_path))} from {yaml.path} "
            "(no resource left under it)"
        )
        return True
    if not isinstance(block, CommentedMap):
        return False
    children = [
        k
        for k in block
        if isinstance(k, str) and not k.startswith("+") and isinstance(block[k], CommentedMap)
    ]
    if not any(
        [
            _prune_config(plan, yaml, block, k, (*config_path, k), used_before, used_after, section)
            for k in children
        ]
    ):
        return False
    if not yaml.remaining(block):  # it only held emptied blocks
        yaml.delete(container, key)
        return True
    return False


def _prefixes(fqns: set[tuple[str, ...]]) -> set[tuple[str, ...]]:
    """Every config path that applies to one of `fqns`: dbt's test is whether the path begins the
    fqn (one set lookup a path, not a scan of every resource)."""
    return {fqn[:length] for fqn in fqns for length in range(1, len(fqn) + 1)}


def _resource_fqns(manifest: dict[str, Any]) -> list[tuple[str, tuple[str, ...], str]]:
    """(resource type or "disabled", fqn, unique_id) of every resource of the manifest."""
    found = []
    for section in ("nodes", "unit_tests"):
        for unique_id, node in (manifest.get(section) or {}).items():
            if isinstance(node.get("fqn"), list):
                found.append((str(node.get("resource_type")), tuple(node["fqn"]), unique_id))
    for unique_id, nodes in (manifest.get("disabled") or {}).items():
        for node in nodes if isinstance(nodes, list) else ():
            if isinstance(node, dict) and isinstance(node.get("fqn"), list):
                found.append(("disabled", tuple(node["fqn"]), unique_id))
    return found


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
            _flag_description(plan, selector)


def _flag_description(plan: Plan, selector: CommentedMap) -> None:
    """People read a selector's description to choose it: one that names removed models is out of
    date, but only its author can say what it should now say."""
    description = str(selector.get("description") or "")
    named = [n for n in sorted(plan.names) if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", description)]
    if named:
        plan.follow_ups.append(
            f"the selector {selector.get('name')} (selectors.yml): its description names removed models "
            f"({', '.join(named)})"
        )


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
