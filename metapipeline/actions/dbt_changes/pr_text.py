"""The removal pull request's title and body: a table of the models, a Mermaid diagram of them and
their neighbours, the edits, and how to keep a model."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from metapipeline.actions.dbt_changes.changeset import ChangeSet
from metapipeline.actions.dbt_changes.refs import model_label
from metapipeline.cost import credits, credits_text
from metapipeline.markdown import escape as md_escape
from metapipeline.markdown import fitting
from metapipeline.platform.unused import ARCHIVED_NOW, UnusedModel


@dataclass(frozen=True)
class ModelRunInfo:
    """What the run history says about a model, for the pull request's table."""

    last_run_at: datetime | None = None
    run_time_s: float | None = None  # typical (e.g. median) execution time per run
    month_s: float | None = None  # execution time of all its runs in the last 30 days


REMOVAL_TITLE = re.compile(r"Remove (\d+) unused dbt models?")


def models_removed(title: str) -> int | None:
    """How many models a removal pull request's title says it removes (None: not our title)."""
    found = REMOVAL_TITLE.fullmatch(title.strip())
    return int(found.group(1)) if found else None


# Shares of the 65,536 characters GitHub takes in a pull request body (the rest: text and markers).
TABLE_CHARS = 26_000
DIAGRAM_CHARS = 12_000  # GitHub draws no Mermaid diagram past 50,000 characters; people stop earlier
CHANGES_CHARS = 12_000
KEPT_CHARS = 4_000
FOLLOW_UP_CHARS = 4_000
ARCHIVED_CHARS = 4_000
KEEP_HELP = """\
### Keeping a model

Removal is proposed because nothing live reads these models. To keep one, protect it and this pull
request drops it on the next run:

```yaml
models:
  - name: <model>
    config:
      tags: [keep]        # or
      meta:
        keep: true
```
"""


def _cell(value: Any) -> str:
    """People type names and owners: Markdown and HTML are escaped, and what GitHub would take for
    an @mention (a ping) is put in a code span, where it mentions no one. An email address is no
    mention (a letter or digit stands before its @): it stays plain text. A lone surrogate (JSON
    allows one) has no UTF-8 form, so GitHub could not take the body."""
    html = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION.sub(r"`\1`", _SURROGATE.sub("\ufffd", md_escape(html)))


_SURROGATE = re.compile("[\ud800-\udfff]")
# GitHub's mention: an @ that no ASCII letter, digit or _ stands before, then a letter or digit.
# Escaped text holds no backslash or backtick in such a run, so the code span shows it as typed.
_MENTION = re.compile(r"((?<![A-Za-z0-9_])@[A-Za-z0-9][A-Za-z0-9./-]*)")


def _mermaid_label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.:\- ]", "_", text)[:80]


def _neighbours(manifest: dict[str, Any], unique_ids: Collection[str]) -> list[tuple[str, str]]:
    """Edges (parent, child) one hop around the removed models, from the manifest."""
    edges = set()
    for uid in unique_ids:
        for parent in manifest.get("parent_map", {}).get(uid, ()):
            edges.add((parent, uid))
        for child in manifest.get("child_map", {}).get(uid, ()):
            if not child.startswith("test."):
                edges.add((uid, child))
    return sorted(edges)


def _mermaid(manifest: dict[str, Any], removed: Collection[str]) -> str:
    edges = _neighbours(manifest, removed)
    nodes = sorted({n for edge in edges for n in edge} | set(removed))
    ids = {node: f"n{i}" for i, node in enumerate(nodes)}
    lines = ["```mermaid", "flowchart LR"]
    for node in nodes:
        name = node.split(".", 2)[-1]
        lines.append(f'  {ids[node]}["{_mermaid_label(name)}"]')
    lines += [f"  {ids[a]} --> {ids[b]}" for a, b in edges]
    if removed:
        lines.append("  classDef removed fill:#fdd,stroke:#c00,stroke-dasharray: 4 2")
        lines.append(f"  class {','.join(ids[n] for n in sorted(removed))} removed")
    lines.append("```")
    return "\n".join(lines)


def removal_pr_text(
    models: Sequence[UnusedModel],
    run_info: Mapping[str, ModelRunInfo],
    manifest: dict[str, Any],
    *,
    change: ChangeSet | None = None,
    credits_per_hour: float | None = None,
) -> tuple[str, str]:
    """Title and Markdown body of the removal pull request. `models` are the candidates planned;
    those the change keeps (`change.dropped`) are listed apart, with why. `credits_per_hour` prices
    an hour of model run time (the savings line says credits too when it is given)."""
    dropped = change.dropped if change else {}
    removed = [m for m in models if m.unique_id not in dropped]
    names = {m.unique_id: _model_name(m.unique_id, m.name, manifest) for m in models}
    count = len(removed)
    title = f"Remove {count} unused dbt model{'s' if count != 1 else ''}"
    rate = credits_per_hour if credits_per_hour is not None and math.isfinite(credits_per_hour) else None
    columns = [
        "model",
        "owner",
        "last run",
        "run time",
        *(["credits a month"] if rate is not None else []),
        "why it is unused",
    ]
    header = f"| {' | '.join(columns)} |\n|{'---|' * len(columns)}"
    rows = []
    for model in sorted(removed, key=lambda m: names[m.unique_id]):
        info = run_info.get(model.unique_id, ModelRunInfo())
        last_run = info.last_run_at.strftime("%Y-%m-%d") if info.last_run_at else "never"
        run_time = f"{info.run_time_s:.1f} s" if info.run_time_s is not None else "n/a"
        cells = [names[model.unique_id], model.owner or "unknown", last_run, run_time]
        if rate is not None:
            cells.append(credits_text(credits(info.month_s, rate)) if info.month_s is not None else "n/a")
        cells.append(model.why)
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if (shown := fitting(rows, TABLE_CHARS)) < len(rows):
        more = f"... and {len(rows) - shown} more: see Files changed"
        rows = [*rows[:shown], f"| {more} |" + " |" * (len(columns) - 1)]
    diagram = _mermaid(manifest, [m.unique_id for m in removed])
    if len(diagram) > DIAGRAM_CHARS:
        diagram = f"_{count} models and their neighbours are too many to draw here._"
    found = len(models)
    intro = (
        f"metapipeline found {found} dbt model{'s' if found != 1 else ''} with no path to any live consumer "
        "(an active Mode report, a hand-written exposure or a protected model)."
    )
    if dropped:
        intro += f" {len(dropped)} of them stay{'s' if len(dropped) == 1 else ''}: see below."
    saving = _saving(removed, run_info, credits_per_hour)
    parts = [
        intro + (f"\n\n{saving}" if saving else ""),
        "\n".join([header, *rows]),
        "### Removed models and their neighbours\n\n" + diagram,
    ]
    if change and change.summary:
        parts.append("### Changes\n\n" + _bullets(change.summary, CHANGES_CHARS, "see Files changed"))
    if dropped:
        kept = [
            f"{names.get(uid, uid)}: {why}"
            for uid, why in sorted(dropped.items(), key=lambda kv: names.get(kv[0], kv[0]))
        ]
        parts.append(
            "### Kept, because something that stays still references them\n\n"
            + _bullets(kept, KEPT_CHARS, "see the run's log")
        )
    if archived := _archived_now(removed, names):
        parts.append(
            "### Reports archived in this run\n\n"
            "These models go because the reports that read them were archived in this same run. "
            "Restoring a report after this pull request is merged will not bring its models back: "
            "revert this pull request too, or keep the models (below) before merging.\n\n"
            + _bullets(archived, ARCHIVED_CHARS, "see the run's plan")
        )
    if change and change.follow_ups:
        parts.append(
            "### Follow-ups (not changed here)\n\n"
            "Only the removed models used these; something the manifest does not show may still need "
            "them:\n\n" + _bullets(change.follow_ups, FOLLOW_UP_CHARS, "see the run's log")
        )
    parts.append(KEEP_HELP)
    return title, "\n\n".join(parts)


def _saving(
    removed: Sequence[UnusedModel], run_info: Mapping[str, ModelRunInfo], credits_per_hour: float | None
) -> str:
    """What the removal saves a month, from the run history; "" when it holds no run of them."""
    months = [s for m in removed if (s := run_info.get(m.unique_id, ModelRunInfo()).month_s) is not None]
    if not months or not math.isfinite(total := sum(months)):
        return ""
    line = f"**Saves** about {_duration(total)} of warehouse time a month"
    if credits_per_hour is not None and math.isfinite(credits_per_hour):
        line += f" ({credits_text(credits(total, credits_per_hour))} credits at {credits_per_hour:g} an hour)"
    return line + ": their dbt runs in the last 30 days of the run history."


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{seconds:.0f} s"
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _archived_now(removed: Sequence[UnusedModel], names: Mapping[str, str]) -> list[str]:
    """`model: the reports archived in this run that read it`, for each removed model with one."""
    lines = []
    for model in sorted(removed, key=lambda m: names[m.unique_id]):
        reports = [d.node for d in model.downstream if d.why_not_a_consumer == ARCHIVED_NOW]
        if reports:
            lines.append(f"{names[model.unique_id]}: {', '.join(reports)}")
    return lines


def _bullets(items: Sequence[str], budget: int, rest: str) -> str:
    lines = [f"- {_cell(item)}" for item in items]
    if (shown := fitting(lines, budget)) < len(lines):
        lines = [*lines[:shown], f"- ... and {len(lines) - shown} more: {rest}"]
    return "\n".join(lines)


def _model_name(unique_id: str, name: str, manifest: Mapping[str, Any]) -> str:
    """The model's name, with its version for a versioned model (`dim_customers v1`)."""
    node = (manifest.get("nodes") or {}).get(unique_id)
    return model_label(node) if isinstance(node, Mapping) and node.get("name") == name else name
