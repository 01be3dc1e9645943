"""Every command block of the README, run as written, in order, in a copy of the repository.

The slow test starts from what a reader has after `make demo`: it copies the working tree (the
installed `.venv` and `.tools` are linked, not copied) and types each block in turn. Blocks that
need something no ordinary machine has are said so below and skipped with that reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter, validate_run_config
from readme_blocks import Block, BlockRun, commands, long_running, missing_from, readme_blocks

from metapipeline.dbt.projects import read_projects_file

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
LINKED = {".venv", ".tools"}  # installed, not part of a checkout: linked into the copy
# What a working tree holds beside its checkout: runs, caches, builds (top level only).
LEFT_OUT = {
    ".git",
    ".sandbox",
    ".dagster_home",
    ".conformance",
    ".hypothesis",
    "build",
    "plan",
    "metapipeline.egg-info",
}
SERVICE_VARIABLES = ("DAGSTER_", "METAPIPELINE_", "MODE_", "GITHUB_", "SLACK_", "DBT_")


def _blocks() -> list[Block]:
    return readme_blocks(README.read_text())


def test_every_block_is_shell_yaml_or_the_output_of_the_shell_block_before_it():
    blocks = _blocks()
    assert {block.language for block in blocks} <= {"bash", "yaml"}, [
        (b.line, b.language) for b in blocks if b.language not in {"bash", "yaml"}
    ]
    assert sum(block.language == "bash" for block in blocks) >= 8
    assert all(commands(block.text) for block in blocks if block.language == "bash")


def test_the_yaml_block_is_valid_run_config_for_the_job(monkeypatch):
    from metapipeline.definitions import defs

    for line in (REPO / ".env.example").read_text().splitlines():  # a deployment's environment, filled in
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            monkeypatch.setenv(name, value or f"a-{name.lower()}")
    [config] = [document for document in _run_configs() if "ingest_run_history" not in document["ops"]]
    validate_run_config(defs.resolve_job_def("metapipeline"), config)


def test_the_run_history_examples_are_valid_run_config_for_their_job():
    from metapipeline.definitions import defs

    examples = [document for document in _run_configs() if "ingest_run_history" in document["ops"]]
    assert [e["ops"]["ingest_run_history"]["config"]["source"] for e in examples] == [
        "files",
        "dagster",
        "dbt_cloud",
    ]
    for config in examples:
        validate_run_config(defs.resolve_job_def("dbt_run_history"), config)


def _run_configs() -> list[dict]:
    documents = [yaml.safe_load(block.text) for block in _blocks() if block.language == "yaml"]
    return [document for document in documents if "projects" not in document]


def test_the_dbt_projects_file_example_reads_as_the_job_reads_it(tmp_path):
    [text] = [b.text for b in _blocks() if b.language == "yaml" and b.text.startswith("projects:")]
    (tmp_path / "dbt_projects.yaml").write_text(text)
    projects = read_projects_file(tmp_path / "dbt_projects.yaml")
    assert [(p.repository, p.subdirectory) for p in projects] == [
        ("acme/analytics", "dbt"),
        ("acme/finance", ""),
    ]


def _checkout(destination: Path) -> Path:
    """The working tree as a reader's clone has it, with the installed environment beside it."""

    def left_out(directory: str, names: list[str]) -> set[str]:
        if Path(directory) == REPO:
            return {name for name in names if name in LEFT_OUT | LINKED or name.endswith("_cache")}
        return {"__pycache__"} & set(names)

    shutil.copytree(REPO, destination, ignore=left_out, symlinks=True)
    for name in LINKED:
        if (REPO / name).exists():
            (destination / name).symlink_to(REPO / name)
    return destination


def _reader_environment(home: Path) -> dict[str, str]:
    """The machine's environment without anything that points at a service or an instance."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(SERVICE_VARIABLES)}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent
    )
    return env


def _wait_for_runs(home: Path, job_name: str, count: int, timeout: float) -> dict[str, DagsterRunStatus]:
    ended = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
    deadline = time.monotonic() + timeout
    with DagsterInstance.from_config(str(home)) as instance:
        while True:
            runs = instance.get_runs(RunsFilter(job_name=job_name))
            statuses = {run.tags.get("dagster/partition", run.run_id): run.status for run in runs}
            if len(runs) >= count and set(statuses.values()) <= ended:
                return statuses
            assert time.monotonic() < deadline, f"runs of {job_name} after {timeout:.0f} s: {statuses}"
            time.sleep(3)


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    # The linked .venv must be in sync with the repository first: otherwise the copy's `make` would
    # re-sync it and point its editable install at the copy.
    subprocess.run(["make", "-s", ".venv/.synced"], cwd=REPO, check=True, capture_output=True)
    root = tmp_path_factory.mktemp("reader")
    yield _checkout(root / "metapipeline"), _reader_environment(root)
    imported_from = subprocess.run(
        [sys.executable, "-c", "import metapipeline; print(metapipeline.__file__)"],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(imported_from).is_relative_to(REPO), f"the copy took over .venv: {imported_from}"


def _deploy_environment(env: dict[str, str], root: Path, postgres_url: str) -> dict[str, str]:
    """Where the deploy block runs: a new virtual environment first on PATH (its `pip install .`
    must not touch this one), a HOME of its own, Dagster's PostgreSQL in DAGSTER_PG_* as the
    README's list says."""
    from sqlalchemy.engine import make_url

    venv = root / "deploy-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    url = make_url(postgres_url)
    return {
        **env,
        "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}",
        "HOME": str(root / "home"),
        "PIP_CACHE_DIR": str(Path.home() / ".cache" / "pip"),  # the machine's download cache
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "DAGSTER_PG_HOST": url.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(url.port),
        "DAGSTER_PG_USER": url.username or "postgres",
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_DB": url.database or "postgres",
    }


def _code_location_errors(port: str) -> list[str]:
    query = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
    answer = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=30).json()
    entries = answer["data"]["workspaceOrError"]["locationEntries"]
    assert [entry["name"] for entry in entries] == ["metapipeline"], entries
    return [
        e["locationOrLoadError"].get("message", "")
        for e in entries
        if e["locationOrLoadError"]["__typename"] == "PythonError"
    ]


@pytest.mark.slow
@pytest.mark.timeout(
    2400
)  # make demo, two UIs, a backfill, a synthetic platform, pip install . (8 min alone)
def test_every_readme_command_block_runs_as_written(reader, request, tmp_path):
    checkout, env = reader
    skipped = []
    for block in _blocks():
        if block.language != "bash":
            continue
        shell_env = env
        if any(command.startswith("pip install .") for command in commands(block.text)):
            try:  # the deployment keeps Dagster's storage in PostgreSQL
                shell_env = _deploy_environment(env, tmp_path, request.getfixturevalue("postgres_url"))
            except pytest.skip.Exception as reason:
                skipped.append(f"README line {block.line}: {reason}")
                continue
        shell = BlockRun(checkout, shell_env)
        try:
            shell.run(block.text)
            _check_what_the_block_promises(block, shell, checkout)
            if block.prints is not None:
                assert not missing_from(shell.printed(), block.prints), (
                    f"README line {block.line}: the block does not print\n"
                    + "\n".join(missing_from(shell.printed(), block.prints))
                    + f"\n--- it printed:\n{shell.printed()[-4000:]}"
                )
        except AssertionError as failure:
            raise AssertionError(f"README line {block.line}:\n{block.text}\n{failure}") from None
        finally:
            shell.stop()
    if skipped:
        pytest.skip(f"every other block ran as written; not run: {skipped}")


def _check_what_the_block_promises(block: Block, shell: BlockRun, checkout: Path) -> None:
    """What a block says it does beyond exiting 0, checked while what it started still runs."""
    text = "\n".join(commands(block.text))  # what is typed, not what comments mention
    if "make demo" in text:
        assert (checkout / ".dagster_home" / "storage").is_dir(), "make demo kept no run"
    if "metapipeline plan" in text:
        assert (checkout / "plan" / "plan.md").is_file()
    if "dagster job backfill" in text:
        statuses = _wait_for_runs(checkout / ".dagster_home", "dbt_run_history", count=7, timeout=600)
        assert set(statuses.values()) == {DagsterRunStatus.SUCCESS}, statuses
        assert sorted(statuses) == [f"2026-11-0{day}" for day in range(1, 8)]
    if "pip install ." in text:
        assert not _code_location_errors(shell.port)
        installed = subprocess.run(
            [
                "python",
                "-c",
                "from metapipeline.orchestration.report_graph import NOTEBOOK; print(NOTEBOOK.read_text()[:1])",
            ],
            cwd="/",  # the installed package, not the checkout
            env=dict(shell.env),
            capture_output=True,
            text=True,
        )
        assert installed.stdout.strip() == "{", installed.stderr[-3000:]


def test_commands_join_continuations_and_drop_comment_lines():
    script = "make demo   # a comment\n# only a comment\necho '{}' \\\n  | cat\n\n"
    assert commands(script) == ["make demo   # a comment", "echo '{}'    | cat"]


@pytest.mark.parametrize(
    ("command", "runs_until_stopped"),
    [
        (".venv/bin/metapipeline sandbox --env-file .sandbox/env", True),
        ("make dev   # in one shell", True),
        (".venv/bin/dagster dev -w workspace.yaml -p 3000", True),
        ("dagster-webserver -w workspace.yaml -h 0.0.0.0 -p 3000", True),
        ("dagster-daemon run -w workspace.yaml", True),
        ("make demo", False),
        (".venv/bin/dagster job backfill -w workspace.yaml -j dbt_run_history --noprompt", False),
        (".venv/bin/metapipeline plan --out plan/", False),
    ],
)
def test_commands_that_run_until_stopped_are_known(command, runs_until_stopped):
    assert (long_running(command, "3000") is not None) == runs_until_stopped


def test_a_reader_types_the_command_with_nothing_changed_but_the_port(tmp_path):
    shell = BlockRun(tmp_path, {}, port="41234")
    assert shell.as_reader_types("make dev   # the UI") == "make dev DEV_PORT=41234"
    assert shell.as_reader_types("make test") == "make -n test"
    assert shell.as_reader_types("make demo   # installs") == "make demo   # installs"
    assert shell.as_reader_types("dagster-webserver -p 3000") == "dagster-webserver -p 41234"


def test_printed_output_is_matched_in_order_with_ports_and_ellipses():
    output = "# note\nexport A=/tmp/x/.sandbox/p\nexport HOST=http://127.0.0.1:5555\nexport Z=1\n"
    assert missing_from(output, "export A=.../.sandbox/p\n...\nexport Z=1\n") == []
    assert missing_from(output, "export HOST=http://127.0.0.1:41231\n") == []
    assert missing_from(output, "export Z=1\nexport A=.../.sandbox/p\n") == ["export A=.../.sandbox/p"]
    assert missing_from(output, "export B=2\n") == ["export B=2"]
