"""The job's IO manager: outputs pickled under the storage directory, unpickled once per process."""

from __future__ import annotations

import pickle
from pathlib import Path

from dagster import DagsterInstance, In, Out, job, op

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
