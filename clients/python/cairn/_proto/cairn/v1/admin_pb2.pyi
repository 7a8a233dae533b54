from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Member(_message.Message):
    __slots__ = ("id", "peer_addr", "client_addr", "role")
    ID_FIELD_NUMBER: _ClassVar[int]
    PEER_ADDR_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDR_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    id: int
    peer_addr: str
    client_addr: str
    role: str
    def __init__(self, id: _Optional[int] = ..., peer_addr: _Optional[str] = ..., client_addr: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("id", "state", "term", "leader_id", "leader_client_addr", "last_log_index", "committed", "applied", "snapshot_index", "purged_index", "members", "version", "replication", "disk_bytes", "http_addr", "membership_changing", "cluster_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    LEADER_CLIENT_ADDR_FIELD_NUMBER: _ClassVar[int]
    LAST_LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_INDEX_FIELD_NUMBER: _ClassVar[int]
    PURGED_INDEX_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_FIELD_NUMBER: _ClassVar[int]
    DISK_BYTES_FIELD_NUMBER: _ClassVar[int]
    HTTP_ADDR_FIELD_NUMBER: _ClassVar[int]
    MEMBERSHIP_CHANGING_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    state: str
    term: int
    leader_id: int
    leader_client_addr: str
    last_log_index: int
    committed: int
    applied: int
    snapshot_index: int
    purged_index: int
    members: _containers.RepeatedCompositeFieldContainer[Member]
    version: str
    replication: _containers.RepeatedCompositeFieldContainer[Replication]
    disk_bytes: int
    http_addr: str
    membership_changing: bool
    cluster_id: int
    def __init__(self, id: _Optional[int] = ..., state: _Optional[str] = ..., term: _Optional[int] = ..., leader_id: _Optional[int] = ..., leader_client_addr: _Optional[str] = ..., last_log_index: _Optional[int] = ..., committed: _Optional[int] = ..., applied: _Optional[int] = ..., snapshot_index: _Optional[int] = ..., purged_index: _Optional[int] = ..., members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ..., version: _Optional[str] = ..., replication: _Optional[_Iterable[_Union[Replication, _Mapping]]] = ..., disk_bytes: _Optional[int] = ..., http_addr: _Optional[str] = ..., membership_changing: bool = ..., cluster_id: _Optional[int] = ...) -> None: ...

class Replication(_message.Message):
    __slots__ = ("id", "matched", "lag", "last_ack_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    LAG_FIELD_NUMBER: _ClassVar[int]
    LAST_ACK_MS_FIELD_NUMBER: _ClassVar[int]
    id: int
    matched: int
    lag: int
    last_ack_ms: int
    def __init__(self, id: _Optional[int] = ..., matched: _Optional[int] = ..., lag: _Optional[int] = ..., last_ack_ms: _Optional[int] = ...) -> None: ...

class AddLearnerRequest(_message.Message):
    __slots__ = ("id", "peer_addr", "client_addr")
    ID_FIELD_NUMBER: _ClassVar[int]
    PEER_ADDR_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDR_FIELD_NUMBER: _ClassVar[int]
    id: int
    peer_addr: str
    client_addr: str
    def __init__(self, id: _Optional[int] = ..., peer_addr: _Optional[str] = ..., client_addr: _Optional[str] = ...) -> None: ...

class AddLearnerResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class ChangeMembershipRequest(_message.Message):
    __slots__ = ("voters",)
    VOTERS_FIELD_NUMBER: _ClassVar[int]
    voters: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, voters: _Optional[_Iterable[int]] = ...) -> None: ...

class ChangeMembershipResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class TransferLeaderRequest(_message.Message):
    __slots__ = ("to",)
    TO_FIELD_NUMBER: _ClassVar[int]
    to: int
    def __init__(self, to: _Optional[int] = ...) -> None: ...

class TransferLeaderResponse(_message.Message):
    __slots__ = ("leader_id",)
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    leader_id: int
    def __init__(self, leader_id: _Optional[int] = ...) -> None: ...

class MembershipResponse(_message.Message):
    __slots__ = ("revision", "members")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    revision: int
    members: _containers.RepeatedCompositeFieldContainer[Member]
    def __init__(self, revision: _Optional[int] = ..., members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ...) -> None: ...

class PromoteLearnerRequest(_message.Message):
    __slots__ = ("id", "max_lag")
    ID_FIELD_NUMBER: _ClassVar[int]
    MAX_LAG_FIELD_NUMBER: _ClassVar[int]
    id: int
    max_lag: int
    def __init__(self, id: _Optional[int] = ..., max_lag: _Optional[int] = ...) -> None: ...

class RemoveMemberRequest(_message.Message):
    __slots__ = ("id", "force")
    ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    id: int
    force: bool
    def __init__(self, id: _Optional[int] = ..., force: bool = ...) -> None: ...

class ReplaceMemberRequest(_message.Message):
    __slots__ = ("old_id", "new_id", "force", "max_lag")
    OLD_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    MAX_LAG_FIELD_NUMBER: _ClassVar[int]
    old_id: int
    new_id: int
    force: bool
    max_lag: int
    def __init__(self, old_id: _Optional[int] = ..., new_id: _Optional[int] = ..., force: bool = ..., max_lag: _Optional[int] = ...) -> None: ...

class TriggerSnapshotRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TriggerSnapshotResponse(_message.Message):
    __slots__ = ("snapshot_index", "snapshot_term")
    SNAPSHOT_INDEX_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_TERM_FIELD_NUMBER: _ClassVar[int]
    snapshot_index: int
    snapshot_term: int
    def __init__(self, snapshot_index: _Optional[int] = ..., snapshot_term: _Optional[int] = ...) -> None: ...

class BackupRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BackupChunk(_message.Message):
    __slots__ = ("header", "data", "trailer")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TRAILER_FIELD_NUMBER: _ClassVar[int]
    header: BackupHeader
    data: bytes
    trailer: BackupTrailer
    def __init__(self, header: _Optional[_Union[BackupHeader, _Mapping]] = ..., data: _Optional[bytes] = ..., trailer: _Optional[_Union[BackupTrailer, _Mapping]] = ...) -> None: ...

class BackupHeader(_message.Message):
    __slots__ = ("snapshot_index", "snapshot_term", "size", "node_id")
    SNAPSHOT_INDEX_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_TERM_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    snapshot_index: int
    snapshot_term: int
    size: int
    node_id: int
    def __init__(self, snapshot_index: _Optional[int] = ..., snapshot_term: _Optional[int] = ..., size: _Optional[int] = ..., node_id: _Optional[int] = ...) -> None: ...

class BackupTrailer(_message.Message):
    __slots__ = ("crc32",)
    CRC32_FIELD_NUMBER: _ClassVar[int]
    crc32: int
    def __init__(self, crc32: _Optional[int] = ...) -> None: ...
