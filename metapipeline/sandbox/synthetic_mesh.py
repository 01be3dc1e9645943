"""A dbt mesh: several synthetic dbt projects on one Snowflake account, a modest Mode workspace
reading their marts, and the designed truth a multi-project analysis must find.

Projects (`globex_core`, `globex_finance`, ...) build into the same database, each into schemas of
its own (`finance_staging`, `finance_core`, ...), and a project reads only the projects before it
(dbt mesh allows no cycle between projects). They meet in three ways:

- raw tables: each loader table (`RAW.<system>.<table>`) is declared as a source by one project or
  by several (`source.globex_core.stripe.charges`, `source.globex_finance.stripe.charges`), each
  declaration spelt its own way; Snowflake folds unquoted names to upper case, so
  `raw.STRIPE.charges` and `RAW.stripe."CHARGES"` are one table;
- sources on another project's models: a project declares an upstream model's relation as a source
  (`source.globex_finance.globex_core.fct_orders`), in varied case too. A few declarations quote a
  lower-case name (`"fct_orders"`): on Snowflake that is another table (`case_decoys`);
- cross-project refs (dbt mesh): a node depends on an upstream model's unique_id, and that model is
  injected into the downstream manifest as dbt-loom does (a stub: no code, no file, public access).

Consumers are hand-written exposures in some projects and live Mode reports; every model but the
designed dead ones reaches one. Dead models: legacy marts nothing reads, dead chains (a dead
intermediate only a dead mart reads), upstream marts only another project's dead model reads,
marts only archived or stale Mode reports read, and the models of installed packages.

The truth is checked when it is built: reachability over the designed edges (not the manifests'
relation names) must find exactly the designed dead models unused.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from metapipeline.mode.models import Creator, DataSource, Query, Report, Space
from metapipeline.mode.snapshot import WorkspaceSnapshot
from metapipeline.mode.snapshot_file import write_snapshot
from metapipeline.sandbox.sample import mode_timestamp
from metapipeline.sandbox.synthetic import (
    MODE_HOST,
    WAREHOUSE_ID,
    WORKSPACE,
    Clock,
    SqlWriter,
    Tokens,
    mode_users,
)
from metapipeline.sandbox.synthetic_dbt import (
    DATABASE,
    DOMAINS,
    ENTITIES,
    MODEL_CONFIG_DEFAULTS,
    RAW_DATABASE,
    SYSTEMS,
    Node,
    ProjectNodes,
    add_exposures,
    assemble_manifest,
    design_project,
    dump_manifest,
    finish_manifest,
    layer_sizes,
    raw_tables,
    relation_of,
    source_entry,
)

PROJECT_PREFIX = "globex"
DEAD_SHARE = 0.03  # of each project's models: designed dead ones, added to it
CROSS_SHARE = 0.04  # of a downstream project's models: reads of upstream models (sources and refs)
REF_SHARE = 0.45  # of those reads: dbt mesh refs rather than source declarations
DECLARERS = (1, 2, 3, 4)  # how many projects declare one raw table...
DECLARER_WEIGHTS = (50, 30, 15, 5)  # ...and how often
EXPOSURE_SHARE = 0.3  # of the unread models of a project with exposures: read by its exposures
# Installed packages: built, read by nothing, and not the project's to remove.
PACKAGES = (
    (
        "dbt_artifacts",
        (
            "stg_dbt__model_executions",
            "stg_dbt__models",
            "dim_dbt__current_models",
            "fct_dbt__model_executions",
        ),
    ),
    (
        "dbt_project_evaluator",
        ("int_all_graph_resources", "int_direct_relationships", "fct_direct_join_to_source"),
    ),
)
_LEGACY = ("legacy", "deprecated", "old", "v1", "backup", "unused")


@dataclass
class MeshDesign:
    """The manifests (upstream project first), the Mode snapshot, and what an analysis must find."""

    manifests: dict[str, dict[str, Any]]  # project name -> manifest
    snapshot: WorkspaceSnapshot
    seed: int
    now: datetime
    # (source unique_id in project P, model unique_id in project Q != P building that relation)
    source_links: frozenset[tuple[str, str]]
    # (model unique_id in project Q, node unique_id in project P != Q that depends on it)
    ref_links: frozenset[tuple[str, str]]
    # Raw warehouse relation (as Snowflake stores it) -> the source unique_ids declaring it.
    raw_relations: dict[tuple[str, str, str], tuple[str, ...]]
    # Sources naming an upstream model's relation with a quoted lower-case name: another table.
    case_decoys: frozenset[str]
    used_across_projects: frozenset[str]  # live only through another project's live model
    unused: frozenset[str]  # models no consumer reaches, the package models among them
    package_models: dict[str, str]  # unique_id -> the installed package (unused, not to be proposed)
    exposures: frozenset[str]  # the hand-written exposures (consumers)

    @property
    def shared_relations(self) -> int:
        """Distinct raw warehouse relations declared as sources."""
        return len(self.raw_relations)

    @property
    def declared_by_several(self) -> int:
        return sum(len(uids) > 1 for uids in self.raw_relations.values())

    def models(self) -> list[str]:
        """Every model built (stubs of other projects' models not counted twice)."""
        return [
            uid
            for manifest in self.manifests.values()
            for uid, entry in manifest["nodes"].items()
            if entry["resource_type"] == "model" and entry["original_file_path"]
        ]

    def write(self, directory: Path) -> tuple[list[Path], Path]:
        """Each manifest as `<project>/manifest.json` and the snapshot as `mode_snapshot.json`."""
        paths = []
        for project, manifest in self.manifests.items():
            path = directory / project / "manifest.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(dump_manifest(manifest))
            paths.append(path)
        return paths, write_snapshot(self.snapshot, directory / "mode_snapshot.json")

    def digest(self) -> str:
        """sha256 of the manifests and the snapshot: equal digests, equal meshes."""
        hasher = hashlib.sha256()
        for manifest in self.manifests.values():
            hasher.update(dump_manifest(manifest))
            hasher.update(b"\0")
        hasher.update(json.dumps(asdict(self.snapshot), sort_keys=True).encode())
        return hasher.hexdigest()


def project_names(count: int) -> list[str]:
    """globex_core, globex_finance, ... (numbered once the domains run out)."""
    return [
        f"{PROJECT_PREFIX}_{DOMAINS[i % len(DOMAINS)]}"
        + (f"_{i // len(DOMAINS) + 1}" if i >= len(DOMAINS) else "")
        for i in range(count)
    ]


def synthetic_mesh(
    projects: int = 5, models: int = 8000, shared_sources: int = 10000, *, seed: int = 0, now: datetime
) -> MeshDesign:
    """`projects` dbt projects of `models` models in all, declaring `shared_sources` distinct raw
    tables between them, and a Mode workspace over their marts. The same arguments give the same bytes."""
    if projects < 2:
        raise ValueError("a mesh needs at least two projects")
    if models < 40 * projects:
        raise ValueError(f"{projects} projects need at least {40 * projects} models")
    if shared_sources < projects:
        raise ValueError("a mesh needs at least one raw table per project")
    return _MeshBuilder(projects, models, shared_sources, seed, now).build()


@dataclass
class _Project:
    index: int
    nodes: ProjectNodes
    prefix: str  # of its schemas
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.nodes.project

    @property
    def short(self) -> str:
        return self.prefix.rstrip("_")


class _MeshBuilder:
    def __init__(self, projects: int, models: int, shared_sources: int, seed: int, now: datetime):
        self.seed, self.now = seed, now
        self.rng = random.Random(f"mesh:{seed}")
        self.tokens = Tokens(self.rng)
        self.users = mode_users(self.rng, 40)
        self.names = project_names(projects)
        self.budgets = [models // projects + (i < models % projects) for i in range(projects)]
        self.shared_sources = shared_sources
        self.projects: list[_Project] = []
        self.dead: set[str] = set()
        self.package_models: dict[str, str] = {}
        self.source_links: set[tuple[str, str]] = set()
        self.ref_links: set[tuple[str, str]] = set()
        self.case_decoys: set[str] = set()
        self.exported: set[str] = set()  # upstream models another project reads
        self.stubs: dict[str, set[str]] = {}  # project -> upstream models it refs
        self.mode_reads: list[tuple[str, list[Node], str]] = []  # (report state, relations, space)
        self.report_states: dict[str, str] = {}  # report token -> live, archived or stale

    # -- the projects --------------------------------------------------------------------------------

    def build(self) -> MeshDesign:
        raw = self._raw_declarations()
        owners = [u["email"] for u in self.users[1 : 1 + len(DOMAINS)]]
        for i, name in enumerate(self.names):
            dead_count = max(3, round(self.budgets[i] * DEAD_SHARE))
            packages = self._packages_of(i)
            base = self.budgets[i] - dead_count - sum(len(models) for _, models in packages)
            prefix = f"{name.removeprefix(PROJECT_PREFIX + '_')}_"
            nodes = design_project(
                base,
                random.Random(f"mesh:{self.seed}:{name}"),
                now=self.now,
                owners=owners,
                project=name,
                schema_prefix=prefix,
                tables=raw[name],
            )
            project = _Project(i, nodes, prefix)
            self.projects.append(project)
            for package, package_models in packages:
                self._install(project, package, package_models)
            self._cross_reads(project)
            self._dead_models(project, dead_count)
        raw_relations = self._spell_raw_sources()
        exposures = self._consumers()
        for project in self.projects:
            upstream = [n for p in self.projects[: project.index] for n in p.nodes.nodes]
            project.manifest = assemble_manifest(
                project.nodes,
                rng=random.Random(f"mesh:{self.seed}:{project.name}:manifest"),
                now=self.now,
                singular_tests=max(1, len(project.nodes.marts) // 200),
                upstream=[n for n in upstream if n.unique_id in self.stubs.get(project.name, ())],
            )
        self._publish_refs()
        for project in self.projects:
            add_exposures(project.manifest, exposures.get(project.name, []))
            finish_manifest(project.manifest)
        snapshot = self._snapshot()
        return self._truth(snapshot, raw_relations)

    def _raw_declarations(self) -> dict[str, dict[str, list[str]]]:
        """project -> system -> the raw tables it declares; each table by one project or more, and
        each project enough of them to stage."""
        tables = raw_tables(self.rng, self.shared_sources)
        declared: dict[str, set[tuple[str, str]]] = {name: set() for name in self.names}
        pool = [(system, table) for system, _ in SYSTEMS for table in tables[system]]
        for entry in pool:
            count = min(len(self.names), self.rng.choices(DECLARERS, DECLARER_WEIGHTS)[0])
            for name in self.rng.sample(self.names, count):
                declared[name].add(entry)
        for name, budget in zip(self.names, self.budgets, strict=True):
            wanted = layer_sizes(budget)[0] + max(2, budget // 20)
            missing = [e for e in pool if e not in declared[name]]
            declared[name].update(
                self.rng.sample(missing, max(0, min(len(missing), wanted - len(declared[name]))))
            )
        return {
            name: {
                system: [t for s, t in pool if s == system and (s, t) in declared[name]]
                for system, _ in SYSTEMS
            }
            for name in self.names
        }

    def _packages_of(self, index: int) -> list[tuple[str, tuple[str, ...]]]:
        """The first project installs the first package, the last project the second."""
        last = len(self.names) - 1
        return [PACKAGES[i] for i, at in enumerate((0, last)) if at == index]

    def _install(self, project: _Project, package: str, names: Sequence[str]) -> None:
        previous: Node | None = None
        for name in names:
            layer = {"stg": "staging", "int": "intermediate"}.get(name.split("_", 1)[0], "mart")
            node = Node.model(
                package, name, layer, package, "events", [previous.unique_id] if previous else [],
                materialized="table" if layer == "mart" else "view", schema=f"{project.prefix}{package}",
                tags=[], meta={},
            )  # fmt: skip
            if previous is None:  # reads the warehouse's own catalogue, as such packages do
                node.raw_code = "select * from {{ target.database }}.information_schema.tables\n"
            project.nodes.extra.append(node)
            self.package_models[node.unique_id] = package
            previous = node

    # -- reads across projects ---------------------------------------------------------------------

    def _cross_reads(self, project: _Project) -> None:
        """Some of the project's models read upstream marts, by source declaration or by ref."""
        if project.index == 0:
            return
        rng = random.Random(f"mesh:{self.seed}:{project.name}:cross")
        readers = [
            n for n in (*project.nodes.intermediate, *project.nodes.marts) if n.package == project.name
        ]
        for _ in range(max(2, round(self.budgets[project.index] * CROSS_SHARE))):
            upstream = self._upstream_of(project, rng)
            model = self._export_candidate(upstream, rng)
            reader = rng.choice(readers)
            if rng.random() < REF_SHARE:
                self._ref(project, model, reader)
            else:
                source = self._declare(project, upstream, model, rng)
                if rng.random() < 0.9:  # a few declarations nobody reads yet
                    _add_parent(reader, source)

    def _upstream_of(self, project: _Project, rng: random.Random) -> _Project:
        """Core half the time (everyone reads it), else any project before this one."""
        return self.projects[0] if rng.random() < 0.5 else rng.choice(self.projects[: project.index])

    def _export_candidate(self, upstream: _Project, rng: random.Random) -> Node:
        """Mostly marts nothing in their own project reads (they live only through their readers)."""
        marts = [
            n for n in upstream.nodes.marts if n.unique_id not in self.dead and n.package == upstream.name
        ]
        read = _read_in(upstream.nodes)
        leaves = [n for n in marts if n.unique_id not in read]
        return rng.choice(leaves if leaves and rng.random() < 0.6 else marts)

    def _ref(self, project: _Project, model: Node, reader: Node) -> None:
        _add_parent(reader, model.unique_id)
        self.ref_links.add((model.unique_id, reader.unique_id))
        self.stubs.setdefault(project.name, set()).add(model.unique_id)
        self.exported.add(model.unique_id)

    def _declare(self, project: _Project, upstream: _Project, model: Node, rng: random.Random) -> str:
        """`project` declares `model`'s relation as a source (once), spelt as its authors chose."""
        uid = f"source.{project.name}.{upstream.name}.{model.name}"
        if uid not in project.nodes.sources:
            entry = self._source(project, upstream.name, model.name, "dbt")
            entry["description"] = f"{model.name}, published by the {upstream.name} project."
            _spell(entry, DATABASE, model.schema, model.alias, rng)
            project.nodes.sources[uid] = entry
            self.source_links.add((uid, model.unique_id))
            self.exported.add(model.unique_id)
        return uid

    def _decoy(self, project: _Project, upstream: _Project, model: Node) -> str:
        """A source on `model`'s name quoted in lower case: on Snowflake another table, not the model."""
        source_name = f"{upstream.short}_legacy"
        uid = f"source.{project.name}.{source_name}.{model.name}"
        entry = self._source(project, source_name, model.name, "dbt")
        entry.update(database=DATABASE, schema=model.schema, identifier=model.alias)
        entry["quoting"] = {**entry["quoting"], "identifier": True}
        entry["relation_name"] = f'{DATABASE}.{model.schema}."{model.alias}"'
        project.nodes.sources[uid] = entry
        self.case_decoys.add(uid)
        return uid

    def _source(self, project: _Project, source_name: str, table: str, loader: str) -> dict[str, Any]:
        uid = f"source.{project.name}.{source_name}.{table}"
        owner = f"data-{project.short}@globex.example"
        return source_entry(project.name, uid, source_name, loader, table, owner, self.now)

    # -- designed dead models ------------------------------------------------------------------------

    def _dead_models(self, project: _Project, count: int) -> None:
        """`count` new models no consumer reaches, of every kind the module docstring lists."""
        rng = random.Random(f"mesh:{self.seed}:{project.name}:dead")
        nodes = project.nodes
        live = [n for n in (*nodes.staging, *nodes.intermediate, *nodes.marts) if n.package == project.name]
        made = 0
        if project.index > 0:  # an upstream mart only this dead model reads (and a decoy of it)
            upstream = self._upstream_of(project, rng)
            target = self._dead_upstream_mart(upstream, rng)
            if target is not None:
                reader = self._new_dead(project, "mart", [rng.choice(live).unique_id], rng)
                if rng.random() < 0.5:
                    self._ref(project, target, reader)
                else:
                    _add_parent(reader, self._declare(project, upstream, target, rng))
                # A live model reads the same name quoted in lower case: not `target` on Snowflake.
                _add_parent(rng.choice(live), self._decoy(project, upstream, target))
                made += 1
        state = "archived" if project.index % 2 == 0 else "stale"
        read_by_mode = self._new_dead(project, "mart", [rng.choice(live).unique_id], rng)
        self.mode_reads.append((state, [read_by_mode], project.short))
        made += 1
        remaining = count - made
        chains = max(1, remaining // 3) if remaining >= 2 else 0
        for _ in range(chains):
            middle = self._new_dead(project, "intermediate", [rng.choice(live).unique_id], rng)
            self._new_dead(project, "mart", [middle.unique_id, rng.choice(live).unique_id], rng)
        for _ in range(remaining - 2 * chains):
            self._new_dead(project, "mart", [p.unique_id for p in rng.sample(live, rng.randint(1, 3))], rng)

    def _dead_upstream_mart(self, upstream: _Project, rng: random.Random) -> Node | None:
        read = _read_in(upstream.nodes)
        candidates = [
            n
            for n in upstream.nodes.marts[10:]  # never a hub
            if n.unique_id not in read
            and n.unique_id not in self.exported
            and n.unique_id not in self.dead
            and n.package == upstream.name
            and not _protected(n)
        ]
        if not candidates:
            return None
        target = rng.choice(candidates)
        self.dead.add(target.unique_id)
        return target

    def _new_dead(self, project: _Project, layer: str, parents: list[str], rng: random.Random) -> Node:
        entity = rng.choice(ENTITIES)
        domain = rng.choice(DOMAINS)
        suffix = rng.choice(_LEGACY)
        if layer == "intermediate":
            name = project.nodes.names.claim(f"int_{entity}_{suffix}")
            schema, materialized = f"{project.prefix}intermediate", "view"
        else:
            name = project.nodes.names.claim(f"{rng.choice(('fct', 'dim'))}_{entity}_{suffix}")
            schema, materialized = f"{project.prefix}{domain}", "table"
        node = Node.model(
            project.name, name, layer, domain, entity, parents, materialized=materialized, schema=schema,
            tags=[layer if layer == "intermediate" else "marts", domain],
            meta={"owner": f"data-{project.short}@globex.example"},
        )  # fmt: skip
        (project.nodes.intermediate if layer == "intermediate" else project.nodes.marts).append(node)
        self.dead.add(node.unique_id)
        return node

    # -- spelling and stubs --------------------------------------------------------------------------

    def _spell_raw_sources(self) -> dict[tuple[str, str, str], tuple[str, ...]]:
        """Every raw source declaration spelt its own way; the relations as Snowflake stores them."""
        rng = random.Random(f"mesh:{self.seed}:spelling")
        relations: dict[tuple[str, str, str], list[str]] = {}
        for project in self.projects:
            for relation in project.nodes.source_relations:
                entry = project.nodes.sources[relation.unique_id]
                _spell(entry, RAW_DATABASE, relation.schema, relation.identifier, rng)
                key = (RAW_DATABASE, relation.schema.upper(), relation.identifier.upper())
                relations.setdefault(key, []).append(relation.unique_id)
        return {key: tuple(uids) for key, uids in sorted(relations.items())}

    def _publish_refs(self) -> None:
        """Models other projects ref are public; the downstream manifests get dbt-loom's stubs."""
        entries = {uid: e for p in self.projects for uid, e in p.manifest["nodes"].items()}
        for project in self.projects:
            for uid in sorted(self.stubs.get(project.name, ())):
                entries[uid]["access"] = entries[uid]["config"]["access"] = "public"
                project.manifest["nodes"][uid] = loom_stub(entries[uid], self.now)

    # -- consumers ------------------------------------------------------------------------------------

    def _consumers(self) -> dict[str, list[dict[str, Any]]]:
        """Every live model nothing live reads gets a consumer: exposures of its project (in every
        other project) or a Mode query. Returns the exposures to write, by project."""
        rng = random.Random(f"mesh:{self.seed}:consumers")
        children = _children(self.projects, self.source_links)
        by_id = {n.unique_id: n for p in self.projects for n in p.nodes.nodes}
        exposures: dict[str, list[dict[str, Any]]] = {}
        for project in self.projects:
            unread = [
                n
                for n in project.nodes.nodes
                if n.layer in {"staging", "intermediate", "mart"}
                and n.package == project.name
                and n.unique_id not in self.dead
                and not _protected(n)
                and not _live_child(n.unique_id, children, by_id, self.dead)
            ]
            rng.shuffle(unread)
            # Mode reads relations: a live mart reads an ephemeral model instead.
            marts = [
                n for n in project.nodes.marts if n.unique_id not in self.dead and n.package == project.name
            ]
            for node in unread:
                if node.materialized == "ephemeral":
                    _add_parent(rng.choice(marts), node.unique_id)
            unread = [n for n in unread if n.materialized != "ephemeral"]
            if project.index % 2 == 1:
                cut = round(len(unread) * EXPOSURE_SHARE)
                exposures[project.name] = self._exposures(project, unread[:cut], rng)
                unread = unread[cut:]
            self.mode_reads += [("live", [node], project.short) for node in unread]
        self._group_reads(rng)
        return exposures

    def _exposures(
        self, project: _Project, nodes: Sequence[Node], rng: random.Random
    ) -> list[dict[str, Any]]:
        specs: list[dict[str, Any]] = []
        position = 0
        while position < len(nodes):
            group = nodes[position : position + rng.randint(1, 4)]
            position += len(group)
            owner = rng.choice(self.users[1:])
            kind = rng.choice(("dashboard", "application", "notebook", "ml"))
            name = f"{project.short}_{group[0].entity}_{kind}_{len(specs) + 1}"
            specs.append(
                {
                    "name": name,
                    "label": f"{group[0].entity.replace('_', ' ').title()} {kind} ({project.short})",
                    "type": kind,
                    "maturity": rng.choice(("high", "medium", "low")),
                    "url": f"https://apps.globex.example/{project.short}/{name}",
                    "description": f"Read by the {project.short} team.",
                    "owner": {"name": owner["name"], "email": owner["email"]},
                    "depends_on": [n.unique_id for n in group],
                    "tags": [project.short],
                    "meta": {"tool": kind},
                }
            )
        return specs

    def _group_reads(self, rng: random.Random) -> None:
        """Live reads go one to three relations a query, now and then with a hub of another project."""
        hubs = [n for p in self.projects for n in p.nodes.marts[:3] if n.unique_id not in self.dead]
        special = [r for r in self.mode_reads if r[0] != "live"]
        live = [r for r in self.mode_reads if r[0] == "live"]
        grouped = []
        position = 0
        while position < len(live):
            size = rng.choice((1, 2, 2, 3))
            group = live[position : position + size]
            position += size
            relations = [n for _, nodes, _ in group for n in nodes]
            if len(relations) < 3 and rng.random() < 0.3:
                relations.append(rng.choice(hubs))
            grouped.append(("live", relations, group[0][2]))
        self.mode_reads = grouped + special

    # -- Mode ----------------------------------------------------------------------------------------

    def _snapshot(self) -> WorkspaceSnapshot:
        rng = random.Random(f"mesh:{self.seed}:mode")
        clock = Clock(self.now, rng)
        writer = SqlWriter({})
        spaces = {
            p.short: Space(
                self.tokens.new(), f"{p.short.replace('_', ' ').title()} Analytics", "custom", False
            )
            for p in self.projects
        }
        creators = {u["username"]: Creator(u["username"], u["name"], u["email"]) for u in self.users}
        reports: list[Report] = []
        live_end = sum(state == "live" for state, _, _ in self.mode_reads)  # live reads come first
        position = 0
        while position < len(self.mode_reads):
            state, first, space = self.mode_reads[position]
            end = min(position + rng.randint(1, 4), live_end) if state == "live" else position + 1
            batch = self.mode_reads[position:end]
            position = end
            token = self.tokens.new()
            entity = first[0].entity.replace("_", " ")
            queries = tuple(
                Query(
                    self.tokens.new(),
                    f"{relations[0].entity.replace('_', ' ')} {n + 1}",
                    writer.query_over(rng, [relation_of(r) for r in relations]),
                    WAREHOUSE_ID,
                    token,
                )
                for n, (_, relations, _) in enumerate(batch)
            )
            self.report_states[token] = state
            reports.append(self._report(token, state, entity, spaces[space].token, queries, clock, rng))
        return WorkspaceSnapshot(
            workspace=WORKSPACE,
            taken_at=self.now.isoformat(),
            spaces=list(spaces.values()),
            reports=reports,
            data_sources=[
                DataSource(
                    WAREHOUSE_ID,
                    self.tokens.new(),
                    "Snowflake - Analytics",
                    "jdbc:snowflake",
                    DATABASE,
                    "globex.us-east-1.snowflakecomputing.com",
                )
            ],
            creators=creators,
        )

    def _report(
        self,
        token: str,
        state: str,
        entity: str,
        space: str,
        queries: tuple[Query, ...],
        clock: Clock,
        rng: random.Random,
    ) -> Report:
        """A report clearly live, archived, or stale under the default policy (idle 100+ days, little used)."""
        created_days = rng.randint(120, 900) if state != "stale" else 500
        created, edited = clock.created_and_edited(created_days)
        idle_days = {"live": rng.randint(0, 20), "archived": 300, "stale": 200}[state]
        last_run = mode_timestamp(clock.now - timedelta(days=idle_days, seconds=rng.randrange(43_200)))
        if state == "stale":
            edited = mode_timestamp(clock.now - timedelta(days=250))
        live = state == "live"
        return Report(
            token=token,
            name=f"{entity.title()} {rng.choice(('Dashboard', 'Tracker', 'Overview', 'Weekly Review'))}",
            space_token=space,
            created_at=created,
            updated_at=edited,
            edited_at=edited,
            last_run_at=last_run,
            archived=state == "archived",
            runs_count=rng.randint(20, 400) if live else 2,
            view_count=rng.randint(10, 2000) if live else 1,
            schedules_count=int(live and rng.random() < 0.15),
            creator_username=rng.choice(self.users[1:])["username"],
            web_url=f"{MODE_HOST}/{WORKSPACE}/reports/{token}",
            queries=queries,
        )

    # -- the truth -----------------------------------------------------------------------------------

    def _truth(
        self, snapshot: WorkspaceSnapshot, raw_relations: dict[tuple[str, str, str], tuple[str, ...]]
    ) -> MeshDesign:
        parents: dict[str, list[str]] = {}  # child -> parents, along the designed edges
        for project in self.projects:
            for node in project.nodes.nodes:
                parents.setdefault(node.unique_id, []).extend(node.parents)
            for uid, entry in project.manifest["exposures"].items():
                parents[uid] = list(entry["depends_on"]["nodes"])
        for source, builder in self.source_links:
            parents.setdefault(source, []).append(builder)
        exposures = [uid for p in self.projects for uid in p.manifest["exposures"]]
        consumers = list(exposures)
        for report in snapshot.reports:
            report_node = f"mode.report.{report.token}"
            parents[report_node] = [f"mode.query.{q.token}" for q in report.queries]
            if self.report_states[report.token] == "live":
                consumers.append(report_node)
        for (_, relations, _), query in zip(self.mode_reads, snapshot.queries, strict=True):
            parents[f"mode.query.{query.token}"] = [n.unique_id for n in relations]
        consumers += [n.unique_id for p in self.projects for n in p.nodes.nodes if _protected(n)]
        live = _upstream_of_all(consumers, parents)
        local = _upstream_of_all(consumers, parents, across=False)
        models = [
            n.unique_id
            for p in self.projects
            for n in p.nodes.nodes
            if n.layer in {"staging", "intermediate", "mart"}
        ]
        unused = frozenset(m for m in models if m not in live)
        designed = self.dead | set(self.package_models)
        if unused != designed:
            raise AssertionError(
                f"mesh design broken: unused but not designed {sorted(unused - designed)[:5]}, "
                f"designed but live {sorted(designed - unused)[:5]}"
            )
        return MeshDesign(
            manifests={p.name: p.manifest for p in self.projects},
            snapshot=snapshot,
            seed=self.seed,
            now=self.now,
            source_links=frozenset(self.source_links),
            ref_links=frozenset(self.ref_links),
            raw_relations=raw_relations,
            case_decoys=frozenset(self.case_decoys),
            used_across_projects=frozenset(m for m in models if m in live and m not in local),
            unused=unused,
            package_models=dict(sorted(self.package_models.items())),
            exposures=frozenset(exposures),
        )


# -- pieces ------------------------------------------------------------------------------------------


def loom_stub(upstream: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """An upstream project's model as dbt-loom injects it downstream (dbt's ModelNode.from_args):
    the relation, public access, and no code, file or dependencies."""
    uid = upstream["unique_id"]
    generated_at = now.astimezone(UTC).replace(tzinfo=None)
    return {
        "database": upstream["database"],
        "schema": upstream["schema"],
        "name": upstream["name"],
        "resource_type": "model",
        "package_name": upstream["package_name"],
        "path": "",
        "original_file_path": "",
        "unique_id": uid,
        "fqn": [upstream["package_name"], upstream["name"]],
        "alias": upstream["alias"],
        "checksum": {
            "name": "sha256",
            "checksum": hashlib.sha256(f"{uid},{generated_at}".encode()).hexdigest(),
        },
        "config": copy.deepcopy(MODEL_CONFIG_DEFAULTS),
        "tags": [],
        "description": "",
        "columns": {},
        "meta": {},
        "group": None,
        "docs": {"show": True, "node_color": None},
        "patch_path": None,
        "build_path": None,
        "unrendered_config": {
            "alias": upstream["alias"],
            "schema": upstream["schema"],
            "database": upstream["database"],
        },
        "created_at": round(now.timestamp(), 3),
        "relation_name": upstream["relation_name"],
        "raw_code": "",
        "doc_blocks": [],
        "language": "sql",
        "refs": [],
        "sources": [],
        "metrics": [],
        "depends_on": {"macros": [], "nodes": []},
        "compiled_path": None,
        "contract": {"enforced": False, "alias_types": True, "checksum": None},
        "access": "public",
        "constraints": [],
        "version": None,
        "latest_version": None,
        "deprecation_date": None,
        "primary_key": [],
        "time_spine": None,
    }


def _spell(entry: dict[str, Any], database: str, schema: str, identifier: str, rng: random.Random) -> None:
    """Declare a source's relation as its authors wrote it; every spelling is the same Snowflake
    relation (unquoted names fold to upper case, and a quoted upper-case name is already folded)."""
    roll = rng.random()
    quoted = False
    if roll < 0.70:
        spelt = (database, schema, identifier)
    elif roll < 0.80:
        spelt = (database.lower(), schema.upper(), identifier)
    elif roll < 0.90:
        spelt = (database, schema, identifier.upper())
    elif roll < 0.95:
        spelt = (database.lower(), schema.upper(), identifier.upper())
    else:
        spelt, quoted = (database, schema, identifier.upper()), True
    entry.update(database=spelt[0], schema=spelt[1], identifier=spelt[2])
    entry["quoting"] = {**entry["quoting"], "identifier": True if quoted else None}
    name = f'"{spelt[2]}"' if quoted else spelt[2]
    entry["relation_name"] = f"{spelt[0]}.{spelt[1]}.{name}"


def _add_parent(node: Node, parent: str) -> None:
    if parent not in node.parents:
        node.parents.append(parent)


def _protected(node: Node) -> bool:
    """Kept by the default protections (tag or meta `keep`): a consumer itself."""
    return "keep" in node.tags or node.meta.get("keep") is True


def _read_in(nodes: ProjectNodes) -> set[str]:
    return {parent for node in nodes.nodes for parent in node.parents}


def _children(projects: Iterable[_Project], source_links: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {}
    for project in projects:
        for node in project.nodes.nodes:
            for parent in node.parents:
                children.setdefault(parent, []).append(node.unique_id)
    for source, builder in sorted(source_links):
        children.setdefault(builder, []).append(source)
    return children


def _live_child(
    uid: str, children: Mapping[str, list[str]], by_id: Mapping[str, Node], dead: set[str]
) -> bool:
    """Whether a model not designed dead reads `uid`, directly or through a source declaring it."""
    for child in children.get(uid, ()):
        if child.startswith("source."):
            if _live_child(child, children, by_id, dead):
                return True
        elif child not in dead and by_id[child].layer in {"staging", "intermediate", "mart"}:
            return True
    return False


def _project_of(uid: str) -> str | None:
    kind, _, rest = uid.partition(".")
    return rest.split(".", 1)[0] if kind in {"model", "source", "seed", "snapshot", "exposure"} else None


def _upstream_of_all(
    targets: Iterable[str], parents: Mapping[str, list[str]], *, across: bool = True
) -> set[str]:
    """Every node with a path to one of `targets` (included); `across=False` stops at edges from
    one dbt project into another."""
    seen = set(targets)
    queue = deque(seen)
    while queue:
        child = queue.popleft()
        for parent in parents.get(child, ()):
            if parent in seen:
                continue
            projects = {_project_of(child), _project_of(parent)}
            if not across and None not in projects and len(projects) > 1:
                continue
            seen.add(parent)
            queue.append(parent)
    return seen


__all__ = ["MeshDesign", "loom_stub", "project_names", "synthetic_mesh"]
