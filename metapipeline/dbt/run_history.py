"""dbt run history: the nodes each invocation ran, read from archived `run_results.json` files."""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path


@dataclass(frozen=True)
class NodeRun:
    invocation_id: str
    unique_id: str
    status: str  # success | error | skipped | pass | fail | warn ...
    execution_time: float
    started_at: datetime  # when the invocation started (UTC): the day it counts for

    @property
    def day(self) -> date:
        return self.started_at.date()


@dataclass(frozen=True)
class Invocation:
    invocation_id: str
    started_at: datetime
    command: str
    runs: tuple[NodeRun, ...]


def find_run_results(location: str | Path) -> list[Path]:
    """`run_results.json` files under a directory (a dbt target dir or an archive), or a glob."""
    path = Path(location)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(path.rglob("run_results.json"))
    return sorted(Path(p) for p in glob.glob(str(location), recursive=True))


def read_run_results(path: Path) -> Invocation:
    try:
        document = json.loads(path.read_text())
        metadata = document["metadata"]
        invocation_id = metadata["invocation_id"]
        started = _parse(metadata.get("invocation_started_at") or metadata["generated_at"])
        runs = tuple(
            NodeRun(
                invocation_id, r["unique_id"], r["status"], float(r.get("execution_time") or 0.0), started
            )
            for r in document["results"]
        )
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not a dbt run_results.json ({type(exc).__name__}: {exc})") from None
    command = str((document.get("args") or {}).get("which") or "")
    return Invocation(invocation_id, started, command, runs)


def read_invocations(location: str | Path, *, day: date | None = None) -> Iterator[Invocation]:
    """Every invocation under `location` (started on `day`, if given); unreadable files raise."""
    for path in find_run_results(location):
        invocation = read_run_results(path)
        if day is None or invocation.started_at.date() == day:
            yield invocation


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def models_run(runs: list[NodeRun] | tuple[NodeRun, ...]) -> set[str]:
    """Distinct models that ran successfully."""
    return {r.unique_id for r in runs if r.unique_id.startswith("model.") and r.status == "success"}
