"""Metadata helpers: how ops show tables in the Dagster UI."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], limit: int = 200) -> str:
    rows = list(rows)
    lines = [f"| {' | '.join(headers)} |", f"|{'---|' * len(headers)}"]
    lines += [f"| {' | '.join(str(cell).replace('|', '/') for cell in row)} |" for row in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"| ... {len(rows) - limit} more | {' | ' * (len(headers) - 1)}")
    return "\n".join(lines)
