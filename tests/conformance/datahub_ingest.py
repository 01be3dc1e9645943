"""Run one DataHub ingestion recipe and write the source's report as JSON.

    <datahub venv>/bin/python datahub_ingest.py recipe.yml report.json

Run by the DataHub virtualenv's interpreter, never the project's. It does what `datahub ingest run
-c recipe.yml` does (Pipeline.create, run, print the summary) and keeps the report: the CLI's
`--report-to FILE` writes nothing when the sink is `file` (acryl-datahub 1.7.0.17's FileSink.close
skips the callbacks that write it), and the printed summary is not machine-readable.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from datahub.configuration.config_loader import load_config_file
from datahub.ingestion.run.pipeline import Pipeline


def main(recipe: str, report_path: str) -> int:
    pipeline = Pipeline.create(load_config_file(recipe))
    pipeline.run()
    pipeline.pretty_print_summary()
    report = {
        "source": pipeline.source.get_report().as_obj(),
        "sink": pipeline.sink.get_report().as_obj(),
    }
    Path(report_path).write_text(json.dumps(report, default=str, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
