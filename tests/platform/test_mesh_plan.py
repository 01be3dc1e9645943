"""`metapipeline plan` on a dbt mesh of three projects: the analysis finds the mesh's designed truth.

The generator (`sandbox.synthetic_mesh`) knows which sources name another project's models, which
nodes ref across projects, which raw tables several projects declare, and which models are unused;
the plan, read from the written files as `metapipeline plan` reads them, must find the same.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from metapipeline.platform.cli import OfflineAnalysis, analyse_offline
from metapipeline.sandbox.synthetic_mesh import MeshDesign, synthetic_mesh

NOW = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture(scope="module")
def mesh() -> MeshDesign:
    return synthetic_mesh(projects=3, models=400, shared_sources=600, seed=0, now=NOW)


@pytest.fixture(scope="module")
def analysis(mesh, tmp_path_factory) -> OfflineAnalysis:
    manifest_paths, snapshot_path = mesh.write(tmp_path_factory.mktemp("mesh"))
    return analyse_offline(manifest_paths, snapshot_path, NOW)


def _stands_for(analysis: OfflineAnalysis, unique_id: str) -> str:
    return analysis.graph.graph["aliases"].get(unique_id, unique_id)


def test_cross_project_links_are_the_designed_ones(mesh, analysis):
    links = analysis.graph.graph["cross_project_links"]
    assert Counter(kind for kind, _, _ in links).keys() <= {"source", "ref"}
    sources = {(downstream, upstream) for kind, upstream, downstream in links if kind == "source"}
    refs = {(upstream, downstream) for kind, upstream, downstream in links if kind == "ref"}
    assert sources == mesh.source_links, (
        f"joined but not designed: {sorted(sources - mesh.source_links)[:3]}; "
        f"designed but not joined: {sorted(mesh.source_links - sources)[:3]}"
    )
    assert refs == mesh.ref_links
    assert not {source for source, _ in sources} & mesh.case_decoys  # quoted lower case: another table


def test_a_source_on_another_projects_model_stands_for_that_model(mesh, analysis):
    for source, builder in mesh.source_links:
        assert _stands_for(analysis, source) == builder
    for decoy in mesh.case_decoys:
        assert _stands_for(analysis, decoy) == decoy
        assert analysis.graph.nodes[decoy]["kind"] == "source"


def test_one_node_per_raw_relation(mesh, analysis):
    graph = analysis.graph
    for uids in mesh.raw_relations.values():
        nodes = {_stands_for(analysis, uid) for uid in uids}
        assert len(nodes) == 1, uids
        (node,) = nodes
        assert node in graph and graph.nodes[node]["kind"] == "source"
        if len(uids) > 1:
            assert set(graph.nodes[node]["declared_as"]) == set(uids)
    for uid in graph.graph["aliases"]:
        assert uid not in graph and _stands_for(analysis, uid) in graph
    sources = sum(kind == "source" for _, kind in graph.nodes(data="kind"))
    assert sources == mesh.shared_relations + len(mesh.case_decoys)


def test_unused_models_are_the_designed_ones_and_packages_apart(mesh, analysis):
    plan = analysis.plan
    assert plan.unused_refusal is None
    proposed = {m["unique_id"] for m in plan.unused_models}
    expected = mesh.unused - set(mesh.package_models)
    assert proposed == expected, (
        f"proposed, not designed: {sorted(proposed - expected)[:5]}; "
        f"designed, not proposed: {sorted(expected - proposed)[:5]}"
    )
    assert not proposed & mesh.used_across_projects
    assert set(plan.package_models) == set(mesh.package_models)
    for uid, package in mesh.package_models.items():
        reason = plan.package_models[uid]
        assert package in reason and "package" in reason and ("disable" in reason or "drop" in reason)
