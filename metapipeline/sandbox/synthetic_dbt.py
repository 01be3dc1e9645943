"""A large synthetic dbt project on Snowflake: its manifest (schema v12) and, on demand, its files.

The DAG is layered the way dbt projects grow: sources from a dozen-odd loaded systems, one
staging model per source table (a few union two), intermediate models per business domain reading
staging and earlier intermediates, marts reading intermediates, staging and earlier marts (dims),
with a fan-in of 1-4 and a few hub models (`dim_dates`, `dim_customers`, ...) that many read. Seeds,
snapshots, generic and singular tests come along. Parents are always drawn from nodes built
earlier, so the DAG is acyclic by construction.

Everything is drawn from one seeded `random.Random` and nothing iterates a set, so the same
arguments give the same manifest, byte for byte. Only the fields dbt writes and metapipeline (or
dagster-dbt) reads are filled; configs carry the usual keys, not every one dbt 1.10 emits.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import random
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PROJECT = "globex"
DATABASE = "ANALYTICS"  # what dbt builds into; the Mode warehouse connection's database
RAW_DATABASE = "RAW"  # what the loaders write; dbt sources
ADAPTER_TYPE = "snowflake"
DBT_VERSION = "1.10.11"
MANIFEST_SCHEMA = "https://schemas.getdbt.com/dbt/manifest/v12.json"

SYSTEMS = (
    ("shopify", "fivetran"),
    ("stripe", "fivetran"),
    ("salesforce", "fivetran"),
    ("hubspot", "fivetran"),
    ("zendesk", "fivetran"),
    ("segment", "segment"),
    ("netsuite", "fivetran"),
    ("app_db", "airbyte"),
    ("google_ads", "fivetran"),
    ("facebook_ads", "fivetran"),
    ("workday", "fivetran"),
    ("jira", "airbyte"),
    ("intercom", "fivetran"),
    ("braze", "airbyte"),
    ("snowplow", "snowplow"),
    ("greenhouse", "fivetran"),
)
DOMAINS = (
    "core",
    "finance",
    "marketing",
    "sales",
    "product",
    "operations",
    "supply_chain",
    "customer_success",
    "people",
    "risk",
    "growth",
    "logistics",
)
ENTITIES = (
    "orders", "order_items", "customers", "accounts", "payments", "refunds", "invoices", "subscriptions",
    "plans", "products", "variants", "inventory_levels", "shipments", "deliveries", "carriers",
    "warehouses", "stores", "sessions", "pageviews", "events", "campaigns", "ad_groups", "clicks",
    "impressions", "leads", "opportunities", "contacts", "tickets", "ticket_comments", "agents",
    "employees", "departments", "payroll_runs", "suppliers", "purchase_orders", "returns", "discounts",
    "coupons", "carts", "checkouts", "reviews", "messages", "notifications", "devices", "app_installs",
    "experiments", "feature_flags", "issues", "sprints", "candidates", "applications", "interviews",
    "ledger_entries", "gl_accounts", "budgets", "forecasts", "chargebacks", "disputes", "fraud_checks",
    "exchange_rates",
)  # fmt: skip
_TABLE_SUFFIXES = (
    "", "_history", "_events", "_log", "_daily", "_v2", "_archive", "_lines", "_details", "_raw",
)  # fmt: skip
_INT_OPS = (
    "enriched", "joined", "aggregated", "deduplicated", "pivoted", "unioned", "filtered", "daily", "weekly",
    "by_customer", "by_region", "scored", "windowed", "reconciled", "normalized", "flattened", "bucketed",
    "latest", "history", "mapped",
)  # fmt: skip
_FCT_GRAINS = (
    "", "_daily", "_weekly", "_monthly", "_hourly", "_snapshot", "_current", "_history", "_by_region",
    "_by_channel", "_by_product", "_cohorts",
)  # fmt: skip
_DIM_QUALIFIERS = ("", "_current", "_history", "_scd", "_enriched")
# The hubs everyone joins to: the first marts, read by many marts and most Mode reports.
_HUB_MARTS = (
    ("dim_dates", "core"),
    ("dim_customers", "core"),
    ("dim_products", "core"),
    ("fct_orders", "core"),
    ("dim_stores", "operations"),
    ("fct_payments", "finance"),
    ("dim_accounts", "sales"),
    ("dim_employees", "people"),
    ("dim_campaigns", "marketing"),
    ("fct_sessions", "product"),
)
_SEED_NAMES = (
    "country_codes", "currency_codes", "holiday_calendar", "region_mapping", "tax_rates", "channel_mapping",
    "product_category_map", "gl_account_map", "store_openings", "fiscal_calendar", "plan_tiers",
    "cost_centers", "carrier_codes", "campaign_taxonomy", "sales_territories",
)  # fmt: skip

FAN_IN = (1, 2, 3, 4)
FAN_IN_WEIGHTS = (30, 35, 22, 13)
HUB_PICK = 0.2  # share of parent picks that go to a hub
LOCAL_PICK = 0.7  # share of the other picks from the model's own domain


def key_column(entity: str) -> str:
    """orders -> order_id, opportunities -> opportunity_id."""
    singular = entity[:-3] + "y" if entity.endswith("ies") else entity.removesuffix("s")
    return f"{singular}_id"


@dataclass(frozen=True)
class Relation:
    """A warehouse relation dbt builds (or declares, for sources) that Mode SQL can read."""

    unique_id: str
    layer: str  # source, seed, snapshot, staging, intermediate, mart
    database: str
    schema: str
    identifier: str
    entity: str
    domain: str

    @property
    def key(self) -> str:
        return key_column(self.entity)


@dataclass
class DbtDesign:
    """The manifest plus what the Mode side needs to read it realistically."""

    manifest: dict[str, Any]
    # Relations Mode reads, per layer, most popular first (hubs lead). Unpublished ones (dead marts,
    # internal intermediates, ephemerals) are absent: nothing in Mode reads them.
    published: dict[str, list[Relation]] = field(default_factory=dict)


@dataclass
class Node:
    unique_id: str
    name: str
    layer: str
    domain: str
    entity: str
    folder: str  # path under the project root, without the file name
    parents: list[str]
    materialized: str
    schema: str
    alias: str
    tags: list[str]
    meta: dict[str, Any]
    raw_code: str = ""
    package: str = PROJECT  # the dbt project or installed package it belongs to

    @classmethod
    def model(
        cls,
        package: str,
        name: str,
        layer: str,
        domain: str,
        entity: str,
        parents: list[str],
        *,
        materialized: str,
        schema: str,
        tags: list[str],
        meta: dict[str, Any],
        alias: str | None = None,
    ) -> Node:
        """A model of `package` in its layer's folder for its domain (or source system)."""
        folder = f"models/{_LAYER_FOLDERS[layer]}/{domain}"
        return cls(
            f"model.{package}.{name}", name, layer, domain, entity, folder, parents, materialized, schema,
            alias or name, tags, meta, package=package,
        )  # fmt: skip


class _Names:
    """Unique names drawn from combinations, falling back to numbered variants."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def claim(self, *candidates: str) -> str:
        for name in candidates:
            if name not in self.taken:
                self.taken.add(name)
                return name
        base = candidates[-1]
        for n in itertools.count(2):
            name = f"{base}_v{n}"
            if name not in self.taken:
                self.taken.add(name)
                return name
        raise AssertionError("unreachable")


class _Unread:
    """Models nothing reads yet, oldest first."""

    def __init__(self, nodes: Sequence[Node]):
        self._queue = list(nodes)
        self._position = 0
        self._read: set[str] = set()

    def add(self, node: Node) -> None:
        self._queue.append(node)

    def read(self, node: Node) -> None:
        self._read.add(node.unique_id)

    def next(self) -> Node | None:
        while self._position < len(self._queue):
            node = self._queue[self._position]
            if node.unique_id not in self._read:
                return node
            self._position += 1
        return None


def layer_sizes(models: int) -> tuple[int, int, int]:
    """(staging, intermediate, marts) for a project of `models` models."""
    staging = max(1, round(models * 0.35))
    intermediate = max(1, round(models * 0.30))
    return staging, intermediate, models - staging - intermediate


@dataclass
class ProjectNodes:
    """One project's nodes before they become manifest entries (the mesh generator edits them between)."""

    project: str
    names: _Names
    sources: dict[str, dict[str, Any]]  # manifest entries by unique_id
    source_relations: list[Relation]
    seeds: list[Node]
    snapshots: list[Node]
    staging: list[Node]
    intermediate: list[Node]
    marts: list[Node]
    extra: list[Node] = field(default_factory=list)  # models added later (installed packages, ...)

    @property
    def nodes(self) -> list[Node]:
        return [*self.seeds, *self.snapshots, *self.staging, *self.intermediate, *self.marts, *self.extra]


def synthetic_manifest(models: int, *, seed: int, now: datetime, owners: Sequence[str]) -> DbtDesign:
    """A manifest of `models` models (plus sources, seeds, snapshots, tests); `owners` are the
    emails that own the domains' models. Call `add_exposures` then `finish_manifest` before use."""
    rng = random.Random(f"dbt:{seed}")
    project = design_project(models, rng, now=now, owners=owners)
    manifest = assemble_manifest(project, rng=rng, now=now, singular_tests=max(1, models // 500))
    marts, intermediate, staging = project.marts, project.intermediate, project.staging
    hubs_per_layer = max(1, models // 600)

    def published(layer_nodes: Sequence[Node], share: float, hubs: int) -> list[Relation]:
        readable = [n for n in layer_nodes if n.materialized != "ephemeral"]
        head, tail = readable[:hubs], readable[hubs:]
        tail = [n for n in tail if rng.random() < share]
        rng.shuffle(tail)
        return [relation_of(n) for n in head + tail]

    design = DbtDesign(manifest)
    design.published = {
        "mart": published(marts, 0.8, min(len(_HUB_MARTS), hubs_per_layer * 2)),
        "intermediate": published(intermediate, 0.3, 0),
        "staging": published(staging, 0.06, 0),
        "seed": published(project.seeds, 0.5, 0),
        "snapshot": published(project.snapshots, 0.5, 0),
        "source": [r for r in project.source_relations if rng.random() < 0.05]
        or project.source_relations[:1],
    }
    return design


def raw_tables(rng: random.Random, count: int) -> dict[str, list[str]]:
    """`count` table names the loaders write, dealt round the systems: system -> its tables."""
    tables: dict[str, list[str]] = {system: [] for system, _ in SYSTEMS}
    combos = [f"{e}{s}" for s in _TABLE_SUFFIXES for e in ENTITIES]
    order = {system: rng.sample(combos, len(combos)) for system, _ in SYSTEMS}
    for i in range(count):
        system = SYSTEMS[i % len(SYSTEMS)][0]
        taken = len(tables[system])
        base = order[system][taken % len(combos)]
        tables[system].append(base if taken < len(combos) else f"{base}_{taken // len(combos) + 1}")
    return tables


def design_project(
    models: int,
    rng: random.Random,
    *,
    now: datetime,
    owners: Sequence[str],
    project: str = PROJECT,
    schema_prefix: str = "",
    tables: Mapping[str, Sequence[str]] | None = None,
) -> ProjectNodes:
    """The layered DAG of one project of `models` models. `tables` (system -> table names) are the
    sources it declares, by default a table per staging model plus a few nobody stages;
    `schema_prefix` keeps its schemas apart from other projects' in the same database."""
    if models < 10:
        raise ValueError("a synthetic dbt project needs at least 10 models")
    staging_count, intermediate_count, mart_count = layer_sizes(models)
    domain_owner = {d: owners[i % len(owners)] for i, d in enumerate(DOMAINS)} if owners else {}
    platform_owner = "data-platform@globex.example"
    names = _Names()

    # -- sources: a table per staging model, plus some nobody stages ----------------------------------
    if tables is None:
        tables = raw_tables(rng, staging_count + max(1, staging_count // 20))
    system_tables = {system: list(tables.get(system, ())) for system, _ in SYSTEMS}
    sources: dict[str, dict[str, Any]] = {}
    source_relations: list[Relation] = []
    for system, loader in SYSTEMS:
        for table in system_tables[system]:
            uid = f"source.{project}.{system}.{table}"
            entity = _entity_of(table)
            sources[uid] = source_entry(project, uid, system, loader, table, platform_owner, now)
            source_relations.append(Relation(uid, "source", RAW_DATABASE, system, table, entity, system))

    # -- seeds and snapshots ------------------------------------------------------------------------
    seeds: list[Node] = []
    for i in range(max(2, models // 100)):
        base = _SEED_NAMES[i % len(_SEED_NAMES)]
        name = names.claim(base if i < len(_SEED_NAMES) else f"{base}_{i // len(_SEED_NAMES) + 1}")
        seeds.append(
            Node(
                unique_id=f"seed.{project}.{name}",
                package=project,
                name=name,
                layer="seed",
                domain="core",
                entity="exchange_rates",
                folder="seeds",
                parents=[],
                materialized="seed",
                schema=f"{schema_prefix}reference",
                alias=name,
                tags=[],
                meta={"owner": platform_owner},
            )
        )
    snapshots: list[Node] = []
    for source in rng.sample(source_relations, min(len(source_relations), max(2, models // 100))):
        name = names.claim(f"{source.schema}__{source.identifier}_snapshot")
        node = Node(
            unique_id=f"snapshot.{project}.{name}",
            package=project,
            name=name,
            layer="snapshot",
            domain="core",
            entity=source.entity,
            folder="snapshots",
            parents=[source.unique_id],
            materialized="snapshot",
            schema=f"{schema_prefix}snapshots",
            alias=name,
            tags=[],
            meta={"owner": platform_owner},
        )
        node.raw_code = _snapshot_code(name, source)
        snapshots.append(node)

    # -- staging: one model per source table, a few union a second table -------------------------------
    staged = rng.sample(source_relations, staging_count) if staging_count <= len(source_relations) else []
    staging: list[Node] = []
    staging_by_system: dict[str, list[Node]] = {system: [] for system, _ in SYSTEMS}
    for source in staged:
        name = names.claim(f"stg_{source.schema}__{source.identifier}")
        stg_parents = [source.unique_id]
        siblings = system_tables[source.schema]
        if rng.random() < 0.06 and len(siblings) > 1:
            other = rng.choice(siblings)
            if other != source.identifier:
                stg_parents.append(f"source.{project}.{source.schema}.{other}")
        if rng.random() < 0.03:
            stg_parents.append(rng.choice(seeds).unique_id)
        tags = ["staging", source.schema]
        if rng.random() < 0.05:
            tags.append("pii")
        node = Node.model(
            project, name, "staging", source.schema, source.entity, stg_parents,
            materialized="view", schema=f"{schema_prefix}staging", tags=tags, meta={"owner": platform_owner},
        )  # fmt: skip
        staging.append(node)
        staging_by_system[source.schema].append(node)

    # -- intermediate and marts: fan-in 1-4, hubs, locality by domain ----------------------------------
    home_systems = {
        d: [SYSTEMS[(i + k) % len(SYSTEMS)][0] for k in (0, 5, 11)] for i, d in enumerate(DOMAINS)
    }
    hubs_per_layer = max(1, models // 600)
    staging_hubs = staging[:hubs_per_layer]
    # Models are written because something needed them: picks favour those nothing reads yet.
    unread_staging = _Unread(staging)
    unread_intermediate = _Unread([])
    intermediate: list[Node] = []
    int_by_domain: dict[str, list[Node]] = {d: [] for d in DOMAINS}
    for _ in range(intermediate_count):
        domain = DOMAINS[rng.randrange(len(DOMAINS))]
        entity = rng.choice(ENTITIES)
        op = rng.choice(_INT_OPS)
        name = names.claim(f"int_{entity}_{op}", f"int_{domain}__{entity}_{op}")
        picks = _fan_in(rng)
        int_parents: list[str] = []
        for _ in range(picks * 4):
            if len(int_parents) >= picks:
                break
            roll = rng.random()
            if roll < HUB_PICK:
                use_staging = rng.random() < 0.5 or not intermediate
                pool: Sequence[Node] = staging_hubs if use_staging else intermediate[:hubs_per_layer]
            elif roll < 0.75:
                if rng.random() < 0.5 and (fresh := unread_staging.next()) is not None:
                    pool = [fresh]
                else:
                    local = staging_by_system[rng.choice(home_systems[domain])]
                    pool = local if local and rng.random() < LOCAL_PICK else staging
            elif roll < 0.97 and intermediate:
                local_int = int_by_domain[domain]
                pool = local_int if local_int and rng.random() < LOCAL_PICK else intermediate
            else:
                pool = snapshots
            candidate = rng.choice(pool)
            if candidate.unique_id not in int_parents:
                int_parents.append(candidate.unique_id)
                unread_staging.read(candidate)
                unread_intermediate.read(candidate)
        roll = rng.random()
        materialized = "ephemeral" if roll < 0.05 else "table" if roll < 0.40 else "view"
        owner = domain_owner.get(domain, platform_owner)
        node = Node.model(
            project, name, "intermediate", domain, entity, int_parents, materialized=materialized,
            schema=f"{schema_prefix}intermediate", tags=["intermediate", domain], meta={"owner": owner},
        )  # fmt: skip
        intermediate.append(node)
        int_by_domain[domain].append(node)
        unread_intermediate.add(node)

    marts: list[Node] = []
    mart_by_domain: dict[str, list[Node]] = {d: [] for d in DOMAINS}
    aliases: set[tuple[str, str]] = set()
    for i in range(mart_count):
        if i < len(_HUB_MARTS) and i < max(1, mart_count // 10):
            name, domain = _HUB_MARTS[i]
            names.claim(name)
            entity = _entity_of(name.split("_", 1)[1]) if name != "dim_dates" else "events"
        else:
            domain = DOMAINS[rng.randrange(len(DOMAINS))]
            entity = rng.choice(ENTITIES)
            if rng.random() < 0.3:
                stem = f"dim_{entity}{rng.choice(_DIM_QUALIFIERS)}"
            else:
                stem = f"fct_{entity}{rng.choice(_FCT_GRAINS)}"
            name = names.claim(stem, f"{stem[:4]}{domain}__{stem[4:]}")
        picks = _fan_in(rng)
        mart_parents: list[str] = []
        for _ in range(picks * 4):
            if len(mart_parents) >= picks:
                break
            roll = rng.random()
            pool = intermediate
            if roll < HUB_PICK and marts:
                pool = marts[: min(len(_HUB_MARTS), hubs_per_layer * 2)]
            elif roll < 0.62:
                if rng.random() < 0.4 and (fresh := unread_intermediate.next()) is not None:
                    pool = [fresh]
                else:
                    local_int = int_by_domain[domain]
                    pool = local_int if local_int and rng.random() < LOCAL_PICK else intermediate
            elif roll < 0.82:
                fresh = unread_staging.next() if rng.random() < 0.5 else None
                pool = [fresh] if fresh is not None else staging
            elif roll < 0.97 and marts:
                local_mart = mart_by_domain[domain]
                pool = local_mart if local_mart and rng.random() < LOCAL_PICK else marts
            else:
                pool = seeds
            candidate = rng.choice(pool)
            if candidate.unique_id not in mart_parents:
                mart_parents.append(candidate.unique_id)
                unread_staging.read(candidate)
                unread_intermediate.read(candidate)
        roll = rng.random()
        materialized = "incremental" if roll < 0.25 else "view" if roll < 0.30 else "table"
        alias = name
        if rng.random() < 0.03:
            wanted = name.split("_", 1)[1].replace("__", "_")
            if (domain, wanted) not in aliases and wanted not in names.taken:
                alias = wanted
        aliases.add((domain, alias))
        tags = ["marts", domain]
        meta: dict[str, Any] = {"owner": domain_owner.get(domain, platform_owner)}
        roll = rng.random()
        if roll < 0.005:
            tags.append("keep")
        elif roll < 0.007:
            meta["keep"] = True
        elif roll < 0.06:
            tags.append("finance_close" if domain == "finance" else "pii")
        node = Node.model(
            project, name, "mart", domain, entity, mart_parents, materialized=materialized,
            schema=f"{schema_prefix}{domain}", tags=tags, meta=meta, alias=alias,
        )  # fmt: skip
        marts.append(node)
        mart_by_domain[domain].append(node)

    return ProjectNodes(
        project=project,
        names=names,
        sources=sources,
        source_relations=source_relations,
        seeds=seeds,
        snapshots=snapshots,
        staging=staging,
        intermediate=intermediate,
        marts=marts,
    )


def assemble_manifest(
    project: ProjectNodes,
    *,
    rng: random.Random,
    now: datetime,
    singular_tests: int,
    upstream: Iterable[Node] = (),
) -> dict[str, Any]:
    """The manifest of a designed project: code, entries, tests. `upstream` are other projects'
    models its nodes ref (they get no entry here)."""
    nodes = project.nodes
    sources = project.sources
    by_id = {n.unique_id: n for n in (*upstream, *nodes)}
    for node in nodes:
        if node.layer != "seed" and not node.raw_code:  # snapshots come with their code
            node.raw_code = _model_code(node, by_id, sources)

    created = now.timestamp() - 86_400
    manifest_nodes: dict[str, dict[str, Any]] = {}
    for i, node in enumerate(nodes):
        manifest_nodes[node.unique_id] = _node_entry(node, by_id, sources, created + i / 1000)
    tests = _tests(project.marts, singular=singular_tests, rng=rng, created=created)
    manifest_nodes.update(tests)

    invocation = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    stamp = now.astimezone(UTC)
    manifest: dict[str, Any] = {
        "metadata": {
            "dbt_schema_version": MANIFEST_SCHEMA,
            "dbt_version": DBT_VERSION,
            "generated_at": _iso(stamp),
            "invocation_id": invocation,
            "invocation_started_at": _iso(stamp - timedelta(seconds=41)),
            "env": {},
            "project_name": project.project,
            "project_id": hashlib.md5(project.project.encode()).hexdigest(),
            "user_id": None,
            "send_anonymous_usage_stats": False,
            "adapter_type": ADAPTER_TYPE,
            "quoting": {"database": False, "schema": False, "identifier": False, "column": None},
            "run_started_at": _iso(stamp - timedelta(seconds=41)),
        },
        "nodes": manifest_nodes,
        "sources": sources,
        "macros": {},
        "docs": {
            "doc.dbt.__overview__": {
                "name": "__overview__",
                "resource_type": "doc",
                "package_name": "dbt",
                "path": "overview.md",
                "original_file_path": "docs/overview.md",
                "unique_id": "doc.dbt.__overview__",
                "block_contents": "### Welcome!",
            }
        },
        "exposures": {},
        "metrics": {},
        "groups": {},
        "selectors": {},
        "disabled": {},
        "parent_map": {},
        "child_map": {},
        "group_map": {},
        "saved_queries": {},
        "semantic_models": {},
        "unit_tests": {},
    }
    return manifest


def add_exposures(manifest: dict[str, Any], exposures: Sequence[dict[str, Any]]) -> None:
    """Hand-written exposures: dicts with name, label, type, maturity, url, owner, depends_on (uids),
    optionally description, tags and meta (by default the Mode tool's)."""
    path = "models/exposures/_exposures.yml"
    created = datetime.fromisoformat(manifest["metadata"]["generated_at"].replace("Z", "+00:00"))
    project = manifest["metadata"]["project_name"]
    for spec in exposures:
        uid = f"exposure.{project}.{spec['name']}"
        depends = list(spec["depends_on"])
        meta = spec.get("meta", {"tool": "mode"})
        manifest["exposures"][uid] = {
            "name": spec["name"],
            "resource_type": "exposure",
            "package_name": project,
            "path": "exposures/_exposures.yml",
            "original_file_path": path,
            "unique_id": uid,
            "fqn": [project, "exposures", spec["name"]],
            "type": spec["type"],
            "owner": spec["owner"],
            "description": spec.get("description", ""),
            "label": spec["label"],
            "maturity": spec["maturity"],
            "meta": dict(meta),
            "tags": list(spec.get("tags", ())),
            "config": {"enabled": True, "tags": list(spec.get("tags", ())), "meta": dict(meta)},
            "unrendered_config": {},
            "url": spec["url"],
            "depends_on": {"macros": [], "nodes": depends},
            "refs": [
                {"name": manifest["nodes"][u]["name"], "package": None, "version": None}
                for u in depends
                if u in manifest["nodes"]
            ],
            "sources": [],
            "metrics": [],
            "created_at": created.timestamp(),
        }


def finish_manifest(manifest: dict[str, Any]) -> None:
    """Fill parent_map and child_map from every node's depends_on, as dbt does."""
    parent_map: dict[str, list[str]] = {}
    child_map: dict[str, list[str]] = {}
    for section in ("nodes", "sources", "exposures"):
        for uid, entry in manifest[section].items():
            parent_map[uid] = sorted((entry.get("depends_on") or {}).get("nodes") or ())
            child_map[uid] = []
    for uid, parents in parent_map.items():
        for parent in parents:
            child_map[parent].append(uid)
    for children in child_map.values():
        children.sort()
    manifest["parent_map"] = parent_map
    manifest["child_map"] = child_map


def dump_manifest(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, separators=(",", ":"), ensure_ascii=False).encode()


# -- the project on disk ----------------------------------------------------------------------------


def dbt_project_files(manifest: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(path, text) of a minimal project matching the manifest: dbt_project.yml, one file per model,
    snapshot, seed and singular test, a properties YAML per folder, sources and exposures YAML."""
    project = manifest["metadata"]["project_name"]
    present = {n["fqn"][2] for n in manifest["nodes"].values() if n["fqn"][1:2] == ["marts"]}
    mart_schemas = "\n".join(f"      {d}:\n        +schema: {d}" for d in DOMAINS if d in present)
    yield "dbt_project.yml", _DBT_PROJECT_YML.format(project=project, mart_schemas=mart_schemas)
    yield "macros/generate_schema_name.sql", _SCHEMA_MACRO
    properties: dict[str, list[str]] = {}
    tests: dict[str, list[tuple[str, str]]] = {}  # model uid -> (test name, column)
    for entry in manifest["nodes"].values():
        if entry["resource_type"] == "test" and entry.get("test_metadata"):
            model = entry["attached_node"]
            tests.setdefault(model, []).append((entry["test_metadata"]["name"], entry["column_name"]))
    for entry in manifest["nodes"].values():
        kind = entry["resource_type"]
        path = entry["original_file_path"]
        if kind == "seed":
            yield path, "id,code,label\n1,A,Alpha\n2,B,Beta\n"
        elif kind == "test":
            if not entry.get("test_metadata"):
                yield path, entry["raw_code"]
        else:
            yield path, entry["raw_code"]
        if kind == "model":
            props = entry["patch_path"].split("://", 1)[1]
            properties.setdefault(props, []).append(_model_yaml(entry, tests.get(entry["unique_id"], ())))
    for path, blocks in properties.items():
        yield path, "version: 2\n\nmodels:\n" + "\n".join(blocks)
    by_file: dict[str, list[dict[str, Any]]] = {}
    for source in manifest["sources"].values():
        by_file.setdefault(source["original_file_path"], []).append(source)
    for path, tables in by_file.items():
        first = tables[0]
        lines = [
            "version: 2\n\nsources:",
            f"  - name: {first['source_name']}",
            f"    database: {first['database']}",
            f"    schema: {first['schema']}",
            f"    loader: {first['loader']}",
            "    tables:",
        ]
        lines += [f"      - name: {t['name']}" for t in tables]
        yield path, "\n".join(lines) + "\n"
    exposures = list(manifest["exposures"].values())
    if exposures:
        yield exposures[0]["original_file_path"], _exposures_yaml(exposures, manifest)


def write_dbt_project(manifest: dict[str, Any], directory: Path) -> int:
    """Write `dbt_project_files` under `directory`; returns how many files were written."""
    made: set[Path] = set()
    count = 0
    for relative, text in dbt_project_files(manifest):
        path = directory / relative
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_text(text)
        count += 1
    return count


# -- helpers ------------------------------------------------------------------------------------------


def _fan_in(rng: random.Random) -> int:
    return rng.choices(FAN_IN, FAN_IN_WEIGHTS)[0]


def _entity_of(text: str) -> str:
    """The entity a table or model name is about (the longest entity it starts with)."""
    best = ""
    for entity in ENTITIES:
        if text.startswith(entity) and len(entity) > len(best):
            best = entity
    if best:
        return best
    singular_hits = [e for e in ENTITIES if text.startswith(e.removesuffix("s"))]
    return singular_hits[0] if singular_hits else "events"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def relation_of(node: Node) -> Relation:
    return Relation(node.unique_id, node.layer, DATABASE, node.schema, node.alias, node.entity, node.domain)


def _relation_name(database: str, schema: str, identifier: str) -> str:
    return f"{database}.{schema}.{identifier}"


def source_entry(
    project: str, uid: str, system: str, loader: str, table: str, owner: str, now: datetime
) -> dict[str, Any]:
    path = f"models/staging/{system}/_{system}__sources.yml"
    freshness = {
        "warn_after": {"count": 24, "period": "hour"},
        "error_after": {"count": None, "period": None},
        "filter": None,
    }
    return {
        "database": RAW_DATABASE,
        "schema": system,
        "name": table,
        "resource_type": "source",
        "package_name": project,
        "path": path,
        "original_file_path": path,
        "unique_id": uid,
        "fqn": [project, "staging", system, system, table],
        "source_name": system,
        "source_description": f"Raw {system} data loaded by {loader}.",
        "loader": loader,
        "identifier": table,
        "quoting": {"database": None, "schema": None, "identifier": None, "column": None},
        "loaded_at_field": "_loaded_at",
        "loaded_at_query": None,
        "freshness": freshness,
        "external": None,
        "description": "",
        "columns": {},
        "meta": {},
        "source_meta": {"owner": owner},
        "tags": [],
        "config": {"enabled": True, "event_time": None, "freshness": freshness, "meta": {}, "tags": []},
        "patch_path": None,
        "unrendered_config": {},
        "relation_name": _relation_name(RAW_DATABASE, system, table),
        "created_at": round(now.timestamp() - 86_400, 3),
        "unrendered_database": None,
        "unrendered_schema": None,
        "doc_blocks": [],
    }


# A model's config as dbt fills it when nothing sets it (the defaults of dbt's ModelConfig).
MODEL_CONFIG_DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "alias": None,
    "schema": None,
    "database": None,
    "tags": [],
    "meta": {},
    "group": None,
    "materialized": "view",
    "incremental_strategy": None,
    "persist_docs": {},
    "post-hook": [],
    "pre-hook": [],
    "quoting": {},
    "column_types": {},
    "full_refresh": None,
    "unique_key": None,
    "on_schema_change": "ignore",
    "on_configuration_change": "apply",
    "grants": {},
    "packages": [],
    "docs": {"show": True, "node_color": None},
    "contract": {"enforced": False, "alias_types": True},
    "access": "protected",
}


def _config(node: Node) -> dict[str, Any]:
    config = copy.deepcopy(MODEL_CONFIG_DEFAULTS)
    config.update(
        alias=node.alias if node.alias != node.name else None,
        schema=node.schema,
        tags=list(node.tags),
        meta=dict(node.meta),
        materialized=node.materialized,
        incremental_strategy="merge" if node.materialized == "incremental" else None,
        unique_key=key_column(node.entity) if node.materialized in {"incremental", "snapshot"} else None,
    )
    if node.layer == "snapshot":
        config.update(schema=None, strategy="timestamp", updated_at="updated_at", target_schema="snapshots")
    return config


def _node_entry(
    node: Node, by_id: dict[str, Node], sources: dict[str, dict[str, Any]], created: float
) -> dict[str, Any]:
    kind = {"seed": "seed", "snapshot": "snapshot"}.get(node.layer, "model")
    suffix = ".csv" if kind == "seed" else ".sql"
    original = f"{node.folder}/{node.name}{suffix}"
    root = {"model": "models/", "seed": "seeds/", "snapshot": "snapshots/"}[kind]
    path = original.removeprefix(root)
    fqn = [node.package, *path.split("/")[:-1], node.name]
    if kind == "snapshot":
        fqn = [node.package, node.name, node.name]
    refs = [
        {"name": by_id[p].name, "package": _ref_package(node, by_id[p]), "version": None}
        for p in node.parents
        if p in by_id
    ]
    source_refs = [[sources[p]["source_name"], sources[p]["name"]] for p in node.parents if p in sources]
    folder = node.folder.rsplit("/", 1)[-1]
    entry: dict[str, Any] = {
        "database": DATABASE,
        "schema": node.schema,
        "name": node.name,
        "resource_type": kind,
        "package_name": node.package,
        "path": path,
        "original_file_path": original,
        "unique_id": node.unique_id,
        "fqn": fqn,
        "alias": node.alias,
        "checksum": {"name": "sha256", "checksum": hashlib.sha256(node.raw_code.encode()).hexdigest()},
        "config": _config(node),
        "tags": list(node.tags),
        "description": f"{node.entity.replace('_', ' ').capitalize()} ({node.layer}, {node.domain}).",
        "columns": {},
        "meta": dict(node.meta),
        "group": None,
        "docs": {"show": True, "node_color": None},
        "patch_path": f"{node.package}://{node.folder}/_{folder}__models.yml" if kind == "model" else None,
        "build_path": None,
        "unrendered_config": {"materialized": node.materialized} if kind == "model" else {},
        "created_at": round(created, 3),
        "relation_name": None
        if node.materialized == "ephemeral"
        else _relation_name(DATABASE, node.schema, node.alias),
        "raw_code": node.raw_code,
        "doc_blocks": [],
        "language": "sql",
        "refs": refs,
        "sources": source_refs,
        "metrics": [],
        "depends_on": {"macros": [], "nodes": list(node.parents)},
        "compiled_path": None,
        "contract": {"enforced": False, "alias_types": True, "checksum": None},
    }
    if kind == "model":
        entry.update(
            access="protected",
            constraints=[],
            version=None,
            latest_version=None,
            deprecation_date=None,
            primary_key=[key_column(node.entity)] if node.layer == "mart" else [],
            time_spine=None,
        )
        if node.layer == "mart":
            column = key_column(node.entity)
            entry["columns"] = {
                column: {
                    "name": column,
                    "description": "Primary key.",
                    "meta": {},
                    "data_type": None,
                    "constraints": [],
                    "quote": None,
                    "config": {"meta": {}, "tags": []},
                    "tags": [],
                    "granularity": None,
                    "doc_blocks": [],
                }
            }
    return entry


def _tests(
    marts: Sequence[Node], *, singular: int, rng: random.Random, created: float
) -> dict[str, dict[str, Any]]:
    """unique + not_null on every mart's key (in its properties YAML), and a few singular tests."""
    tests: dict[str, dict[str, Any]] = {}
    for node in marts:
        column = key_column(node.entity)
        folder = node.folder.rsplit("/", 1)[-1]
        props = f"{node.folder}/_{folder}__models.yml"
        for test in ("unique", "not_null"):
            name = f"{test}_{node.name}_{column}"
            uid = f"test.{node.package}.{name}.{hashlib.md5(name.encode()).hexdigest()[:10]}"
            tests[uid] = {
                "database": DATABASE,
                "schema": "dbt_test__audit",
                "name": name,
                "resource_type": "test",
                "package_name": node.package,
                "path": f"{name}.sql",
                "original_file_path": props,
                "unique_id": uid,
                "fqn": [node.package, *node.folder.split("/")[1:], name],
                "alias": name,
                "checksum": {"name": "none", "checksum": ""},
                "config": {
                    "enabled": True,
                    "severity": "ERROR",
                    "materialized": "test",
                    "tags": [],
                    "meta": {},
                },
                "tags": [],
                "description": "",
                "columns": {},
                "meta": {},
                "raw_code": f"{{{{ test_{test}(**_dbt_generic_test_kwargs) }}}}",
                "language": "sql",
                "refs": [{"name": node.name, "package": None, "version": None}],
                "sources": [],
                "metrics": [],
                "depends_on": {"macros": [f"macro.dbt.test_{test}"], "nodes": [node.unique_id]},
                "compiled_path": None,
                "column_name": column,
                "file_key_name": f"models.{node.name}",
                "attached_node": node.unique_id,
                "test_metadata": {
                    "name": test,
                    "kwargs": {
                        "column_name": column,
                        "model": f"{{{{ get_where_subquery(ref('{node.name}')) }}}}",
                    },
                    "namespace": None,
                },
                "created_at": round(created, 3),
            }
    for node in rng.sample(list(marts), min(singular, len(marts))):
        name = f"assert_{node.name}_not_empty"
        uid = f"test.{node.package}.{name}"
        tests[uid] = {
            "database": DATABASE,
            "schema": "dbt_test__audit",
            "name": name,
            "resource_type": "test",
            "package_name": node.package,
            "path": f"{name}.sql",
            "original_file_path": f"tests/{name}.sql",
            "unique_id": uid,
            "fqn": [node.package, name],
            "alias": name,
            "checksum": {"name": "sha256", "checksum": hashlib.sha256(name.encode()).hexdigest()},
            "config": {"enabled": True, "severity": "ERROR", "materialized": "test", "tags": [], "meta": {}},
            "tags": [],
            "description": "",
            "columns": {},
            "meta": {},
            "raw_code": f"select 1 where (select count(*) from {{{{ ref('{node.name}') }}}}) = 0\n",
            "language": "sql",
            "refs": [{"name": node.name, "package": None, "version": None}],
            "sources": [],
            "metrics": [],
            "depends_on": {"macros": [], "nodes": [node.unique_id]},
            "compiled_path": None,
            "created_at": round(created, 3),
        }
    return tests


def _model_code(node: Node, by_id: dict[str, Node], sources: dict[str, dict[str, Any]]) -> str:
    key = key_column(node.entity)
    settings = []
    if node.materialized != _FOLDER_MATERIALIZED[node.layer]:
        settings.append(f"materialized='{node.materialized}'")
    if node.materialized == "incremental":
        settings.append(f"unique_key='{key}'")
    if node.alias != node.name:
        settings.append(f"alias='{node.alias}'")
    header = f"{{{{ config({', '.join(settings)}) }}}}\n\n" if settings else ""
    ctes = []
    for i, parent in enumerate(node.parents):
        if parent in sources:
            source = sources[parent]
            ref = f"{{{{ source('{source['source_name']}', '{source['name']}') }}}}"
        else:
            upstream = by_id[parent]
            package = _ref_package(node, upstream)
            ref = (
                f"{{{{ ref('{package}', '{upstream.name}') }}}}"
                if package
                else f"{{{{ ref('{upstream.name}') }}}}"
            )
        ctes.append(f"p{i} as (\n    select * from {ref}\n)")
    if node.layer == "staging":
        columns = (
            f"    id as {key},\n    created as created_at,\n    updated as updated_at,\n"
            "    status,\n    amount / 100.0 as amount"
        )
        body = "\nunion all\n".join(f"select\n{columns}\nfrom p{i}" for i in range(len(node.parents)))
    else:
        joins = "".join(f"\nleft join p{i} using ({key})" for i in range(1, len(node.parents)))
        body = f"select\n    p0.*\nfrom p0{joins}"
    if node.materialized == "incremental":
        body += "\n{% if is_incremental() %}\nwhere p0.updated_at > (select max(updated_at) from {{ this }})\n{% endif %}"
    return f"{header}with {', '.join(ctes)}\n\n{body}\n"


def _ref_package(node: Node, parent: Node) -> str | None:
    """A ref names the package only across packages (a dbt mesh's two-argument ref)."""
    return None if parent.package == node.package else parent.package


def _snapshot_code(name: str, source: Relation) -> str:
    return (
        f"{{% snapshot {name} %}}\n\n"
        f"{{{{ config(unique_key='{source.key}', strategy='timestamp', updated_at='updated_at') }}}}\n\n"
        f"select * from {{{{ source('{source.schema}', '{source.identifier}') }}}}\n\n"
        "{% endsnapshot %}\n"
    )


_FOLDER_MATERIALIZED = {"staging": "view", "intermediate": "view", "mart": "table"}
_LAYER_FOLDERS = {"staging": "staging", "intermediate": "intermediate", "mart": "marts"}


def _model_yaml(entry: dict[str, Any], tests: Sequence[tuple[str, str]]) -> str:
    lines = [
        f"  - name: {entry['name']}",
        f"    description: {json.dumps(entry['description'])}",
    ]
    config = entry["config"]
    lines.append("    config:")
    extra_tags = config["tags"][1:]  # the first is the folder's, from dbt_project.yml
    if extra_tags:
        lines.append(f"      tags: [{', '.join(extra_tags)}]")
    lines.append("      meta:")
    lines += [f"        {key}: {json.dumps(value)}" for key, value in config["meta"].items()]
    if tests:
        column = tests[0][1]
        lines += ["    columns:", f"      - name: {column}", "        description: Primary key."]
        lines.append(f"        data_tests: [{', '.join(t for t, _ in tests)}]")
    return "\n".join(lines) + "\n"


def _exposures_yaml(exposures: Sequence[dict[str, Any]], manifest: dict[str, Any]) -> str:
    lines = ["version: 2", "", "exposures:"]
    for e in exposures:
        lines += [
            f"  - name: {e['name']}",
            f"    label: {json.dumps(e['label'])}",
            f"    type: {e['type']}",
            f"    maturity: {e['maturity']}",
            f"    url: {e['url']}",
            f"    description: {json.dumps(e['description'])}",
            "    config:",
            f"      tags: [{', '.join(e['tags'])}]",
            "      meta:",
            *(f"        {key}: {json.dumps(value)}" for key, value in e["meta"].items()),
            "    owner:",
            f"      name: {json.dumps(e['owner']['name'])}",
            f"      email: {e['owner']['email']}",
            "    depends_on:",
        ]
        for uid in e["depends_on"]["nodes"]:
            node = manifest["nodes"].get(uid)
            if node is not None:
                lines.append(f"      - ref('{node['name']}')")
            else:
                source = manifest["sources"][uid]
                lines.append(f"      - source('{source['source_name']}', '{source['name']}')")
        lines.append("")
    return "\n".join(lines)


_DBT_PROJECT_YML = """\
name: {project}
version: "1.0.0"
config-version: 2
profile: {project}

model-paths: ["models"]
seed-paths: ["seeds"]
snapshot-paths: ["snapshots"]
test-paths: ["tests"]
macro-paths: ["macros"]

target-path: target
clean-targets: [target, dbt_packages, logs]

models:
  {project}:
    staging:
      +schema: staging
      +materialized: view
      +tags: [staging]
    intermediate:
      +schema: intermediate
      +materialized: view
      +tags: [intermediate]
    marts:
      +materialized: table
      +tags: [marts]
{mart_schemas}

seeds:
  {project}:
    +schema: reference
    +meta:
      owner: data-platform@globex.example

snapshots:
  {project}:
    +target_schema: snapshots
    +meta:
      owner: data-platform@globex.example
"""

_SCHEMA_MACRO = """\
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
"""
