"""The sample platform for real: a snapshot read over HTTP from the Mode emulator, real lineage, the graph."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from metapipeline.dbt.relations import load_dbt_graph
from metapipeline.lineage.workspace import WorkspaceLineage, resolve_items, workspace_items
from metapipeline.mode.snapshot import WorkspaceSnapshot, take_snapshot
from metapipeline.platform.analysis import platform_graph
from metapipeline.sandbox.harness import EmulatorServer
from metapipeline.sandbox.mode_emulator import ModeEmulator, mode_client


@pytest.fixture(scope="session")
def snapshot(sample_workspace) -> Iterator[WorkspaceSnapshot]:
    server = EmulatorServer(ModeEmulator(sample_workspace, rate_limit=None))
    server.start()
    client = mode_client(server, requests_per_second=0)
    try:
        yield take_snapshot(client)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def lineage(snapshot, sample_projects) -> WorkspaceLineage:
    index = load_dbt_graph(sample_projects).relation_index()
    return WorkspaceLineage.gather(resolve_items(workspace_items(snapshot), index))


@pytest.fixture(scope="session")
def graph(sample_projects, snapshot, lineage):
    return platform_graph(sample_projects, snapshot, lineage)
