"""The synthetic platform: deterministic, realistically shaped, served by the sandbox, and readable
by the real lineage, graph and removal code exactly as designed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import requests
import yaml

from metapipeline.actions.dbt_changes import plan_removal
from metapipeline.dbt.manifest import check_schema_version, mode_reports_behind_exposures
from metapipeline.dbt.relations import dialect_for_dbt_adapter, load_dbt_graph
from metapipeline.lineage.dialects import data_source_defaults, dialect_for_adapter
from metapipeline.lineage.resolve import QueryInput, QueryLineage, resolve_many
from metapipeline.mode.models import DataSource
from metapipeline.mode.snapshot import WorkspaceSnapshot, take_snapshot
from metapipeline.platform.graph import build_platform_graph
from metapipeline.platform.stale import StalePolicy, judge_reports
from metapipeline.platform.unused import find_unused_models
from metapipeline.sandbox.faults import FaultSettings
from metapipeline.sandbox.harness import EmulatorServer
from metapipeline.sandbox.mode_emulator import mode_client
from metapipeline.sandbox.platform import _fault_settings, start_synthetic_sandbox
from metapipeline.sandbox.synthetic import (
    DBT,
    MIXED,
    UNPARSEABLE,
    WAREHOUSE_ONLY,
    SyntheticPlatform,
    apply_changes,
    mutate,
    parse_spec,
    synthetic_platform,
)
from metapipeline.sandbox.synthetic_dbt import dbt_project_files, layer_sizes
from metapipeline.store.ledger import CachedReport

NOW = datetime(2026, 11, 23, tzinfo=UTC)
SIZE = (300, 500, 1500)  # models, reports, queries


@pytest.fixture(scope="module")
def platform() -> SyntheticPlatform:
    return synthetic_platform(*SIZE, seed=0, now=NOW)


@pytest.fixture(scope="module")
def lineage(platform) -> dict[str, QueryLineage]:
    """Every query resolved by the product's lineage against the manifest's relation index."""
    index = load_dbt_graph([platform.manifest]).relation_index()
    workspace = platform.workspace
    sources = {d["id"]: DataSource.from_api(d) for d in workspace["data_sources"]}
    definitions = {d["name"]: d["source"] for d in workspace["definitions"]}
    queries = [q for r in workspace["reports"] for q in r["queries"]]
    items = [
        QueryInput(q["raw_query"], definitions, *data_source_defaults(sources[q["data_source_id"]]))
        for q in queries
    ]
    results = resolve_many(items, index=index, processes=1)
    return {q["token"]: result for q, result in zip(queries, results, strict=True)}


def _models(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"}


def _layer(node: dict[str, Any]) -> str:
    return node["fqn"][1]  # staging, intermediate or marts


# -- determinism --------------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes(platform):
    again = synthetic_platform(*SIZE, seed=0, now=NOW)
    assert again.manifest_bytes() == platform.manifest_bytes()
    assert again.workspace_bytes() == platform.workspace_bytes()
    other = synthetic_platform(*SIZE, seed=1, now=NOW)
    assert other.manifest_bytes() != platform.manifest_bytes()
    assert other.workspace_bytes() != platform.workspace_bytes()


def test_output_does_not_depend_on_the_process_hash_seed():
    code = (
        "from datetime import UTC, datetime\n"
        "from metapipeline.sandbox.synthetic import synthetic_platform\n"
        "print(synthetic_platform(40, 60, 150, seed=5, now=datetime(2026, 11, 23, tzinfo=UTC)).digest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == synthetic_platform(40, 60, 150, seed=5, now=NOW).digest()


# -- the dbt manifest ---------------------------------------------------------------------------------


def test_manifest_loads_through_the_products_readers(platform):
    manifest = platform.manifest
    assert check_schema_version(manifest) == 12
    assert manifest["metadata"]["adapter_type"] == "snowflake"
    warehouse = next(d for d in platform.workspace["data_sources"] if d.get("default"))
    assert dialect_for_adapter(warehouse["adapter"]) == dialect_for_dbt_adapter("snowflake")
    graph = load_dbt_graph([manifest])
    counts = Counter(node.resource_type for node in graph.nodes.values())
    assert counts["model"] == SIZE[0]
    assert counts["seed"] >= 2 and counts["snapshot"] >= 2 and counts["source"] > SIZE[0] // 3
    assert counts["exposure"] >= 3
    assert Counter(n["resource_type"] for n in manifest["nodes"].values())["test"] > SIZE[0] // 2
    index = graph.relation_index()
    ephemeral = sum(1 for n in _models(manifest).values() if n["config"]["materialized"] == "ephemeral")
    assert 0 < ephemeral < SIZE[0] // 10
    relations = [n for n in graph.nodes.values() if n.resource_type != "exposure"]
    assert len(index) == len(relations) - ephemeral  # every relation has its own warehouse name
    for node in relations:
        if node.is_relation:
            assert index.lookup(*node.relation_key()) == (node.unique_id,)


def test_layered_dag_is_acyclic_with_fan_in_one_to_four_and_hubs(platform):
    manifest = platform.manifest
    graph = load_dbt_graph([manifest])
    dag = nx.DiGraph(list(graph.edges))
    assert nx.is_directed_acyclic_graph(dag)
    models = _models(manifest)
    staging, intermediate, marts = layer_sizes(SIZE[0])
    assert Counter(_layer(n) for n in models.values()) == {
        "staging": staging,
        "intermediate": intermediate,
        "marts": marts,
    }
    allowed = {
        "staging": {"source", "seed"},
        "intermediate": {"staging", "intermediate", "snapshot"},
        "marts": {"staging", "intermediate", "marts", "seed"},
    }
    for uid, node in models.items():
        parents = node["depends_on"]["nodes"]
        assert 1 <= len(parents) <= 4, uid
        assert len(set(parents)) == len(parents)
        kinds = set()
        for parent in parents:
            entry = manifest["nodes"].get(parent) or manifest["sources"][parent]
            kinds.add(_layer(entry) if entry["resource_type"] == "model" else entry["resource_type"])
        assert kinds <= allowed[_layer(node)], (uid, kinds)
    fan_in = Counter(len(n["depends_on"]["nodes"]) for n in models.values() if _layer(n) != "staging")
    assert set(fan_in) == {1, 2, 3, 4}
    children = Counter(p for n in models.values() for p in n["depends_on"]["nodes"])
    top = [uid for uid, _ in children.most_common(3)]
    assert children[top[-1]] >= 8  # hubs: a few models many others read
    assert "model.globex.dim_customers" in manifest["nodes"]
    for uid, parents in manifest["parent_map"].items():
        for parent in parents:
            assert uid in manifest["child_map"][parent]


def test_nodes_carry_what_the_product_reads(platform):
    manifest = platform.manifest
    for uid, node in _models(manifest).items():
        assert uid == f"model.globex.{node['name']}"
        assert node["original_file_path"].startswith("models/") and node["original_file_path"].endswith(
            ".sql"
        )
        assert node["fqn"][0] == "globex" and node["fqn"][-1] == node["name"]
        assert node["package_name"] == "globex"
        assert node["config"]["meta"]["owner"].endswith("@globex.example")
        assert node["tags"] == node["config"]["tags"] and node["tags"]
        if node["config"]["materialized"] == "ephemeral":
            assert node["relation_name"] is None
        else:
            assert node["relation_name"] == f"ANALYTICS.{node['schema']}.{node['alias']}"
    aliased = [n for n in _models(manifest).values() if n["alias"] != n["name"]]
    assert len(aliased) >= 1
    for source in manifest["sources"].values():
        assert source["relation_name"] == f"RAW.{source['schema']}.{source['identifier']}"
    backed = mode_reports_behind_exposures(manifest)
    tokens = {r["token"] for r in platform.workspace["reports"]}
    assert backed and set(backed) <= tokens


# -- the Mode workspace -------------------------------------------------------------------------------


def test_workspace_has_realistic_shapes(platform):
    workspace = platform.workspace
    reports = workspace["reports"]
    queries = [q for r in reports for q in r["queries"]]
    assert len(reports) == SIZE[1] and len(queries) == SIZE[2]
    assert len({q["token"] for q in queries}) == len(queries)
    assert len({r["token"] for r in reports}) == len(reports)
    per_report = Counter(len(r["queries"]) for r in reports)
    assert min(per_report) >= 1 and max(per_report) >= 6
    assert any(s["space_type"] == "private" for s in workspace["spaces"])
    spaces = {s["token"] for s in workspace["spaces"]}
    users = {u["username"] for u in workspace["users"]}
    assert all(r["space_token"] in spaces and r["creator"] in users for r in reports)
    archived = sum(r["archived"] for r in reports) / len(reports)
    assert 0.02 < archived < 0.12
    idle = [
        r
        for r in reports
        if r["last_run_at"] is None
        or NOW - datetime.fromisoformat(r["last_run_at"].replace("Z", "+00:00")) > timedelta(days=100)
    ]
    assert 0.04 < len(idle) / len(reports) < 0.2
    assert len({r["view_count"] for r in reports}) > 100
    assert min(r["runs_count"] for r in reports) < 5 < 300 < max(r["runs_count"] for r in reports)
    texts = [q["raw_query"] for q in queries]
    assert sum("{% form %}" in t for t in texts) > len(texts) // 3
    assert sum("WITH " in t for t in texts) > len(texts) // 5
    assert sum("JOIN" in t for t in texts) > len(texts) // 4
    assert sum("{{ @" in t for t in texts) > len(texts) // 100
    assert any("\\n" in d["source"] for d in workspace["definitions"])
    adapters = [d["adapter"] for d in workspace["data_sources"]]
    assert all(a.startswith("jdbc:") and dialect_for_adapter(a) for a in adapters), (
        adapters
    )  # as Mode sends them


def test_the_mode_emulator_serves_it(start_mode, platform):
    server: EmulatorServer = start_mode(platform.workspace)
    env = server.emulator.env(server.base_url)
    assert env["MODE_WORKSPACE"] == "globex"
    client = mode_client(server, requests_per_second=1000)
    spaces = client.list_embedded(client.workspace_path("spaces"), "spaces", {"filter": "all", "per_page": 5})
    assert len(spaces) == 5
    busiest = Counter(r["space_token"] for r in platform.workspace["reports"]).most_common(1)[0][0]
    listed = list(client.paginate(client.workspace_path("spaces", busiest, "reports"), "reports"))
    expected = [r for r in platform.workspace["reports"] if r["space_token"] == busiest]
    assert [r["token"] for r in listed] == [r["token"] for r in expected]
    report = expected[0]
    served = client.list_embedded(client.workspace_path("reports", report["token"], "queries"), "queries")
    assert [q["raw_query"] for q in served] == [q["raw_query"] for q in report["queries"]]


# -- lineage as designed -------------------------------------------------------------------------------


def test_lineage_finds_what_each_query_was_designed_to_read(platform, lineage):
    mismatched = []
    for token, result in lineage.items():
        kind, reads = platform.query_kinds[token], set(platform.query_reads[token])
        ok = {
            DBT: result.status == "parsed" and set(result.nodes) == reads and not result.unresolved,
            MIXED: result.status == "parsed" and set(result.nodes) == reads and len(result.unresolved) == 1,
            WAREHOUSE_ONLY: result.status == "parsed" and not result.nodes and bool(result.unresolved),
            UNPARSEABLE: result.status == "fallback" and set(result.nodes) == reads and bool(reads),
        }[kind]
        if not ok:
            mismatched.append((token, kind, result))
    assert not mismatched, mismatched[:3]


def test_lineage_proportions_match_the_design(lineage):
    total = len(lineage)
    statuses = Counter(r.status for r in lineage.values())
    assert set(statuses) == {"parsed", "fallback"}
    with_nodes = sum(bool(r.nodes) for r in lineage.values())
    only_unresolved = sum(bool(r.unresolved) and not r.nodes for r in lineage.values())
    both = sum(bool(r.unresolved) and bool(r.nodes) for r in lineage.values())
    assert with_nodes / total > 0.90  # 90% dbt + 3% mixed + 2% unparseable, by design
    assert 0.01 <= statuses["fallback"] / total <= 0.035  # 2%
    assert 0.03 <= only_unresolved / total <= 0.075  # 5%
    assert 0.015 <= both / total <= 0.05  # 3%
    read = Counter(uid.split(".")[0] for r in lineage.values() for uid in r.nodes)
    assert {"model", "seed", "snapshot", "source"} <= set(read)


def test_the_whole_pipeline_finds_some_unused_models_and_plans_their_removal(start_mode, platform, lineage):
    server = start_mode(platform.workspace)
    client = mode_client(server, requests_per_second=5000)
    snapshot = take_snapshot(client, max_workers=8, progress=lambda _: None)
    assert snapshot.complete and snapshot.counts()["queries"] == SIZE[2]
    graph = build_platform_graph([platform.manifest], snapshot, lineage)
    verdicts = judge_reports(
        snapshot.reports, StalePolicy(), NOW, exposure_backed=mode_reports_behind_exposures(platform.manifest)
    )
    stale = [v.token for v in verdicts if v.stale]
    assert 0.05 < len(stale) / len(verdicts) < 0.2  # under the 20% cap on report proposals
    unused = find_unused_models(graph, archived_now=stale)
    assert unused.refusal is None
    assert 0.03 < len(unused.candidates) / SIZE[0] < 0.2  # under the 20% cap on model proposals
    files = dict(dbt_project_files(platform.manifest))
    change = plan_removal(files, platform.manifest, unused.candidates)
    for model in unused.candidates:
        assert change.files[platform.manifest["nodes"][model.unique_id]["original_file_path"]] is None


# -- the project files, mutation, the sandbox ----------------------------------------------------------


def test_project_files_match_the_manifest(platform):
    files = dict(dbt_project_files(platform.manifest))
    for node in platform.manifest["nodes"].values():
        assert node["original_file_path"] in files
    documented: set[str] = set()
    for path in {n["patch_path"].split("://")[1] for n in _models(platform.manifest).values()}:
        documented.update(m["name"] for m in yaml.load(files[path], Loader=yaml.CSafeLoader)["models"])
    for uid, node in _models(platform.manifest).items():
        assert node["name"] in documented, uid
        for parent in node["depends_on"]["nodes"]:
            name = parent.split(".")[-1]
            assert name in files[node["original_file_path"]]
    project = yaml.safe_load(files["dbt_project.yml"])
    assert project["name"] == "globex"
    exposures = yaml.safe_load(files["models/exposures/_exposures.yml"])["exposures"]
    assert len(exposures) == len(platform.manifest["exposures"])


PROFILE = """\
globex:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: {path}
      database: ANALYTICS
"""


@pytest.mark.slow
def test_real_dbt_parses_the_project_files_into_the_same_manifest(tmp_path):
    """The generated files are a real dbt project (parsed here with dbt-duckdb: parse never connects)."""
    small = synthetic_platform(120, 100, 300, seed=0, now=NOW)
    project = tmp_path / "project"
    small.write_dbt_project(project)
    (project / "profiles.yml").write_text(PROFILE.format(path=project / "ANALYTICS.duckdb"))
    dbt = Path(sys.executable).parent / "dbt"
    result = subprocess.run(
        [str(dbt), "parse", "--quiet", "--profiles-dir", str(project), "--project-dir", str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    real = json.loads((project / "target" / "manifest.json").read_text())
    ours = small.manifest
    assert {u for u in real["nodes"] if not u.startswith("test.")} == {
        u for u in ours["nodes"] if not u.startswith("test.")
    }
    assert set(real["sources"]) == set(ours["sources"]) and set(real["exposures"]) == set(ours["exposures"])
    fields = ("original_file_path", "path", "fqn", "alias", "schema", "patch_path", "tags", "meta")
    for section in ("nodes", "sources", "exposures"):
        for uid, node in ours[section].items():
            if uid.startswith("test."):
                continue
            theirs = real[section][uid]
            for name in fields:
                assert node.get(name) == theirs.get(name), (uid, name)
            parents = sorted((node.get("depends_on") or {}).get("nodes", []))
            assert parents == sorted((theirs.get("depends_on") or {}).get("nodes", [])), uid
            assert node["config"].get("materialized") == theirs["config"].get("materialized"), uid
            assert node["config"]["meta"] == theirs["config"]["meta"], uid


def test_mutate_edits_a_share_of_reports_and_bumps_their_timestamps(platform):
    edited = mutate(platform, share=0.01, seed=3)
    assert edited.digest() != platform.digest()
    assert mutate(platform, share=0.01, seed=3).digest() == edited.digest()
    assert len(edited.changed_reports) == 5
    before = {r["token"]: r for r in platform.workspace["reports"]}
    for report in edited.workspace["reports"]:
        old = before[report["token"]]
        if report["token"] in edited.changed_reports:
            assert not report["archived"]
            assert report["updated_at"] > old["updated_at"] and report["edited_at"] > old["edited_at"]
            assert [q["raw_query"] for q in report["queries"]] != [q["raw_query"] for q in old["queries"]]
        else:
            assert report is old
    assert platform.changed_reports == ()  # the original is untouched
    assert len(mutate(platform, share=0.1, seed=3).changed_reports) == 50


def test_a_warm_snapshot_refetches_only_the_mutated_reports(start_mode):
    small = synthetic_platform(40, 60, 150, seed=2, now=NOW)
    server = start_mode(small.workspace)
    client = mode_client(server, requests_per_second=5000)
    cold: WorkspaceSnapshot = take_snapshot(client, progress=lambda _: None)
    edited = mutate(small, share=0.05, seed=1)
    assert apply_changes(server.emulator.document, edited) == 3
    cache: dict[str, CachedReport] = {entry.token: entry for entry in cold.cache_entries()}
    warm = take_snapshot(client, cached=cache, progress=lambda _: None)
    assert warm.reports_reused == len(small.workspace["reports"]) - 3
    # Only what changed goes back to the cache; the rest is there already.
    assert {entry.token for entry in warm.cache_entries(stored=cache)} == set(edited.changed_reports)
    assert len(warm.cache_entries()) == len(warm.reports)
    changed = {r.token: r for r in warm.reports if r.token in edited.changed_reports}
    fresh = {r["token"]: r for r in edited.workspace["reports"]}
    for token, report in changed.items():
        assert [q.raw_query for q in report.queries] == [q["raw_query"] for q in fresh[token]["queries"]]


def test_start_synthetic_sandbox_serves_mode_github_and_the_manifest(tmp_path):
    data_dir = tmp_path / "synthetic"
    with start_synthetic_sandbox(data_dir, 30, 20, 50, seed=4, now=NOW, mode_rate_limit="off") as sandbox:
        env = sandbox.env()
        manifest = json.loads(Path(env["DBT_MANIFEST_PATH"]).read_text())
        assert check_schema_version(manifest) == 12 and len(_models(manifest)) == 30
        assert sandbox["mode"].faults.settings.latency_ms == 5
        session = requests.Session()
        session.auth = (env["MODE_TOKEN"], env["MODE_SECRET"])
        spaces = session.get(f"{env['MODE_HOST']}/api/{env['MODE_WORKSPACE']}/spaces?filter=all", timeout=10)
        assert spaces.status_code == 200 and spaces.json()["_embedded"]["spaces"]
        model = next(iter(_models(manifest).values()))
        url = (
            f"{env['GITHUB_API_URL']}/repos/{env['GITHUB_REPOSITORY']}/contents/{model['original_file_path']}"
        )
        content = requests.get(url, headers={"Authorization": f"token {env['GITHUB_TOKEN']}"}, timeout=10)
        assert content.status_code == 200, content.text
    with pytest.raises(ValueError, match="use another --data-dir"):
        start_synthetic_sandbox(data_dir, 31, 20, 50, seed=4, now=NOW)


def test_fault_specs_override_only_the_settings_they_name():
    defaults = {"mode": FaultSettings(latency_ms=5)}
    merged = _fault_settings(["mode:rate_429=0.1", "github:rate_5xx=0.2"], defaults)
    assert merged["mode"] == FaultSettings(latency_ms=5, rate_429=0.1)
    assert merged["github"] == FaultSettings(rate_5xx=0.2)
    assert _fault_settings(["mode:latency_ms=0"], defaults)["mode"] == FaultSettings()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10000:20000:60000", (10000, 20000, 60000)), ("10k:20k:60k", (10000, 20000, 60000))],
)
def test_parse_spec(text, expected):
    assert parse_spec(text) == expected


@pytest.mark.parametrize("text", ["10000:20000", "a:b:c", "1:2:3:4", "5:10:10", "100:0:10"])
def test_parse_spec_refuses_nonsense(text):
    with pytest.raises(ValueError):
        parse_spec(text)
