from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RequestHeader(_message.Message):
    __slots__ = ("client_id", "sequence", "first_incomplete")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    FIRST_INCOMPLETE_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    sequence: int
    first_incomplete: int
    def __init__(self, client_id: _Optional[str] = ..., sequence: _Optional[int] = ..., first_incomplete: _Optional[int] = ...) -> None: ...

class Fence(_message.Message):
    __slots__ = ("lock", "election", "workflow", "token")
    LOCK_FIELD_NUMBER: _ClassVar[int]
    ELECTION_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    lock: str
    election: str
    workflow: str
    token: int
    def __init__(self, lock: _Optional[str] = ..., election: _Optional[str] = ..., workflow: _Optional[str] = ..., token: _Optional[int] = ...) -> None: ...

class KeyValue(_message.Message):
    __slots__ = ("key", "value", "create_revision", "mod_revision", "version")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CREATE_REVISION_FIELD_NUMBER: _ClassVar[int]
    MOD_REVISION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., create_revision: _Optional[int] = ..., mod_revision: _Optional[int] = ..., version: _Optional[int] = ...) -> None: ...

class PutRequest(_message.Message):
    __slots__ = ("header", "key", "value", "expected_revision", "fence")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    FENCE_FIELD_NUMBER: _ClassVar[int]
    header: RequestHeader
    key: bytes
    value: bytes
    expected_revision: int
    fence: Fence
    def __init__(self, header: _Optional[_Union[RequestHeader, _Mapping]] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., expected_revision: _Optional[int] = ..., fence: _Optional[_Union[Fence, _Mapping]] = ...) -> None: ...

class PutResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("key", "serializable")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    serializable: bool
    def __init__(self, key: _Optional[bytes] = ..., serializable: bool = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("kv", "revision")
    KV_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    kv: KeyValue
    revision: int
    def __init__(self, kv: _Optional[_Union[KeyValue, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("header", "key", "expected_revision", "fence")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    FENCE_FIELD_NUMBER: _ClassVar[int]
    header: RequestHeader
    key: bytes
    expected_revision: int
    fence: Fence
    def __init__(self, header: _Optional[_Union[RequestHeader, _Mapping]] = ..., key: _Optional[bytes] = ..., expected_revision: _Optional[int] = ..., fence: _Optional[_Union[Fence, _Mapping]] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("revision", "deleted")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    revision: int
    deleted: bool
    def __init__(self, revision: _Optional[int] = ..., deleted: bool = ...) -> None: ...

class RangeRequest(_message.Message):
    __slots__ = ("prefix", "start_after", "limit", "serializable")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    START_AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    prefix: bytes
    start_after: bytes
    limit: int
    serializable: bool
    def __init__(self, prefix: _Optional[bytes] = ..., start_after: _Optional[bytes] = ..., limit: _Optional[int] = ..., serializable: bool = ...) -> None: ...

class RangeResponse(_message.Message):
    __slots__ = ("kvs", "next_key", "revision")
    KVS_FIELD_NUMBER: _ClassVar[int]
    NEXT_KEY_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    kvs: _containers.RepeatedCompositeFieldContainer[KeyValue]
    next_key: bytes
    revision: int
    def __init__(self, kvs: _Optional[_Iterable[_Union[KeyValue, _Mapping]]] = ..., next_key: _Optional[bytes] = ..., revision: _Optional[int] = ...) -> None: ...

class Compare(_message.Message):
    __slots__ = ("key", "op", "mod_revision", "create_revision", "version", "value")
    class Op(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        EQUAL: _ClassVar[Compare.Op]
        NOT_EQUAL: _ClassVar[Compare.Op]
        LESS: _ClassVar[Compare.Op]
        GREATER: _ClassVar[Compare.Op]
    EQUAL: Compare.Op
    NOT_EQUAL: Compare.Op
    LESS: Compare.Op
    GREATER: Compare.Op
    KEY_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    MOD_REVISION_FIELD_NUMBER: _ClassVar[int]
    CREATE_REVISION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    op: Compare.Op
    mod_revision: int
    create_revision: int
    version: int
    value: bytes
    def __init__(self, key: _Optional[bytes] = ..., op: _Optional[_Union[Compare.Op, str]] = ..., mod_revision: _Optional[int] = ..., create_revision: _Optional[int] = ..., version: _Optional[int] = ..., value: _Optional[bytes] = ...) -> None: ...

class TxnOp(_message.Message):
    __slots__ = ("put", "delete", "get")
    class Put(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: bytes
        value: bytes
        def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...
    class Delete(_message.Message):
        __slots__ = ("key",)
        KEY_FIELD_NUMBER: _ClassVar[int]
        key: bytes
        def __init__(self, key: _Optional[bytes] = ...) -> None: ...
    class Get(_message.Message):
        __slots__ = ("key",)
        KEY_FIELD_NUMBER: _ClassVar[int]
        key: bytes
        def __init__(self, key: _Optional[bytes] = ...) -> None: ...
    PUT_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    GET_FIELD_NUMBER: _ClassVar[int]
    put: TxnOp.Put
    delete: TxnOp.Delete
    get: TxnOp.Get
    def __init__(self, put: _Optional[_Union[TxnOp.Put, _Mapping]] = ..., delete: _Optional[_Union[TxnOp.Delete, _Mapping]] = ..., get: _Optional[_Union[TxnOp.Get, _Mapping]] = ...) -> None: ...

class TxnRequest(_message.Message):
    __slots__ = ("header", "compare", "success", "failure", "fence")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    COMPARE_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    FENCE_FIELD_NUMBER: _ClassVar[int]
    header: RequestHeader
    compare: _containers.RepeatedCompositeFieldContainer[Compare]
    success: _containers.RepeatedCompositeFieldContainer[TxnOp]
    failure: _containers.RepeatedCompositeFieldContainer[TxnOp]
    fence: Fence
    def __init__(self, header: _Optional[_Union[RequestHeader, _Mapping]] = ..., compare: _Optional[_Iterable[_Union[Compare, _Mapping]]] = ..., success: _Optional[_Iterable[_Union[TxnOp, _Mapping]]] = ..., failure: _Optional[_Iterable[_Union[TxnOp, _Mapping]]] = ..., fence: _Optional[_Union[Fence, _Mapping]] = ...) -> None: ...

class TxnOpResult(_message.Message):
    __slots__ = ("put", "deleted", "get")
    PUT_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    GET_FIELD_NUMBER: _ClassVar[int]
    put: bool
    deleted: bool
    get: GetResponse
    def __init__(self, put: bool = ..., deleted: bool = ..., get: _Optional[_Union[GetResponse, _Mapping]] = ...) -> None: ...

class TxnResponse(_message.Message):
    __slots__ = ("succeeded", "results", "revision")
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    succeeded: bool
    results: _containers.RepeatedCompositeFieldContainer[TxnOpResult]
    revision: int
    def __init__(self, succeeded: bool = ..., results: _Optional[_Iterable[_Union[TxnOpResult, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...
