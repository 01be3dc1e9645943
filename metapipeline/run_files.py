"""The files a run of the job keeps under DAGSTER_HOME/storage/<run id>/, as the offline commands
(`metapipeline plan`, `explain`, `refs`) find them again without Dagster."""

from __future__ import annotations

import os
from pathlib import Path

SNAPSHOT = "mode/snapshot.json"
WAREHOUSE_USAGE = "warehouse/usage.json"  # only when a warehouse usage source is configured
MANIFESTS = "dbt"  # dbt/<project>/manifest.json: one per dbt project the run loaded
_MANIFEST_NAMES = {"manifest.json", "manifest.json.gz"}  # ".gz" when the manifest read was compressed


def manifest_file(project: str, *, compressed: bool = False) -> str:
    """Where a run keeps the manifest of one dbt project."""
    return f"{MANIFESTS}/{project}/manifest.json" + (".gz" if compressed else "")


def dagster_home() -> Path:
    """$DAGSTER_HOME, else `make demo`'s ./.dagster_home."""
    return Path(os.environ.get("DAGSTER_HOME") or ".dagster_home")


def newest(relative: str, home: Path | None = None) -> Path | None:
    """The newest run's copy of a file (SNAPSHOT, WAREHOUSE_USAGE), or None when no run kept one."""
    storage = (home or dagster_home()) / "storage"
    name = Path(relative).name
    kept = [path for path in storage.glob(f"*/{relative}*") if path.name in {name, f"{name}.gz"}]
    return max(kept, key=_mtime, default=None)


def newest_manifests(home: Path | None = None) -> list[Path]:
    """Every project's manifest from the newest run that kept any (empty when none did)."""
    storage = (home or dagster_home()) / "storage"
    by_run: dict[Path, list[Path]] = {}
    for path in storage.glob(f"*/{MANIFESTS}/*/manifest.json*"):
        if path.name in _MANIFEST_NAMES:
            by_run.setdefault(path.parents[2], []).append(path)
    if not by_run:
        return []
    run = max(by_run, key=lambda run: max(map(_mtime, by_run[run])))
    return sorted(by_run[run])


def _mtime(path: Path) -> float:
    return path.stat().st_mtime
