"""dbt run history: the nodes each invocation ran, as its run_results.json records them (where the
files come from: `metapipeline.dbt.history`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any


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


class RunHistoryUnavailable(RuntimeError):
    """A history source could not be read (missing, refused, unreachable); the message says what to do."""


def parse_run_results(document: Any, where: str) -> Invocation:
    """One invocation from a parsed run_results.json; `where` names it in the error when malformed."""
    try:
        metadata = document["metadata"]
        invocation_id = metadata["invocation_id"]
        started = _parse(metadata.get("invocation_started_at") or metadata["generated_at"])
        runs = tuple(
            NodeRun(
                invocation_id, r["unique_id"], r["status"], float(r.get("execution_time") or 0.0), started
            )
            for r in document["results"]
        )
        command = str((document.get("args") or {}).get("which") or "")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{where} is not a dbt run_results.json ({type(exc).__name__}: {exc})") from None
    return Invocation(invocation_id, started, command, runs)


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def models_run(runs: list[NodeRun] | tuple[NodeRun, ...]) -> set[str]:
    """Distinct models that ran successfully."""
    return {r.unique_id for r in runs if r.unique_id.startswith("model.") and r.status == "success"}
