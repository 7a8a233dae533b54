from cairn._proto.cairn.v1 import kv_pb2 as _kv_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Lease(_message.Message):
    __slots__ = ("id", "ttl_ms", "expires_ms", "remaining_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_MS_FIELD_NUMBER: _ClassVar[int]
    REMAINING_MS_FIELD_NUMBER: _ClassVar[int]
    id: int
    ttl_ms: int
    expires_ms: int
    remaining_ms: int
    def __init__(self, id: _Optional[int] = ..., ttl_ms: _Optional[int] = ..., expires_ms: _Optional[int] = ..., remaining_ms: _Optional[int] = ...) -> None: ...

class LeaseAttachment(_message.Message):
    __slots__ = ("lock", "election", "key", "task", "workflow", "owner")
    LOCK_FIELD_NUMBER: _ClassVar[int]
    ELECTION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    lock: str
    election: str
    key: bytes
    task: str
    workflow: str
    owner: str
    def __init__(self, lock: _Optional[str] = ..., election: _Optional[str] = ..., key: _Optional[bytes] = ..., task: _Optional[str] = ..., workflow: _Optional[str] = ..., owner: _Optional[str] = ...) -> None: ...

class LeaseGrantRequest(_message.Message):
    __slots__ = ("header", "ttl_ms", "id")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    ttl_ms: int
    id: int
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., ttl_ms: _Optional[int] = ..., id: _Optional[int] = ...) -> None: ...

class LeaseGrantResponse(_message.Message):
    __slots__ = ("lease", "revision")
    LEASE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    lease: Lease
    revision: int
    def __init__(self, lease: _Optional[_Union[Lease, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class LeaseRevokeRequest(_message.Message):
    __slots__ = ("header", "id")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    id: int
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., id: _Optional[int] = ...) -> None: ...

class LeaseRevokeResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class LeaseTimeToLiveRequest(_message.Message):
    __slots__ = ("id", "serializable")
    ID_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    id: int
    serializable: bool
    def __init__(self, id: _Optional[int] = ..., serializable: bool = ...) -> None: ...

class LeaseTimeToLiveResponse(_message.Message):
    __slots__ = ("lease", "attached", "revision")
    LEASE_FIELD_NUMBER: _ClassVar[int]
    ATTACHED_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    lease: Lease
    attached: _containers.RepeatedCompositeFieldContainer[LeaseAttachment]
    revision: int
    def __init__(self, lease: _Optional[_Union[Lease, _Mapping]] = ..., attached: _Optional[_Iterable[_Union[LeaseAttachment, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class LeaseListRequest(_message.Message):
    __slots__ = ("serializable",)
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    serializable: bool
    def __init__(self, serializable: bool = ...) -> None: ...

class LeaseListResponse(_message.Message):
    __slots__ = ("leases", "revision")
    LEASES_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    leases: _containers.RepeatedCompositeFieldContainer[Lease]
    revision: int
    def __init__(self, leases: _Optional[_Iterable[_Union[Lease, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class LeaseKeepAliveRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class LeaseKeepAliveResponse(_message.Message):
    __slots__ = ("id", "lease", "revision")
    ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    id: int
    lease: Lease
    revision: int
    def __init__(self, id: _Optional[int] = ..., lease: _Optional[_Union[Lease, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class Holder(_message.Message):
    __slots__ = ("owner", "lease_id", "token", "value", "since_ms")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    owner: str
    lease_id: int
    token: int
    value: bytes
    since_ms: int
    def __init__(self, owner: _Optional[str] = ..., lease_id: _Optional[int] = ..., token: _Optional[int] = ..., value: _Optional[bytes] = ..., since_ms: _Optional[int] = ...) -> None: ...

class Lock(_message.Message):
    __slots__ = ("name", "holder", "waiters")
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    WAITERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    holder: Holder
    waiters: _containers.RepeatedCompositeFieldContainer[Holder]
    def __init__(self, name: _Optional[str] = ..., holder: _Optional[_Union[Holder, _Mapping]] = ..., waiters: _Optional[_Iterable[_Union[Holder, _Mapping]]] = ...) -> None: ...

class AcquireLockRequest(_message.Message):
    __slots__ = ("header", "name", "owner", "lease_id", "ttl_ms", "wait_timeout_ms")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    WAIT_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    name: str
    owner: str
    lease_id: int
    ttl_ms: int
    wait_timeout_ms: int
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., name: _Optional[str] = ..., owner: _Optional[str] = ..., lease_id: _Optional[int] = ..., ttl_ms: _Optional[int] = ..., wait_timeout_ms: _Optional[int] = ...) -> None: ...

class AcquireLockResponse(_message.Message):
    __slots__ = ("acquired", "token", "lease_id", "holder", "revision")
    ACQUIRED_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    acquired: bool
    token: int
    lease_id: int
    holder: Holder
    revision: int
    def __init__(self, acquired: bool = ..., token: _Optional[int] = ..., lease_id: _Optional[int] = ..., holder: _Optional[_Union[Holder, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class ReleaseLockRequest(_message.Message):
    __slots__ = ("header", "name", "owner", "token")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    name: str
    owner: str
    token: int
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., name: _Optional[str] = ..., owner: _Optional[str] = ..., token: _Optional[int] = ...) -> None: ...

class ReleaseLockResponse(_message.Message):
    __slots__ = ("next", "revision")
    NEXT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    next: Holder
    revision: int
    def __init__(self, next: _Optional[_Union[Holder, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class RefreshLockRequest(_message.Message):
    __slots__ = ("header", "name", "owner", "token")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    name: str
    owner: str
    token: int
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., name: _Optional[str] = ..., owner: _Optional[str] = ..., token: _Optional[int] = ...) -> None: ...

class RefreshLockResponse(_message.Message):
    __slots__ = ("lease", "revision")
    LEASE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    lease: Lease
    revision: int
    def __init__(self, lease: _Optional[_Union[Lease, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class LockHolderRequest(_message.Message):
    __slots__ = ("name", "serializable")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    serializable: bool
    def __init__(self, name: _Optional[str] = ..., serializable: bool = ...) -> None: ...

class LockHolderResponse(_message.Message):
    __slots__ = ("lock", "revision")
    LOCK_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    lock: Lock
    revision: int
    def __init__(self, lock: _Optional[_Union[Lock, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class ListLocksRequest(_message.Message):
    __slots__ = ("prefix", "limit", "serializable")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    limit: int
    serializable: bool
    def __init__(self, prefix: _Optional[str] = ..., limit: _Optional[int] = ..., serializable: bool = ...) -> None: ...

class ListLocksResponse(_message.Message):
    __slots__ = ("locks", "revision")
    LOCKS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    locks: _containers.RepeatedCompositeFieldContainer[Lock]
    revision: int
    def __init__(self, locks: _Optional[_Iterable[_Union[Lock, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class CampaignRequest(_message.Message):
    __slots__ = ("header", "election", "candidate", "value", "lease_id", "ttl_ms", "wait_timeout_ms")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ELECTION_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    WAIT_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    election: str
    candidate: str
    value: bytes
    lease_id: int
    ttl_ms: int
    wait_timeout_ms: int
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., election: _Optional[str] = ..., candidate: _Optional[str] = ..., value: _Optional[bytes] = ..., lease_id: _Optional[int] = ..., ttl_ms: _Optional[int] = ..., wait_timeout_ms: _Optional[int] = ...) -> None: ...

class CampaignResponse(_message.Message):
    __slots__ = ("term", "lease_id", "revision")
    TERM_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    term: int
    lease_id: int
    revision: int
    def __init__(self, term: _Optional[int] = ..., lease_id: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...

class LeaderRequest(_message.Message):
    __slots__ = ("election", "serializable")
    ELECTION_FIELD_NUMBER: _ClassVar[int]
    SERIALIZABLE_FIELD_NUMBER: _ClassVar[int]
    election: str
    serializable: bool
    def __init__(self, election: _Optional[str] = ..., serializable: bool = ...) -> None: ...

class LeaderResponse(_message.Message):
    __slots__ = ("leader", "candidates", "revision")
    LEADER_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    leader: Holder
    candidates: _containers.RepeatedCompositeFieldContainer[Holder]
    revision: int
    def __init__(self, leader: _Optional[_Union[Holder, _Mapping]] = ..., candidates: _Optional[_Iterable[_Union[Holder, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class ObserveRequest(_message.Message):
    __slots__ = ("election",)
    ELECTION_FIELD_NUMBER: _ClassVar[int]
    election: str
    def __init__(self, election: _Optional[str] = ...) -> None: ...

class ObserveResponse(_message.Message):
    __slots__ = ("leader", "revision")
    LEADER_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    leader: Holder
    revision: int
    def __init__(self, leader: _Optional[_Union[Holder, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class ResignRequest(_message.Message):
    __slots__ = ("header", "election", "candidate", "term")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ELECTION_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    election: str
    candidate: str
    term: int
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., election: _Optional[str] = ..., candidate: _Optional[str] = ..., term: _Optional[int] = ...) -> None: ...

class ResignResponse(_message.Message):
    __slots__ = ("next", "revision")
    NEXT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    next: Holder
    revision: int
    def __init__(self, next: _Optional[_Union[Holder, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class ProclaimRequest(_message.Message):
    __slots__ = ("header", "election", "candidate", "term", "value")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ELECTION_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    header: _kv_pb2.RequestHeader
    election: str
    candidate: str
    term: int
    value: bytes
    def __init__(self, header: _Optional[_Union[_kv_pb2.RequestHeader, _Mapping]] = ..., election: _Optional[str] = ..., candidate: _Optional[str] = ..., term: _Optional[int] = ..., value: _Optional[bytes] = ...) -> None: ...

class ProclaimResponse(_message.Message):
    __slots__ = ("term", "revision")
    TERM_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    term: int
    revision: int
    def __init__(self, term: _Optional[int] = ..., revision: _Optional[int] = ...) -> None: ...
