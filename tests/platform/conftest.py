"""A real snapshot of the sample workspace, read over HTTP from the Mode emulator once per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from metapipeline.mode.client import ModeClient
from metapipeline.mode.snapshot import WorkspaceSnapshot, take_snapshot
from metapipeline.sandbox.harness import EmulatorServer
from metapipeline.sandbox.mode_emulator import ModeEmulator


@pytest.fixture(scope="session")
def snapshot(sample_workspace) -> Iterator[WorkspaceSnapshot]:
    server = EmulatorServer(ModeEmulator(sample_workspace, rate_limit=None))
    server.start()
    env = server.emulator.env(server.base_url)
    client = ModeClient(
        env["MODE_HOST"], env["MODE_WORKSPACE"], env["MODE_TOKEN"], env["MODE_SECRET"], requests_per_second=0
    )
    try:
        yield take_snapshot(client)
    finally:
        server.stop()
