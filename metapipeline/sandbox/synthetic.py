"""Generated platforms of any size, for benchmarks and the sandbox.

`synthetic_platform` builds a large dbt manifest (see `synthetic_dbt`) and a Mode workspace that
reads it, both seeded and deterministic: the same arguments give the same bytes. `mutate` edits a
share of the reports (new SQL, newer `updated_at`/`edited_at`) for warm-run benchmarks.

`synthetic_workspace` is the older, simpler generator: copies of the sample's reports.

The Mode workspace, by design (shares of all queries, give or take sampling):

- 90% read dbt relations by name (marts mostly, then intermediates, staging, seeds, snapshots,
  sources), with CTEs, joins, subqueries, windows, Liquid `{{ }}` parameters with `{% form %}`
  defaults and `{% if %}` blocks; about 6% of those go through a Mode definition (`{{ @name }}`),
- 3% join a dbt relation to a warehouse table dbt does not build,
- 5% read only tables dbt does not build (Snowflake `legacy`/`scratch`/... schemas, the
  application's PostgreSQL replica, a BigQuery marketing project),
- 2% do not parse (typos analysts leave in SQL that still names dbt relations).

`SyntheticPlatform.query_kinds` and `query_reads` record, per query token, which of these it is
and which dbt nodes it reads, so tests compare lineage against the design query by query.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from string import Template
from typing import Any

from metapipeline.sandbox.sample import materialize_workspace, mode_timestamp, report_times
from metapipeline.sandbox.synthetic_dbt import (
    DATABASE,
    DOMAINS,
    ENTITIES,
    PROJECT,
    Relation,
    add_exposures,
    dump_manifest,
    finish_manifest,
    synthetic_manifest,
    write_dbt_project,
)

REPORTS_PER_SPACE = 50

# Query kinds (see the module docstring) and their shares.
DBT, MIXED, WAREHOUSE_ONLY, UNPARSEABLE = "dbt", "mixed", "warehouse_only", "unparseable"
KIND_SHARES = {UNPARSEABLE: 0.02, WAREHOUSE_ONLY: 0.05, MIXED: 0.03, DBT: 0.90}
DEFINITION_SHARE = 0.06  # of dbt queries
LAYER_WEIGHTS = {"mart": 73, "intermediate": 17, "staging": 3, "seed": 2, "snapshot": 2, "source": 3}

WORKSPACE = "globex"
MODE_HOST = "https://app.mode.com"
WAREHOUSE_ID, REPLICA_ID, BIGQUERY_ID = 61_001, 61_002, 61_003
_REPORT_ID_BASE = 7_000_000
_QUERY_ID_BASE = 30_000_000
_SPACE_ID_BASE = 4_000_000
_DEFINITION_ID_BASE = 60_000

_FIRST = (
    "ada", "alex", "amir", "ana", "ben", "carla", "chen", "dana", "david", "elena", "emma", "farah", "felix",
    "grace", "hana", "ivan", "jamal", "jane", "jonas", "kai", "kofi", "lara", "leo", "li", "lucia", "maya",
    "marco", "mei", "nadia", "noah", "omar", "priya", "rafael", "rosa", "sam", "sofia", "tariq", "uma",
    "victor", "yuki", "zoe", "zainab",
)  # fmt: skip
_LAST = (
    "adams", "alvarez", "bauer", "chen", "costa", "dubois", "eriksen", "fischer", "garcia", "haddad",
    "ito", "jensen", "khan", "kowalski", "lee", "martin", "moreau", "nakamura", "novak", "okafor", "olsen",
    "patel", "petrov", "quinn", "rossi", "sato", "schmidt", "silva", "singh", "smith", "tanaka", "walsh",
    "weber", "wong", "yilmaz", "zhang",
)  # fmt: skip
_SPACE_QUALIFIERS = ("", "Analytics", "Ops", "Leadership", "EMEA", "AMER", "APAC", "Self-serve", "Archive")
_REPORT_SUFFIXES = (
    "Dashboard", "Weekly Review", "Deep Dive", "Tracker", "Monitor", "Overview", "KPIs", "Scorecard",
    "Ad hoc", "Drilldown", "(copy)", "- old", "v2", "Health Check", "Trends",
)  # fmt: skip
_DIMS = ("region", "channel", "status", "segment", "country_code", "plan_tier")
_MEASURES = ("amount", "revenue", "quantity", "duration_seconds", "cost")
_LEGACY_SCHEMAS = ("legacy", "scratch", "fivetran_log", "adhoc", "finance_ext", "vendor_share")
_REPLICA_TABLES = (
    "users", "orders", "order_items", "addresses", "carts", "payments", "feature_flags", "sessions",
    "devices", "subscriptions", "audit_log",
)  # fmt: skip
_BIGQUERY_TABLES = ("campaign_stats", "ad_group_stats", "keyword_stats", "ga_sessions", "conversions")
_DEFINITION_FILTERS = (
    ("active", "status = 'active'"),
    ("completed", "status = 'completed'"),
    ("recent", "created_at >= DATEADD(day, -90, CURRENT_DATE)"),
    ("emea", "region = 'EMEA'"),
    ("large", "amount > 1000"),
    ("paid", "status = 'paid'"),
)


# -- templates ---------------------------------------------------------------------------------------
# $-placeholders (string.Template) so Liquid's braces need no escaping.

_FORM_DAYS = "days_back:\n  type: number\n  default: $days"
_FORM_GRAIN = "grain:\n  type: select\n  default: week\n  options: [day, week, month]"
_FORM_START = "start_date:\n  type: date\n  default: $start"
_FORM_TOP = "top_n:\n  type: number\n  default: $top"
_FORM_REGION = "region:\n  type: select\n  default: All\n  options: [All, EMEA, AMER, APAC]"
_FORM_STATUS = "status:\n  type: text\n  default: active"


def _form(*fields: str) -> str:
    return "\n\n{% form %}\n" + "\n".join(fields) + "\n{% endform %}"


_ONE_RELATION = (
    Template(
        "SELECT DATE_TRUNC('{{ grain }}', created_at) AS period,\n"
        "       COUNT(DISTINCT $key) AS n_$entity,\n"
        "       SUM($measure) AS total_$measure\n"
        "FROM $r0\n"
        "WHERE created_at >= DATEADD(day, -{{ days_back }}, CURRENT_DATE)\n"
        "GROUP BY 1\n"
        "ORDER BY 1" + _form(_FORM_GRAIN, _FORM_DAYS)
    ),
    Template(
        "SELECT $key,\n"
        "       $dim,\n"
        "       $measure,\n"
        "       ROW_NUMBER() OVER (PARTITION BY $dim ORDER BY $measure DESC) AS rank_in_$dim\n"
        "FROM $r0\n"
        "WHERE created_at >= DATEADD(day, -{{ days_back }}, CURRENT_DATE)\n"
        "QUALIFY rank_in_$dim <= 10" + _form(_FORM_DAYS)
    ),
    Template("SELECT *\nFROM $r0\nORDER BY created_at DESC\nLIMIT 100"),
    Template(
        "-- $title\n"
        "SELECT $dim,\n"
        "       COUNT(*) AS n_rows,\n"
        "       AVG($measure) AS avg_$measure\n"
        "FROM $r0\n"
        "WHERE created_at BETWEEN '{{ start_date }}' AND CURRENT_DATE\n"
        "GROUP BY $dim\n"
        "HAVING COUNT(*) > 10\n"
        "ORDER BY n_rows DESC" + _form(_FORM_START)
    ),
)
_TWO_RELATIONS = (
    Template(
        "WITH base AS (\n"
        "    SELECT a.$key, a.created_at, a.$measure, b.$dim\n"
        "    FROM $r0 AS a\n"
        "    LEFT JOIN $r1 AS b\n"
        "      ON b.$key = a.$key\n"
        "    WHERE a.created_at >= '{{ start_date }}'\n"
        "),\n"
        "summary AS (\n"
        "    SELECT $dim, COUNT(*) AS n_rows, SUM($measure) AS total_$measure\n"
        "    FROM base\n"
        "    GROUP BY 1\n"
        ")\n"
        "SELECT *\n"
        "FROM summary\n"
        "ORDER BY total_$measure DESC\n"
        "LIMIT {{ top_n }}" + _form(_FORM_START, _FORM_TOP)
    ),
    Template(
        "SELECT a.$dim,\n"
        "       DATE_TRUNC('month', a.created_at) AS month,\n"
        "       SUM(a.$measure) AS total_$measure,\n"
        "       COUNT(DISTINCT b.$key) AS n_matched\n"
        "FROM $r0 a\n"
        "INNER JOIN $r1 b ON b.$key = a.$key\n"
        "GROUP BY 1, 2\n"
        "ORDER BY 2, 1"
    ),
    Template(
        "SELECT 'current' AS label, COUNT(*) AS n_rows, SUM($measure) AS total\n"
        "FROM $r0\n"
        "UNION ALL\n"
        "SELECT 'comparison' AS label, COUNT(*) AS n_rows, SUM($measure) AS total\n"
        "FROM $r1"
    ),
    Template(
        "SELECT $dim, SUM($measure) AS total_$measure\n"
        "FROM $r0\n"
        "WHERE $key IN (\n"
        "    SELECT $key\n"
        "    FROM $r1\n"
        "    WHERE status = '{{ status }}'\n"
        ")\n"
        "GROUP BY 1" + _form(_FORM_STATUS)
    ),
)
_THREE_RELATIONS = (
    Template(
        "WITH facts AS (\n"
        "    SELECT *\n"
        "    FROM $r0\n"
        "    WHERE created_at >= DATEADD(month, -$months, CURRENT_DATE)\n"
        "),\n"
        "dims AS (\n"
        "    SELECT $key, $dim\n"
        "    FROM $r1\n"
        "),\n"
        "latest AS (\n"
        "    SELECT $key, MAX(updated_at) AS last_update\n"
        "    FROM $r2\n"
        "    GROUP BY 1\n"
        ")\n"
        "SELECT d.$dim,\n"
        "       COUNT(*) AS n_rows,\n"
        "       MAX(l.last_update) AS last_update\n"
        "FROM facts f\n"
        "JOIN dims d ON d.$key = f.$key\n"
        "LEFT JOIN latest l ON l.$key = f.$key\n"
        "WHERE 1 = 1\n"
        "{% if region != 'All' %}\n"
        "  AND f.region = '{{ region }}'\n"
        "{% endif %}\n"
        "GROUP BY 1\n"
        "ORDER BY 2 DESC" + _form(_FORM_REGION)
    ),
)
_WITH_DEFINITION = (
    Template(
        "SELECT d.*\nFROM {{ @$definition as d }}\nWHERE d.created_at >= DATEADD(day, -30, CURRENT_DATE)"
    ),
    Template(
        "SELECT d.$dim, COUNT(*) AS n_rows\n"
        "FROM {{ @$definition as d }}\n"
        "JOIN $r0 AS x ON x.$key = d.$key\n"
        "GROUP BY 1\n"
        "ORDER BY 2 DESC"
    ),
    Template("SELECT COUNT(*) AS n_rows\nFROM {{ @$definition }} AS d"),
)
_BROKEN = (  # each fails to parse (checked by the tests), and names its relations in plain text
    Template("SELECT $dim, SUM($measure) AS total\nFROM $r0\nWHERE status IN ('open', 'pending'\nGROUP BY 1"),
    Template(
        "SELECT $key,\n       CASE WHEN $measure > 100 THEN 'large' ELSE 'small' AS size_band\nFROM $r0"
    ),
    Template(
        "SELECT a.$key, b.$dim\n"
        "FROM $r0 a\n"
        "JOIN $r1 b ON b.$key = a.$key\n"
        "WHERE a.created_at >= DATEADD(day, -30, CURRENT_DATE) AND AND b.$dim IS NOT NULL"
    ),
    Template("SELECT *\nFROM $r0\nWHERE status = 'open'\nGROUP BY BY 1"),
    Template("SELECT COUNT(* FROM $r0"),
)
_SNOWFLAKE_ONLY = (
    Template("SELECT *\nFROM $w0\nWHERE loaded_at >= DATEADD(day, -7, CURRENT_DATE)"),
    Template(
        "SELECT a.*, b.notes\nFROM $w0 a\nLEFT JOIN $w1 b ON b.id = a.id\nWHERE a.created_at >= '{{ start_date }}'"
        + _form(_FORM_START)
    ),
)
_REPLICA_ONLY = (
    Template(
        "SELECT u.id, u.email, COUNT(o.id) AS n_orders\n"
        "FROM public.users u\n"
        "LEFT JOIN public.$p0 o ON o.user_id = u.id\n"
        "WHERE o.created_at > NOW() - INTERVAL '{{ days_back }} days'\n"
        "GROUP BY 1, 2" + _form(_FORM_DAYS)
    ),
    Template("SELECT *\nFROM $p0\nORDER BY id DESC\nLIMIT 500"),
)
_BIGQUERY_ONLY = (
    Template(
        "SELECT campaign_id, SUM(cost_micros) / 1e6 AS cost\n"
        "FROM `globex-marketing.google_ads.$b0`\n"
        "WHERE segments_date >= '{{ start_date }}'\n"
        "GROUP BY 1" + _form(_FORM_START)
    ),
)


@dataclass
class _Definition:
    token: str
    name: str
    reads: tuple[str, ...]


@dataclass
class SqlWriter:
    """Writes Mode SQL over the published relations; every method takes the rng to draw from."""

    published: dict[str, list[Relation]]
    definitions: list[_Definition] = field(default_factory=list)
    users: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._layers = [layer for layer in LAYER_WEIGHTS if self.published.get(layer)]
        self._layer_weights = [LAYER_WEIGHTS[layer] for layer in self._layers]
        # Zipf-like popularity: the first relations of a layer (its hubs) are read most.
        self._cumulative = {
            layer: list(itertools.accumulate(1 / (rank + 1) ** 0.9 for rank in range(len(pool))))
            for layer, pool in self.published.items()
        }

    def relation(self, rng: random.Random, layer: str | None = None) -> Relation:
        layer = layer or rng.choices(self._layers, self._layer_weights)[0]
        return rng.choices(self.published[layer], cum_weights=self._cumulative[layer])[0]

    def relation_text(self, rng: random.Random, relation: Relation) -> str:
        if relation.layer == "source":
            return f"raw.{relation.schema}.{relation.identifier}"
        roll = rng.random()
        if roll < 0.80:
            return f"{relation.schema}.{relation.identifier}"
        if roll < 0.90:
            return f"{DATABASE.lower()}.{relation.schema}.{relation.identifier}"
        if roll < 0.95:
            return f"{relation.schema}.{relation.identifier}".upper()
        return ".".join(f'"{part.upper()}"' for part in (DATABASE, relation.schema, relation.identifier))

    def warehouse_table(self, rng: random.Random) -> str:
        schema = rng.choice(_LEGACY_SCHEMAS)
        entity = rng.choice(ENTITIES)
        if schema == "scratch" and self.users:
            return f"scratch.{rng.choice(self.users).replace('.', '_')}_{entity}_tmp"
        if schema == "legacy":
            return f"legacy.{entity}_{rng.randint(2015, 2021)}"
        return f"{schema}.{entity}_{rng.choice(('upload', 'export', 'share', 'status'))}_{rng.randint(1, 9)}"

    def _values(self, rng: random.Random, relations: Sequence[Relation]) -> dict[str, Any]:
        first = relations[0]
        values: dict[str, Any] = {f"r{i}": self.relation_text(rng, r) for i, r in enumerate(relations)}
        values.update(
            key=first.key,
            entity=first.entity,
            dim=rng.choice(_DIMS),
            measure=rng.choice(_MEASURES),
            days=rng.choice((7, 14, 30, 90, 180, 365)),
            start=f"{rng.randint(2022, 2025)}-{rng.randint(1, 12):02d}-01",
            top=rng.choice((10, 20, 25, 50, 100)),
            months=rng.choice((3, 6, 12, 24)),
            title=f"{first.entity.replace('_', ' ')} by segment",
        )
        return values

    def query(self, rng: random.Random, kind: str) -> tuple[str, int, tuple[str, ...]]:
        """(SQL, data source id, dbt unique ids it reads) of a new query of this kind."""
        if kind == WAREHOUSE_ONLY:
            roll = rng.random()
            if roll < 0.60:
                template = rng.choice(_SNOWFLAKE_ONLY)
                tables = {"w0": self.warehouse_table(rng), "w1": self.warehouse_table(rng)}
                return template.substitute(tables, start=f"{rng.randint(2022, 2025)}-01-01"), WAREHOUSE_ID, ()
            if roll < 0.88:
                template = rng.choice(_REPLICA_ONLY)
                sql = template.substitute(p0=rng.choice(_REPLICA_TABLES), days=rng.choice((7, 30, 90)))
                return sql, REPLICA_ID, ()
            start = f"{rng.randint(2022, 2025)}-01-01"
            return _BIGQUERY_ONLY[0].substitute(b0=rng.choice(_BIGQUERY_TABLES), start=start), BIGQUERY_ID, ()
        if kind == UNPARSEABLE:
            template = rng.choice(_BROKEN)
            relations = [self.relation(rng, "mart"), self.relation(rng)]
            sql = template.substitute(self._values(rng, relations))
            named = relations if "$r1" in template.template else relations[:1]
            return sql, WAREHOUSE_ID, _ids(named)
        if kind == MIXED:
            relations = [self.relation(rng), self.relation(rng)]
            values = self._values(rng, relations)
            values["r1"] = self.warehouse_table(rng)
            return _TWO_RELATIONS[0].substitute(values), WAREHOUSE_ID, _ids(relations[:1])
        if self.definitions and rng.random() < DEFINITION_SHARE:
            definition = rng.choice(self.definitions)
            template = rng.choice(_WITH_DEFINITION)
            relations = [self.relation(rng)]
            values = {**self._values(rng, relations), "definition": definition.name}
            used = _ids(relations) if "$r0" in template.template else ()
            return template.substitute(values), WAREHOUSE_ID, _merge(used, definition.reads)
        roll = rng.random()
        count = 1 if roll < 0.45 else 2 if roll < 0.85 else 3
        relations = [
            self.relation(rng, "mart" if i == 0 and rng.random() < 0.7 else None) for i in range(count)
        ]
        return self.query_over(rng, relations), WAREHOUSE_ID, _ids(relations)

    def query_over(self, rng: random.Random, relations: Sequence[Relation]) -> str:
        """Warehouse SQL that reads exactly `relations` (one to three of them)."""
        templates = (_ONE_RELATION, _TWO_RELATIONS, _THREE_RELATIONS)[len(relations) - 1]
        return rng.choice(templates).substitute(self._values(rng, relations))

    def definition(self, rng: random.Random, index: int, token: str) -> tuple[_Definition, str, str]:
        """A new definition (nesting an earlier one now and then), its source and description."""
        relation = self.relation(rng, "mart")
        prefix, condition = _DEFINITION_FILTERS[index % len(_DEFINITION_FILTERS)]
        name = f"{prefix}_{relation.entity}" + (f"_{index}" if index >= len(_DEFINITION_FILTERS) else "")
        text = self.relation_text(rng, relation)
        if self.definitions and rng.random() < 0.15:
            parent = rng.choice(self.definitions)
            source = (
                f"SELECT x.*\nFROM {{{{ @{parent.name} as x }}}}\n"
                f"JOIN {text} AS y ON y.{relation.key} = x.{relation.key}\nWHERE y.{condition}"
            )
            reads = _merge(_ids([relation]), parent.reads)
            description = f"{prefix.capitalize()} {relation.entity} within @{parent.name}"
        else:
            source = f"SELECT *\nFROM {text}\nWHERE {condition}"
            reads = _ids([relation])
            description = f"{prefix.capitalize()} {relation.entity.replace('_', ' ')}"
        if rng.random() < 0.3:
            source = source.replace("\n", "\\n")  # how Mode stores some definitions
        definition = _Definition(token, name, reads)
        self.definitions.append(definition)
        return definition, source, description


def _ids(relations: Sequence[Relation]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r.unique_id for r in relations))


def _merge(*groups: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(uid for group in groups for uid in group))


# -- the platform ------------------------------------------------------------------------------------


@dataclass
class SyntheticPlatform:
    manifest: dict[str, Any]  # a dbt manifest (schema v12, Snowflake)
    workspace: dict[str, Any]  # a Mode workspace document, as `ModeEmulator` serves it
    seed: int
    now: datetime
    query_kinds: dict[str, str]  # query token -> DBT, MIXED, WAREHOUSE_ONLY or UNPARSEABLE
    query_reads: dict[str, tuple[str, ...]]  # query token -> dbt unique ids it reads, by design
    changed_reports: tuple[str, ...] = ()  # tokens `mutate` edited
    _writer: SqlWriter | None = field(default=None, repr=False, compare=False)

    def manifest_bytes(self) -> bytes:
        return dump_manifest(self.manifest)

    def workspace_bytes(self) -> bytes:
        return json.dumps(self.workspace, separators=(",", ":"), ensure_ascii=False).encode()

    def digest(self) -> str:
        """sha256 of the manifest and the workspace as JSON: equal digests, equal platforms."""
        hasher = hashlib.sha256(self.manifest_bytes())
        hasher.update(b"\0")
        hasher.update(self.workspace_bytes())
        return hasher.hexdigest()

    def write_manifest(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.manifest_bytes())
        return path

    def write_dbt_project(self, directory: Path) -> int:
        """A minimal dbt project matching the manifest (for the GitHub emulator); returns the file count."""
        return write_dbt_project(self.manifest, directory)

    def counts(self) -> dict[str, int]:
        resources: dict[str, int] = {}
        for section in ("nodes", "sources", "exposures"):
            for entry in self.manifest[section].values():
                resources[entry["resource_type"]] = resources.get(entry["resource_type"], 0) + 1
        reports = self.workspace["reports"]
        return {
            **dict(sorted(resources.items())),
            "reports": len(reports),
            "queries": sum(len(r["queries"]) for r in reports),
            "spaces": len(self.workspace["spaces"]),
            "users": len(self.workspace["users"]),
            "definitions": len(self.workspace["definitions"]),
        }


def parse_spec(text: str) -> tuple[int, int, int]:
    """'10000:20000:60000' or '10k:20k:60k' -> (models, reports, queries)."""
    parts = text.lower().split(":")
    if len(parts) != 3:
        raise ValueError(f"expected MODELS:REPORTS:QUERIES, e.g. 10000:20000:60000, not {text!r}")
    numbers = []
    for part in parts:
        match = re.fullmatch(r"(\d+)(k?)", part.strip())
        if not match:
            raise ValueError(f"{part!r} in {text!r} is not a count like 500 or 20k")
        numbers.append(int(match.group(1)) * (1000 if match.group(2) else 1))
    models, reports, queries = numbers
    if models < 10 or reports < 1:
        raise ValueError(f"{text!r}: a synthetic platform needs at least 10 models and 1 report")
    return models, reports, queries


def synthetic_platform(
    models: int, reports: int, queries: int, *, seed: int = 0, now: datetime
) -> SyntheticPlatform:
    """A dbt project of `models` models and a Mode workspace of `reports` reports holding `queries`
    queries in all, reading it. Timestamps are relative to `now`; the same arguments give the same bytes."""
    if reports < 1 or queries < 0:
        raise ValueError("a synthetic platform needs at least one report and no negative query count")
    rng = random.Random(f"mode:{seed}")
    tokens = Tokens(rng)
    clock = Clock(now, rng)

    users = mode_users(rng, max(8, reports // 40))
    owners = [u["email"] for u in users[1 : 1 + len(DOMAINS)]]
    design = synthetic_manifest(models, seed=seed, now=now, owners=owners)
    usernames = [u["username"] for u in users]
    writer = SqlWriter(design.published, users=usernames[1:])

    data_sources = _data_sources(tokens)
    definitions = []
    for i in range(max(4, reports // 500)):
        definition, source, description = writer.definition(rng, i, tokens.new())
        created, updated = clock.created_and_edited(rng.randint(30, 900))
        definitions.append(
            {
                "id": _DEFINITION_ID_BASE + i,
                "token": definition.token,
                "name": definition.name,
                "description": description,
                "source": source,
                "data_source_id": WAREHOUSE_ID,
                "creator": rng.choice(usernames[1:]),
                "created_at": created,
                "updated_at": updated,
            }
        )

    spaces, team_spaces, personal_spaces = _spaces(rng, tokens, usernames, reports)
    counts = _queries_per_report(rng, reports, queries)
    kinds, shares = list(KIND_SHARES), list(itertools.accumulate(KIND_SHARES.values()))
    query_kinds: dict[str, str] = {}
    query_reads: dict[str, tuple[str, ...]] = {}
    documents = []
    query_id = itertools.count(_QUERY_ID_BASE)
    for i, count in enumerate(counts):
        if personal_spaces and rng.random() < 0.1:
            space = rng.choice(personal_spaces)
            creator = space["creator"]
        else:
            space = team_spaces[min(len(team_spaces) - 1, int(len(team_spaces) * rng.random() ** 1.4))]
            creator = rng.choice(space["members"][1:] or space["members"])
        created_days = int(1500 * rng.random() ** 1.3) + 1
        created, edited = clock.created_and_edited(created_days)
        last_run = clock.last_run(created_days)
        runs = int(rng.lognormvariate(3.5, 1.3))
        entity = rng.choice(ENTITIES).replace("_", " ").title()
        report_queries = []
        for q in range(count):
            kind = kinds[min(len(kinds) - 1, _bisect(shares, rng.random()))]
            sql, source_id, reads = writer.query(rng, kind)
            token = tokens.new()
            query_kinds[token] = kind
            query_reads[token] = reads
            report_queries.append(
                {
                    "id": next(query_id),
                    "token": token,
                    "name": f"{entity} {rng.choice(('by week', 'by region', 'trend', 'top 20', 'detail', 'totals'))}"
                    if q
                    else f"{entity} overview",
                    "raw_query": sql,
                    "data_source_id": source_id,
                    "creator": creator,
                    "created_at": created,
                    "updated_at": edited,
                }
            )
        documents.append(
            {
                "id": _REPORT_ID_BASE + i,
                "token": tokens.new(),
                "name": f"{space['name'].split(' - ')[0]} - {entity} {rng.choice(_REPORT_SUFFIXES)}",
                "description": None if rng.random() < 0.4 else f"{entity} for the {space['name']} space",
                "space_token": space["token"],
                "creator": creator,
                "type": "Report",
                **report_times(created, edited, last_run),
                "archived": rng.random() < 0.06,
                "runs_count": runs,
                "view_count": int(runs * rng.uniform(0.2, 3.0)),
                "schedules_count": 1 if rng.random() < 0.12 else 0,
                "queries": report_queries,
            }
        )

    workspace = {
        "workspace": {"username": WORKSPACE, "name": "Globex"},
        "users": users,
        "data_sources": data_sources,
        "definitions": definitions,
        "spaces": spaces,
        "reports": documents,
    }
    add_exposures(design.manifest, _exposures(rng, documents, users, query_kinds, query_reads, clock))
    finish_manifest(design.manifest)
    return SyntheticPlatform(design.manifest, workspace, seed, now, query_kinds, query_reads, (), writer)


def mutate(
    platform: SyntheticPlatform, share: float = 0.01, *, seed: int = 1, now: datetime | None = None
) -> SyntheticPlatform:
    """The platform with `share` of its reports edited: one query's SQL changes (a rewrite or a small
    edit) and the report's `updated_at`, `edited_at` and `last_saved_at` move to `now` (default: a day
    after the platform's). Archived and empty reports are left alone. The manifest is shared, not
    copied; unchanged reports are the same objects as the original's."""
    if platform._writer is None:
        raise ValueError("mutate needs a platform made by synthetic_platform")
    if not 0 <= share <= 1:
        raise ValueError("share must be between 0 and 1")
    rng = random.Random(f"mutate:{platform.seed}:{seed}")
    reports = platform.workspace["reports"]
    live = [i for i, r in enumerate(reports) if not r["archived"] and r["queries"]]
    chosen = sorted(rng.sample(live, min(len(live), round(share * len(reports)))))
    stamp = mode_timestamp(now or platform.now + timedelta(days=1))
    kinds, reads = dict(platform.query_kinds), dict(platform.query_reads)
    edited_reports = list(reports)
    for i in chosen:
        report = dict(reports[i])
        queries = list(report["queries"])
        position = rng.randrange(len(queries))
        query = dict(queries[position])
        if rng.random() < 0.5:
            sql, source_id, read = platform._writer.query(rng, kinds[query["token"]])
            query.update(raw_query=sql, data_source_id=source_id)
            reads[query["token"]] = read
        else:
            query["raw_query"] += f"\n-- edited {stamp[:10]}: {rng.choice(('filters', 'labels', 'columns'))}"
        query["updated_at"] = stamp
        queries[position] = query
        report.update(queries=queries, updated_at=stamp, edited_at=stamp, last_saved_at=stamp)
        edited_reports[i] = report
    workspace = {**platform.workspace, "reports": edited_reports}
    changed = tuple(reports[i]["token"] for i in chosen)
    return replace(
        platform, workspace=workspace, query_kinds=kinds, query_reads=reads, changed_reports=changed
    )


def apply_changes(document: dict[str, Any], mutated: SyntheticPlatform) -> int:
    """Copy the reports `mutate` changed into a workspace document in place, e.g. a running
    `ModeEmulator.document` (its report dicts are the ones it serves); returns how many changed."""
    changed = set(mutated.changed_reports)
    fresh = {r["token"]: r for r in mutated.workspace["reports"] if r["token"] in changed}
    count = 0
    for report in document["reports"]:
        if report["token"] in fresh:
            report.update(copy.deepcopy(fresh[report["token"]]))
            count += 1
    return count


# -- pieces ------------------------------------------------------------------------------------------


class Tokens:
    def __init__(self, rng: random.Random):
        self._rng = rng
        self._seen: set[str] = set()

    def new(self) -> str:
        while True:
            token = f"{self._rng.getrandbits(48):012x}"
            if token not in self._seen:
                self._seen.add(token)
                return token


class Clock:
    """Mode timestamps `days` before now, with a time of day drawn from the rng."""

    def __init__(self, now: datetime, rng: random.Random):
        self.now = now.astimezone(UTC).replace(microsecond=0)
        self._rng = rng

    def created_and_edited(self, created_days: int) -> tuple[str, str]:
        created = self.now - timedelta(days=created_days, seconds=self._rng.randrange(86_400))
        edited = created + (self.now - created) * self._rng.random()
        return mode_timestamp(created), mode_timestamp(edited.replace(microsecond=0))

    def last_run(self, created_days: int) -> str | None:
        roll = self._rng.random()
        if roll < 0.01:
            return None  # never run
        if roll < 0.71:
            days = self._rng.randint(0, 30)
        elif roll < 0.90:
            days = self._rng.randint(31, 100)
        else:
            days = self._rng.randint(101, max(101, created_days))
        days = min(days, created_days - 1)
        return mode_timestamp(self.now - timedelta(days=days, seconds=self._rng.randrange(43_200)))


def _bisect(cumulative: Sequence[float], value: float) -> int:
    return next((i for i, bound in enumerate(cumulative) if value < bound), len(cumulative) - 1)


def mode_users(rng: random.Random, count: int) -> list[dict[str, Any]]:
    users = [
        {"username": "data-platform", "name": "Data Platform Bot", "email": "data-platform@globex.example"}
    ]
    taken = {"data-platform"}
    while len(users) < count:
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        username = f"{first}.{last}"
        for n in itertools.count(2):
            if username not in taken:
                break
            username = f"{first}.{last}{n}"
        taken.add(username)
        users.append(
            {
                "username": username,
                "name": f"{first.title()} {last.title()}",
                "email": f"{username}@globex.example",
            }
        )
    return users


def _data_sources(tokens: Tokens) -> list[dict[str, Any]]:
    return [
        {
            "id": WAREHOUSE_ID,
            "token": tokens.new(),
            "name": "Snowflake - Analytics",
            "adapter": "jdbc:snowflake",
            "database": DATABASE,
            "host": "globex.us-east-1.snowflakecomputing.com",
            "warehouse": "MODE_WH",
            "default": True,
        },
        {
            "id": REPLICA_ID,
            "token": tokens.new(),
            "name": "App DB (read replica)",
            "adapter": "jdbc:postgresql",
            "database": "app_production",
            "host": "app-replica.internal.globex.example",
            "port": 5432,
        },
        {
            "id": BIGQUERY_ID,
            "token": tokens.new(),
            "name": "BigQuery - Marketing",
            "adapter": "jdbc:bigquery",
            "database": "default",
            "host": "globex-marketing",
        },
    ]


def _spaces(
    rng: random.Random, tokens: Tokens, usernames: list[str], reports: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    team = []
    names = (
        f"{domain.replace('_', ' ').title()}{f' - {qualifier}' if qualifier else ''}{f' {n}' if n > 1 else ''}"
        for n in itertools.count(1)
        for qualifier in _SPACE_QUALIFIERS
        for domain in DOMAINS
    )
    for i, name in zip(range(max(2, reports // 60)), names, strict=False):
        members = ["data-platform", *rng.sample(usernames[1:], min(len(usernames) - 1, rng.randint(3, 15)))]
        restricted = rng.random() < 0.1
        team.append(
            {
                "id": _SPACE_ID_BASE + i,
                "token": tokens.new(),
                "name": name,
                "space_type": "custom",
                "description": f"Reports of the {name} team",
                "restricted": restricted,
                "default_access_level": "restricted" if restricted else "edit",
                "creator": members[1],
                "members": members,
            }
        )
    personal: list[dict[str, Any]] = []
    for username in rng.sample(usernames[1:], max(1, (len(usernames) - 1) // 10)):
        personal.append(
            {
                "id": _SPACE_ID_BASE + len(team) + len(personal),
                "token": tokens.new(),
                "name": "Personal",
                "space_type": "private",
                "description": None,
                "restricted": False,
                "default_access_level": "view",
                "creator": username,
                "members": [username],
            }
        )
    return team + personal, team, personal


def _queries_per_report(rng: random.Random, reports: int, queries: int) -> list[int]:
    """Exactly `queries` queries over `reports` reports: at least one each while they last, then a
    skewed share of the rest (most reports hold 1-5, a few over 20)."""
    counts = [1 if i < queries else 0 for i in range(reports)]
    extra = queries - sum(counts)
    if extra > 0:
        cumulative = list(itertools.accumulate(min(rng.paretovariate(1.5), 12.0) for _ in range(reports)))
        for index in rng.choices(range(reports), cum_weights=cumulative, k=extra):
            counts[index] += 1
    rng.shuffle(counts)
    return counts


def _exposures(
    rng: random.Random,
    reports: list[dict[str, Any]],
    users: list[dict[str, Any]],
    kinds: dict[str, str],
    reads: dict[str, tuple[str, ...]],
    clock: Clock,
) -> list[dict[str, Any]]:
    """A few hand-written exposures over Mode reports that read dbt models (one of them stale)."""
    by_name = {u["username"]: u for u in users}
    candidates = [
        r
        for r in reports
        if not r["archived"]
        and any(
            kinds[q["token"]] == DBT and any(u.startswith("model.") for u in reads[q["token"]])
            for q in r["queries"]
        )
    ]
    wanted = max(3, min(12, len(reports) // 2000))
    picked = rng.sample(candidates, min(wanted, len(candidates)))
    exposures = []
    for i, report in enumerate(picked):
        models = [u for q in report["queries"] for u in reads[q["token"]] if u.startswith("model.")]
        creator = by_name[report["creator"]]
        slug = re.sub(r"[^a-z0-9]+", "_", report["name"].lower()).strip("_")
        exposures.append(
            {
                "name": f"{slug}_{i + 1}",
                "label": report["name"],
                "type": "dashboard",
                "maturity": "high" if i % 2 == 0 else "medium",
                "url": f"{MODE_HOST}/{WORKSPACE}/reports/{report['token']}",
                "description": f"{report['name']}, reviewed regularly; keep its models.",
                "owner": {"name": creator["name"], "email": creator["email"]},
                "depends_on": list(dict.fromkeys(models))[:4],
                "tags": ["mode"],
            }
        )
    return exposures


def synthetic_workspace(reports: int, *, seed: int = 0, now: datetime | None = None) -> dict[str, Any]:
    """A workspace document with `reports` reports spread over spaces of about 50 reports each.

    Reports and their queries are copies of the sample's (same SQL, users, data sources, usage
    figures) under fresh ids and tokens, so every generated workspace is valid emulator input.
    """
    sample = materialize_workspace(now or datetime.now(UTC))
    rng = random.Random(seed)
    document = {
        key: copy.deepcopy(sample[key]) for key in ("workspace", "users", "data_sources", "definitions")
    }
    space_count = max(1, -(-reports // REPORTS_PER_SPACE))
    template_space = next(s for s in sample["spaces"] if s["space_type"] != "private")
    document["spaces"] = [
        {**template_space, "id": 3_000_000 + i, "token": _token(rng), "name": f"Team space {i + 1}"}
        for i in range(space_count)
    ]
    next_query_id = 20_000_000
    generated = []
    for i in range(reports):
        template = rng.choice(sample["reports"])
        queries = []
        for query in template["queries"]:
            queries.append({**query, "id": next_query_id, "token": _token(rng)})
            next_query_id += 1
        generated.append(
            {
                **template,
                "id": 6_000_000 + i,
                "token": _token(rng),
                "name": f"{template['name']} #{i + 1}",
                "space_token": document["spaces"][i % space_count]["token"],
                "queries": queries,
            }
        )
    document["reports"] = generated
    return document


def _token(rng: random.Random) -> str:
    return f"{rng.getrandbits(48):012x}"


__all__ = [
    "DBT",
    "MIXED",
    "PROJECT",
    "UNPARSEABLE",
    "WAREHOUSE_ONLY",
    "SyntheticPlatform",
    "apply_changes",
    "mutate",
    "parse_spec",
    "synthetic_platform",
    "synthetic_workspace",
]
