"""The synthetic dbt mesh: deterministic, valid dbt manifests, and a truth that agrees with them.

Relations are compared here under Snowflake's rules written out independently of the product
(an unquoted part folds to upper case, a quoted one stays as written), so the truth is checked
against the manifests and not against the code it is meant to test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from dbt.artifacts.schemas.manifest import WritableManifest
from dbt.contracts.graph.nodes import Exposure, ModelNode, SourceDefinition

from metapipeline.mode.snapshot_file import read_snapshot
from metapipeline.sandbox.synthetic_mesh import MeshDesign, project_names, synthetic_mesh

NOW = datetime(2026, 11, 23, tzinfo=UTC)
SIZE = {"projects": 3, "models": 360, "shared_sources": 500}


@pytest.fixture(scope="module")
def mesh() -> MeshDesign:
    return synthetic_mesh(**SIZE, seed=0, now=NOW)


def snowflake_key(relation_name: str) -> tuple[str, ...]:
    """database.schema.identifier as Snowflake stores it (names here hold no dots)."""
    return tuple(part[1:-1] if part.startswith('"') else part.upper() for part in relation_name.split("."))


def _entry(mesh: MeshDesign, unique_id: str) -> dict[str, Any]:
    """The entry a project writes for its own node or source (never a stub of another project's)."""
    manifest = mesh.manifests[unique_id.split(".")[1]]
    return manifest["sources"].get(unique_id) or manifest["nodes"][unique_id]


def _project(unique_id: str) -> str:
    return unique_id.split(".")[1]


def test_same_arguments_same_bytes_other_seed_other_bytes(mesh):
    assert synthetic_mesh(**SIZE, seed=0, now=NOW).digest() == mesh.digest()
    assert synthetic_mesh(**SIZE, seed=1, now=NOW).digest() != mesh.digest()


def test_output_does_not_depend_on_the_process_hash_seed(mesh):
    code = (
        "from datetime import UTC, datetime\n"
        "from metapipeline.sandbox.synthetic_mesh import synthetic_mesh\n"
        f"print(synthetic_mesh(**{SIZE!r}, seed=0, now=datetime(2026, 11, 23, tzinfo=UTC)).digest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == mesh.digest()


def test_each_project_is_a_valid_v12_snowflake_manifest_of_its_own(mesh):
    assert list(mesh.manifests) == project_names(3) == ["globex_core", "globex_finance", "globex_marketing"]
    for project, manifest in mesh.manifests.items():
        metadata = manifest["metadata"]
        assert metadata["project_name"] == project
        assert metadata["adapter_type"] == "snowflake"
        assert metadata["dbt_schema_version"].endswith("/manifest/v12.json")
        WritableManifest.from_dict(manifest)  # dbt's own classes read it
        for entry in manifest["sources"].values():
            SourceDefinition.validate(entry)
        for entry in manifest["nodes"].values():
            if entry["resource_type"] == "model":
                ModelNode.validate(entry)
        for entry in manifest["exposures"].values():
            Exposure.validate(entry)
        # Built relations live in the same databases across projects, in schemas of its own.
        built = {n["database"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
        assert built == {"ANALYTICS"}
        assert {s["database"].upper() for s in manifest["sources"].values()} <= {"RAW", "ANALYTICS"}


def test_model_counts_add_up_and_unused_stay_under_the_cap(mesh):
    models = mesh.models()
    assert len(models) == len(set(models)) == SIZE["models"]
    per_project = Counter(_project(m) for m in models if _project(m) in mesh.manifests)
    assert min(per_project.values()) >= SIZE["models"] // SIZE["projects"] - 10
    assert mesh.unused <= set(models)
    assert 0 < len(mesh.unused) / len(models) < 0.2
    # Designed dead models in every project, and chains of them: a dead model only dead ones read.
    assert {_project(m) for m in mesh.unused} >= set(mesh.manifests)
    dead_readers = [
        parent
        for m in mesh.unused - set(mesh.package_models)
        for parent in _entry(mesh, m)["depends_on"]["nodes"]
        if parent in mesh.unused
    ]
    assert {_project(m) for m in dead_readers} >= {"globex_core", "globex_finance"}


def test_package_models_are_unused_and_belong_to_no_loaded_project(mesh):
    assert set(mesh.package_models.values()) == {"dbt_artifacts", "dbt_project_evaluator"}
    assert set(mesh.package_models) <= mesh.unused
    holders = {}
    for project, manifest in mesh.manifests.items():
        for uid, package in mesh.package_models.items():
            if uid in manifest["nodes"]:
                assert manifest["nodes"][uid]["package_name"] == package not in mesh.manifests
                holders[uid] = project
    assert set(holders) == set(mesh.package_models)
    assert set(holders.values()) == {"globex_core", "globex_marketing"}  # installed by two projects


def test_source_links_declare_the_relation_another_project_builds(mesh):
    assert len(mesh.source_links) >= 3
    spelt_otherwise = 0
    for source, builder in mesh.source_links:
        declared, built = _entry(mesh, source), _entry(mesh, builder)
        assert declared["resource_type"] == "source" and built["resource_type"] == "model"
        assert _project(source) != _project(builder) == built["package_name"]
        assert built["original_file_path"], "the builder is the real model, not a stub"
        assert snowflake_key(declared["relation_name"]) == snowflake_key(built["relation_name"])
        spelt_otherwise += declared["relation_name"] != built["relation_name"]
    assert spelt_otherwise, "no declaration differs in case from its relation_name"
    # Raw tables are spelt every way too, quoted upper-case names included.
    raw = [s["relation_name"] for m in mesh.manifests.values() for s in m["sources"].values()]
    assert any('"' in name and name.startswith(("RAW", "raw")) for name in raw)
    assert any(name.startswith("raw.") for name in raw)


def test_case_decoys_name_a_model_but_are_another_relation_on_snowflake(mesh):
    assert len(mesh.case_decoys) == SIZE["projects"] - 1
    models = {
        snowflake_key(n["relation_name"]): uid
        for m in mesh.manifests.values()
        for uid, n in m["nodes"].items()
        if n["resource_type"] == "model" and n["original_file_path"] and n["relation_name"]
    }
    folded = {tuple(p.upper() for p in key): uid for key, uid in models.items()}
    for decoy in mesh.case_decoys:
        key = snowflake_key(_entry(mesh, decoy)["relation_name"])
        assert key not in models  # quoted lower case: not the model's relation
        assert tuple(p.upper() for p in key) in folded  # though it folds to one
        assert not any(source == decoy for source, _ in mesh.source_links)


def test_ref_links_depend_on_the_upstream_model_through_a_loom_stub(mesh):
    assert len(mesh.ref_links) >= 3
    for upstream, downstream in mesh.ref_links:
        upstream_project, downstream_project = _project(upstream), _project(downstream)
        assert list(mesh.manifests).index(upstream_project) < list(mesh.manifests).index(downstream_project)
        node = _entry(mesh, downstream)
        assert upstream in node["depends_on"]["nodes"]
        assert {"name": upstream.split(".")[-1], "package": upstream_project, "version": None} in node["refs"]
        assert f"ref('{upstream_project}', '{upstream.split('.')[-1]}')" in node["raw_code"]
        stub = mesh.manifests[downstream_project]["nodes"][upstream]
        real = mesh.manifests[upstream_project]["nodes"][upstream]
        assert stub["package_name"] == upstream_project
        assert stub["original_file_path"] == stub["path"] == stub["raw_code"] == ""
        assert stub["relation_name"] == real["relation_name"]
        assert stub["access"] == real["access"] == "public"
        assert stub["depends_on"]["nodes"] == []


def test_raw_relations_are_the_shared_sources_many_declared_by_several_projects(mesh):
    assert mesh.shared_relations == SIZE["shared_sources"]
    assert mesh.declared_by_several > SIZE["shared_sources"] // 4
    joined = {source for source, _ in mesh.source_links} | mesh.case_decoys
    declared = {
        uid: snowflake_key(entry["relation_name"])
        for manifest in mesh.manifests.values()
        for uid, entry in manifest["sources"].items()
        if uid not in joined
    }
    by_relation: dict[tuple[str, ...], set[str]] = {}
    for uid, key in declared.items():
        by_relation.setdefault(key, set()).add(uid)
    assert by_relation == {key: set(uids) for key, uids in mesh.raw_relations.items()}
    # The same table under each project's name for it.
    several = next(uids for uids in mesh.raw_relations.values() if len(uids) > 1)
    assert len({uid.split(".", 2)[2] for uid in several}) == 1
    assert len({_project(uid) for uid in several}) == len(several)


def test_models_used_only_across_projects_are_read_by_another_project(mesh):
    assert len(mesh.used_across_projects) >= 3
    assert not mesh.used_across_projects & mesh.unused
    readers: dict[str, set[str]] = {}  # model -> projects reading it from outside
    for source, builder in mesh.source_links:
        readers.setdefault(builder, set()).add(_project(source))
    for upstream, downstream in mesh.ref_links:
        readers.setdefault(upstream, set()).add(_project(downstream))
    assert any(m in readers for m in mesh.used_across_projects), "none is itself read across projects"
    # No consumer reads them directly: no exposure, no Mode query names their relation.
    exposed = {
        u for m in mesh.manifests.values() for e in m["exposures"].values() for u in e["depends_on"]["nodes"]
    }
    sql = "\n".join(q.raw_query for q in mesh.snapshot.queries)
    for model in mesh.used_across_projects:
        entry = _entry(mesh, model)
        assert model not in exposed
        named = re.compile(rf'\b{entry["schema"]}"?\."?{entry["alias"]}\b', re.IGNORECASE)
        assert not named.search(sql), model


def test_consumers_are_exposures_in_some_projects_and_a_modest_mode_workspace(mesh, tmp_path):
    assert mesh.exposures and {_project(e) for e in mesh.exposures} < set(mesh.manifests)
    for exposure in mesh.exposures:
        assert not exposure.split(".")[-1].startswith("mode_")  # hand-written, not generated from Mode
    snapshot = mesh.snapshot
    assert snapshot.complete and 0 < len(snapshot.queries) < SIZE["models"]
    read_schemas = " ".join(q.raw_query.lower() for q in snapshot.queries)
    assert {p for p in ("core_", "finance_", "marketing_") if p in read_schemas} == {
        "core_",
        "finance_",
        "marketing_",
    }
    paths, snapshot_path = mesh.write(tmp_path)
    assert [p.parent.name for p in paths] == list(mesh.manifests)
    assert read_snapshot(snapshot_path) == snapshot


def test_sizes_are_checked():
    with pytest.raises(ValueError, match="two projects"):
        synthetic_mesh(projects=1, models=400, shared_sources=100, now=NOW)
    with pytest.raises(ValueError, match="at least"):
        synthetic_mesh(projects=5, models=100, shared_sources=100, now=NOW)
