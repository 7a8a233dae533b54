"""Conversions between the protobuf messages and the client's dataclasses, and the client-side
checks that refuse bad input before anything is sent."""

from __future__ import annotations

import math

import grpc
import pytest

import cairn
from cairn import HistoryKind, TaskSpec, TaskStatus
from cairn._proto.cairn.v1 import kv_pb2
from cairn._proto.cairn.v1 import workflow_pb2 as pb
from cairn.kv import to_bytes
from cairn.workflow_types import HistoryEvent, Workflow


def test_task_json_fields_and_status() -> None:
    t = cairn.Task.from_pb(pb.Task(id="a", status="RUNNING", input='{"x":1}', started_ms=5))
    assert t.status is TaskStatus.RUNNING
    assert t.input == {"x": 1} and t.output is None
    assert (t.started_ms, t.finished_ms) == (5, None)
    with pytest.raises(cairn.RpcError) as info:
        cairn.Task.from_pb(pb.Task(status="running"))
    assert info.value.code == grpc.StatusCode.INTERNAL
    assert "unknown task status 'running'" in info.value.message
    with pytest.raises(cairn.RpcError):
        cairn.Task.from_pb(pb.Task(status="PENDING", output="{not json"))


def test_task_spec_to_pb() -> None:
    s = TaskSpec("b", dependencies=["a"], status=TaskStatus.COMPLETED, output={"ok": True}).to_pb()
    assert s.status == "COMPLETED"
    assert list(s.dependencies.ids) == ["a"]
    assert s.output == '{"ok":true}'
    assert not s.HasField("input") and not s.HasField("name")
    # Empty dependencies are sent (they clear them); unset ones are not.
    assert TaskSpec("c", dependencies=[]).to_pb().HasField("dependencies")
    assert not TaskSpec("c").to_pb().HasField("dependencies")
    assert TaskSpec("c", expected_version=0).to_pb().HasField("expected_version")


def test_bad_json_is_refused_before_sending() -> None:
    with pytest.raises(cairn.InvalidArgument):
        TaskSpec("a", input={"x": math.nan}).to_pb()
    with pytest.raises(cairn.InvalidArgument):
        TaskSpec("a", input={"x": object()}).to_pb()


def test_workflow_metadata_defaults_to_an_empty_object() -> None:
    w = Workflow.from_pb(pb.Workflow(id="w", labels={"a": "b"}))
    assert w.metadata == {} and w.labels == {"a": "b"} and w.started_ms is None
    w = Workflow.from_pb(pb.Workflow(metadata='{"k":[1,2]}'))
    assert w.metadata == {"k": [1, 2]}
    with pytest.raises(cairn.RpcError):
        Workflow.from_pb(pb.Workflow(metadata="[1]"))


def test_history_kinds() -> None:
    e = HistoryEvent.from_pb(
        pb.HistoryEvent(
            kind=pb.HISTORY_KIND_TRANSITION, event="pause", to="PAUSED", **{"from": "RUNNING"}
        )
    )
    assert (e.kind, e.event, e.from_, e.to) == (
        HistoryKind.TRANSITION,
        "pause",
        "RUNNING",
        "PAUSED",
    )
    with pytest.raises(cairn.RpcError):
        HistoryEvent.from_pb(pb.HistoryEvent(kind=42))
    with pytest.raises(cairn.RpcError):
        HistoryEvent.from_pb(pb.HistoryEvent(kind=pb.HISTORY_KIND_UNSPECIFIED))


def test_definition_round_trip() -> None:
    d = cairn.Definition(
        name="pingpong",
        states=["A", "B", "DONE"],
        initial="A",
        terminal=["DONE"],
        transitions=[
            cairn.Transition("A", "B", "ping"),
            cairn.Transition("B", "A"),
            cairn.Transition("A", "DONE", "finish"),
        ],
    )
    back = cairn.Definition.from_pb(d.to_pb())
    assert back == cairn.Definition(
        "pingpong",
        ("A", "B", "DONE"),
        "A",
        ("DONE",),
        (
            cairn.Transition("A", "B", "ping"),
            cairn.Transition("B", "A", None),
            cairn.Transition("A", "DONE", "finish"),
        ),
    )
    assert not d.to_pb().transitions[1].HasField("event")


def test_fences() -> None:
    assert cairn.Fence.for_lock("l", 3).to_pb() == kv_pb2.Fence(lock="l", token=3)
    assert cairn.Fence.for_election("e", 2).to_pb() == kv_pb2.Fence(election="e", token=2)
    with pytest.raises(cairn.InvalidArgument):
        cairn.Fence(token=1)
    with pytest.raises(cairn.InvalidArgument):
        cairn.Fence(token=1, lock="a", election="b")


def test_keys_and_values() -> None:
    assert to_bytes("key", "ключ") == "ключ".encode()
    assert to_bytes("key", bytearray(b"ab")) == b"ab"
    with pytest.raises(cairn.InvalidArgument):
        to_bytes("key", 5)  # type: ignore[arg-type]


def test_config_checks() -> None:
    with pytest.raises(cairn.InvalidArgument):
        cairn.ClientConfig(request_timeout=0)
    with pytest.raises(cairn.InvalidArgument):
        cairn.TlsOptions(cert_pem=b"x")
    with pytest.raises(cairn.InvalidArgument):
        cairn.TlsOptions.from_files(ca="/nonexistent/ca.pem")
    with pytest.raises(cairn.InvalidArgument):
        cairn.Client("127.0.0.1:1", no_such_setting=1)
    c = cairn.Client("127.0.0.1:1, 127.0.0.1:2", request_timeout=2.0)
    assert c.endpoints() == ["127.0.0.1:1", "127.0.0.1:2"]
    assert c.config.request_timeout == 2.0
    assert "key_pem" not in repr(
        cairn.TlsOptions(cert_pem=b"c", key_pem=b"secret")
    ) or "secret" not in repr(cairn.TlsOptions(cert_pem=b"c", key_pem=b"secret"))


async def test_transition_needs_exactly_one_target() -> None:
    async with cairn.Client("127.0.0.1:1") as c:
        with pytest.raises(cairn.InvalidArgument):
            await c.transition("w")
        with pytest.raises(cairn.InvalidArgument):
            await c.transition("w", status="A", event="b")
        with pytest.raises(cairn.InvalidArgument):
            await c.create_workflow("w", metadata={"bad": math.inf})
        # Refused inputs take no sequence with them.
        assert c._sequencer.in_flight() == frozenset()
