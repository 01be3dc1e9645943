"""Mode reports and Datasets as external assets, from the files a run keeps (expected_outcomes.yaml is the truth)."""

from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, AssetSpec, Definitions, JobDefinition, job, op

from metapipeline.mode.snapshot import take_snapshot
from metapipeline.mode.snapshot_file import write_snapshot
from metapipeline.orchestration.mode_asset_state import (
    PLAN,
    PLATFORM_GRAPH,
    ModeAssetState,
    newest_run_dir,
    read_state,
)
from metapipeline.orchestration.mode_assets import (
    STATUS_TAG,
    DagsterModeTranslator,
    ModeTranslatorData,
    mode_asset_definitions,
    mode_asset_key,
    mode_asset_specs,
)
from metapipeline.platform.cli import analyse_offline
from metapipeline.platform.export import write_graph
from metapipeline.run_files import manifest_file
from metapipeline.sandbox.harness import EmulatorServer
from metapipeline.sandbox.mode_emulator import ModeEmulator, mode_client
from metapipeline.sandbox.sample import expected_outcomes
from metapipeline.store.ledger import Action

EXPECTED = expected_outcomes()
WORKSPACE = "freshcart"
ALIASES = {"source.freshcart_finance.stripe.charges": "source.freshcart.payments.charges"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, sample_workspace, sample_projects, sample_now) -> Path:
    """A run's kept files, as the job writes them: the platform graph, the plan, the manifests."""
    server = EmulatorServer(ModeEmulator(sample_workspace, rate_limit=None))
    server.start()
    try:
        client = mode_client(server, requests_per_second=0)
        snapshot = take_snapshot(client)
    finally:
        server.stop()
    run = tmp_path_factory.mktemp("home") / "storage" / "run-1"
    manifests = []
    for project in sample_projects:
        path = run / manifest_file(project.name)
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(project.manifest))
        manifests.append(path)
    analysis = analyse_offline(
        manifests, write_snapshot(snapshot, run / "mode" / "snapshot.json"), sample_now
    )
    write_graph(analysis.graph, (run / PLATFORM_GRAPH).parent)
    (run / PLAN).parent.mkdir(parents=True)
    (run / PLAN).write_text(analysis.plan.to_json())
    return run


@pytest.fixture(scope="module")
def state(run_dir) -> ModeAssetState:
    return read_state(run_dir)


@pytest.fixture(scope="module")
def specs(state) -> dict[AssetKey, AssetSpec]:
    return {spec.key: spec for spec in mode_asset_specs(state)}


def _key(token: str) -> AssetKey:
    return mode_asset_key(WORKSPACE, token)


def _dbt_key(specs: dict[AssetKey, AssetSpec], unique_id: str) -> AssetKey:
    unique_id = ALIASES.get(unique_id, unique_id)
    [key] = [k for k, s in specs.items() if s.metadata.get("dbt/unique_id") == unique_id]
    return key


def _deps(spec: AssetSpec) -> set[AssetKey]:
    return {dep.asset_key for dep in spec.deps}


def _expected_reads(sample_workspace: dict[str, Any]) -> dict[str, set[str]]:
    """Report or Dataset token -> the dbt nodes its own queries read, from expected_outcomes."""
    nodes = {token: q["nodes"] for token, q in {**EXPECTED["queries"], **EXPECTED["dataset_queries"]}.items()}
    return {
        report["token"]: {node for query in report["queries"] for node in nodes[query["token"]]}
        for report in (*sample_workspace["reports"], *sample_workspace["datasets"])
    }


def test_every_report_and_dataset_is_an_asset_reading_its_dbt_nodes(specs, sample_workspace):
    reads = _expected_reads(sample_workspace)
    active = {r["token"] for r in sample_workspace["reports"] if not r["archived"]}
    assert len(active) + len(EXPECTED["workspace"]["archived_by_people"]) == EXPECTED["workspace"]["reports"]
    assert set(EXPECTED["datasets"]) <= set(reads)
    for token, nodes in reads.items():
        spec = specs[_key(token)]
        imported = {_key(d) for d, about in EXPECTED["datasets"].items() if token in about["imported_by"]}
        assert _deps(spec) == {_dbt_key(specs, n) for n in nodes} | imported, spec.description
        assert spec.kinds == {"mode"}


def test_a_report_reads_through_its_datasets_exactly_what_its_exposure_lists(specs):
    def dbt_reads(key: AssetKey) -> set[AssetKey]:
        deps = _deps(specs[key])
        through = [dbt_reads(dep) for dep in deps if _is_mode(dep)]
        return {dep for dep in deps if not _is_mode(dep)}.union(*through)

    for exposure, nodes in EXPECTED["exposures"].items():
        assert dbt_reads(_key(exposure.removeprefix("mode_"))) == {_dbt_key(specs, n) for n in nodes}, (
            exposure
        )


def _is_mode(key: AssetKey) -> bool:
    return key.path[0] == "mode"


def test_dbt_models_are_keyed_as_dagster_dbt_keys_them(state, specs):
    from dagster_dbt.asset_utils import default_asset_key_fn  # 5 s of imports: this test only

    translator = DagsterModeTranslator()
    assert len(state.dbt_nodes) > 60
    for props in state.dbt_nodes.values():
        assert translator.get_dbt_asset_key(props) == default_asset_key_fn(props)
        assert default_asset_key_fn(props) in specs
    # A versioned model's key is its alias, a custom schema prefixes the name (dagster-dbt's rules).
    assert _dbt_key(specs, "model.freshcart_finance.fct_revenue_recognition.v2") == AssetKey(
        state.dbt_nodes["model.freshcart_finance.fct_revenue_recognition.v2"]["alias"]
    )


def test_metadata_says_who_owns_it_where_it_is_and_how_much_it_is_used(specs):
    spec = specs[_key("3f1c9a2e7b40")]  # Weekly KPIs, by dana
    assert spec.owners == ["dana.whitfield@freshcart.example"]
    assert spec.metadata["mode/url"].url.endswith("3f1c9a2e7b40")
    assert spec.metadata["mode/views"].value == 2310
    assert spec.metadata["mode/runs"].value == 1480
    assert spec.metadata["mode/stale verdict"] == "not stale"
    assert spec.tags[STATUS_TAG] == "active"
    assert "Weekly KPIs" in (spec.description or "")


def test_stale_and_archived_reports_are_tagged_with_their_verdict(specs):
    for token, reason in EXPECTED["stale_reports"].items():
        assert specs[_key(token)].tags[STATUS_TAG] == "stale"
        assert specs[_key(token)].metadata["mode/stale verdict"].startswith(reason.split(" (")[0])
    for token in EXPECTED["workspace"]["archived_by_people"]:
        assert specs[_key(token)].tags[STATUS_TAG] == "archived"
        assert specs[_key(token)].metadata["mode/archived by"] == "someone in Mode"
    kept = specs[_key("b7d24e19c0a3")]
    assert (
        kept.tags[STATUS_TAG] == "active"
        and "kept: backs the exposure" in kept.metadata["mode/stale verdict"]
    )


def test_the_ledger_s_archives_and_deletes_override_the_snapshot(run_dir):
    archived, deleted = list(EXPECTED["stale_reports"])[:2]
    at = datetime(2026, 11, 23, tzinfo=UTC)
    history = {
        token: Action(WORKSPACE, token, "?", action, "stale", "run", at)
        for token, action in ((archived, "archive"), (deleted, "delete"))
    }
    specs = {s.key: s for s in mode_asset_specs(read_state(run_dir, history))}
    assert specs[_key(archived)].tags[STATUS_TAG] == "archived"
    assert specs[_key(archived)].metadata["mode/archived by"] == "metapipeline"
    assert _key(deleted) not in specs


def test_without_dbt_models_the_mode_specs_still_depend_on_dagster_dbt_keys(state, specs):
    alone = {s.key: s for s in mode_asset_specs(state, include_dbt_models=False)}
    assert set(alone) == {k for k in specs if _is_mode(k)}
    assert all(_deps(alone[k]) == _deps(specs[k]) for k in alone)
    Definitions.validate_loadable(Definitions(assets=list(alone.values())))


def test_a_translator_subclass_changes_keys_and_the_dependencies_follow(state):
    class Prefixed(DagsterModeTranslator):
        def get_asset_key(self, content):
            return super().get_asset_key(content).with_prefix("bi")

        def get_asset_spec(self, data: ModeTranslatorData) -> AssetSpec:
            return super().get_asset_spec(data).merge_attributes(tags={"team": "analytics"})

    specs = {s.key: s for s in mode_asset_specs(state, Prefixed())}
    scorecard = specs[_key("9e5a7c3d1b28").with_prefix("bi")]
    assert _key("e4b2d6f8a013").with_prefix("bi") in _deps(scorecard)
    assert scorecard.tags["team"] == "analytics"


def test_the_definitions_load_with_mode_and_dbt_assets(run_dir, state):
    defs = mode_asset_definitions(dagster_home=run_dir.parents[1], ledger_url="sqlite://")
    graph = defs.resolve_asset_graph()
    scorecard = graph.get(_key("9e5a7c3d1b28"))
    assert _key("e4b2d6f8a013") in scorecard.parent_keys
    assert len(list(graph.get_all_asset_keys())) == len(state.contents) + len(state.dbt_nodes)


def test_without_a_run_there_are_no_mode_assets_and_the_log_says_why(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        defs = mode_asset_definitions(dagster_home=tmp_path)
    assert not list(defs.resolve_asset_graph().get_all_asset_keys())
    assert "No Mode assets: no run under" in caplog.text


def test_the_newest_run_with_a_plan_wins(run_dir, tmp_path):
    older, newer, failed = (tmp_path / "storage" / name for name in ("a", "b", "c"))
    for number, run in enumerate((older, newer, failed)):
        kept = (PLATFORM_GRAPH, PLAN) if run != failed else (PLATFORM_GRAPH,)  # failed before its plan
        for relative in kept:
            (run / relative).parent.mkdir(parents=True)
            (run / relative).write_text((run_dir / relative).read_text())
        stamp = 1_700_000_000 + number
        os.utime(run / PLATFORM_GRAPH, (stamp, stamp))
    assert newest_run_dir(tmp_path) == newer


def test_the_code_location_builds_the_specs_only_when_initializing(run_dir, monkeypatch):
    from dagster._core.definitions.definitions_load_context import (
        DefinitionsLoadContext,
        DefinitionsLoadType,
    )

    from metapipeline.definitions import _mode_assets

    monkeypatch.setenv("DAGSTER_HOME", str(run_dir.parents[1]))
    monkeypatch.setenv("METAPIPELINE_DATABASE_URL", "sqlite://")
    for load_type, built in (
        (DefinitionsLoadType.INITIALIZATION, True),
        (DefinitionsLoadType.RECONSTRUCTION, False),
    ):
        with DefinitionsLoadContext.scoped(DefinitionsLoadContext(load_type)):
            assert bool(_mode_assets().assets) is built, load_type


@op
def mode_assets_in_this_process() -> dict[str, Any]:
    """What the step's own process made of metapipeline.definitions."""
    from dagster._core.definitions.definitions_load_context import DefinitionsLoadContext

    from metapipeline.definitions import defs

    return {"load type": DefinitionsLoadContext.get().load_type.name, "assets": len(list(defs.assets or []))}


@job
def mode_assets_probe() -> None:
    mode_assets_in_this_process()


def reconstructed_beside_metapipeline() -> JobDefinition:
    """The probe, reconstructed in a step worker after importing the code location, as a run of
    the metapipeline job does."""
    import metapipeline.definitions  # noqa: F401  # the import whose cost the workers must not pay

    return Definitions(jobs=[mode_assets_probe]).resolve_job_def("mode_assets_probe")


def test_a_multiprocess_step_worker_does_not_build_the_specs(run_dir, monkeypatch, tmp_path):
    """Run and step workers reconstruct the location (RECONSTRUCTION): no external asset is part
    of the ops job, so they skip the specs a code server spends seconds on (45 s, large platform)."""
    from dagster import execute_job, instance_for_test
    from dagster._core.definitions.reconstruct import ReconstructableJob

    # instance_for_test sets DAGSTER_HOME to its folder: the run's files go there, for the step.
    shutil.copytree(run_dir, tmp_path / "storage" / run_dir.name)
    monkeypatch.setenv("METAPIPELINE_DATABASE_URL", "sqlite://")
    with instance_for_test(temp_dir=str(tmp_path)) as instance:
        run_config = {"execution": {"config": {"multiprocess": {}}}}
        with execute_job(
            # By file: pytest imports this one as a top-level module no step worker would find.
            ReconstructableJob.for_file(__file__, reconstructed_beside_metapipeline.__name__),
            instance=instance,
            run_config=run_config,
        ) as run:
            assert run.success
            seen = run.output_for_node("mode_assets_in_this_process")
    assert seen == {"load type": "RECONSTRUCTION", "assets": 0}


def test_the_dbt_assets_switch_takes_external_or_skip(monkeypatch):
    from metapipeline.definitions import _include_dbt_models

    for value, included in (("external", True), ("skip", False)):
        monkeypatch.setenv("METAPIPELINE_DBT_ASSETS", value)
        assert _include_dbt_models() is included
    monkeypatch.setenv("METAPIPELINE_DBT_ASSETS", "none")
    with pytest.raises(ValueError, match="expected 'external' or 'skip'"):
        _include_dbt_models()


ASSET_NODES = """
{
  assetNodes {
    assetKey { path }
    dependencyKeys { path }
    kinds
    isExecutable
    tags { key value }
    metadataEntries { label ... on TextMetadataEntry { text } }
  }
}
"""
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_after_a_run_the_code_location_serves_every_report_and_dataset_over_graphql(
    tmp_path, monkeypatch, sample_workspace
):
    """As after `make demo`: the job runs against the sandbox, then workspace.yaml's code location
    is loaded in a code server and its asset graph read through Dagster's GraphQL API, as the UI does."""
    from dagster import execute_job, instance_for_test, reconstructable
    from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

    from metapipeline.definitions import metapipeline_job
    from metapipeline.sandbox.platform import start_sample_sandbox

    now = datetime.now(UTC)
    with start_sample_sandbox(tmp_path / "sandbox", mode_rate_limit="off", now=now) as sandbox:
        for name, value in sandbox.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("METAPIPELINE_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
        # DAGSTER_HOME is the instance's folder: the code server finds the run's files there.
        (tmp_path / "home").mkdir()
        with instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
            run_config = {"execution": {"config": {"in_process": {}}}}
            with execute_job(
                reconstructable(metapipeline_job), instance=instance, run_config=run_config
            ) as run:
                assert run.success
            for token in EXPECTED["stale_reports"]:  # the lifecycle op's observation on each archived report
                [observation] = instance.fetch_observations(_key(token), limit=1).records
                assert observation.asset_observation.metadata["mode/action"].value == "archive"
            with define_out_of_process_context(str(REPO / "workspace.yaml"), None, instance) as context:
                result = execute_dagster_graphql(context, ASSET_NODES)
    assert not result.errors, result.errors
    nodes = {AssetKey(n["assetKey"]["path"]): n for n in result.data["assetNodes"]}
    dbt_keys = {
        entry["text"]: key
        for key, node in nodes.items()
        for entry in node["metadataEntries"]
        if entry["label"] == "dbt/unique_id"
    }
    for token, reads in _expected_reads(sample_workspace).items():
        node = nodes[_key(token)]
        imported = {_key(d) for d, about in EXPECTED["datasets"].items() if token in about["imported_by"]}
        expected = {dbt_keys[ALIASES.get(uid, uid)] for uid in reads} | imported
        assert {AssetKey(d["path"]) for d in node["dependencyKeys"]} == expected, token
        assert node["kinds"] == ["mode"] and node["isExecutable"] is False
        status = {t["value"] for t in node["tags"] if t["key"] == STATUS_TAG}
        archived = token in EXPECTED["stale_reports"] or token in EXPECTED["workspace"]["archived_by_people"]
        assert status == {"archived" if archived else "active"}, token
    assert all(not nodes[key]["isExecutable"] and nodes[key]["kinds"] == ["dbt"] for key in dbt_keys.values())
