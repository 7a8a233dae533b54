"""Login against a cluster with auth on: the client logs in with its credentials, is refused
typed errors without them or with a wrong password or outside its role, and logs in again by
itself when its token expires."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio
import pytest

import cairn
from cairn._proto.cairn.v1 import kv_pb2
from cairn._proto.etcd.authpb import auth_pb2 as authpb
from cairn._proto.etcd.etcdserverpb import auth_pb2 as pb
from cairn._rpc import unary

from .cluster import Cluster, wait_until


async def auth_call(addr: str, method: str, req: Any, resp_type: Any) -> Any:
    m = unary(pb.DESCRIPTOR, "Auth", method, type(req), resp_type)
    async with grpc.aio.insecure_channel(addr) as ch:
        call = ch.unary_unary(
            m.path,
            request_serializer=m.request.SerializeToString,
            response_deserializer=m.response.FromString,
        )
        return await call(req, timeout=10)


async def set_up_users(addr: str) -> None:
    """root (root role), alice (role `app`: read-write on keys under `app/`), then auth on: as
    an operator would with etcdctl."""
    await auth_call(
        addr,
        "UserAdd",
        pb.AuthUserAddRequest(name="root", password="rootpw"),
        pb.AuthUserAddResponse,
    )
    await auth_call(
        addr,
        "UserGrantRole",
        pb.AuthUserGrantRoleRequest(user="root", role="root"),
        pb.AuthUserGrantRoleResponse,
    )
    await auth_call(addr, "RoleAdd", pb.AuthRoleAddRequest(name="app"), pb.AuthRoleAddResponse)
    perm = authpb.Permission(permType=authpb.Permission.READWRITE, key=b"app/", range_end=b"app0")
    await auth_call(
        addr,
        "RoleGrantPermission",
        pb.AuthRoleGrantPermissionRequest(name="app", perm=perm),
        pb.AuthRoleGrantPermissionResponse,
    )
    await auth_call(
        addr,
        "UserAdd",
        pb.AuthUserAddRequest(name="alice", password="alicepw"),
        pb.AuthUserAddResponse,
    )
    await auth_call(
        addr,
        "UserGrantRole",
        pb.AuthUserGrantRoleRequest(user="alice", role="app"),
        pb.AuthUserGrantRoleResponse,
    )
    await auth_call(addr, "AuthEnable", pb.AuthEnableRequest(), pb.AuthEnableResponse)


def token_refused(addr: str, token: str) -> bool | None:
    """Whether a get with ``token`` is refused as unauthenticated now (None: not yet)."""
    with grpc.insecure_channel(addr) as ch:
        get = ch.unary_unary(
            "/cairn.v1.KV/Get",
            request_serializer=kv_pb2.GetRequest.SerializeToString,
            response_deserializer=kv_pb2.GetResponse.FromString,
        )
        try:
            get(kv_pb2.GetRequest(key=b"app/x"), timeout=2, metadata=(("token", token),))
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNAUTHENTICATED:
                return True
        return None


async def test_credentials_roles_and_token_renewal(new_cluster: Callable[..., Cluster]) -> None:
    cluster = new_cluster(extra_args=["--auth-token-ttl", "2"])
    eps = cluster.endpoints()
    await set_up_users(eps[0])

    async with cairn.Client(eps) as anonymous:
        with pytest.raises(cairn.Unauthenticated, match="user name is empty"):
            await anonymous.put("app/1", "v")
    async with cairn.Client(eps, credentials=cairn.Credentials("alice", "nope")) as wrong:
        with pytest.raises(cairn.Unauthenticated, match="authentication failed"):
            await wrong.get("app/1")

    alice_creds = cairn.Credentials("alice", "alicepw")
    async with cairn.Client(eps, credentials=alice_creds) as alice:
        rev = await alice.put("app/1", "v")
        kv = await alice.get("app/1")
        assert kv is not None and kv.mod_revision == rev
        with pytest.raises(cairn.PermissionDenied):
            await alice.put("other", "v")
        with pytest.raises(cairn.PermissionDenied):
            await alice.create_workflow("wf-alice")
        # The token expires (2 s TTL): the next call is refused once, and the client logs
        # in again by itself.
        old = alice._login._token if alice._login else None
        assert old
        wait_until(20, "the token to expire", lambda: token_refused(eps[0], old), every=0.2)
        rev2 = await alice.put("app/1", "w")
        assert rev2 > rev
        assert alice._login is not None and alice._login._token not in (None, old)

    async with cairn.Client(eps, credentials=cairn.Credentials("root", "rootpw")) as root:
        assert await root.get("other") is None, "the refused put wrote nothing"
        created = await root.create_workflow("wf-root")
        assert created.created
