"""What every op shares: kind tags for the UI and the retry policy for ops that call services."""

from dagster import Backoff, Jitter, RetryPolicy


def kind(name: str) -> dict[str, str]:
    """The tag that shows an op's technology (mode, dbt, sqlglot, networkx, github, slack, jupyter)."""
    return {f"dagster/kind/{name}": ""}


# A whole-op retry for outages longer than the clients' own retries; the ops are safe to rerun.
SERVICE_RETRY = RetryPolicy(max_retries=2, delay=20, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
