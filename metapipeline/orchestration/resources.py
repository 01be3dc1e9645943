"""Resources: how ops reach Mode and dbt. Secrets come from the environment via EnvVar."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, EnvVar, Failure

from metapipeline.dbt.manifest import read_manifest
from metapipeline.mode.client import ModeClient

DEFAULT_MODE_HOST = "https://app.mode.com"


class ModeResource(ConfigurableResource):
    """A Mode workspace reached with an API token and secret."""

    host: str = DEFAULT_MODE_HOST
    workspace: str
    token: str
    secret: str
    requests_per_second: float = 4.0

    def client(self) -> ModeClient:
        return ModeClient(
            self.host, self.workspace, self.token, self.secret, requests_per_second=self.requests_per_second
        )


class DbtManifestResource(ConfigurableResource):
    """A dbt project to parse through dagster-dbt, or a ready manifest.json."""

    project_dir: str | None = None
    manifest_path: str | None = None

    def load_manifest(self) -> dict[str, Any]:
        if self.manifest_path:
            return read_manifest(self.manifest_path)
        if not self.project_dir:
            raise Failure("No dbt project configured: set DBT_PROJECT_DIR (a dbt project) or DBT_MANIFEST_PATH.")
        # dagster_dbt imports dbt-core (seconds): only pay for it when a parse is needed.
        from dagster_dbt import DbtCliResource

        project_dir = Path(self.project_dir)
        target_path = project_dir / "target"
        invocation = DbtCliResource(project_dir=str(project_dir)).cli(
            ["parse", "--quiet"], target_path=target_path, raise_on_error=False
        )
        invocation.wait()
        if not invocation.is_successful():
            raise Failure(f"`dbt parse` failed in {project_dir}; run it there to see why.")
        return read_manifest(target_path / "manifest.json")


def resources_from_environment() -> dict[str, Any]:
    return {
        "mode": ModeResource(
            host=os.environ.get("MODE_HOST", DEFAULT_MODE_HOST),
            workspace=EnvVar("MODE_WORKSPACE"),
            token=EnvVar("MODE_TOKEN"),
            secret=EnvVar("MODE_SECRET"),
        ),
        "dbt": DbtManifestResource(
            project_dir=os.environ.get("DBT_PROJECT_DIR"),
            manifest_path=os.environ.get("DBT_MANIFEST_PATH"),
        ),
    }
