"""Warehouse access history folded into per-relation evidence: 5 million reads of a Snowflake-shaped
history (one row per base object a query read: time, user, role, query tag, relation), from a CSV
file as `file:` usage sources read it, beside a plain pandas group-by of the same rows.

Each measurement runs in a fresh Python process (peak memory is its own VmHWM): pandas reading the
CSV and grouping by (relation, user) for count and last read (the baseline), then `file_usage`
(what the job's warehouse stage and `metapipeline plan --warehouse-usage` run: parse, leave out
dbt's own reads, fold). Both must find the same (relation, reader) pairs and counts.

Targets: 5 million reads folded within 30 s and 1 GB.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TARGET_SECONDS = 30.0
TARGET_PEAK_BYTES = 1024**3
NOW = datetime(2026, 12, 1, tzinfo=UTC)
USERS = [
    *(f"ANALYST_{i:03d}" for i in range(300)),
    "HIGHTOUCH_SYNC", "CENSUS_SYNC", "LOOKER_SVC", "TABLEAU_SVC", "DBT_RUNNER", "AIRFLOW_SVC",
]  # fmt: skip


def _peak_bytes() -> int:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:", 1)[1].split()[0]) * 1024


def write_history(path: Path, rows: int, relations: int, seed: int = 0) -> None:
    """`rows` reads over 120 days of `relations` tables (a few hot, most rarely read)."""
    rng = random.Random(seed)
    names = [
        f"ANALYTICS.{rng.choice(['MARTS', 'STAGING', 'FINANCE'])}.TABLE_{i:05d}" for i in range(relations)
    ]
    weights = [1 / (rank + 1) for rank in range(relations)]  # Zipf-like: a few tables take most reads
    start = NOW - timedelta(days=120)
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["time", "user", "role", "query_tag", "relations"])
        chunk = 100_000
        for done in range(0, rows, chunk):
            picked = rng.choices(names, weights, k=min(chunk, rows - done))
            for name in picked:
                user = rng.choice(USERS)
                tag = "dbt" if user == "DBT_RUNNER" else ""
                moment = start + timedelta(seconds=rng.randrange(120 * 86400))
                writer.writerow([moment.isoformat(), user, "ANALYST", tag, name])


def _measure(kind: str, path: Path) -> dict[str, Any]:
    window_start = NOW - timedelta(days=90)
    started = time.perf_counter()
    if kind == "pandas":
        import pandas as pd

        frame = pd.read_csv(path, parse_dates=["time"], keep_default_na=False)
        frame = frame[
            (frame["time"] >= window_start) & (frame["time"] <= NOW) & (frame["query_tag"] != "dbt")
        ]
        grouped = frame.groupby(["relations", "user"])["time"].agg(["count", "max"])
        pairs, reads = len(grouped), int(grouped["count"].sum())
    else:
        from metapipeline.warehouse.files import file_usage
        from metapipeline.warehouse.usage import UsageSettings

        usage = file_usage(path, UsageSettings(), NOW, dialect="snowflake")
        assert usage.failure is None, usage.failure
        pairs, reads = len(usage.usages), sum(u.reads for u in usage.usages)
    return {"seconds": time.perf_counter() - started, "peak": _peak_bytes(), "pairs": pairs, "reads": reads}


def _child(kind: str, path: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.warehouse_usage", "--measure", kind, "--history", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks warehouse_usage", description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--relations", type=int, default=20_000)
    parser.add_argument("--measure", choices=["pandas", "fold"], help=argparse.SUPPRESS)
    parser.add_argument("--history", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(_measure(args.measure, args.history)))
        return
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "history.csv"
        started = time.perf_counter()
        write_history(path, args.rows, args.relations)
        print(
            f"history: {args.rows:,} reads of {args.relations:,} relations by {len(USERS)} users, "
            f"{path.stat().st_size / 1024**2:.0f} MB CSV (written in {time.perf_counter() - started:.1f} s)",
            flush=True,
        )
        baseline = _child("pandas", path)
        ours = _child("fold", path)
    mb = 1024**2
    print(
        f"pandas read_csv + group-by (baseline): {baseline['seconds']:.1f} s, peak {baseline['peak'] / mb:.0f} MB"
    )
    print(
        f"metapipeline file_usage (parse, exclude, fold): {ours['seconds']:.1f} s, peak {ours['peak'] / mb:.0f} MB"
    )
    print(
        f"(relation, reader) pairs: {ours['pairs']:,} (pandas {baseline['pairs']:,}); reads counted {ours['reads']:,}"
    )
    same = (ours["pairs"], ours["reads"]) == (baseline["pairs"], baseline["reads"])
    print(f"same evidence as pandas: {'yes' if same else 'NO'}")
    scale = args.rows / 5_000_000
    print(
        f"targets (5M reads): {TARGET_SECONDS * scale:.0f} s -> {'met' if ours['seconds'] <= TARGET_SECONDS * scale else 'MISSED'}; "
        f"1 GB -> {'met' if ours['peak'] <= TARGET_PEAK_BYTES else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
