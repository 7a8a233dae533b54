"""The key-value API: put/get/delete with optional compare-and-set and fences, and prefix
ranges with continuation. Keys and values are bytes; ``str`` is accepted and sent as UTF-8."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from cairn import _methods as m
from cairn._core import ClientCore
from cairn._json import bad_reply
from cairn._proto.cairn.v1 import kv_pb2
from cairn.errors import InvalidArgument
from cairn.fence import Fence, fence_pb

__all__ = ["DeleteResult", "KeyValue", "KvApi", "RangePage"]

#: A key or value: bytes, or str sent as UTF-8.
Bytes = bytes | bytearray | memoryview | str


def to_bytes(what: str, value: Bytes) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise InvalidArgument(f"{what} must be bytes or str, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class KeyValue:
    """A stored key with its revisions."""

    key: bytes
    value: bytes
    #: Revision of the write that created the key (since its last deletion).
    create_revision: int
    #: Revision of the last write to the key: the value to pass as ``expected_revision``.
    mod_revision: int
    #: Number of writes since creation (1 after the first put).
    version: int

    @classmethod
    def from_pb(cls, kv: kv_pb2.KeyValue) -> KeyValue:
        return cls(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version)


@dataclass(frozen=True, slots=True)
class DeleteResult:
    #: Revision of the delete (the cluster's revision then, if nothing was deleted).
    revision: int
    #: Whether the key existed.
    deleted: bool


@dataclass(frozen=True, slots=True)
class RangePage:
    """One page of a prefix range."""

    #: The keys of this page, in key order.
    kvs: list[KeyValue]
    #: Set when more keys follow: pass it as ``start_after`` for the next page.
    next_key: bytes | None
    #: Last revision applied on the node that served the page.
    revision: int


class KvApi(ClientCore):
    async def put(
        self,
        key: Bytes,
        value: Bytes,
        *,
        expected_revision: int | None = None,
        fence: Fence | None = None,
    ) -> int:
        """Sets ``key`` to ``value`` and returns the write's revision. With
        ``expected_revision`` only if the key's ``mod_revision`` is that (0: the key must not
        exist), else RevisionMismatch; with ``fence`` only while that lock token or election
        term is current, else StaleFence."""
        k, v = to_bytes("key", key), to_bytes("value", value)
        f = fence_pb(fence)
        return await self._write(
            "put",
            m.KV_PUT,
            lambda h: kv_pb2.PutRequest(
                header=h, key=k, value=v, expected_revision=expected_revision, fence=f
            ),
            lambda r: r.revision,
        )

    async def get(self, key: Bytes, *, serializable: bool = False) -> KeyValue | None:
        """``key`` with its revisions, or None when it does not exist. Linearizable unless
        ``serializable`` (served by any node, possibly stale)."""
        req = kv_pb2.GetRequest(key=to_bytes("key", key), serializable=serializable)
        resp = await self._call("get", m.KV_GET, req)
        return KeyValue.from_pb(resp.kv) if resp.HasField("kv") else None

    async def delete(
        self,
        key: Bytes,
        *,
        expected_revision: int | None = None,
        fence: Fence | None = None,
    ) -> DeleteResult:
        """Deletes ``key``; deleting a missing key is not an error (``deleted`` is False).
        ``expected_revision`` and ``fence`` as for :meth:`put`."""
        k = to_bytes("key", key)
        f = fence_pb(fence)
        return await self._write(
            "delete",
            m.KV_DELETE,
            lambda h: kv_pb2.DeleteRequest(
                header=h, key=k, expected_revision=expected_revision, fence=f
            ),
            lambda r: DeleteResult(r.revision, r.deleted),
        )

    async def range(
        self,
        prefix: Bytes,
        *,
        start_after: Bytes = b"",
        limit: int = 0,
        serializable: bool = False,
    ) -> RangePage:
        """One page of the keys starting with ``prefix``, strictly after ``start_after``, at
        most ``limit`` of them (0: the server's default page size)."""
        req = kv_pb2.RangeRequest(
            prefix=to_bytes("prefix", prefix),
            start_after=to_bytes("start_after", start_after),
            limit=limit,
            serializable=serializable,
        )
        resp = await self._call("range", m.KV_RANGE, req)
        return RangePage(
            kvs=[KeyValue.from_pb(kv) for kv in resp.kvs],
            next_key=resp.next_key or None,
            revision=resp.revision,
        )

    async def scan(
        self, prefix: Bytes, *, page_size: int = 0, serializable: bool = False
    ) -> AsyncIterator[KeyValue]:
        """Every key starting with ``prefix``, page by page. Each page is consistent on its
        own, but pages may be read at different revisions."""
        start_after = b""
        while True:
            page = await self.range(
                prefix, start_after=start_after, limit=page_size, serializable=serializable
            )
            for kv in page.kvs:
                yield kv
            if page.next_key is None:
                return
            # Guard against a server bug looping forever on the same page.
            if page.next_key <= start_after:
                raise bad_reply("range continuation did not advance")
            start_after = page.next_key

    async def range_all(self, prefix: Bytes, *, serializable: bool = False) -> list[KeyValue]:
        """Every key starting with ``prefix`` (see :meth:`scan`), as a list."""
        return [kv async for kv in self.scan(prefix, serializable=serializable)]
