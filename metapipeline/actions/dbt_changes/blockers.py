"""Which candidates a removal keeps, and why: something that stays still reads them.

Removing a model that a snapshot, an analysis, a disabled node, a hand-written exposure, a singular
test of kept models (...) reads would leave a project that no longer parses, or one a re-enabled
node breaks. Such a candidate stays, and so does every candidate a kept one reads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from metapipeline.actions.dbt_changes.refs import ModelIndex, model_label, version_key
from metapipeline.platform.unused import GENERATED_EXPOSURE_PREFIX

# Manifest sections whose entries read models through `depends_on.nodes`.
READING_SECTIONS = ("nodes", "exposures", "metrics", "semantic_models", "saved_queries")


@dataclass(frozen=True)
class _Reader:
    unique_id: str
    node: dict[str, Any]
    disabled: bool


class Blockers:
    """What reads each candidate, to tell which candidates can go."""

    def __init__(
        self, manifest: Mapping[str, Any], models: ModelIndex, candidates: Mapping[str, dict[str, Any]]
    ):
        self.candidates = candidates
        self.models = models
        self.readers: dict[str, list[_Reader]] = {uid: [] for uid in candidates}
        # Models last: a reason of the candidate's own reads better than one a kept model passes on.
        order = sorted(_readers(manifest), key=lambda r: (_is_model(r), r.unique_id, r.disabled))
        for reader in order:
            for parent in _parents(reader, self.models) & candidates.keys():
                self.readers[parent].append(reader)

    def settle(self, dropped: dict[str, str]) -> dict[str, dict[str, Any]]:
        """The candidates that can go. Each one something that stays reads is added to `dropped`
        (unique_id -> why), again and again: a kept candidate keeps what it reads."""
        removed = {uid for uid in self.candidates if uid not in dropped}
        while True:
            newly = {uid: why for uid in sorted(removed) if (why := self._why_kept(uid, removed, dropped))}
            if not newly:
                return {uid: self.candidates[uid] for uid in sorted(removed)}
            dropped.update(newly)
            removed -= newly.keys()

    def _why_kept(self, unique_id: str, removed: set[str], dropped: Mapping[str, str]) -> str | None:
        node = self.candidates[unique_id]
        if (
            version_key(node) is not None
            and self.models.latest.get(node["name"]) == unique_id
            and self.models.siblings(unique_id, node) - removed
        ):
            return f"v{version_key(node)} is the latest_version of {node['name']}"
        readers = self.readers[unique_id]
        return next((why for r in readers if (why := _why_reader_keeps(r, removed, dropped))), None)


def _why_reader_keeps(reader: _Reader, removed: set[str], dropped: Mapping[str, str]) -> str | None:
    """Why `reader` keeps a model it reads, or None when it goes or is edited with the removal."""
    node, kind = reader.node, str(reader.node.get("resource_type"))
    path = node.get("original_file_path")
    if reader.disabled:
        return f"referenced by the disabled {kind} {reader.unique_id}"
    if kind == "model":
        if reader.unique_id in removed:
            return None
        why = dropped.get(reader.unique_id)
        return f"read by the model {model_label(node)}, which stays" + (f": {why}" if why else "")
    if kind == "test":
        if node.get("test_metadata"):
            return None  # a generic test: edited out of its properties YAML with the removal
        if _parent_ids(node) <= removed:
            return None  # deleted with the models it tests
        return f"read by the singular test {path}, which also tests kept models"
    if kind == "exposure" and str(node.get("name")).startswith(GENERATED_EXPOSURE_PREFIX):
        return None  # generated from Mode: its depends_on is edited
    if kind in ("snapshot", "analysis"):
        return f"read by the {kind} {path}"
    return f"read by the {kind.replace('_', ' ')} {node.get('name')}"


def _is_model(reader: _Reader) -> bool:
    return reader.node.get("resource_type") == "model" and not reader.disabled


def _readers(manifest: Mapping[str, Any]) -> Iterator[_Reader]:
    for section in READING_SECTIONS:
        entries = manifest.get(section)
        for unique_id, node in entries.items() if isinstance(entries, Mapping) else ():
            if isinstance(node, dict):
                yield _Reader(unique_id, node, disabled=False)
    disabled = manifest.get("disabled")  # unique_id -> the disabled definitions of that id
    for unique_id, nodes in disabled.items() if isinstance(disabled, Mapping) else ():
        for node in nodes if isinstance(nodes, list) else ():
            if isinstance(node, dict):
                yield _Reader(unique_id, node, disabled=True)


def _parent_ids(node: Mapping[str, Any]) -> set[str]:
    depends_on = node.get("depends_on")
    parents = depends_on.get("nodes") if isinstance(depends_on, Mapping) else None
    return {p for p in parents or () if isinstance(p, str)} if isinstance(parents, list) else set()


def _parents(reader: _Reader, models: ModelIndex) -> set[str]:
    """What a reader reads; dbt resolves no `depends_on` for a disabled node, only its `refs`."""
    parents = _parent_ids(reader.node)
    refs = reader.node.get("refs") if reader.disabled else None
    for ref in refs if isinstance(refs, list) else ():
        if isinstance(ref, Mapping) and isinstance(ref.get("name"), str):  # dbt >= 1.5
            version = ref.get("version")
            parents |= models.resolve(ref["name"], None if version is None else str(version))
        elif isinstance(ref, list) and ref and isinstance(ref[-1], str):  # ["name"] or ["pkg", "name"]
            parents |= models.resolve(ref[-1], None)
    return parents
