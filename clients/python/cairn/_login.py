"""Logging in when the cluster has auth on (``cairn_client::login``): credentials in the config
make the client call etcd's ``Authenticate`` on first use, send the token as ``token``
metadata with every call (as etcd clients do), and log in again once when a node answers that
the token is no longer valid (expired, password changed, auth re-enabled)."""

from __future__ import annotations

import asyncio

from cairn import _methods as m
from cairn._endpoints import Node
from cairn._proto.etcd.etcdserverpb import auth_pb2
from cairn.config import Credentials


class Login:
    __slots__ = ("_creds", "_lock", "_token")

    def __init__(self, creds: Credentials) -> None:
        self._creds = creds
        self._token: str | None = None
        # Concurrent calls wait for one login instead of each making their own (a password
        # check costs the server tens of milliseconds of CPU on purpose).
        self._lock: asyncio.Lock | None = None

    async def token(self, node: Node, timeout: float) -> str:
        """The token to send, logging in through ``node`` if there is none yet. A refusal
        raises the call's ``grpc.aio.AioRpcError`` for the retry loop to classify."""
        cached = self._token
        if cached is not None:
            return cached
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            # Another call may have logged in while this one waited for the lock.
            cached = self._cached()
            if cached is not None:
                return cached
            req = auth_pb2.AuthenticateRequest(name=self._creds.user, password=self._creds.password)
            resp = await node.method(m.AUTHENTICATE)(req, timeout=timeout)
            self._token = resp.token
            return resp.token

    def _cached(self) -> str | None:
        return self._token

    def forget(self, token: str | None) -> None:
        """A node refused ``token``: the next call logs in again (unless another call has
        already replaced it)."""
        if token is None or self._token == token:
            self._token = None
