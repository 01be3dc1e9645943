"""The job's IO manager: outputs pickled under the storage directory, unpickled once per process."""

from __future__ import annotations

import pickle
from pathlib import Path

from dagster import (
    DagsterInstance,
    In,
    Out,
    build_init_resource_context,
    build_input_context,
    build_output_context,
    job,
    op,
)

from metapipeline.orchestration.resources import PickleIOManager

SEEN: list[object] = []


@op(out=Out(dict))
def produce() -> dict:
    return {"nodes": {"model.a": {"name": "a"}}}


@op(ins={"manifest": In(dict)})
def first_reader(manifest: dict) -> int:
    SEEN.append(manifest)
    return len(manifest["nodes"])


@op(ins={"manifest": In(dict), "count": In(int)})
def second_reader(manifest: dict, count: int) -> int:
    SEEN.append(manifest)
    return count


@job
def fan_out() -> None:
    manifest = produce()
    second_reader(manifest, first_reader(manifest))


def test_outputs_are_pickled_to_disk_and_shared_within_the_process(tmp_path: Path) -> None:
    SEEN.clear()
    with DagsterInstance.ephemeral() as instance:
        result = fan_out.execute_in_process(
            instance=instance, resources={"io_manager": PickleIOManager(base_dir=str(tmp_path))}
        )
    assert result.success
    saved = tmp_path / result.run_id / "produce" / "result"
    assert pickle.loads(saved.read_bytes()) == {"nodes": {"model.a": {"name": "a"}}}  # re-executions read it
    assert len(SEEN) == 2 and SEEN[0] is SEEN[1]  # one object for both readers: not unpickled twice


def test_a_load_as_dagstermill_makes_it_prints_nothing(tmp_path: Path, capfd) -> None:
    """dagstermill reads a notebook's outputs back through `build_input_context`, whose logger is a
    fresh console logger at DEBUG: such a load must not print into the run's output (`make demo`)."""

    def io_manager():  # a new one per process, nothing in memory yet
        with DagsterInstance.ephemeral() as instance:
            return PickleIOManager(base_dir=str(tmp_path)).create_io_manager(
                build_init_resource_context(instance=instance)
            )

    written = build_output_context(step_key="report.meta_analysis", name="charts", run_id="run-1")
    io_manager().handle_output(written, ["charts/a.png"])
    capfd.readouterr()
    assert io_manager().load_input(build_input_context(upstream_output=written)) == ["charts/a.png"]
    printed = capfd.readouterr()
    assert "Loading file" not in printed.out + printed.err
