"""The cluster endpoints a client talks to, which one it prefers, and how that preference
moves (``cairn_client::endpoints``): to the endpoint that last answered, to the leader a node
names in its answer (``cairn-leader``), or round-robin past an endpoint that failed.

Each endpoint owns one lazily created ``grpc.aio`` channel, shared by every call: a channel
multiplexes HTTP/2 streams, so one per endpoint is enough and keeps connection setup off the
hot path.
"""

from __future__ import annotations

from typing import Any, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from cairn._rpc import Unary
from cairn.config import ClientConfig
from cairn.errors import InvalidEndpoint

#: Leader hints can name addresses the client was not given (after a membership change).
#: They are added, but bounded so a misbehaving server cannot grow the set forever.
MAX_ENDPOINTS = 64

#: Responses larger than gRPC's 4 MiB default are legitimate (a range page of large values);
#: the server bounds page sizes, this only keeps a broken peer from exhausting memory.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)


def _split_host_port(authority: str) -> tuple[str, int] | None:
    if authority.startswith("["):
        host, sep, rest = authority[1:].partition("]")
        if not sep or not rest.startswith(":"):
            return None
        port = rest[1:]
    else:
        host, sep, port = authority.rpartition(":")
        if not sep or ":" in host:
            return None
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if any(c.isspace() or c in "/?#@" for c in host):
        return None
    return host, int(port)


def key_of(addr: str) -> str:
    """Comparison key of an address: scheme-less, lower-case, no trailing slash."""
    a = addr.strip()
    _, sep, rest = a.partition("://")
    return (rest if sep else a).rstrip("/").lower()


class Node:
    """One cluster node as the client sees it."""

    __slots__ = ("_calls", "_channel", "_options", "_tls", "addr", "key", "target")

    def __init__(self, addr: str, config: ClientConfig) -> None:
        trimmed = addr.strip()
        if not trimmed:
            raise InvalidEndpoint("empty endpoint")
        tls = config.tls is not None
        scheme, sep, rest = trimmed.partition("://")
        if sep:
            scheme = scheme.lower()
            if scheme == "https" and not tls:
                raise InvalidEndpoint(f"{trimmed}: https needs TLS settings (a CA file)")
            if scheme == "http" and tls:
                raise InvalidEndpoint(f"{trimmed}: plaintext http with TLS settings given")
            if scheme not in ("http", "https"):
                raise InvalidEndpoint(f"{trimmed}: unknown scheme {scheme!r}")
            authority = rest.rstrip("/")
        else:
            authority = trimmed.rstrip("/")
        hp = _split_host_port(authority)
        if hp is None:
            raise InvalidEndpoint(f"{trimmed}: expected host:port")
        self.addr = trimmed
        self.key = key_of(trimmed)
        self.target = authority
        self._tls = config.tls
        connect_ms = max(1, int(config.connect_timeout * 1000))
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", MAX_RESPONSE_BYTES),
            ("grpc.max_send_message_length", MAX_RESPONSE_BYTES),
            # Detects a silently dead connection (host gone, partition) between requests.
            ("grpc.keepalive_time_ms", 10_000),
            ("grpc.keepalive_timeout_ms", 5_000),
            # gRPC's minimum reconnect backoff is also its connect timeout; the maximum is kept
            # short so a restarted node is found again within a second, not after gRPC's
            # default two minutes of backoff.
            ("grpc.min_reconnect_backoff_ms", connect_ms),
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1_000),
        ]
        if config.tls is not None and config.tls.domain:
            options.append(("grpc.ssl_target_name_override", config.tls.domain))
        self._options = options
        self._channel: grpc.aio.Channel | None = None
        self._calls: dict[str, Any] = {}

    def channel(self) -> grpc.aio.Channel:
        """The node's channel, created on first use (inside the running event loop)."""
        if self._channel is None:
            if self._tls is not None:
                creds = grpc.ssl_channel_credentials(
                    root_certificates=self._tls.ca_pem,
                    private_key=self._tls.key_pem,
                    certificate_chain=self._tls.cert_pem,
                )
                self._channel = grpc.aio.secure_channel(self.target, creds, self._options)
            else:
                self._channel = grpc.aio.insecure_channel(self.target, self._options)
        return self._channel

    def method(self, m: Unary[Req, Resp]) -> grpc.aio.UnaryUnaryMultiCallable[Req, Resp]:
        """The callable for ``m`` on this node's channel (cached)."""
        call: grpc.aio.UnaryUnaryMultiCallable[Req, Resp] | None = self._calls.get(m.path)
        if call is None:
            call = self.channel().unary_unary(
                m.path,
                request_serializer=m.request.SerializeToString,
                response_deserializer=m.response.FromString,
            )
            self._calls[m.path] = call
        return call

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        self._calls.clear()
        if channel is not None:
            await channel.close()


class Endpoints:
    """The known nodes (configured ones first, then leader hints) and the preferred one."""

    __slots__ = ("_config", "nodes", "preferred")

    def __init__(self, addrs: list[str], config: ClientConfig) -> None:
        nodes: list[Node] = []
        for addr in addrs:
            node = Node(addr, config)
            if all(n.key != node.key for n in nodes):
                nodes.append(node)
        if not nodes:
            raise InvalidEndpoint("no endpoints given")
        self._config = config
        self.nodes = nodes
        self.preferred = 0

    def pick(self) -> tuple[int, Node]:
        """The preferred endpoint and its index."""
        idx = self.preferred % len(self.nodes)
        return idx, self.nodes[idx]

    def addrs(self) -> list[str]:
        return [n.addr for n in self.nodes]

    def on_success(self, idx: int) -> None:
        """``idx`` answered: keep using it."""
        self.preferred = idx

    def on_leader_hint(self, idx: int, leader: str) -> None:
        """``idx`` answered and named another node the leader: prefer that one (adding it if
        unknown), or keep ``idx`` if the hint is unusable."""
        j = self._find_or_add(leader)
        self.preferred = idx if j is None else j

    def on_failure(self, idx: int, leader_hint: str | None) -> int:
        """An attempt on ``idx`` failed transiently. With a usable leader hint, prefer the
        hinted node; otherwise move past ``idx``. Returns the index now preferred."""
        if leader_hint:
            j = self._find_or_add(leader_hint)
            if j is not None:
                self.preferred = j
                return j
        n = len(self.nodes)
        # Only rotate if nobody moved the preference meanwhile: when many calls fail on the
        # same node at once, the preference advances once, not once per call, and a leader
        # another call just found is not overwritten.
        if self.preferred % n == idx:
            self.preferred = (idx + 1) % n
        return self.preferred % n

    def _find_or_add(self, addr: str) -> int | None:
        key = key_of(addr)
        for i, n in enumerate(self.nodes):
            if n.key == key:
                return i
        if len(self.nodes) >= MAX_ENDPOINTS:
            return None
        try:
            node = Node(addr, self._config)
        except InvalidEndpoint:
            return None
        self.nodes.append(node)
        return len(self.nodes) - 1

    async def close(self) -> None:
        for n in self.nodes:
            await n.close()
