"""Planning the removal of unused dbt models (`plan_removal`) in a large project: a synthetic one of
about 1,800 files and 2 MB of properties YAML, one properties file per model as many real projects
keep them (`sandbox.synthetic_dbt` gives the models, their SQL and the manifest; the YAML, with
columns, tests, `relationships` to parents and a block description, is written here).

Each measurement runs in a fresh Python process on the project written to a temporary directory:
the baseline (every YAML file loaded with PyYAML's C loader, and with its pure-Python one), the
plan cold (no parse cache) and warm (the parse cache the cold plan filled, as the next day's run
finds it), and the reference: the plan with every speed-up turned off. The change sets must be
identical.

Targets: 2 s cold, 0.5 s warm.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TARGET_COLD_SECONDS = 2.0
TARGET_WARM_SECONDS = 0.5
COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "status",
    "amount",
    "currency",
    "region",
    "channel",
    "country",
    "segment",
    "source_system",
    "loaded_at",
    "account_manager",
    "discount_code",
    "fiscal_quarter",
    "is_test_account",
    "shipping_method",
)


def _properties(node: dict[str, Any], parents: list[str], marts: list[str], rng: random.Random) -> str:
    name = node["name"]
    see_also = ", ".join(rng.sample(marts, 3))  # prose naming models: no edit, but a text search finds it
    lines = [
        "version: 2",
        "",
        "models:",
        f"  - name: {name}",
        "    description: |",
        f"      {node['description']}",
        "      Refreshed nightly; see the data catalogue for the owners' notes on each column.",
        f"      Often joined with {see_also}.",
        "    config:",
        f"      tags: [{', '.join(node['tags'])}]",
        "      meta:",
        f"        owner: {json.dumps(node['meta'].get('owner', 'data@example.com'))}",
        "    columns:",
    ]
    for column in COLUMNS:
        lines += [
            f"      - name: {column}",
            f"        description: The {column.replace('_', ' ')} of the row.",
        ]
        if column == "id":
            lines += ["        data_tests:", "          - unique", "          - not_null"]
        elif column == "status":
            values = ", ".join(rng.sample(["open", "closed", "pending", "void", "paid"], 3))
            lines += [
                "        data_tests:",
                "          - accepted_values:",
                f"              values: [{values}]",
            ]
    for parent in parents:
        lines += [
            f"      - name: {parent}_id",
            f"        description: The {parent} row this one belongs to.",
            "        data_tests:",
            "          - relationships:",
            f"              to: ref('{parent}')",
            "              field: id",
        ]
    return "\n".join(lines) + "\n"


def write_project(directory: Path, models: int, seed: int) -> tuple[Path, list[str]]:
    """The project under `directory/project`, its manifest and 25 candidates (models no other model
    reads, as the usage graph would propose)."""
    from metapipeline.sandbox.synthetic_dbt import dbt_project_files, finish_manifest, synthetic_manifest

    design = synthetic_manifest(
        models, seed=seed, now=datetime(2026, 1, 1, tzinfo=UTC), owners=["data@example.com"]
    )
    finish_manifest(design.manifest)
    manifest = design.manifest
    nodes = manifest["nodes"]
    rng = random.Random(seed)
    project = directory / "project"
    for relative, text in dbt_project_files(manifest):
        if relative.endswith("__models.yml"):
            continue  # one properties file per model instead, below
        (project / relative).parent.mkdir(parents=True, exist_ok=True)
        (project / relative).write_text(text)
    model_ids = sorted(u for u, n in nodes.items() if n["resource_type"] == "model")
    marts = [nodes[u]["name"] for u in model_ids if "/marts/" in nodes[u]["original_file_path"]]
    for unique_id in model_ids:
        node = nodes[unique_id]
        parents = [
            nodes[p]["name"] for p in node["depends_on"]["nodes"] if p in nodes and p.startswith("model.")
        ]
        path = project / node["original_file_path"].replace(".sql", ".yml")
        path.write_text(_properties(node, parents, marts, rng))
        node["patch_path"] = f"{node['package_name']}://{path.relative_to(project).as_posix()}"
    manifest_path = directory / "manifest.json"
    manifest_path.write_text(json.dumps(manifest))
    readers = [n for n in nodes.values() if n["resource_type"] != "test"] + list(
        manifest["exposures"].values()
    )
    read = {p for n in readers for p in n.get("depends_on", {}).get("nodes", ())}
    leaves = [u for u in model_ids if u not in read and "marts" in nodes[u]["original_file_path"]]
    return manifest_path, rng.sample(leaves, min(25, len(leaves)))


def _measure(
    kind: str, project: Path, manifest_path: Path, candidates: list[str], cache: Path
) -> dict[str, Any]:
    if kind in ("csafe_load", "safe_load"):
        import yaml

        loader = yaml.CSafeLoader if kind == "csafe_load" else yaml.SafeLoader
        started = time.perf_counter()
        paths = sorted(project.rglob("*.yml"))
        size = 0
        for path in paths:
            text = path.read_text()
            size += len(text)
            yaml.load(text, Loader=loader)
        return {"seconds": time.perf_counter() - started, "files": len(paths), "bytes": size}
    from metapipeline.actions.dbt_changes import ParseCache, plan_removal, properties, read_project, yaml_edit
    from metapipeline.platform.unused import UnusedModel

    manifest = json.loads(manifest_path.read_text())
    nodes = manifest["nodes"]
    models = [UnusedModel(u, nodes[u]["name"], nodes[u]["original_file_path"], None, ()) for u in candidates]
    started = time.perf_counter()
    files = read_project(project)
    read = time.perf_counter() - started
    started = time.perf_counter()
    if kind == "reference":
        # As before the speed-up: a plain search for the names, and ruamel's pure-Python round trip.
        properties.may_name_a_removed_model = _substring_search
        yaml_edit._composed = _not_composed
        change = plan_removal(files.files, manifest, models)
    else:
        change = plan_removal(files.files, manifest, models, parse_cache=ParseCache(cache))
    planned = time.perf_counter() - started
    canonical = json.dumps([sorted(change.files.items()), change.dropped, change.summary], sort_keys=True)
    return {
        "read_seconds": read,
        "seconds": planned,
        "files": len(files.files),
        "edited": len(change.files),
        "dropped": len(change.dropped),
        "change_set": hashlib.sha256(canonical.encode()).hexdigest(),
    }


def _substring_search(plan: Any, text: str) -> bool:
    return any(name in text for name in plan.names)


def _not_composed(text: str) -> None:
    return None


def _child(kind: str, directory: Path, candidates: list[str]) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.removal_plan",
        "--measure",
        kind,
        "--directory",
        str(directory),
    ]
    command += ["--candidates", ",".join(candidates)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks removal_plan", description=__doc__)
    parser.add_argument("--models", type=int, default=900)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--directory", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--candidates", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        result = _measure(
            args.measure,
            args.directory / "project",
            args.directory / "manifest.json",
            args.candidates.split(","),
            args.directory / "parse_cache",
        )
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        _, candidates = write_project(directory, args.models, args.seed)
        csafe = _child("csafe_load", directory, candidates)
        safe = _child("safe_load", directory, candidates)
        print(
            f"project: {csafe['files']} YAML files, {csafe['bytes'] / 1e6:.1f} MB; {len(candidates)} candidates"
        )
        print(
            f"baseline, every YAML file loaded: C loader {csafe['seconds']:.2f} s, pure Python {safe['seconds']:.2f} s"
        )
        reference = _child("reference", directory, candidates)
        cold = _child("cold", directory, candidates)
        warm = _child("warm", directory, candidates)
        print(f"files read: {cold['files']} in {cold['read_seconds']:.2f} s (not counted below)")
        for label, result, target in (
            ("reference (no speed-ups)", reference, None),
            ("cold", cold, TARGET_COLD_SECONDS),
            ("warm", warm, TARGET_WARM_SECONDS),
        ):
            verdict = (
                ""
                if target is None
                else f" (target {target:.1f} s: {'met' if result['seconds'] <= target else 'MISSED'})"
            )
            print(
                f"plan {label}: {result['seconds']:.2f} s, {result['edited']} files edited, {result['dropped']} kept{verdict}"
            )
        same = cold["change_set"] == warm["change_set"] == reference["change_set"]
        print(f"change sets identical to the reference: {'yes' if same else 'NO'}")
        if not same:
            raise SystemExit("the change sets differ")


if __name__ == "__main__":
    main(sys.argv[1:])
