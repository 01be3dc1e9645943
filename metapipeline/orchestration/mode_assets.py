"""Mode reports and Datasets as external assets in Dagster's catalog, downstream of the dbt models
they read: the lineage metapipeline finds, where Dagster users look for it (catalog, Lineage page).

As Dagster's BI integrations (dagster-tableau, dagster-sigma) do, each piece of content becomes an
`AssetSpec` through a translator a user can subclass (`DagsterModeTranslator.get_asset_spec`).
Dependencies use the keys dagster-dbt gives dbt models by default (`get_dbt_asset_key` mirrors
`DagsterDbtTranslator.get_asset_key`; override it to follow a custom dbt translator), so the specs
join a user's own `@dbt_assets`. Without those, the dbt models, seeds, snapshots and sources come
as external assets too (`include_dbt_models`).

The specs come from the newest run's files and the ledger (`mode_asset_state`), never from Mode at
load time; no run yet means no Mode assets, and a log line saying why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import AssetKey, AssetSpec, Definitions, MetadataValue, get_dagster_logger
from dagster._core.utils import is_valid_email  # what AssetSpec checks owners with

from metapipeline.mode.models import parse_mode_timestamp
from metapipeline.orchestration.mode_asset_state import ModeAssetState, ModeContent, NoModeState, load_state

MODE_GROUP = "mode"
STATUS_TAG = "mode/status"  # active | stale | archived: filter the catalog with it
_GROUP_NAME = re.compile(r"^[A-Za-z0-9_]+$")  # what Dagster accepts as a group name


def mode_asset_key(workspace: str, token: str) -> AssetKey:
    """The default key of a Mode report or Dataset: by token, which survives a rename (a name
    need not be unique either). The lifecycle op records its observations on this key."""
    return AssetKey(["mode", workspace, token])


@dataclass(frozen=True)
class ModeTranslatorData:
    """One report or Dataset, and the keys of everything it may depend on (dbt unique ids and
    Mode tokens), computed once by the translator's key methods."""

    content: ModeContent
    state: ModeAssetState
    keys: Mapping[str, AssetKey]


class DagsterModeTranslator:
    """Turns Mode content (and dbt nodes, when they are defined here) into asset specs. Subclass it
    and override a method, e.g. `get_asset_spec` to add a prefix:
    `return super().get_asset_spec(data).replace_attributes(key=...)`."""

    def get_asset_key(self, content: ModeContent) -> AssetKey:
        return mode_asset_key(content.workspace, content.token)

    def get_dbt_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        """dagster-dbt's default key (dagster_dbt.asset_utils.default_asset_key_fn), without
        importing dagster-dbt (5 s of dbt-core imports at every load)."""
        meta = dbt_resource_props.get("config", {}).get("meta", {}) or dbt_resource_props.get("meta", {})
        configured = (meta.get("dagster") or {}).get("asset_key", [])
        if configured:
            return AssetKey(configured)
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        if dbt_resource_props.get("version"):
            return AssetKey([dbt_resource_props["alias"]])
        schema = dbt_resource_props["config"].get("schema")
        return AssetKey(
            [schema, dbt_resource_props["name"]] if schema is not None else [dbt_resource_props["name"]]
        )

    def get_asset_spec(self, data: ModeTranslatorData) -> AssetSpec:
        content = data.content
        deps = [data.keys[uid] for uid in content.reads if uid in data.keys]
        deps += [data.keys[token] for token in content.imports if token in data.keys]
        what = "Mode Dataset" if content.kind == "dataset" else "Mode report"
        return AssetSpec(
            key=data.keys[content.token],
            deps=deps,
            description=f"{what} '{content.name}'" + (f" in space {content.space}" if content.space else ""),
            kinds={"mode"},
            owners=[content.owner] if content.owner and is_valid_email(content.owner) else [],
            group_name=MODE_GROUP,
            tags={STATUS_TAG: content.status},
            metadata=_content_metadata(content),
        )

    def get_dbt_asset_spec(
        self, dbt_resource_props: Mapping[str, Any], parents: Sequence[AssetKey], key: AssetKey
    ) -> AssetSpec:
        """An external asset for a dbt node, for when the user's own dbt assets are not loaded."""
        package = dbt_resource_props.get("package_name") or ""
        return AssetSpec(
            key=key,
            deps=parents,
            description=dbt_resource_props.get("description") or None,
            kinds={"dbt"},
            group_name=package if _GROUP_NAME.match(package) else None,
            metadata={
                "dbt/unique_id": dbt_resource_props["unique_id"],
                "dbt/relation": dbt_resource_props.get("relation_name") or "",
            },
        )


def _content_metadata(content: ModeContent) -> dict[str, Any]:
    last_run = parse_mode_timestamp(content.last_run_at)
    verdict = content.stale_reason or (f"kept: {content.kept_reason}" if content.kept_reason else "not stale")
    # Not the token nor the status: the key and the tag hold them, and every entry costs load time.
    metadata: dict[str, Any] = {
        "mode/stale verdict": verdict,
        "mode/views": MetadataValue.int(content.view_count),
        "mode/runs": MetadataValue.int(content.runs_count),
        "mode/last run": MetadataValue.timestamp(last_run) if last_run else "never",
        "mode/owner": content.owner or "unknown",
    }
    if content.url:
        metadata["mode/url"] = MetadataValue.url(content.url)
    if content.archived:
        metadata["mode/archived by"] = (
            "metapipeline" if content.archived_by_metapipeline else "someone in Mode"
        )
    return metadata


def mode_asset_specs(
    state: ModeAssetState, translator: DagsterModeTranslator | None = None, *, include_dbt_models: bool = True
) -> list[AssetSpec]:
    """Specs for every report and Dataset in `state` (and its dbt nodes, with `include_dbt_models`)."""
    translator = translator or DagsterModeTranslator()
    log = get_dagster_logger()
    keys: dict[str, AssetKey] = {}
    node_of_key: dict[AssetKey, str] = {}
    for unique_id, props in state.dbt_nodes.items():
        key = translator.get_dbt_asset_key(props)
        if key in node_of_key:
            # dagster-dbt would refuse two nodes under one key too; keep the first, say so.
            log.warning(
                f"dbt nodes {node_of_key[key]} and {unique_id} share the asset key {key.to_user_string()}"
            )
            continue
        keys[unique_id] = key
        node_of_key[key] = unique_id
    keys |= {content.token: translator.get_asset_key(content) for content in state.contents}
    specs = [translator.get_asset_spec(ModeTranslatorData(c, state, keys)) for c in state.contents]
    if include_dbt_models:
        specs += [
            translator.get_dbt_asset_spec(
                props,
                [keys[parent] for parent in state.dbt_parents.get(uid, ()) if parent in keys],
                keys[uid],
            )
            for uid, props in state.dbt_nodes.items()
            if uid in keys
        ]
    return specs


def mode_asset_definitions(
    translator: DagsterModeTranslator | None = None,
    *,
    include_dbt_models: bool = True,
    dagster_home: Path | None = None,
    ledger_url: str | None = None,
) -> Definitions:
    """The external assets from the newest run's state; none (with a log line) when there is no
    state or it cannot be read: the job must load whatever happened to its files."""
    log = get_dagster_logger()
    try:
        state = load_state(dagster_home, ledger_url)
    except NoModeState as missing:
        log.info(f"No Mode assets: {missing}")
        return Definitions()
    except Exception as exc:  # a broken file must not stop the job's location
        log.warning(f"No Mode assets: could not read the newest run's state ({type(exc).__name__}: {exc})")
        return Definitions()
    specs = mode_asset_specs(state, translator, include_dbt_models=include_dbt_models)
    if state.ledger_problem:
        log.warning(f"Mode assets without the ledger's archives and deletes: {state.ledger_problem}")
    log.info(
        f"{len(state.contents)} Mode reports and Datasets from {state.run_dir}; {len(specs)} asset specs"
    )
    return Definitions(assets=specs)
