"""The sample company's warehouse access history: who read which relation straight from the
warehouse, as Snowflake's ACCESS_HISTORY (or a reads file) records it.

Written against `now`, deterministic. The stories the expected outcomes rely on (`warehouse:`):
- HIGHTOUCH_SYNC, a reverse-ETL sync, reads `marts.fct_basket_affinity` every day: no Mode
  report reads it, yet it is used;
- DBT_RUNNER (query tag `dbt`) reads `marts.fct_app_funnel` and its parent while building and
  testing them: dbt's own reads are not usage, so they stay unused;
- ANALYST_PRIYA read `marts.fct_courier_shifts` for a while and stopped 150 days ago: outside the
  90-day window, so it is not usage either.
Analysts and Mode's own connection read live models too, as they would.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from metapipeline.warehouse.usage import Read

HISTORY_DAYS = 200  # the history reaches back further than the default 90-day window
DATABASE = "ANALYTICS"


def _relation(schema: str, name: str) -> tuple[str, str, str]:
    return (DATABASE, schema.upper(), name.upper())  # as Snowflake stores unquoted names


def sample_reads(now: datetime) -> list[Read]:
    """Every read of the history, oldest first."""
    start = now - timedelta(days=HISTORY_DAYS)
    reads: list[Read] = []
    for day in range(HISTORY_DAYS):
        morning = start + timedelta(days=day, hours=6)
        reads.append(
            Read(morning, "HIGHTOUCH_SYNC", (_relation("marts", "fct_basket_affinity"),), "REVERSE_ETL",
                 "hightouch:sync-basket-affinity")
        )  # fmt: skip
        reads.append(
            Read(morning + timedelta(minutes=5), "DBT_RUNNER",
                 (_relation("intermediate", "int_app_sessions"), _relation("marts", "fct_app_funnel")),
                 "TRANSFORMER", "dbt")
        )  # fmt: skip
        if day % 3 == 0:
            reads.append(
                Read(morning + timedelta(hours=3), "ANALYST_SAM",
                     (_relation("marts", "fct_orders"), _relation("marts", "dim_customers")), "ANALYST")
            )  # fmt: skip
        if 20 <= day < HISTORY_DAYS - 150:  # stopped 150 days ago
            reads.append(
                Read(morning + timedelta(hours=4), "ANALYST_PRIYA", (_relation("marts", "fct_courier_shifts"),),
                     "ANALYST")
            )  # fmt: skip
    return reads
