"""`metapipeline refs`: JSON lines in and out, in process and as the installed command."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from metapipeline.cli import main

# The offline commands must not find the runs `make demo` left in the checkout.
pytestmark = pytest.mark.usefixtures("no_kept_runs")

LINES = [
    {
        "sql": 'SELECT * FROM marts.fct_orders o JOIN "Raw".x USING (id)',
        "dialect": "snowflake",
        "default_database": "ANALYTICS",
    },
    {
        "sql": "SELECT * FROM orders",
        "dialect": "jdbc:postgresql",
        "default_database": "shop",
        "default_schema": "public",
    },
    {"sql": "SELECT COUNT(* FROM marts.dim_stores (("},
    {"sql": 42},
]


def _run_in_process(monkeypatch: pytest.MonkeyPatch, lines: list[Any], *args: str) -> list[dict[str, Any]]:
    stdin = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    stdout = io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main(["refs", *args]) == 0
    return [json.loads(line) for line in stdout.getvalue().splitlines()]


def test_refs_answers_each_line_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = _run_in_process(monkeypatch, [*LINES, "not json"])
    assert answers[:2] == [
        {"tables": ["analytics.Raw.x", "analytics.marts.fct_orders"], "writes": [], "status": "parsed"},
        {"tables": ["shop.public.orders"], "writes": [], "status": "parsed"},
    ]
    # SQL that does not parse still names the tables in table positions, without a manifest too.
    assert answers[2]["status"] == "fallback" and answers[2]["error"]
    assert answers[2]["tables"] == ["marts.dim_stores"]
    assert answers[3] == {"error": 'expected an object with a string "sql"'}
    assert answers[4]["error"].startswith("not JSON")


def test_refs_reports_reads_and_writes_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    line = {"sql": "INSERT INTO marts.t SELECT * FROM raw.src; DROP TABLE raw.tmp", "dialect": "snowflake"}
    [answer] = _run_in_process(monkeypatch, [line])
    assert answer == {"tables": ["raw.src"], "writes": ["marts.t", "raw.tmp"], "status": "parsed"}


def test_refs_with_manifests_adds_nodes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sample_manifest: dict[str, Any]
) -> None:
    manifest = tmp_path / "manifest.json.gz"
    with gzip.open(manifest, "wt") as f:
        json.dump(sample_manifest, f)
    answers = _run_in_process(monkeypatch, LINES[:3], "--manifest", str(manifest))
    assert [a["nodes"] for a in answers] == [
        ["model.freshcart.fct_orders"],
        [],
        ["model.freshcart.dim_stores"],
    ]
    assert answers[0]["unresolved"] == ["analytics.Raw.x"]
    assert answers[2]["tables"] == ["marts.dim_stores"]


def test_refs_refuses_an_unreadable_manifest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["refs", "--manifest", str(tmp_path / "nope.json")]) == 2
    assert "not found" in stderr.getvalue()


def test_refs_as_the_installed_command() -> None:
    command = Path(sys.executable).parent / "metapipeline"
    stdin = "".join(json.dumps(line) + "\n" for line in LINES[:2])
    result = subprocess.run(
        [str(command), "refs"], input=stdin, capture_output=True, text=True, timeout=120, check=True
    )
    assert [json.loads(line)["tables"] for line in result.stdout.splitlines()] == [
        ["analytics.Raw.x", "analytics.marts.fct_orders"],
        ["shop.public.orders"],
    ]
