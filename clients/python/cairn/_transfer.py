"""Moving checkpoint payloads (``cairn_client::checkpoint::transfer``): a save sends up to one
chunk in a unary ``Save`` and anything larger as an ``Upload`` stream, both under the write's
idempotency header (a retried upload continues the same upload on the cluster); a load
assembles the ``Load`` stream and checks the CRC-32 end to end. Both get attempt timeouts
that grow with the payload.

The streaming RPCs need a retry loop whose attempt is more than one unary call, so this
module has its own :func:`call_with`: the same loop as ``ClientCore._call`` (endpoint
preference, leader hints, one re-login, jittered backoff within a budget, the same
Unavailable/Timeout at the end), with the attempt given as a function of the node.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import grpc.aio

from cairn import _meta as meta
from cairn import _methods as m
from cairn._classify import Status
from cairn._core import SERVER_DEADLINE_MARGIN, AttemptFailed, ClientCore
from cairn._endpoints import Node
from cairn._proto.cairn.v1 import checkpoint_pb2 as pb
from cairn._proto.cairn.v1 import kv_pb2

T = TypeVar("T")

#: Raw payload bytes per upload message, and the largest payload sent in one ``Save``: the
#: node's chunk size, so a unary save is exactly one log entry.
CHUNK = 1024 * 1024

#: The slowest transfer rate an attempt is given time for before it counts as failed.
MIN_BYTES_PER_SEC = 2.0 * 1024 * 1024

#: The largest payload a load is given time for (the cluster's default limit).
MAX_EXPECTED_LOAD = 256 * 1024 * 1024


def _checked_path(method: str, *, client_streaming: bool, server_streaming: bool) -> str:
    """``/cairn.v1.Checkpoints/<method>``, checked against the descriptor (as ``_rpc.unary``
    checks the unary ones), so a renamed or reshaped RPC fails at import."""
    desc = pb.DESCRIPTOR.services_by_name["Checkpoints"].methods_by_name[method]
    if (desc.client_streaming, desc.server_streaming) != (client_streaming, server_streaming):
        raise TypeError(f"Checkpoints.{method} changed its streaming shape")
    return f"/{desc.containing_service.full_name}/{desc.name}"


#: What grpcio reports, locally, when sending a request message fails because the call has
#: already ended (``set_internal_error`` in grpc.aio's ``_write``), hiding the server's status.
_LOCAL_SEND_FAILURE = "Internal error from Core"

UPLOAD_PATH = _checked_path("Upload", client_streaming=True, server_streaming=False)
LOAD_PATH = _checked_path("Load", client_streaming=False, server_streaming=True)


#: A failure on the client's side of a transfer (short, bad checksum, stalled): retried or
#: final by its status, like a node's answer.
StreamFailure = AttemptFailed


def transfer_timing(core: ClientCore, size: int) -> tuple[float, float]:
    """(per-attempt timeout, total budget) for moving ``size`` bytes."""
    cfg = core.config
    per_try = cfg.request_timeout + size / MIN_BYTES_PER_SEC
    return per_try, cfg.retry_deadline + 2 * per_try


def _leader_of(headers: Any) -> str | None:
    if headers:
        value = headers.get(meta.LEADER)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


# ---- saves ----


@dataclass(frozen=True)
class Save:
    """One logical save: every attempt (and a resume after OutcomeUnknown) sends these same
    fields under this same header."""

    header: kv_pb2.RequestHeader
    fields: pb.CheckpointFields
    payload: bytes
    fence: kv_pb2.Fence | None

    def request(self) -> pb.SaveCheckpointRequest:
        """The unary form (payloads of at most one chunk)."""
        return pb.SaveCheckpointRequest(
            header=self.header, fields=self.fields, payload=self.payload, fence=self.fence
        )

    def start(self) -> pb.UploadCheckpointStart:
        return pb.UploadCheckpointStart(
            header=self.header, fields=self.fields, total_size=len(self.payload), fence=self.fence
        )

    def upload_messages(self) -> Iterator[pb.UploadCheckpointRequest]:
        """The messages of one upload attempt, made lazily: the start, then the payload in
        chunks of :data:`CHUNK` bytes."""
        yield pb.UploadCheckpointRequest(start=self.start())
        view = memoryview(self.payload)
        for i in range(0, len(view), CHUNK):
            yield pb.UploadCheckpointRequest(data=bytes(view[i : i + CHUNK]))


async def send_save(core: ClientCore, save: Save) -> pb.SaveCheckpointResponse:
    """All attempts of one save (unary or streamed by size), until a definite answer or the
    budget is spent (Unavailable/Timeout, which the caller turns into OutcomeUnknown)."""
    per_try, budget = transfer_timing(core, len(save.payload))
    if len(save.payload) <= CHUNK:
        request = save.request()

        async def unary(
            node: Node, limit: float, metadata: Any
        ) -> tuple[pb.SaveCheckpointResponse, str | None]:
            call = node.method(m.SAVE_CHECKPOINT)(
                request, timeout=limit + SERVER_DEADLINE_MARGIN, metadata=metadata
            )
            response = await call
            return response, _leader_of(await call.initial_metadata())

        return await core._call_with(
            "save_checkpoint", unary, request_timeout=per_try, retry_deadline=budget
        )

    async def upload(
        node: Node, limit: float, metadata: Any
    ) -> tuple[pb.SaveCheckpointResponse, str | None]:
        stub = node.channel().stream_unary(
            UPLOAD_PATH,
            request_serializer=pb.UploadCheckpointRequest.SerializeToString,
            response_deserializer=pb.SaveCheckpointResponse.FromString,
        )
        call = stub(
            save.upload_messages(), timeout=limit + SERVER_DEADLINE_MARGIN, metadata=metadata
        )
        try:
            response = await call
        except grpc.aio.AioRpcError as e:
            if e.code() == grpc.StatusCode.INTERNAL and e.details() == _LOCAL_SEND_FAILURE:
                # grpcio replaces the server's answer with this when the server ended the
                # call (e.g. rejected the upload at its start) while a data message was
                # still being sent: the real answer is lost, so ask again (same header).
                raise StreamFailure(
                    Status(grpc.StatusCode.UNAVAILABLE, f"upload stream broken: {e.details()}")
                ) from e
            raise
        finally:
            if not call.done():
                call.cancel()
        return response, _leader_of(await call.initial_metadata())

    return await core._call_with(
        "upload_checkpoint", upload, request_timeout=per_try, retry_deadline=budget
    )


# ---- loads ----


async def fetch(core: ClientCore, request: pb.LoadCheckpointRequest) -> tuple[pb.Checkpoint, bytes]:
    """Loads and assembles one checkpoint, retrying a broken transfer from the start."""
    idle = core.config.request_timeout
    per_try, budget = transfer_timing(core, MAX_EXPECTED_LOAD)

    async def load(
        node: Node, limit: float, metadata: Any
    ) -> tuple[tuple[pb.Checkpoint, bytes], str | None]:
        stub = node.channel().unary_stream(
            LOAD_PATH,
            request_serializer=pb.LoadCheckpointRequest.SerializeToString,
            response_deserializer=pb.LoadCheckpointResponse.FromString,
        )
        call = stub(request, timeout=limit + SERVER_DEADLINE_MARGIN, metadata=metadata)
        try:
            loaded = await assemble(call.read, request.materialize, idle)
            return loaded, _leader_of(await call.initial_metadata())
        finally:
            if not call.done():
                call.cancel()

    return await core._call_with(
        "load_checkpoint", load, request_timeout=per_try, retry_deadline=budget
    )


Read = Callable[[], Awaitable[Any]]


async def _next(read: Read, idle: float) -> pb.LoadCheckpointResponse | None:
    """The next message of a load, which must arrive within ``idle``; None at the end."""
    try:
        msg = await asyncio.wait_for(read(), idle)
    except asyncio.TimeoutError:
        raise StreamFailure(
            Status(grpc.StatusCode.DEADLINE_EXCEEDED, f"load stalled for {idle:.1f}s")
        ) from None
    if msg is grpc.aio.EOF:
        return None
    if not isinstance(msg, pb.LoadCheckpointResponse):
        raise StreamFailure(Status(grpc.StatusCode.INTERNAL, "malformed server reply: load"))
    return msg


async def assemble(read: Read, materialize: bool, idle: float) -> tuple[pb.Checkpoint, bytes]:
    """Reads a ``Load`` stream to its end: metadata first, then the payload, which must have
    the announced size and (unless it is a materialized delta) the saved CRC-32. A short or
    long stream is a broken transfer (retried); a checksum mismatch is DataLoss (final)."""
    first = await _next(read, idle)
    if first is None or first.WhichOneof("part") != "checkpoint":
        raise StreamFailure(
            Status(grpc.StatusCode.INTERNAL, "malformed server reply: load without metadata")
        )
    info = first.checkpoint
    expected = first.size
    payload = bytearray()
    crc = 0
    while True:
        msg = await _next(read, idle)
        if msg is None:
            break
        if msg.WhichOneof("part") != "data":
            raise StreamFailure(
                Status(grpc.StatusCode.INTERNAL, "malformed server reply: metadata twice")
            )
        payload += msg.data
        crc = zlib.crc32(msg.data, crc)
        if len(payload) > expected:
            break
    name = f"{info.workflow_id}/{info.id}"
    if len(payload) != expected:
        # The server verifies before it ends a stream OK: a short or long one means the
        # transfer broke, which a retry may fix.
        raise StreamFailure(
            Status(
                grpc.StatusCode.UNAVAILABLE,
                f"checkpoint {name}: received {len(payload)} of {expected} bytes",
            )
        )
    # A materialized delta is a new document; the server verified every link of its chain.
    if not (materialize and info.delta) and crc != info.checksum:
        raise StreamFailure(
            Status(
                grpc.StatusCode.DATA_LOSS,
                f"checkpoint {name}: the received payload does not match its checksum "
                f"(crc32 {crc:08x}, saved {info.checksum:08x})",
                {meta.CHECKPOINT: name},
            )
        )
    return info, bytes(payload)
