"""Transactions (``cairn_client::Txn``): a compare-and-swap over several keys, applied as one
write at one revision. If every compare holds (against the state before the transaction), the
``and_then`` operations run in order, else the ``or_else`` ones; a get sees the writes of the
operations before it.

A :class:`Txn` is built like the Rust client's, and is immutable (each method returns a new
transaction, so one can serve as a template)::

    r = await client.txn(
        cairn.Txn()
        .when_at("queue/job-7", kv.mod_revision)  # as read: nobody took it since
        .when_absent("taken/job-7")
        .and_then([cairn.TxnOp.delete("queue/job-7"), cairn.TxnOp.put("taken/job-7", "w1")])
        .or_else([cairn.TxnOp.get("taken/job-7")])
    )

A compare (:class:`Compare`) looks at one field of a key (``mod_revision``,
``create_revision``, ``version`` or ``value``) with an op (:class:`CompareOp`, or its symbol
``"=="``, ``"!="``, ``"<"``, ``">"``). A missing key has every revision 0 and no value, so
``mod_revision == 0`` means "does not exist" (:meth:`Txn.when_absent`), and a value compare on
it is false whatever the op. :meth:`TxnApi.txn` answers :class:`TxnResult`: whether the
compares held, one result per operation of the branch that ran (:class:`TxnPutResult`,
:class:`TxnDeleteResult`, :class:`TxnGetResult`), and the revision.

At most :data:`MAX_TXN_OPS` compares and as many operations per branch, keys not empty, and not
an empty transaction: checked before sending. The cluster also refuses (InvalidArgument,
nothing written) oversized keys and values and a branch that writes one key twice. The
transaction is a write with one idempotency header, shared by every retry (and by
``client.resume`` after OutcomeUnknown), so it is applied once; with a fence
(:meth:`Txn.fenced`), only while that lock token, election term or owner's epoch is current
(StaleFence otherwise, nothing written). The caller needs read permission on every compared
and read key, and write permission on every written key.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from cairn import _methods as m
from cairn._core import ClientCore, with_header
from cairn._json import bad_reply
from cairn._proto.cairn.v1 import kv_pb2 as pb
from cairn.errors import InvalidArgument
from cairn.fence import Fence, fence_pb
from cairn.kv import Bytes, KeyValue, to_bytes

__all__ = [
    "MAX_TXN_OPS",
    "Compare",
    "CompareOp",
    "Txn",
    "TxnApi",
    "TxnDeleteResult",
    "TxnGetResult",
    "TxnOp",
    "TxnOpKind",
    "TxnOpResult",
    "TxnPutResult",
    "TxnResult",
]

#: The most compares, and the most operations of each branch, one transaction has.
MAX_TXN_OPS = 128


class CompareOp(str, Enum):
    """How a compare relates the key's field to the given value."""

    EQUAL = "=="
    NOT_EQUAL = "!="
    LESS = "<"
    GREATER = ">"

    def to_pb(self) -> pb.Compare.Op:
        return _OP_TO_PB[self]

    @classmethod
    def parse(cls, op: CompareOp | str) -> CompareOp:
        """An op, its symbol (``"=="``, ``"!="``, ``"<"``, ``">"``) or its name in any case
        (``"equal"``, ``"NOT_EQUAL"``)."""
        if isinstance(op, CompareOp):
            return op
        if isinstance(op, str):
            for o in cls:
                if op == o.value or op.upper() == o.name:
                    return o
        symbols = ", ".join(o.value for o in cls)
        raise InvalidArgument(f"unknown compare op {op!r} (one of {symbols}, or their names)")


_OP_TO_PB: dict[CompareOp, pb.Compare.Op] = {
    CompareOp.EQUAL: pb.Compare.EQUAL,
    CompareOp.NOT_EQUAL: pb.Compare.NOT_EQUAL,
    CompareOp.LESS: pb.Compare.LESS,
    CompareOp.GREATER: pb.Compare.GREATER,
}

_TARGETS = ("mod_revision", "create_revision", "version", "value")


def _key(what: str, key: Bytes) -> bytes:
    k = to_bytes(what, key)
    if not k:
        raise InvalidArgument(f"{what} is empty")
    return k


@dataclass(frozen=True)
class Compare:
    """A condition on one key: its ``target`` field (exactly one of ``mod_revision``,
    ``create_revision``, ``version`` and ``value``) must be ``op`` the given value::

        Compare("config/mode", "==", value="safe")
        Compare("jobs/7", CompareOp.LESS, version=3)
    """

    key: bytes
    op: CompareOp
    mod_revision: int | None = None
    create_revision: int | None = None
    version: int | None = None
    value: bytes | None = None

    def __init__(
        self,
        key: Bytes,
        op: CompareOp | str,
        *,
        mod_revision: int | None = None,
        create_revision: int | None = None,
        version: int | None = None,
        value: Bytes | None = None,
    ) -> None:
        object.__setattr__(self, "key", _key("a compare's key", key))
        object.__setattr__(self, "op", CompareOp.parse(op))
        revisions = {
            "mod_revision": mod_revision,
            "create_revision": create_revision,
            "version": version,
        }
        if [*revisions.values(), value].count(None) != 3:
            raise InvalidArgument(
                "a compare has exactly one of mod_revision=, create_revision=, version= and value="
            )
        for field, n in revisions.items():
            if n is not None and (
                isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < 2**64
            ):
                raise InvalidArgument(
                    f"a compare's {field} is an int from 0 to 2**64 - 1, not {n!r}"
                )
            object.__setattr__(self, field, n)
        object.__setattr__(
            self, "value", None if value is None else to_bytes("a compare's value", value)
        )

    @property
    def target(self) -> str:
        """The field compared: ``"mod_revision"``, ``"create_revision"``, ``"version"`` or
        ``"value"``."""
        return next(t for t in _TARGETS if getattr(self, t) is not None)

    def to_pb(self) -> pb.Compare:
        msg = pb.Compare(key=self.key, op=self.op.to_pb())
        # A oneof member is set even at its default (0, b""): mod_revision == 0 is a compare.
        setattr(msg, self.target, getattr(self, self.target))
        return msg


#: What a transaction's operation does.
TxnOpKind = Literal["put", "delete", "get"]


@dataclass(frozen=True)
class TxnOp:
    """One operation of a transaction, on one key: make it with :meth:`put`, :meth:`delete`
    or :meth:`get`. ``value`` is a put's (None for the others)."""

    kind: TxnOpKind
    key: bytes
    value: bytes | None = None

    def __init__(self, kind: TxnOpKind, key: Bytes, value: Bytes | None = None) -> None:
        if kind not in ("put", "delete", "get"):
            raise InvalidArgument(f"a transaction op is a put, delete or get, not {kind!r}")
        if (value is None) != (kind != "put"):
            raise InvalidArgument("a put has a value, a delete or get none")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "key", _key(f"a {kind}'s key", key))
        object.__setattr__(self, "value", None if value is None else to_bytes("value", value))

    @classmethod
    def put(cls, key: Bytes, value: Bytes) -> TxnOp:
        """Sets ``key`` to ``value`` (at the transaction's revision)."""
        return cls("put", key, value)

    @classmethod
    def delete(cls, key: Bytes) -> TxnOp:
        """Deletes ``key``; its result says whether it existed."""
        return cls("delete", key)

    @classmethod
    def get(cls, key: Bytes) -> TxnOp:
        """Reads ``key`` as the operations before it in its branch left it."""
        return cls("get", key)

    def to_pb(self) -> pb.TxnOp:
        if self.kind == "put":
            return pb.TxnOp(put=pb.TxnOp.Put(key=self.key, value=self.value))
        if self.kind == "delete":
            return pb.TxnOp(delete=pb.TxnOp.Delete(key=self.key))
        return pb.TxnOp(get=pb.TxnOp.Get(key=self.key))


def _ops(branch: str, ops: Iterable[TxnOp]) -> tuple[TxnOp, ...]:
    if isinstance(ops, (TxnOp, str, bytes)):
        raise InvalidArgument(f"{branch} takes a list of TxnOp, not {ops!r}")
    out = tuple(ops)
    for op in out:
        if not isinstance(op, TxnOp):
            raise InvalidArgument(f"{branch} takes TxnOps, not {op!r}")
    return out


@dataclass(frozen=True)
class Txn:
    """A transaction: ``compare``, then the operations of the branch they choose (``success``
    when every compare holds, else ``failure``), with an optional ``fence``. Immutable: each
    builder method returns a new transaction."""

    compare: tuple[Compare, ...] = ()
    success: tuple[TxnOp, ...] = ()
    failure: tuple[TxnOp, ...] = ()
    fence: Fence | None = None

    def __init__(
        self,
        compare: Iterable[Compare] = (),
        success: Iterable[TxnOp] = (),
        failure: Iterable[TxnOp] = (),
        fence: Fence | None = None,
    ) -> None:
        compares = tuple(compare)
        for c in compares:
            if not isinstance(c, Compare):
                raise InvalidArgument(f"a transaction's compares are Compares, not {c!r}")
        if fence is not None and not isinstance(fence, Fence):
            raise InvalidArgument(f"a transaction's fence is a Fence, not {fence!r}")
        object.__setattr__(self, "compare", compares)
        object.__setattr__(self, "success", _ops("success", success))
        object.__setattr__(self, "failure", _ops("failure", failure))
        object.__setattr__(self, "fence", fence)

    def when(
        self,
        key: Bytes,
        op: CompareOp | str,
        *,
        mod_revision: int | None = None,
        create_revision: int | None = None,
        version: int | None = None,
        value: Bytes | None = None,
    ) -> Txn:
        """Plus a compare: the key's field given by keyword (exactly one) must be ``op`` that
        value (see :class:`Compare`)."""
        c = Compare(
            key,
            op,
            mod_revision=mod_revision,
            create_revision=create_revision,
            version=version,
            value=value,
        )
        return Txn((*self.compare, c), self.success, self.failure, self.fence)

    def when_absent(self, key: Bytes) -> Txn:
        """Plus a compare: the key must not exist (``mod_revision == 0``)."""
        return self.when(key, CompareOp.EQUAL, mod_revision=0)

    def when_at(self, key: Bytes, mod_revision: int) -> Txn:
        """Plus a compare: the key must be at exactly this ``mod_revision`` (what ``put``'s
        ``expected_revision`` checks; 0: it must not exist)."""
        return self.when(key, CompareOp.EQUAL, mod_revision=mod_revision)

    def and_then(self, ops: Iterable[TxnOp]) -> Txn:
        """Plus operations to run when every compare holds."""
        return Txn(self.compare, (*self.success, *_ops("and_then", ops)), self.failure, self.fence)

    def or_else(self, ops: Iterable[TxnOp]) -> Txn:
        """Plus operations to run when a compare fails."""
        return Txn(self.compare, self.success, (*self.failure, *_ops("or_else", ops)), self.fence)

    def fenced(self, fence: Fence) -> Txn:
        """Applied only while ``fence`` (a lock token, election term or owner's epoch) is
        current; StaleFence otherwise, nothing written."""
        return Txn(self.compare, self.success, self.failure, fence)

    def to_pb(self) -> pb.TxnRequest:
        """The request as sent, less its header; InvalidArgument when the transaction is
        empty or over :data:`MAX_TXN_OPS`."""
        if not (self.compare or self.success or self.failure):
            raise InvalidArgument("an empty transaction: no compares and no operations")
        for what, items in (
            ("compares", self.compare),
            ("and_then operations", self.success),
            ("or_else operations", self.failure),
        ):
            if len(items) > MAX_TXN_OPS:
                raise InvalidArgument(
                    f"a transaction has at most {MAX_TXN_OPS} {what}, not {len(items)}"
                )
        return pb.TxnRequest(
            compare=[c.to_pb() for c in self.compare],
            success=[o.to_pb() for o in self.success],
            failure=[o.to_pb() for o in self.failure],
            fence=fence_pb(self.fence),
        )


@dataclass(frozen=True)
class TxnPutResult:
    """A put's result: it wrote its key at the transaction's revision."""


@dataclass(frozen=True)
class TxnDeleteResult:
    """A delete's result."""

    #: Whether the key existed.
    deleted: bool


@dataclass(frozen=True)
class TxnGetResult:
    """A get's result: the key as the operation saw it (None: it did not exist)."""

    kv: KeyValue | None


#: What one operation of the branch that ran did.
TxnOpResult = TxnPutResult | TxnDeleteResult | TxnGetResult

_RESULT_OF: dict[str, str] = {"put": "put", "delete": "deleted", "get": "get"}


def _op_result(r: pb.TxnOpResult, op: TxnOp) -> TxnOpResult:
    which = r.WhichOneof("result")
    if which != _RESULT_OF[op.kind]:
        raise bad_reply(f"a {which or 'missing'} result for a {op.kind}")
    if which == "put":
        return TxnPutResult()
    if which == "deleted":
        return TxnDeleteResult(r.deleted)
    return TxnGetResult(KeyValue.from_pb(r.get.kv) if r.get.HasField("kv") else None)


@dataclass(frozen=True)
class TxnResult:
    """What :meth:`TxnApi.txn` did."""

    #: Every compare held, so the ``and_then`` operations ran (else the ``or_else`` ones).
    succeeded: bool
    #: One per operation of the branch that ran, in order.
    results: list[TxnOpResult]
    #: The transaction's revision (every put's).
    revision: int

    @classmethod
    def from_pb(cls, r: pb.TxnResponse, txn: Txn) -> TxnResult:
        ops = txn.success if r.succeeded else txn.failure
        if len(r.results) != len(ops):
            raise bad_reply(f"{len(r.results)} transaction results for {len(ops)} operations")
        return cls(
            r.succeeded,
            [_op_result(x, op) for x, op in zip(r.results, ops, strict=True)],
            r.revision,
        )


class TxnApi(ClientCore):
    async def txn(self, txn: Txn) -> TxnResult:
        """Applies ``txn`` as one write: its compares decide which branch runs, all at one
        revision. Every retry carries the same idempotency header, so it is applied once.
        Input the cluster refuses (an empty transaction or key, over :data:`MAX_TXN_OPS`
        compares or operations of a branch, oversized keys or values, a key written twice by
        one branch) is InvalidArgument, and nothing is written."""
        if not isinstance(txn, Txn):
            raise InvalidArgument(f"txn takes a Txn, not {txn!r}")
        req = txn.to_pb()
        return await self._write(
            "txn", m.KV_TXN, lambda h: with_header(req, h), lambda r: TxnResult.from_pb(r, txn)
        )
