"""Conversions between the protobuf messages and the client's dataclasses, and the client-side
checks that refuse bad input before anything is sent."""

from __future__ import annotations

import math

import grpc
import pytest

import cairn
from cairn import HistoryKind, RetryPolicy, TaskSpec, TaskStatus
from cairn._proto.cairn.v1 import coord_pb2, kv_pb2
from cairn._proto.cairn.v1 import workflow_pb2 as pb
from cairn.kv import to_bytes
from cairn.leases import LeaseAttachment
from cairn.tasks import task_ref
from cairn.workflow_types import Adoption, HistoryEvent, Workflow, WorkflowRef


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


def test_task_claim_fields() -> None:
    t = cairn.Task.from_pb(
        pb.Task(
            id="a",
            status="RUNNING",
            lease_id=7,
            claim=42,
            retry=pb.RetryPolicy(max_attempts=3, backoff_ms=250),
            ready_ms=1_000,
        )
    )
    assert (t.lease_id, t.claim, t.ready_ms) == (7, 42, 1_000)
    assert t.retry == RetryPolicy(max_attempts=3, backoff_ms=250)
    # No policy in the answer: the default, one attempt without retries.
    t = cairn.Task.from_pb(pb.Task(id="b", status="PENDING"))
    assert (t.lease_id, t.claim, t.ready_ms, t.retry) == (0, 0, 0, RetryPolicy(1, 0))


def test_task_spec_retry_policy() -> None:
    s = TaskSpec("a", retry=RetryPolicy(max_attempts=2, backoff_ms=500)).to_pb()
    assert s.HasField("retry") and (s.retry.max_attempts, s.retry.backoff_ms) == (2, 500)
    assert not TaskSpec("a").to_pb().HasField("retry")
    with pytest.raises(cairn.InvalidArgument):
        RetryPolicy(max_attempts=-1)


def test_claimed_and_finished() -> None:
    c = cairn.Claimed.from_pb(
        pb.ClaimTaskResponse(task=pb.Task(id="t", status="RUNNING", claim=9), revision=9)
    )
    assert c.task is not None and (c.task.id, c.task.claim) == ("t", 9)
    assert (c.next_ready_ms, c.revision) == (None, 9)
    c = cairn.Claimed.from_pb(pb.ClaimTaskResponse(next_ready_ms=5_000, revision=10))
    assert (c.task, c.next_ready_ms, c.revision) == (None, 5_000, 10)
    assert cairn.Claimed.from_pb(pb.ClaimTaskResponse(revision=11)).next_ready_ms is None
    ref = task_ref(
        pb.FinishTaskResponse(
            task=pb.TaskRef(id="t", status="COMPLETED", version=3, attempts=1), revision=12
        )
    )
    assert ref == cairn.TaskRef("t", TaskStatus.COMPLETED, 3, 1)
    with pytest.raises(cairn.RpcError):
        task_ref(pb.FinishTaskResponse(revision=12))


async def test_finish_task_takes_output_or_error() -> None:
    async with cairn.Client("127.0.0.1:1") as c:
        with pytest.raises(cairn.InvalidArgument):
            await c.finish_task("w", "t", 1, output={"a": 1}, error="boom")
        with pytest.raises(cairn.InvalidArgument):
            await c.finish_task("w", "t", 1, error={"x": math.nan})
        assert c._sequencer.in_flight() == frozenset()


def test_workflow_ownership_fields_and_adoption() -> None:
    w = Workflow.from_pb(pb.Workflow(id="w", owner_id="o", owner_lease=5, owner_epoch=40))
    assert (w.owner_id, w.owner_lease, w.owner_epoch, w.orphaned_ms) == ("o", 5, 40, None)
    w = Workflow.from_pb(pb.Workflow(id="w", owner_epoch=40, orphaned_ms=123))
    assert (w.owner_lease, w.orphaned_ms) == (0, 123)
    a = Adoption.from_pb(
        pb.AdoptWorkflowResponse(
            workflow=pb.WorkflowRef(id="w", status="RUNNING", version=4, revision=50),
            epoch=50,
            previous_owner="old",
            revision=50,
        )
    )
    assert a == Adoption(WorkflowRef("w", "RUNNING", 4, 50), 50, "old", 50)
    assert a.fence == cairn.Fence.for_owner("w", 50)
    with pytest.raises(cairn.RpcError):
        Adoption.from_pb(pb.AdoptWorkflowResponse(epoch=1))


def test_lease_attachments_of_claims_and_owners() -> None:
    conv, pb_att = LeaseAttachment.from_pb, coord_pb2.LeaseAttachment
    assert conv(pb_att(task="w/t")) == LeaseAttachment(task="w/t")
    assert conv(pb_att(workflow="w")) == LeaseAttachment(workflow="w")
    assert conv(pb_att(lock="l", owner="me")) == LeaseAttachment(lock="l", owner="me")
    assert conv(pb_att()) is None


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
    for kind, want in (
        (pb.HISTORY_KIND_ORPHANED, HistoryKind.ORPHANED),
        (pb.HISTORY_KIND_ADOPTED, HistoryKind.ADOPTED),
    ):
        assert HistoryEvent.from_pb(pb.HistoryEvent(kind=kind)).kind is want
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
    assert cairn.Fence.for_owner("w", 40).to_pb() == kv_pb2.Fence(workflow="w", token=40)
    with pytest.raises(cairn.InvalidArgument):
        cairn.Fence(token=1)
    with pytest.raises(cairn.InvalidArgument):
        cairn.Fence(token=1, lock="a", election="b")
    with pytest.raises(cairn.InvalidArgument):
        cairn.Fence(token=1, election="b", workflow="w")


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
