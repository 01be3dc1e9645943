"""dbt run history from this Dagster instance's event log, for dbt run as dagster-dbt assets.

dagster-dbt's `dbt build`/`dbt run` materializations carry the node's `unique_id`, the dbt
`invocation_id` and its `Execution Duration` (seconds) as metadata; a materialization means the
node succeeded (failed and skipped nodes materialize nothing, and tests are asset checks). An
invocation counts for the day its first node started: the earliest materialization time less its
duration.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

from dagster import DagsterEventType, DagsterInstance, EventRecordsFilter

from metapipeline.dbt.run_history import Invocation, NodeRun

DBT_NODE_PREFIXES = ("model.", "seed.", "snapshot.")
# Read whole invocations around the day, so one that crosses midnight is counted once, on its start.
_LONGEST_INVOCATION = timedelta(days=1)


class DagsterEventLog:
    def __init__(self, instance: DagsterInstance):
        self.instance = instance

    def describe(self) -> str:
        return "the Dagster instance's event log (dagster-dbt materializations)"

    def invocations(self, day: date) -> Iterator[Invocation]:
        start = datetime.combine(day, time(), UTC)
        window = EventRecordsFilter(
            event_type=DagsterEventType.ASSET_MATERIALIZATION,
            after_timestamp=(start - _LONGEST_INVOCATION).timestamp(),
            before_timestamp=(start + timedelta(days=1) + _LONGEST_INVOCATION).timestamp(),
        )
        # Per invocation: unique_id -> (seconds, when it started)
        nodes: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
        for record in self.instance.event_log_storage.get_event_records(window, ascending=True):
            materialization = record.asset_materialization
            metadata = materialization.metadata if materialization else {}
            unique_id = _text(metadata.get("unique_id"))
            invocation_id = _text(metadata.get("invocation_id"))
            if not unique_id.startswith(DBT_NODE_PREFIXES) or not invocation_id:
                continue
            seconds = float(getattr(metadata.get("Execution Duration"), "value", None) or 0.0)
            nodes[invocation_id][unique_id] = (seconds, record.timestamp - seconds)
        for invocation_id, ran in nodes.items():
            started = datetime.fromtimestamp(min(began for _, began in ran.values()), UTC)
            if started.date() != day:
                continue
            runs = tuple(
                NodeRun(invocation_id, unique_id, "success", seconds, started)
                for unique_id, (seconds, _) in sorted(ran.items())
            )
            yield Invocation(invocation_id, started, "", runs)


def _text(value: object) -> str:
    return str(getattr(value, "value", value) or "")
