"""Properties YAML a removal edits: the removed models' entries and unit tests, generic tests of
other resources that `ref()` them, and `depends_on` entries of generated (`mode_*`) exposures."""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterator
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from metapipeline.actions.dbt_changes.plan import Plan
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


def may_name_a_removed_model(plan: Plan, text: str) -> bool:
    """Whether a properties file can hold an edit: a removed model's name standing as a whole YAML
    value (`name: orders`, `- orders`, `[orders]`), or inside a `ref()`. A text search, so that
    loading (ruamel's round trip, the plan's main cost) is left for the few files that need it: a
    name that is only a substring (`orders` in `orders_daily`) or a word of a description
    (`Same grain as orders.`) needs none."""
    names = plan.names
    # Most files hold no name at all: a plain search rules them out before the slower pattern.
    return any(name in text for name in names) and bool(_naming(frozenset(names)).search(text))


@functools.lru_cache(maxsize=8)
def _naming(names: Collection[str]) -> re.Pattern[str]:
    name = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    decorated = r"(?:&\S+[ \t]+)?(?:!\S*[ \t]+)?"  # an anchor or a tag before the value
    return re.compile(
        rf"""(?:^[ \t]*-[ \t]+|:[ \t]+){decorated}(['"]?)(?:{name})\1[ \t]*(?:#.*)?$"""  # block style
        rf"""|[\[{{](?:[^\n]*?[,:])?[ \t]*{decorated}(['"]?)(?:{name})\2[ \t]*[,\]}}]"""  # flow style
        rf"""|\bref\([^)]*?(?<!\w)(?:{name})(?!\w)""",
        re.MULTILINE,
    )


def edit_property_files(plan: Plan) -> None:
    for path in _property_files(plan):
        if not may_name_a_removed_model(plan, plan.files[path]):
            continue
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
                if _entry_is_removed(plan, section, entry):
                    yaml.delete(entries, index)
                    plan.summary.append(f"remove {entry.get('name')} from {path}")
                    continue
                if section == "exposures":
                    _edit_exposure(plan, yaml, entry)
                    continue
                if section == "models":
                    _drop_versions(plan, yaml, entry)
                elif section == "unit_tests":
                    _drop_unit_test_versions(plan, yaml, entry)
                _drop_tests(plan, yaml, entry)
            if entries and not yaml.remaining(entries):
                yaml.delete(yaml.doc, section)


def _entry_is_removed(plan: Plan, section: str, entry: CommentedMap) -> bool:
    if section == "models":
        return entry.get("name") in plan.whole_names
    if section == "unit_tests":
        model, tested = entry.get("model"), _included_versions(entry)
        if model in plan.whole_names:
            return True
        return bool(tested) and {str(v) for v in tested or ()} <= plan.removed_versions.get(model, set())
    return False


def _included_versions(unit_test: CommentedMap) -> CommentedSeq | None:
    versions = unit_test.get("versions")
    included = versions.get("include") if isinstance(versions, CommentedMap) else None
    return included if isinstance(included, CommentedSeq) else None


def _drop_versions(plan: Plan, yaml: YamlFile, entry: CommentedMap) -> None:
    """The removed versions' items of a model whose other versions stay."""
    name = entry.get("name")
    removed = plan.removed_versions.get(name)
    versions = entry.get("versions")
    if not removed or not isinstance(versions, CommentedSeq):
        return
    for index, item in enumerate(versions):
        if isinstance(item, CommentedMap) and str(item.get("v")) in removed:
            yaml.delete(versions, index)
            plan.summary.append(f"remove version v{item.get('v')} of {name} from {yaml.path}")


def _drop_unit_test_versions(plan: Plan, yaml: YamlFile, entry: CommentedMap) -> None:
    """Removed versions a unit test names in `versions: include:` (it still tests others)."""
    included = _included_versions(entry)
    removed = plan.removed_versions.get(entry.get("model"))
    if included is None or not removed:
        return
    for index, version in enumerate(included):
        if str(version) in removed:
            yaml.delete(included, index)
            plan.summary.append(f"remove v{version} from the unit test {entry.get('name')} in {yaml.path}")


def _edit_exposure(plan: Plan, yaml: YamlFile, entry: CommentedMap) -> None:
    """Generated exposures follow Mode: drop refs to removed models; hand-written ones are people's."""
    depends_on = entry.get("depends_on")
    name = str(entry.get("name", ""))
    if not isinstance(depends_on, CommentedSeq) or not name.startswith(GENERATED_EXPOSURE_PREFIX):
        return  # a hand-written exposure keeps the models it reads (planned before these edits)
    for index, item in enumerate(depends_on):
        if plan.refs.hits(str(item)):
            yaml.delete(depends_on, index)
    if not yaml.remaining(depends_on):
        exposures = yaml.doc["exposures"]
        yaml.delete(exposures, next(i for i, e in enumerate(exposures) if e is entry))
        plan.summary.append(f"remove the generated exposure {name} (it read only removed models)")


def _drop_tests(plan: Plan, yaml: YamlFile, entry: CommentedMap) -> None:
    """Generic tests on kept resources that `ref()` a removed model (e.g. relationships)."""
    name = entry.get("name")
    holders = [(name, entry), *_columns(entry)]
    for table in entry.get("tables") or []:  # sources
        if isinstance(table, CommentedMap):
            holders += [(table.get("name"), table), *_columns(table)]
    versions = entry.get("versions")
    for index, version in enumerate(versions if isinstance(versions, CommentedSeq) else ()):
        if isinstance(version, CommentedMap) and not yaml.is_deleted(versions, index):
            label = f"{name} v{version.get('v')}"
            holders += [(label, version), *_columns(version)]
    for label, holder in holders:
        for key in ("data_tests", "tests"):
            tests = holder.get(key)
            if not isinstance(tests, CommentedSeq):
                continue
            for index, test in enumerate(tests):
                if plan.refs.hits(dump_node(test)):
                    yaml.delete(tests, index)
                    plan.summary.append(f"remove a test of {label} in {yaml.path}")
            if not yaml.remaining(tests):
                yaml.delete(holder, key)


def _columns(holder: CommentedMap) -> list[tuple[Any, CommentedMap]]:
    return [(c.get("name"), c) for c in holder.get("columns") or [] if isinstance(c, CommentedMap)]
