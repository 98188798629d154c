"""Fixtures of the fault-injection tests; the helpers are in harness.py."""

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    """One Ray runtime for the Ray tests here (drivers join it with --address): started once, shut down once."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        cluster.shutdown()
