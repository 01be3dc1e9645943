"""Markdown for people: tables in the Dagster UI, the plan and pull requests."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

# Bidirectional controls reorder how the rest of a line displays; a lone surrogate has no UTF-8 form.
_INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def escape(value: Any) -> str:
    """One table cell on one line; names come from people, so no markup gets through."""
    text = _INVISIBLE.sub("\ufffd", " ".join(str(value).split()))
    for char in "\\|*_`[]<>#":
        text = text.replace(char, f"\\{char}")
    return text


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], limit: int | None = None) -> str:
    rows = list(rows)
    if not rows:
        return "_none_"
    shown = rows if limit is None else rows[:limit]
    lines = [f"| {' | '.join(headers)} |", f"|{'---|' * len(headers)}"]
    lines += [f"| {' | '.join(escape(cell) for cell in row)} |" for row in shown]
    if len(rows) > len(shown):
        lines.append(f"| ... and {len(rows) - len(shown)} more |{' |' * (len(headers) - 1)}")
    return "\n".join(lines)
