"""The files a run of the job keeps under DAGSTER_HOME/storage/<run id>/, as the offline commands
(`metapipeline plan`, `explain`, `refs`) find them again without Dagster."""

from __future__ import annotations

import os
from pathlib import Path

SNAPSHOT = "mode/snapshot.json"
MANIFEST = "dbt/manifest.json"  # ".gz" added when the manifest the run read was compressed


def dagster_home() -> Path:
    """$DAGSTER_HOME, else `make demo`'s ./.dagster_home."""
    return Path(os.environ.get("DAGSTER_HOME") or ".dagster_home")


def newest(relative: str, home: Path | None = None) -> Path | None:
    """The newest run's copy of a file (SNAPSHOT, MANIFEST), or None when no run kept one."""
    storage = (home or dagster_home()) / "storage"
    kept = [
        path
        for path in storage.glob(f"*/{relative}*")
        if path.name in {Path(relative).name, f"{Path(relative).name}.gz"}
    ]
    return max(kept, key=lambda path: path.stat().st_mtime, default=None)
