"""Endpoint parsing and the preference rules (client/src/endpoints.rs's tests, in Python)."""

from __future__ import annotations

import pytest

from cairn import ClientConfig, InvalidEndpoint, TlsOptions
from cairn._endpoints import MAX_ENDPOINTS, Endpoints, Node


def endpoints(*addrs: str) -> Endpoints:
    return Endpoints(list(addrs), ClientConfig())


def test_parses_and_dedupes() -> None:
    e = endpoints("127.0.0.1:1", "http://127.0.0.1:1/", " 127.0.0.1:2 ", "HOST:3", "[::1]:4")
    assert e.addrs() == ["127.0.0.1:1", "127.0.0.1:2", "HOST:3", "[::1]:4"]
    assert [n.target for n in e.nodes] == ["127.0.0.1:1", "127.0.0.1:2", "HOST:3", "[::1]:4"]


def test_tls_settings_choose_the_scheme() -> None:
    tls = ClientConfig(tls=TlsOptions())
    assert Node("127.0.0.1:1", tls).target == "127.0.0.1:1"
    assert Node("https://127.0.0.1:1", tls).target == "127.0.0.1:1"
    # Contradictions are refused rather than silently downgraded or left unverifiable.
    with pytest.raises(InvalidEndpoint):
        Node("http://127.0.0.1:1", tls)
    with pytest.raises(InvalidEndpoint):
        Node("https://127.0.0.1:1", ClientConfig())


@pytest.mark.parametrize(
    "bad",
    [
        [],
        [""],
        ["not an address"],
        ["127.0.0.1:1", "  "],
        ["host"],
        ["host:0"],
        ["host:99999"],
        ["ftp://host:1"],
        ["a b:1"],
        [":1"],
    ],
)
def test_rejects_bad_endpoints(bad: list[str]) -> None:
    with pytest.raises(InvalidEndpoint):
        endpoints(*bad)


def test_rotates_on_failure_without_hint() -> None:
    e = endpoints("a:1", "b:2", "c:3")
    assert e.pick()[0] == 0
    assert e.on_failure(0, None) == 1
    assert e.on_failure(1, None) == 2
    assert e.on_failure(2, None) == 0
    assert e.pick()[0] == 0


def test_concurrent_failures_on_same_node_rotate_once() -> None:
    e = endpoints("a:1", "b:2", "c:3")
    assert e.on_failure(0, None) == 1
    # A second call that also failed on node 0 must not skip node 1.
    assert e.on_failure(0, None) == 1
    assert e.pick()[0] == 1


def test_success_sticks() -> None:
    e = endpoints("a:1", "b:2", "c:3")
    e.on_success(2)
    idx, node = e.pick()
    assert (idx, node.addr) == (2, "c:3")


def test_known_leader_hint_switches_directly() -> None:
    e = endpoints("a:1", "b:2", "c:3")
    assert e.on_failure(0, "c:3") == 2
    assert e.pick()[0] == 2
    # Matching ignores scheme and case.
    assert e.on_failure(2, "http://B:2") == 1


def test_unknown_leader_hint_is_added_once() -> None:
    e = endpoints("a:1")
    assert e.on_failure(0, "d:4") == 1
    assert e.addrs() == ["a:1", "d:4"]
    assert e.pick()[1].addr == "d:4"
    assert e.on_failure(0, "d:4") == 1
    assert len(e.addrs()) == 2


def test_leader_hint_on_success_moves_the_preference() -> None:
    e = endpoints("a:1", "b:2")
    e.on_leader_hint(0, "b:2")
    assert e.pick()[0] == 1
    e.on_leader_hint(1, "not an address")
    assert e.pick()[0] == 1


def test_unusable_hint_falls_back_to_rotation() -> None:
    e = endpoints("a:1", "b:2")
    assert e.on_failure(0, "not an address") == 1
    assert len(e.addrs()) == 2


def test_hinted_endpoints_are_bounded() -> None:
    e = endpoints("a:1")
    for i in range(MAX_ENDPOINTS + 10):
        e.on_failure(0, f"h{i}:1")
    assert len(e.addrs()) == MAX_ENDPOINTS
