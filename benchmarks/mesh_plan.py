"""`metapipeline plan` on a dbt mesh: 5 projects, 8,000 models, 10,000 raw tables that one project or
several declare as sources (`sandbox.synthetic_mesh`), and a modest Mode snapshot over their marts.

The mesh is generated and written to a temporary directory; each measurement then runs in a fresh
Python process, so the generator's memory does not count: a plain `json.load` of the same
manifests (the baseline), then `analyse_offline` (what `metapipeline plan` runs) with its stages'
wall times (`OfflineAnalysis.seconds`: reading, the dbt graph with its relation index and joins,
lineage of the Mode snapshot, reports, the platform graph, unused models, the plan). Memory is the
process's peak resident set (VmHWM), plus the largest child's (lineage may fan out to forked
workers; their pages shared with the process count twice, so the sum is an upper bound). The proposed unused models are compared with the design's.

Targets: the plan within 10 s and 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TARGET_SECONDS = 10.0
TARGET_PEAK_BYTES = 1024**3
_MB = 1024**2


def _peak_bytes() -> int:
    """This process's peak resident set. Not getrusage's ru_maxrss: Linux carries it over from the
    parent through fork and exec, so a child started by a large parent starts with its peak."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:", 1)[1].split()[0]) * 1024


def _children_peak_bytes() -> int:
    """The largest finished child's peak (a forked worker's counts the pages it shares with us)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def _measure_load(manifests: list[Path]) -> dict[str, Any]:
    """All the manifests in memory at once, as the plan holds them."""
    started = time.perf_counter()
    loaded = []
    for path in manifests:
        with path.open("rb") as handle:
            loaded.append(json.load(handle))
    return {"seconds": time.perf_counter() - started, "peak": _peak_bytes()}


def _measure_plan(manifests: list[Path], snapshot: Path, now: datetime) -> dict[str, Any]:
    started = time.perf_counter()
    from metapipeline.platform.cli import analyse_offline

    imported, imports_peak = time.perf_counter() - started, _peak_bytes()
    started = time.perf_counter()
    analysis = analyse_offline(manifests, snapshot, now)
    total = time.perf_counter() - started
    return {
        "imports": imported,
        "imports_peak": imports_peak,
        "total": total,
        "stages": dict(getattr(analysis, "seconds", {})),  # absent before analyse_offline timed its stages
        "peak": _peak_bytes(),
        "children_peak": _children_peak_bytes(),
        "nodes": analysis.graph.number_of_nodes(),
        "edges": analysis.graph.number_of_edges(),
        "unused": sorted(m["unique_id"] for m in analysis.plan.unused_models),
        "refusal": analysis.plan.unused_refusal,
    }


def _child(kind: str, manifests: list[Path], snapshot: Path, now: datetime) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its result is the last line it prints."""
    command = [sys.executable, "-m", "benchmarks.mesh_plan", "--measure", kind, "--now", now.isoformat()]
    command += ["--snapshot", str(snapshot), *map(str, manifests)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{kind} measurement failed:\n{result.stderr[-3000:]}")
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def _verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=5)
    parser.add_argument("--models", type=int, default=8000, help="models in all projects together")
    parser.add_argument("--shared-sources", type=int, default=10000, help="distinct raw tables declared")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeat", type=int, default=1, help="plan runs (fresh processes); the fastest counts"
    )
    # What `_child` passes to the fresh process.
    parser.add_argument("--measure", choices=("load", "plan"), help=argparse.SUPPRESS)
    parser.add_argument("--now", type=datetime.fromisoformat, help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("manifests", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure == "load":
        print(json.dumps(_measure_load(args.manifests)))
        return
    if args.measure == "plan":
        print(json.dumps(_measure_plan(args.manifests, args.snapshot, args.now)))
        return

    from metapipeline.sandbox.synthetic_mesh import synthetic_mesh

    print(_load(), flush=True)
    now = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), tzinfo=UTC)
    started = time.perf_counter()
    mesh = synthetic_mesh(args.projects, args.models, args.shared_sources, seed=args.seed, now=now)
    generated = time.perf_counter() - started
    models = mesh.models()
    expected = sorted(mesh.unused - set(mesh.package_models))
    print(
        f"mesh: {len(mesh.manifests)} projects, {len(models):,} models ({len(mesh.unused)} unused by design, "
        f"{len(mesh.package_models)} of them in packages; {len(mesh.used_across_projects)} used only across "
        f"projects), {mesh.shared_relations:,} raw relations ({mesh.declared_by_several:,} declared by 2+ "
        f"projects), {len(mesh.source_links)} source links, {len(mesh.ref_links)} ref links; Mode: "
        f"{len(mesh.snapshot.reports)} reports, {len(mesh.snapshot.queries)} queries (generated in {generated:.1f} s)",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="mesh_plan_") as temporary:
        directory = Path(temporary)
        manifest_paths, snapshot_path = mesh.write(directory)
        del mesh
        size = sum(p.stat().st_size for p in manifest_paths)
        print(
            f"files: {len(manifest_paths)} manifests, {size / _MB:.1f} MB; snapshot {snapshot_path.stat().st_size / _MB:.1f} MB"
        )

        load = _child("load", manifest_paths, snapshot_path, now)
        print(
            f"baseline, json.load of the manifests: {load['seconds']:6.2f} s, peak {load['peak'] / _MB:6.0f} MB",
            flush=True,
        )
        runs = [_child("plan", manifest_paths, snapshot_path, now) for _ in range(max(1, args.repeat))]
    plan = min(runs, key=lambda run: run["total"])
    peak = max(run["peak"] + run["children_peak"] for run in runs)
    print(
        f"plan (analyse_offline in a fresh process; imports first: {plan['imports']:.1f} s, "
        f"{plan['imports_peak'] / _MB:.0f} MB):"
    )
    for stage, seconds in plan["stages"].items():
        print(f"  {stage:<16} {seconds:6.2f} s")
    if not plan["stages"]:
        print("  (analyse_offline does not report its stages)")
    print(
        f"  {'total':<16} {plan['total']:6.2f} s  ({_verdict(plan['total'] <= TARGET_SECONDS)} <= "
        f"{TARGET_SECONDS:g} s; {plan['total'] / load['seconds']:.1f}x the json.load; "
        f"{plan['total'] + plan['imports']:.1f} s with the imports)"
    )
    print(
        f"  {'peak memory':<16} {peak / _MB:6.0f} MB  ({_verdict(peak <= TARGET_PEAK_BYTES)} <= 1 GB; at most: this "
        f"process {plan['peak'] / _MB:.0f} MB + largest child {plan['children_peak'] / _MB:.0f} MB; "
        f"{plan['peak'] / load['peak']:.1f}x the json.load's)"
    )
    agrees = plan["unused"] == expected and plan["refusal"] is None
    print(
        f"graph: {plan['nodes']:,} nodes, {plan['edges']:,} edges; {len(plan['unused'])} unused models proposed: "
        + (
            "exactly the designed ones"
            if agrees
            else f"DIFFERS from the {len(expected)} designed ({plan['refusal'] or 'see the plan'})"
        )
    )
    print(_load())


if __name__ == "__main__":
    main()
