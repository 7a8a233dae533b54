"""Fixtures: a real 3-node cluster shared by the API tests (each test uses names of its own), a
fresh cluster for tests that kill nodes, and a client per test.

A missing ``cairn`` binary fails these tests with a message saying how to build one: it never
skips them. Run only the pure unit tests with ``-m "not cluster"``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

import cairn

from .cluster import Cluster, cairn_bin

CLUSTER_TESTS = ("test_cluster_",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name.startswith(CLUSTER_TESTS):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def binary() -> Path:
    try:
        return cairn_bin()
    except FileNotFoundError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def cluster(binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    c.start()
    yield c
    c.kill_all()


@pytest.fixture
def new_cluster(binary: Path, tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """Starts clusters of the test's own (killed at the end): ``new_cluster(extra_args=...)``."""
    started: list[Cluster] = []

    def start(**kw: object) -> Cluster:
        c = Cluster(tmp_path / f"cluster-{len(started)}", **kw)  # type: ignore[arg-type]
        started.append(c)
        return c.start()

    yield start
    for c in started:
        c.kill_all()


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[cairn.Client]:
    async with cairn.Client(cluster.endpoints()) as c:
        yield c


@pytest.fixture
def name() -> str:
    """A prefix no other test uses (ids, keys, namespaces)."""
    return f"t{uuid.uuid4().hex[:10]}"
