"""The plan document: stable JSON, readable markdown that names cannot break."""

from __future__ import annotations

import json

from metapipeline.platform.plan import build_plan
from metapipeline.platform.stale import ReportVerdict
from metapipeline.platform.unused import Downstream, UnusedModel, UnusedModels

HOSTILE = "Q4 | <script>alert(1)</script> **bold** [link](http://x)\n# heading"


def _plan(verdicts, unused=None, **kwargs):
    return build_plan(
        workspace="freshcart",
        as_of="2026-11-23T12:00:00+00:00",
        dry_run=kwargs.pop("dry_run", False),
        verdicts=verdicts,
        lifecycle_refusal=kwargs.pop("lifecycle_refusal", None),
        unused=unused or UnusedModels(),
    )


def test_json_is_stable_whatever_the_input_order():
    verdicts = [
        ReportVerdict("b", "B", True, "no run for 200 days"),
        ReportVerdict("a", "A", True, "low usage"),
    ]
    unused = UnusedModels(
        candidates=[
            UnusedModel("model.p.z", "z", "models/z.sql", None, ()),
            UnusedModel(
                "model.p.y",
                "y",
                "models/y.sql",
                "dana",
                (Downstream("mode.report.r", "mode_report", "archived in Mode"),),
            ),
        ]
    )
    first = _plan(verdicts, unused).to_json()
    unused.candidates.reverse()
    assert _plan(list(reversed(verdicts)), unused).to_json() == first
    document = json.loads(first)
    assert [r["token"] for r in document["stale_reports"]] == ["a", "b"]
    assert document["unused_models"][0]["downstream"][0]["why_not_a_consumer"] == "archived in Mode"


def test_markdown_escapes_what_people_typed():
    markdown = _plan([ReportVerdict("a", HOSTILE, True, "no run for 200 days")], dry_run=True).to_markdown()
    row = next(line for line in markdown.splitlines() if line.startswith("| a |"))
    assert "<script>" not in markdown and "\n# heading" not in markdown
    assert row.count(" | ") == 2  # the name's pipe did not add a column
    assert "_Dry run: nothing was changed._" in markdown


def test_refusals_are_shown_first():
    unused = UnusedModels(refusal="Evidence is incomplete (space x): no model is proposed.")
    markdown = _plan([], unused, lifecycle_refusal="snapshot incomplete").to_markdown()
    assert "**Refused:** snapshot incomplete" in markdown
    assert "**Refused:** Evidence is incomplete (space x)" in markdown
