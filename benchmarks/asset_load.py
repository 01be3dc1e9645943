"""Loading the code location with the Mode (and dbt) assets of a large synthetic platform.

A large synthetic platform (`sandbox.synthetic`, default 10k models, 20k reports, 60k queries) is
turned into the files a run of the job keeps (the platform graph, the plan, the manifest) in a
temporary DAGSTER_HOME, with lineage taken from the generator's design (parsing 60k queries is the
`lineage` benchmark's business, not this one's). Then a fresh Python process loads the code
location as a code server does: imports `metapipeline.definitions` (which reads the state and
builds the specs), builds the repository and its snapshot (what the webserver receives). The same
with an empty DAGSTER_HOME (the ops job alone) is the baseline. Last, the same files loaded as a
run or step worker loads the location (reconstruction), which skips the specs. And, for scale,
Dagster alone loading as many bare external assets (a key each), with no metapipeline code.

Target: the whole load under 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

TARGET_SECONDS = 5.0
NOW = datetime(2026, 11, 23, tzinfo=UTC)

# Run in the child: each step's wall time, as JSON on the last line.
_LOAD = """
import json, time
started = time.perf_counter()
import dagster
imported = time.perf_counter()
from metapipeline.definitions import defs
defined = time.perf_counter()
repository = defs.get_repository_def()
resolved = time.perf_counter()
from dagster._core.remote_representation.external_data import RepositorySnap
RepositorySnap.from_def(repository)
done = time.perf_counter()
from metapipeline.orchestration.mode_asset_state import load_state
from metapipeline.orchestration.mode_assets import mode_asset_specs
again = time.perf_counter()
try:
    state = load_state()
except LookupError:  # no run files: the baseline
    state = None
read = time.perf_counter()
specs = mode_asset_specs(state) if state else []
built = time.perf_counter()
print(json.dumps({
    "import dagster": imported - started,
    "import metapipeline.definitions (state, specs)": defined - imported,
    "repository": resolved - defined,
    "repository snapshot": done - resolved,
    "total": done - started,
    "state read (again)": read - again,
    "specs built (again)": built - read,
    "assets": len(list(repository.asset_graph.get_all_asset_keys())),
}))
"""

# Run in the child: a run or step worker's load, which reconstructs the location (RECONSTRUCTION:
# no context set before the pointer's module is imported) and skips the Mode asset specs.
_RECONSTRUCT = """
import json, os, time
started = time.perf_counter()
import dagster
from dagster._core.definitions.reconstruct import ReconstructableRepository
imported = time.perf_counter()
repository = ReconstructableRepository.for_module(
    "metapipeline.definitions", "defs", working_directory=os.getcwd()
).get_definition()
repository.get_job("metapipeline")
done = time.perf_counter()
print(json.dumps({
    "import dagster": imported - started,
    "reconstruct the repository and its job": done - imported,
    "total": done - started,
    "assets": len(list(repository.asset_graph.get_all_asset_keys())),
}))
"""


class Reads(NamedTuple):
    """What lineage would find: the generator's design, all parsed."""

    status: str
    nodes: tuple[str, ...]


def write_run_files(home: Path, models: int, reports: int, queries: int) -> dict[str, int]:
    """A run's kept files for a synthetic platform, under home/storage/<run>/; returns its counts."""
    from metapipeline.mode.models import Creator, Query, Report, Space
    from metapipeline.mode.snapshot import WorkspaceSnapshot
    from metapipeline.orchestration.mode_asset_state import PLAN, PLATFORM_GRAPH
    from metapipeline.platform.export import write_graph
    from metapipeline.platform.graph import build_platform_graph
    from metapipeline.platform.plan import build_plan
    from metapipeline.platform.stale import StalePolicy, judge_reports
    from metapipeline.platform.unused import UnusedModels
    from metapipeline.run_files import manifest_file
    from metapipeline.sandbox.synthetic import synthetic_platform

    platform = synthetic_platform(models, reports, queries, now=NOW)
    document = platform.workspace
    parsed = []
    for raw in document["reports"]:
        report = Report.from_api(raw, raw["space_token"])
        parsed.append(
            Report(
                **{**vars(report), "queries": tuple(Query.from_api(q, report.token) for q in raw["queries"])}
            )
        )
    snapshot = WorkspaceSnapshot(
        workspace=document["workspace"]["username"],
        taken_at=NOW.isoformat(),
        spaces=[Space.from_api(s) for s in document["spaces"]],
        reports=parsed,
        creators={u["username"]: Creator.from_api(u) for u in document["users"]},
    )
    run = home / "storage" / "synthetic-run"
    path = run / manifest_file(platform.manifest["metadata"].get("project_name") or "synthetic")
    platform.write_manifest(path)
    reads = {token: Reads("parsed", nodes) for token, nodes in platform.query_reads.items()}
    graph = build_platform_graph([platform.manifest], snapshot, reads)
    write_graph(graph, (run / PLATFORM_GRAPH).parent)
    verdicts = judge_reports(
        snapshot.reports, StalePolicy(), NOW, space_names={s.token: s.name for s in snapshot.spaces}
    )
    plan = build_plan(
        workspace=snapshot.workspace,
        as_of=NOW.isoformat(),
        dry_run=False,
        verdicts=verdicts,
        lifecycle_refusal=None,
        unused=UnusedModels(),
    )
    (run / PLAN).parent.mkdir(parents=True, exist_ok=True)
    (run / PLAN).write_text(plan.to_json())
    return {
        "reports": len(snapshot.reports),
        "queries": len(platform.query_reads),
        "graph nodes": graph.number_of_nodes(),
        "platform.json MB": (run / PLATFORM_GRAPH).stat().st_size // 2**20,
        "manifest MB": path.stat().st_size // 2**20,
    }


# Run in the child: Dagster's own work for as many bare external assets (a key each, nothing
# else), with no metapipeline code: the least any integration can load that many assets in.
_DAGSTER_FLOOR = """
import json, sys, time
started = time.perf_counter()
import dagster
from dagster._core.remote_representation.external_data import RepositorySnap
imported = time.perf_counter()
count = int(sys.argv[1])
specs = [dagster.AssetSpec(["floor", str(i)]) for i in range(count)]
built = time.perf_counter()
repository = dagster.Definitions(assets=specs).get_repository_def()
resolved = time.perf_counter()
RepositorySnap.from_def(repository)
done = time.perf_counter()
print(json.dumps({
    "import dagster": imported - started,
    "specs": built - imported,
    "repository": resolved - built,
    "repository snapshot": done - resolved,
    "total": done - started,
    "assets": count,
}))
"""


def load_in_fresh_process(home: Path, script: str = _LOAD, *arguments: str) -> dict[str, float]:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "METAPIPELINE_DATABASE_URL": f"sqlite:///{home / 'ledger.sqlite'}",
    }
    result = subprocess.run(
        [sys.executable, "-c", script, *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"loading the code location failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks asset_load", description=__doc__)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--reports", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=60_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="asset_load_") as root:
        home, empty = Path(root) / "home", Path(root) / "empty"
        empty.mkdir()
        started = time.perf_counter()
        counts = write_run_files(home, args.models, args.reports, args.queries)
        print(f"synthetic run files in {time.perf_counter() - started:.0f} s: {counts}", flush=True)
        totals = []
        for label, where, script in (
            ("ops job only (no run files)", empty, _LOAD),
            ("with the synthetic run's assets", home, _LOAD),
            ("run or step worker, same files (specs skipped)", home, _RECONSTRUCT),
        ):
            figures = load_in_fresh_process(where, script)
            steps = ", ".join(
                f"{name} {seconds:.2f} s"
                for name, seconds in figures.items()
                if name not in {"total", "assets"}
            )
            print(
                f"{label}: {figures['total']:.2f} s for {int(figures['assets']):,} assets ({steps})",
                flush=True,
            )
            totals.append(figures["total"])
            if where is home and script is _LOAD:
                figures_with_assets = figures
        assets = int(figures_with_assets["assets"])
        floor = load_in_fresh_process(empty, _DAGSTER_FLOOR, str(assets))
        print(
            f"Dagster alone, {assets:,} bare external assets: {floor['total']:.2f} s (import dagster "
            f"{floor['import dagster']:.2f} s, specs {floor['specs']:.2f} s, repository "
            f"{floor['repository']:.2f} s, repository snapshot {floor['repository snapshot']:.2f} s)",
            flush=True,
        )
        verdict = "meets" if totals[1] < TARGET_SECONDS else "MISSES"
        print(
            f"load with assets: {totals[1]:.2f} s, {verdict} the target of {TARGET_SECONDS:.0f} s "
            f"({totals[1] - totals[0]:+.2f} s over the ops job alone)"
        )
        print(
            f"run or step worker: {totals[2]:.2f} s ({totals[2] - totals[1]:+.2f} s against the code server's load)"
        )


if __name__ == "__main__":
    main()
