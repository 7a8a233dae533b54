"""Checkpoint transfers against an in-process fake Checkpoints service: the size rule between
Save and Upload, 1 MiB upload chunks, the same idempotency header on every attempt of one
save (and on a resume), the CRC-32 check of a load (DataLoss on a mismatch, never retried), a
broken load retried, and the conversions of the checkpoint types."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import grpc
import grpc.aio
import pytest

import cairn
from cairn import _transfer
from cairn._proto.cairn.v1 import checkpoint_pb2 as pb
from cairn.config import ClientSettings

C = grpc.StatusCode
MiB = 1024 * 1024
FAST: ClientSettings = {
    "backoff_base": 0.001,
    "backoff_max": 0.01,
    "request_timeout": 1.0,
    "retry_deadline": 2.0,
}


@dataclass
class Upload:
    start: pb.UploadCheckpointStart
    data: list[bytes] = field(default_factory=list)


@dataclass
class FakeCheckpoints:
    """Scripts: ``upload(attempt_number, upload_so_far)`` may return a status code to fail
    the attempt with after reading what it read; ``load(request, attempt_number)`` returns
    the messages to stream and an optional final failure."""

    upload_fail: Callable[[int, Upload], C | None] = lambda n, u: None
    load_script: Callable[[pb.LoadCheckpointRequest, int], tuple[list[Any], C | None]] = (
        lambda r, n: ([], None)
    )
    #: Refuse every upload right after its start message, as a node does one over the limit.
    reject_start: C | None = None
    saves: list[pb.SaveCheckpointRequest] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    loads: list[pb.LoadCheckpointRequest] = field(default_factory=list)
    server: grpc.aio.Server | None = None
    port: int = 0

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> FakeCheckpoints:
        async def save(req: pb.SaveCheckpointRequest, ctx: Any) -> pb.SaveCheckpointResponse:
            self.saves.append(req)
            return pb.SaveCheckpointResponse(
                id=f"ckpt-{req.header.sequence}", raw_size=len(req.payload), revision=7
            )

        async def upload(stream: Any, ctx: Any) -> pb.SaveCheckpointResponse:
            up: Upload | None = None
            async for msg in stream:
                if up is None:
                    up = Upload(msg.start)
                    self.uploads.append(up)
                    n = len(self.uploads)
                    if self.reject_start is not None:
                        await ctx.abort(self.reject_start, "fake: too large")
                    continue
                up.data.append(msg.data)
                code = self.upload_fail(n, up)
                if code is not None:
                    await ctx.abort(code, "fake: upload broken")
            assert up is not None
            total = sum(len(d) for d in up.data)
            return pb.SaveCheckpointResponse(id=f"ckpt-{up.start.header.sequence}", raw_size=total)

        async def load(req: pb.LoadCheckpointRequest, ctx: Any) -> AsyncIterator[Any]:
            self.loads.append(req)
            msgs, fail = self.load_script(req, len(self.loads))
            for msg in msgs:
                yield msg
            if fail is not None:
                await ctx.abort(fail, "fake: load failed")

        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
            "Save": grpc.unary_unary_rpc_method_handler(
                save,
                request_deserializer=pb.SaveCheckpointRequest.FromString,
                response_serializer=pb.SaveCheckpointResponse.SerializeToString,
            ),
            "Upload": grpc.stream_unary_rpc_method_handler(
                upload,
                request_deserializer=pb.UploadCheckpointRequest.FromString,
                response_serializer=pb.SaveCheckpointResponse.SerializeToString,
            ),
            "Load": grpc.unary_stream_rpc_method_handler(
                load,
                request_deserializer=pb.LoadCheckpointRequest.FromString,
                response_serializer=pb.LoadCheckpointResponse.SerializeToString,
            ),
        }
        self.server = grpc.aio.server(options=[("grpc.max_receive_message_length", 8 * MiB)])
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("cairn.v1.Checkpoints", handlers),)
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        return self


@pytest.fixture
async def fake() -> AsyncIterator[FakeCheckpoints]:
    f = await FakeCheckpoints().start()
    yield f
    assert f.server is not None
    await f.server.stop(None)


def header(msg: Any) -> tuple[str, int, int]:
    h = msg.header
    return h.client_id, h.sequence, h.first_incomplete


async def test_up_to_one_chunk_is_a_unary_save_larger_is_an_upload_in_chunks(
    fake: FakeCheckpoints,
) -> None:
    exact = bytes(range(256)) * (MiB // 256)
    over = exact + b"x" * (MiB + 5)
    async with cairn.Client([fake.addr], **FAST) as c:
        s1 = await c.save_checkpoint(
            "wf", exact, kind=cairn.CheckpointKind.MANUAL, label="l", metadata={"m": 1}
        )
        s2 = await c.save_checkpoint("wf", over, parent="ckpt-1")
    assert (s1.id, s1.raw_size, s2.id, s2.raw_size) == ("ckpt-1", MiB, "ckpt-2", len(over))
    [save] = fake.saves
    assert save.payload == exact
    f = save.fields
    assert (f.workflow_id, f.kind, f.label, f.metadata, f.HasField("parent"), f.delta) == (
        "wf",
        pb.CHECKPOINT_KIND_MANUAL,
        "l",
        '{"m":1}',
        False,
        False,
    )
    [up] = fake.uploads
    assert up.start.total_size == len(over) and up.start.fields.parent == "ckpt-1"
    assert [len(d) for d in up.data] == [MiB, MiB, 5]
    assert b"".join(up.data) == over


async def test_a_broken_upload_is_retried_whole_under_the_same_header(
    fake: FakeCheckpoints,
) -> None:
    payload = bytes(3 * MiB + 17)
    # The first two attempts break after one and two data messages.
    fake.upload_fail = lambda n, up: C.UNAVAILABLE if n <= 2 and len(up.data) == n else None
    async with cairn.Client([fake.addr], **FAST) as c:
        saved = await c.save_checkpoint("wf", payload)
        assert saved.raw_size == len(payload)
        assert len(fake.uploads) == 3
        assert {header(u.start) for u in fake.uploads} == {(c.client_id, 1, 1)}
        assert b"".join(fake.uploads[-1].data) == payload
        # The next save is a new logical write.
        await c.save_checkpoint("wf", payload)
        assert header(fake.uploads[-1].start) == (c.client_id, 2, 2)


async def test_exhausted_upload_is_outcome_unknown_and_resumes_with_the_same_header(
    fake: FakeCheckpoints,
) -> None:
    payload = bytes(2 * MiB)
    broken = [True]
    fake.upload_fail = lambda n, up: C.UNAVAILABLE if broken[0] else None
    async with cairn.Client([fake.addr], **FAST) as c:
        with pytest.raises(cairn.OutcomeUnknown) as info:
            await c.save_checkpoint("wf", payload, label="x")
        pending = info.value.pending
        assert pending.op == "upload_checkpoint"
        assert pending.idempotency_key == (c.client_id, 1)
        assert isinstance(pending.request, pb.UploadCheckpointStart)
        tried = len(fake.uploads)
        assert tried >= 2
        # Still in flight: a later write reports it as the first incomplete one.
        await c.save_checkpoint("wf", b"small")
        assert header(fake.saves[-1]) == (c.client_id, 2, 1)
        broken[0] = False
        saved = await c.resume(pending)
        assert saved.id == "ckpt-1" and saved.raw_size == len(payload)
        assert pending.released
        assert {header(u.start)[:2] for u in fake.uploads} == {(c.client_id, 1)}
        assert b"".join(fake.uploads[-1].data) == payload


def stream_of(info: pb.Checkpoint, payload: bytes, *, size: int | None = None) -> list[Any]:
    msgs: list[Any] = [
        pb.LoadCheckpointResponse(
            checkpoint=info, size=len(payload) if size is None else size, revision=3
        )
    ]
    for i in range(0, len(payload), MiB):
        msgs.append(pb.LoadCheckpointResponse(data=payload[i : i + MiB]))
    return msgs


def info_of(payload: bytes, **kw: Any) -> pb.Checkpoint:
    return pb.Checkpoint(
        workflow_id="wf",
        id="ckpt-9",
        raw_size=len(payload),
        checksum=zlib.crc32(payload),
        metadata='{"a":1}',
        **kw,
    )


async def test_load_assembles_and_checks_the_crc(fake: FakeCheckpoints) -> None:
    payload = bytes(range(251)) * 9000  # ~2.2 MiB, three data messages
    fake.load_script = lambda r, n: (stream_of(info_of(payload), payload), None)
    async with cairn.Client([fake.addr], **FAST) as c:
        loaded = await c.load_checkpoint("wf", "ckpt-9", serializable=True)
    info, data = loaded
    assert data == payload and info.metadata == {"a": 1} and info.checksum == zlib.crc32(payload)
    assert fake.loads[0].serializable and not fake.loads[0].materialize


async def test_a_payload_that_does_not_match_its_checksum_is_data_loss_not_retried(
    fake: FakeCheckpoints,
) -> None:
    payload = bytes(range(256)) * 5000
    damaged = bytearray(payload)
    damaged[1_000_000] ^= 0x01
    fake.load_script = lambda r, n: (stream_of(info_of(payload), bytes(damaged)), None)
    async with cairn.Client([fake.addr], **FAST) as c:
        with pytest.raises(cairn.DataLoss) as info:
            await c.load_checkpoint("wf", "ckpt-9")
    assert info.value.checkpoint == "wf/ckpt-9"
    assert "checksum" in info.value.message
    assert len(fake.loads) == 1


async def test_a_materialized_delta_is_not_checked_against_the_patch_checksum(
    fake: FakeCheckpoints,
) -> None:
    full = b'{"a":1,"b":2}'
    info = info_of(b'{"b":2}', delta=True, parent="ckpt-1")
    fake.load_script = lambda r, n: (stream_of(info, full), None)
    async with cairn.Client([fake.addr], **FAST) as c:
        assert (await c.load_checkpoint("wf", "ckpt-9", materialize=True)).payload == full
        # Unmaterialized, the same bytes are checked, and fail.
        with pytest.raises(cairn.DataLoss):
            await c.load_checkpoint("wf", "ckpt-9")


async def test_a_broken_or_short_load_is_retried_from_the_start(fake: FakeCheckpoints) -> None:
    payload = bytes(range(256)) * 8192  # 2 MiB
    good = stream_of(info_of(payload), payload)

    def script(req: pb.LoadCheckpointRequest, n: int) -> tuple[list[Any], C | None]:
        if n == 1:
            return good[:2], C.UNAVAILABLE  # the connection broke mid-stream
        if n == 2:
            return good[:2], None  # ended "OK" but short
        return good, None

    fake.load_script = script
    async with cairn.Client([fake.addr], **FAST) as c:
        assert (await c.load_checkpoint("wf", "ckpt-9")).payload == payload
    assert len(fake.loads) == 3


async def test_a_short_load_is_retried_until_a_definite_answer(fake: FakeCheckpoints) -> None:
    payload = b"abc"
    short = stream_of(info_of(payload), b"ab", size=3)

    def script(req: pb.LoadCheckpointRequest, n: int) -> tuple[list[Any], C | None]:
        return (short, None) if n <= 3 else ([], C.NOT_FOUND)

    fake.load_script = script
    async with cairn.Client([fake.addr], **FAST) as c:
        with pytest.raises(cairn.NotFound):
            await c.load_checkpoint("wf", "ckpt-9")
    assert len(fake.loads) == 4

    msgs = iter([*short, grpc.aio.EOF])

    async def read() -> Any:
        return next(msgs)

    with pytest.raises(_transfer.StreamFailure, match="received 2 of 3 bytes") as info:
        await _transfer.assemble(read, False, 1.0)
    assert info.value.status.code == C.UNAVAILABLE


async def test_assemble_refuses_a_stream_without_metadata() -> None:
    msgs = iter([pb.LoadCheckpointResponse(data=b"x"), grpc.aio.EOF])

    async def read() -> Any:
        return next(msgs)

    with pytest.raises(_transfer.StreamFailure) as info:
        await _transfer.assemble(read, False, 1.0)
    assert info.value.status.code == C.INTERNAL


def test_types_convert() -> None:
    c = pb.Checkpoint(
        workflow_id="w",
        id="ckpt-1",
        kind=pb.CHECKPOINT_KIND_ERROR_RECOVERY,
        codec=pb.CHECKPOINT_CODEC_ZSTD,
        metadata='{"a":1}',
        parent="ckpt-0",
        raw_size=100,
        stored_size=25,
        workflow_metadata='{"x":[1]}',
    )
    info = cairn.CheckpointInfo.from_pb(c)
    assert (info.kind, info.codec, info.metadata, info.parent) == (
        cairn.CheckpointKind.ERROR_RECOVERY,
        cairn.Codec.ZSTD,
        {"a": 1},
        "ckpt-0",
    )
    assert info.workflow_metadata == {"x": [1]} and info.compression_ratio == 4.0
    bare = cairn.CheckpointInfo.from_pb(pb.Checkpoint(id="x"))
    assert (bare.metadata, bare.parent, bare.workflow_metadata, bare.compression_ratio) == (
        {},
        None,
        None,
        1.0,
    )
    with pytest.raises(cairn.RpcError):
        cairn.CheckpointInfo.from_pb(pb.Checkpoint(kind=9))  # type: ignore[arg-type]
    with pytest.raises(cairn.RpcError):
        cairn.CheckpointInfo.from_pb(pb.Checkpoint(metadata="{"))
    assert cairn.CheckpointKind("manual").to_pb() == pb.CHECKPOINT_KIND_MANUAL
    assert cairn.CheckpointKind.parse("ERROR_RECOVERY") is cairn.CheckpointKind.ERROR_RECOVERY


def test_retention_policy() -> None:
    p = cairn.RetentionPolicy(keep_last=3).to_pb()
    assert p.keep_last == 3 and not p.HasField("max_age_ms")
    p = cairn.RetentionPolicy(max_age=timedelta(minutes=2)).to_pb()
    assert p.max_age_ms == 120_000 and not p.HasField("keep_last")
    assert cairn.RetentionPolicy(max_age=1.5).to_pb().max_age_ms == 1500
    with pytest.raises(cairn.InvalidArgument):
        cairn.RetentionPolicy(keep_last=-1)
    with pytest.raises(cairn.InvalidArgument):
        cairn.RetentionPolicy(max_age=-1)


async def test_bad_arguments_are_refused_before_sending(fake: FakeCheckpoints) -> None:
    async with cairn.Client([fake.addr], **FAST) as c:
        with pytest.raises(cairn.InvalidArgument):
            await c.set_retention(None)
        with pytest.raises(cairn.InvalidArgument):
            await c.set_retention(None, workflow_id="a", namespace="b")
        with pytest.raises(cairn.InvalidArgument):
            await c.save_checkpoint("wf", 7)  # type: ignore[arg-type]
        with pytest.raises(cairn.InvalidArgument):
            await c.save_checkpoint("wf", b"", metadata={"x": float("nan")})
        with pytest.raises(cairn.InvalidArgument, match="unknown checkpoint kind"):
            await c.save_checkpoint("wf", b"", kind="sometimes")
        # Nothing was sent, and no sequence is left in flight.
        assert not fake.saves
        assert not c._sequencer.in_flight()


async def test_an_upload_refused_at_its_start_raises_the_servers_answer(
    fake: FakeCheckpoints,
) -> None:
    # The node answers while the client is still sending: grpcio may hide that answer
    # behind a local send failure, which is retried until the answer itself comes through.
    fake.reject_start = C.INVALID_ARGUMENT
    async with cairn.Client([fake.addr], **FAST) as c:
        for _ in range(5):
            with pytest.raises(cairn.InvalidArgument, match="too large"):
                await c.save_checkpoint("wf", bytes(20 * MiB))
        assert not c._sequencer.in_flight()
