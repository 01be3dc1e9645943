"""Resources: how ops reach Mode and dbt. Secrets come from the environment via EnvVar."""

from __future__ import annotations

import os
import pickle
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import (
    ConfigurableIOManagerFactory,
    ConfigurableResource,
    EnvVar,
    Failure,
    InitResourceContext,
    InputContext,
    OutputContext,
    UPathIOManager,
)
from dagstermill import ConfigurableLocalOutputNotebookIOManager
from pydantic import Field

from metapipeline.actions.slack import SlackPoster
from metapipeline.dbt.projects import ProjectsFileError, ProjectSource, read_projects_file
from metapipeline.mode.client import ModeClient
from metapipeline.store.ledger import Ledger, database_url
from metapipeline.unpickling import collector_paused
from metapipeline.warehouse.sources import SOURCE_KINDS

if TYPE_CHECKING:
    from github.Repository import Repository
    from upath import UPath

DEFAULT_MODE_HOST = "https://app.mode.com"
DEFAULT_GITHUB_API_URL = "https://api.github.com"


class ModeResource(ConfigurableResource):
    """A Mode workspace reached with an API token and secret."""

    host: str | None = Field(default=None, description="Default: $MODE_HOST, else https://app.mode.com")
    workspace: str
    token: str
    secret: str
    requests_per_second: float = 4.0

    def client(self) -> ModeClient:
        host = self.host or os.environ.get("MODE_HOST") or DEFAULT_MODE_HOST
        return ModeClient(
            host, self.workspace, self.token, self.secret, requests_per_second=self.requests_per_second
        )


class DbtProjectsResource(ConfigurableResource):
    """The dbt projects to load: a projects file listing several (a dbt mesh, teams with their own
    repositories), or one project to parse, or one ready manifest.json."""

    projects_file: str | None = Field(
        default=None,
        description="A YAML file listing the projects (README). Default: $METAPIPELINE_DBT_PROJECTS",
    )
    project_dir: str | None = Field(default=None, description="One dbt project. Default: $DBT_PROJECT_DIR")
    manifest_path: str | None = Field(default=None, description="One manifest. Default: $DBT_MANIFEST_PATH")

    def sources(self) -> list[ProjectSource]:
        """The configured projects; a projects file wins over a single project or manifest."""
        if projects_file := self.projects_file or os.environ.get("METAPIPELINE_DBT_PROJECTS"):
            try:
                return read_projects_file(Path(projects_file))
            except ProjectsFileError as error:
                raise Failure(str(error)) from None
        if manifest_path := self.manifest_path or os.environ.get("DBT_MANIFEST_PATH"):
            return [ProjectSource(manifest_path=Path(manifest_path))]
        if project_dir := self.project_dir or os.environ.get("DBT_PROJECT_DIR"):
            return [ProjectSource(project_dir=Path(project_dir))]
        raise Failure(
            "No dbt project configured: set METAPIPELINE_DBT_PROJECTS (a file listing projects), "
            "DBT_PROJECT_DIR (a dbt project) or DBT_MANIFEST_PATH (a manifest.json)."
        )

    def manifest_file(self, source: ProjectSource) -> Path:
        """The manifest to read: the ready one, or the one a fresh `dbt parse` writes."""
        if source.manifest_path is not None:
            return source.manifest_path
        assert source.project_dir is not None
        return _parse_project(source.project_dir)


def _parse_project(project_dir: Path) -> Path:
    # dagster_dbt imports dbt-core (seconds): only pay for it when a parse is needed.
    from dagster_dbt import DbtCliResource

    dbt = DbtCliResource(project_dir=str(project_dir), dbt_executable=_dbt_executable())
    target_path = project_dir / "target"
    # A project with packages cannot parse before they are installed (a fresh checkout has none).
    declares_packages = any((project_dir / name).exists() for name in ("packages.yml", "dependencies.yml"))
    if declares_packages and not (project_dir / "dbt_packages").is_dir():
        _dbt(dbt, ["deps", "--quiet"], target_path, f"`dbt deps` failed in {project_dir}")
    _dbt(dbt, ["parse", "--quiet"], target_path, f"`dbt parse` failed in {project_dir}")
    return target_path / "manifest.json"


def _dbt(dbt: Any, args: list[str], target_path: Path, failed: str) -> None:
    invocation = dbt.cli(args, target_path=target_path, raise_on_error=False)
    invocation.wait()
    if not invocation.is_successful():
        raise Failure(f"{failed}; run it there to see why.")


def _dbt_executable() -> str:
    # The dbt installed beside this Python, so runs work without an activated virtualenv.
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


class WarehouseResource(ConfigurableResource):
    """Where the warehouse's access history comes from (none: direct readers are not seen)."""

    usage_source: str | None = Field(
        default=None,
        description=f"{SOURCE_KINDS}. Default: $METAPIPELINE_WAREHOUSE_USAGE; unset: not read",
    )

    def source_spec(self) -> str | None:
        return self.usage_source or os.environ.get("METAPIPELINE_WAREHOUSE_USAGE") or None


class LedgerResource(ConfigurableResource):
    """The ledger: what metapipeline did, and what it remembers between runs."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. Default: $METAPIPELINE_DATABASE_URL, else SQLite under $DAGSTER_HOME",
    )

    def open(self) -> Ledger:
        try:
            return Ledger(self.url or database_url())
        except ValueError as exc:
            raise Failure(str(exc)) from None


class ClockResource(ConfigurableResource):
    """ "Now" for every decision in a run; set `as_of` to replay a day or test the grace period."""

    as_of: str | None = Field(default=None, description="ISO-8601 timestamp; default: the current time (UTC)")

    def now(self) -> datetime:
        if not self.as_of:
            return datetime.now(UTC)
        moment = datetime.fromisoformat(self.as_of.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class GitHubResource(ConfigurableResource):
    """GitHub, where the dbt projects live; changes reach them only as pull requests. `repository`
    and `project_dir` hold the project unless the dbt projects file names another repository."""

    token: str
    repository: str = Field(description="owner/name")
    api_url: str | None = Field(default=None, description="Default: $GITHUB_API_URL, else api.github.com")
    project_dir: str = Field(default="", description="Where the dbt project lives in the repository")
    # GitHub's REST best practices ask for serial requests and a second between writes, no pause
    # between reads; PyGithub's own default of 0.25 s per read cost ~5 s a day for nothing.
    seconds_between_requests: float = Field(default=0.0, description="Pause between any two requests")
    seconds_between_writes: float = Field(
        default=1.0, description="Pause between writes (GitHub asks for one)"
    )

    def repo(self, full_name: str | None = None) -> Repository:
        """A repository (owner/name; default: the configured one) through the same client settings."""
        full_name = full_name or self.repository
        # PyGithub imports in about a second: pay only in the ops that talk to GitHub.
        from github import Auth, Github, GithubRetry

        from metapipeline.actions.pull_requests import retry_github

        base_url = self.api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_GITHUB_API_URL
        # Every request is retried on 429 and 5xx (honouring Retry-After) and on a dropped connection,
        # writes too: blobs, trees and commits are content-addressed, and `publish` copes with a ref
        # or pull request that a lost attempt already created. `publish` also starts over after an
        # answer cut short, and the op retries what still fails.
        retry = GithubRetry(
            total=5, backoff_factor=0.5, status_forcelist=[429, *range(500, 600)], allowed_methods=None
        )
        client = Github(
            base_url=base_url,
            auth=Auth.Token(self.token),
            retry=retry,
            timeout=60,
            seconds_between_requests=self.seconds_between_requests or None,
            seconds_between_writes=self.seconds_between_writes or None,
        )
        return retry_github(f"reading the repository {full_name}", lambda: client.get_repo(full_name))


class SlackResource(ConfigurableResource):
    """Where charts, summaries and alerts go."""

    token: str
    channel: str
    api_url: str | None = Field(default=None, description="Default: $SLACK_API_URL, else Slack's")

    def poster(self) -> SlackPoster:
        return SlackPoster(self.token, self.channel, base_url=self.api_url or os.environ.get("SLACK_API_URL"))


class _Pickles(UPathIOManager):
    extension = ""  # the file layout of Dagster's own filesystem IO manager

    def __init__(self, base_path: UPath):
        super().__init__(base_path=base_path)
        # What this process wrote or read, by path: steps that share a process (the in-process
        # executor) take the same object instead of unpickling the snapshot or the manifest again
        # for each op that reads it. Ops treat their inputs as read-only. Lives as long as the run.
        self._in_memory: dict[str, Any] = {}

    def dump_to_path(self, context: OutputContext, obj: Any, path: UPath) -> None:
        with collector_paused(), path.open("wb") as file:
            pickle.dump(obj, file, pickle.HIGHEST_PROTOCOL)
        self._in_memory[str(path)] = obj

    def load_input(self, context: InputContext) -> Any:
        # Op outputs straight from their file, without UPathIOManager's "Loading file from" DEBUG
        # line: dagstermill loads the notebook's outputs with a context whose logger is a fresh
        # console logger at DEBUG, so that line printed into every run's output.
        if context.has_asset_key:
            return super().load_input(context)
        return self.load_from_path(context, self._get_path(context))

    def load_from_path(self, context: InputContext, path: UPath) -> Any:
        key = str(path)
        if key not in self._in_memory:
            with collector_paused(), path.open("rb") as file:
                self._in_memory[key] = pickle.load(file)
        return self._in_memory[key]


class PickleIOManager(ConfigurableIOManagerFactory):
    """Dagster's filesystem IO manager (each output pickled under DAGSTER_HOME's storage, so the
    multiprocess executor and re-executions work), with the garbage collector paused meanwhile,
    and each output unpickled at most once per process."""

    base_dir: str | None = Field(default=None, description="Default: the instance's storage directory")

    def create_io_manager(self, context: InitResourceContext) -> _Pickles:
        from upath import UPath

        assert context.instance is not None
        return _Pickles(base_path=UPath(self.base_dir or context.instance.storage_directory()))


def default_resources() -> dict[str, Any]:
    return {
        "mode": ModeResource(
            workspace=EnvVar("MODE_WORKSPACE"),
            token=EnvVar("MODE_TOKEN"),
            secret=EnvVar("MODE_SECRET"),
        ),
        "dbt": DbtProjectsResource(),
        "ledger": LedgerResource(),
        "warehouse": WarehouseResource(),
        "clock": ClockResource(),
        "github": GitHubResource(token=EnvVar("GITHUB_TOKEN"), repository=EnvVar("GITHUB_REPOSITORY")),
        "slack": SlackResource(token=EnvVar("SLACK_BOT_TOKEN"), channel=EnvVar("SLACK_CHANNEL")),
        # Executed notebooks go under DAGSTER_HOME's storage, linked from the run in the UI.
        "output_notebook_io_manager": ConfigurableLocalOutputNotebookIOManager(),
        "io_manager": PickleIOManager(),
    }
