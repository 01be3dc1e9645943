"""Saved workspace snapshots: what each run writes as an artifact and `metapipeline plan` reads."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from metapipeline.mode.models import Creator, DataSource, Definition, Query, Report, Space
from metapipeline.mode.snapshot import IngestionProblem, WorkspaceSnapshot

FORMAT = "metapipeline.mode-snapshot/2"  # 2: Mode Datasets, imported Datasets, skipped spaces
_BEFORE_DATASETS = "metapipeline.mode-snapshot/1"


def write_snapshot(snapshot: WorkspaceSnapshot, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"format": FORMAT, **asdict(snapshot)}
    path.write_text(json.dumps(document, ensure_ascii=False, sort_keys=True))
    return path


def read_snapshot(path: Path) -> WorkspaceSnapshot:
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable snapshot ({exc})") from None
    if not isinstance(document, dict) or document.get("format") not in {FORMAT, _BEFORE_DATASETS}:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise ValueError(f"{path}: expected a {FORMAT} document, found {found!r}")
    try:
        return _snapshot(document)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: malformed snapshot ({type(exc).__name__}: {exc})") from None


def _snapshot(document: dict[str, Any]) -> WorkspaceSnapshot:
    def report(raw: dict[str, Any]) -> Report:
        return Report(
            **{
                **raw,
                "queries": tuple(Query(**q) for q in raw["queries"]),
                "imported_datasets": tuple(raw.get("imported_datasets", ())),
            }
        )

    failures = [IngestionProblem(**f) for f in document["failures"]]
    if document["format"] == _BEFORE_DATASETS:
        # Read, so `explain` still works, but never acted on: a model only a Dataset reads would look unused.
        failures.append(
            IngestionProblem(
                "Mode Datasets",
                f"this snapshot ({_BEFORE_DATASETS}) was saved before metapipeline read Datasets; "
                "take a new one (run the job) before acting on it",
            )
        )
    return WorkspaceSnapshot(
        workspace=document["workspace"],
        taken_at=document["taken_at"],
        spaces=[Space(**s) for s in document["spaces"]],
        reports=[report(r) for r in document["reports"]],
        datasets=[report(r) for r in document.get("datasets", [])],
        data_sources=[DataSource(**d) for d in document["data_sources"]],
        definitions=[Definition(**d) for d in document["definitions"]],
        creators={name: Creator(**c) for name, c in document["creators"].items()},
        failures=failures,
        deleted_during_run=list(document["deleted_during_run"]),
        unreadable_reports=list(document["unreadable_reports"]),
        reports_reused=document["reports_reused"],
        creators_read=list(document.get("creators_read", [])),  # absent from older snapshots
        requests_sent=document["requests_sent"],
        skipped_spaces=list(document.get("skipped_spaces", [])),
    )
