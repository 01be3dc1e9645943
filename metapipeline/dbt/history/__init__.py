"""Where dbt run history comes from: run_results.json files under any fsspec URL, dbt Cloud's
Administrative API, or (in `metapipeline.orchestration.dbt_event_history`) Dagster's own event log.

Every source answers the same question, the dbt invocations that started on a day (UTC), so the
ledger, and every chart drawn from it, does not depend on which one a team uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Protocol

from metapipeline.dbt.run_history import Invocation, RunHistoryUnavailable


class RunHistorySource(Protocol):
    def describe(self) -> str:
        """Where the history is read from, for logs (no secrets)."""
        ...

    def invocations(self, day: date) -> Iterator[Invocation]:
        """The dbt invocations that started on `day` (UTC)."""
        ...


__all__ = ["Invocation", "RunHistorySource", "RunHistoryUnavailable"]
