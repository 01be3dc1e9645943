"""The whole analysis on the sample: a real snapshot over HTTP, real lineage, the expected outcomes."""

from __future__ import annotations

import yaml

from metapipeline.actions.exposures import GENERATED_FILE, exposure_changes, plan_exposures
from metapipeline.mode.snapshot import IngestionProblem, WorkspaceSnapshot
from metapipeline.platform.analysis import exposure_reports, unused_models
from metapipeline.platform.graph import definition_id, query_id
from metapipeline.platform.unused import Protections
from metapipeline.sandbox.sample import expected_outcomes, expected_unused_models

EXPECTED = expected_outcomes()
STALE = set(EXPECTED["stale_reports"])


def test_every_query_reads_what_the_expected_outcomes_say(lineage):
    for token, expected in {**EXPECTED["queries"], **EXPECTED["dataset_queries"]}.items():
        found = lineage.queries[token]
        assert set(found.nodes) == set(expected["nodes"]), token
        assert found.status == expected.get("status", "parsed"), token
        assert set(found.unresolved) == set(expected.get("unresolved", ())), token
    queries = len(EXPECTED["queries"]) + len(EXPECTED["dataset_queries"])
    assert lineage.status_counts() == {"fallback": 1, "parsed": queries - 1}
    assert lineage.failed() == []


def test_a_model_read_through_a_definition_hangs_off_the_definition(graph, lineage, snapshot):
    (active_stores,) = [d for d in snapshot.definitions if d.name == "active_stores"]
    assert graph.has_edge("model.freshcart.dim_stores", definition_id(active_stores.token))
    users = [q for q, used in lineage.definitions_used.items() if active_stores.token in used]
    assert users and all(graph.has_edge(definition_id(active_stores.token), query_id(q)) for q in users)


def test_unused_models_with_the_cascade(graph, snapshot):
    unused = unused_models(graph, snapshot, archived_now=STALE, protections=Protections(), max_share=0.2)
    assert unused.refusal is None
    assert {m.unique_id for m in unused.candidates} == set(expected_unused_models())
    protected = [*EXPECTED["protected_models"], *EXPECTED["freshcart_finance"]["protected_models"]]
    assert set(unused.protected) == set(protected)
    assert set(unused.package_models) == set(EXPECTED["freshcart_finance"]["package_models"])
    shifts = next(m for m in unused.candidates if m.name == "fct_courier_shifts")
    assert "archived in this run (stale)" in shifts.why and "archived in Mode" in shifts.why


def test_without_archives_only_the_models_nothing_reads(graph, snapshot):
    unused = unused_models(graph, snapshot, archived_now=(), protections=Protections(), max_share=0.2)
    assert {m.unique_id for m in unused.candidates} == set(expected_unused_models(cascade=False))


def test_an_incomplete_snapshot_proposes_nothing_and_says_what_was_missing(graph, snapshot):
    broken = WorkspaceSnapshot(
        **{**snapshot.__dict__, "failures": [IngestionProblem("space 75737b70402e", "HTTP 500")]}
    )
    unused = unused_models(graph, broken, archived_now=STALE, protections=Protections(), max_share=0.2)
    assert unused.candidates == []
    assert unused.refusal and "space 75737b70402e" in unused.refusal


def test_over_the_cap_nothing_is_proposed_and_the_message_says_so(graph, snapshot):
    unused = unused_models(graph, snapshot, archived_now=STALE, protections=Protections(), max_share=0.1)
    assert unused.candidates == []
    assert unused.refusal and "above the cap of 10%" in unused.refusal


def test_generated_exposures_are_the_expected_ones(sample_manifest, snapshot, lineage, sample_now):
    reports = exposure_reports(snapshot, lineage, archived_now=STALE)
    change = plan_exposures({}, sample_manifest, reports, now=sample_now)
    exposures = yaml.safe_load(change.files[GENERATED_FILE])["exposures"]
    expected = EXPECTED["exposures"]
    assert [e["name"] for e in exposures] == sorted(expected)
    for exposure in exposures:
        refs = {d.split("'")[-2] for d in exposure["depends_on"]}
        assert refs == {uid.split(".")[-1] for uid in expected[exposure["name"]]}, exposure["name"]


def test_the_plan_lists_every_generated_exposure_as_new_on_a_project_without_them(
    sample_manifest, snapshot, lineage
):
    changes = exposure_changes(sample_manifest, exposure_reports(snapshot, lineage, archived_now=STALE))
    assert {c["exposure"] for c in changes} == set(EXPECTED["exposures"])
    assert {c["change"] for c in changes} == {"add"}
    scorecard = next(c for c in changes if c["exposure"] == "mode_9e5a7c3d1b28")
    assert scorecard["label"] == "Company Health Scorecard"
    assert set(scorecard["depends_on"]) == set(EXPECTED["exposures"]["mode_9e5a7c3d1b28"])


def test_a_raw_table_both_projects_declare_is_one_node(graph, lineage):
    for relation, declared in EXPECTED["shared_relations"].items():
        first, *others = declared
        assert graph.nodes[first]["declared_as"] == tuple(declared), relation
        assert not set(others) & set(graph) and all(graph.graph["aliases"][o] == first for o in others)
        readers = set(graph.successors(first))
        assert "model.freshcart_finance.stg_stripe__charges" in readers  # the finance project's reader
        assert any(reader.startswith("mode.query.") for reader in readers)  # and Mode's


def test_the_cross_project_links_are_the_expected_ones(graph):
    links = graph.graph["cross_project_links"]
    assert sorted(links) == sorted(
        ("source", model, source) for source, model in EXPECTED["cross_project_links"].items()
    )
