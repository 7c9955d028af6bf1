"""The Ray executor on a two-node Ray cluster simulated on this machine (`ray.cluster_utils`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dilemma.experiments.ray_executor import LOOPBACK, import_ray, loopback_only
from tests.helpers.ray_sweeps import experiment, records
from tests.helpers.sweeps import sweep_locally, sweep_on_ray

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A head node and a second node of one CPU each, on loopback, with this process connected."""
    ray = import_ray()
    from ray.cluster_utils import Cluster

    loopback_only(ray)
    nodes = Cluster(
        initialize_head=True,
        connect=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False, "node_ip_address": LOOPBACK},
    )
    try:
        nodes.add_node(num_cpus=1, node_ip_address=LOOPBACK)
        nodes.wait_for_nodes()
        yield ray, nodes.address
    finally:
        ray.shutdown()
        nodes.shutdown()  # type: ignore[no-untyped-call]


def test_runs_land_on_both_nodes_with_the_local_records(cluster: Any, tmp_path: Path) -> None:
    ray, _ = cluster
    alive = [n for n in ray.nodes() if n["Alive"]]
    assert len(alive) == 2
    assert {n["NodeManagerAddress"] for n in alive} == {LOOPBACK}
    _, runs = experiment(tmp_path)
    stats = sweep_on_ray(runs, tmp_path / "ray", concurrency=4)
    assert (stats.done, stats.failed) == (len(runs), 0)
    assert sorted(stats.nodes) == sorted(r.run_id for r in runs)
    assert set(stats.nodes.values()) == {n["NodeID"] for n in alive}  # both nodes played runs
    asyncio.run(sweep_locally(runs, tmp_path / "local", concurrency=4))
    assert records(tmp_path / "ray") == records(tmp_path / "local")


def test_address_connects_to_the_cluster_and_disconnects(cluster: Any, tmp_path: Path) -> None:
    # `--address`: the driver connects itself, and at the end disconnects, leaving it running
    ray, address = cluster
    ray.shutdown()
    _, runs = experiment(tmp_path)
    stats = sweep_on_ray(runs, tmp_path / "ray", concurrency=2, address=address)
    assert (stats.done, stats.failed) == (len(runs), 0)
    assert len(set(stats.nodes.values())) == 2
    assert not ray.is_initialized()
    ray.init(address=address)  # the cluster is still there
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
