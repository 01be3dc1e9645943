"""Properties YAML a removal edits: the removed models' entries and unit tests, generic tests of
other resources that `ref()` them, and `depends_on` entries of generated (`mode_*`) exposures."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from metapipeline.actions.dbt_changes.plan import Plan, ref_pattern
from metapipeline.actions.dbt_changes.project_files import SKIPPED_DIRS
from metapipeline.actions.dbt_changes.yaml_edit import YamlFile, dump_node
from metapipeline.platform.unused import GENERATED_EXPOSURE_PREFIX

# YAML files in a project root that are not properties files.
NON_PROPERTY_FILES = frozenset(
    {"dbt_project.yml", "selectors.yml", "profiles.yml", "packages.yml", "dependencies.yml"}
)
PROPERTY_SECTIONS = ("models", "seeds", "snapshots", "analyses", "sources", "exposures", "unit_tests")


def _property_files(plan: Plan) -> Iterator[str]:
    for path in sorted(plan.files):
        relative = plan.relative(path)
        if (
            not relative.startswith("../")
            and relative.endswith((".yml", ".yaml"))
            and relative not in NON_PROPERTY_FILES
            and relative.split("/")[0] not in SKIPPED_DIRS
        ):
            yield path


def edit_property_files(plan: Plan) -> None:
    names = plan.names
    refs = ref_pattern(names)
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


def _edit_exposure(plan: Plan, yaml: YamlFile, entry: CommentedMap, refs: re.Pattern[str]) -> None:
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


def _drop_tests(plan: Plan, yaml: YamlFile, entry: CommentedMap, refs: re.Pattern[str]) -> None:
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
                if refs.search(dump_node(test)):
                    yaml.delete(tests, index)
                    plan.summary.append(f"remove a test of {holder.get('name')} in {yaml.path}")
            if not yaml.remaining(tests):
                yaml.delete(holder, key)
