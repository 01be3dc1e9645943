"""`metapipeline dev` driven from code, as the UI test and the UI-launch benchmark need it: started on
a free port, ready once its webserver answers, a Launchpad-style launch, stopped whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from metapipeline.sandbox.harness import free_port

ENDED = {"SUCCESS", "FAILURE", "CANCELED"}


def ui_answers(port: int | str) -> bool:
    """Whether a Dagster webserver serves on this loopback port yet."""
    try:
        return requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok
    except requests.RequestException:
        return False


@contextmanager
def running_dev_ui(env: Mapping[str, str], data_dir: Path, cwd: Path, timeout: float = 300) -> Iterator[int]:
    """`metapipeline dev` (what `make dev` runs) on a free port; yields the port once the UI answers."""
    port = free_port()
    metapipeline = Path(sys.executable).parent / "metapipeline"
    dev = subprocess.Popen(
        [str(metapipeline), "dev", "--port", str(port), "--data-dir", str(data_dir)],
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not ui_answers(port):
            if dev.poll() is not None:
                raise RuntimeError(f"metapipeline dev exited {dev.returncode} before the UI came up")
            if time.monotonic() > deadline:
                raise RuntimeError(f"metapipeline dev: no UI after {timeout:.0f} s")
            time.sleep(0.5)
        yield port
    finally:
        dev.send_signal(signal.SIGTERM)  # it stops dagster dev and the sandbox itself
        try:
            dev.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)


def launch_and_wait(port: int, run_config: Mapping[str, Any] | None = None, timeout: float = 900) -> str:
    """Launch the metapipeline job as the Launchpad does (no config unless given); its final status."""
    from dagster_graphql import DagsterGraphQLClient  # only the callers that launch pay for it

    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    run_id = client.submit_job_execution(
        "metapipeline",
        repository_location_name="metapipeline",  # workspace.yaml's name, as everywhere else
        repository_name="__repository__",
        run_config=dict(run_config or {}),
    )
    deadline = time.monotonic() + timeout
    while (status := client.get_run_status(run_id).value) not in ENDED:
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} still {status} after {timeout:.0f} s")
        time.sleep(0.5)
    return status
