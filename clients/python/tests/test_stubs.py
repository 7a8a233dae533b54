"""The method table matches the generated services, and the etcd messages live in a pool of
their own, so another etcd client in the same process cannot clash with them."""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool

from cairn import _methods
from cairn._proto.cairn.v1 import kv_pb2, workflow_pb2
from cairn._proto.etcd.etcdserverpb import auth_pb2
from cairn._rpc import Unary


def test_method_table_paths_and_types() -> None:
    table = {k: v for k, v in vars(_methods).items() if isinstance(v, Unary)}
    assert len(table) >= 20
    for name, method in table.items():
        _, service, rpc = method.path.split("/")
        pkg, svc = service.rsplit(".", 1)
        pool_file = method.request.DESCRIPTOR.file
        desc = pool_file.services_by_name[svc].methods_by_name[rpc]
        assert desc.input_type is method.request.DESCRIPTOR, name
        assert desc.output_type is method.response.DESCRIPTOR, name
        assert pkg in ("cairn.v1", "etcdserverpb"), name
    assert _methods.KV_PUT.path == "/cairn.v1.KV/Put"
    assert _methods.AUTHENTICATE.path == "/etcdserverpb.Auth/Authenticate"


def test_every_workflows_rpc_the_foundation_covers_exists() -> None:
    service = workflow_pb2.DESCRIPTOR.services_by_name["Workflows"]
    covered = {
        m.path.rsplit("/", 1)[1]
        for m in vars(_methods).values()
        if isinstance(m, Unary) and m.path.startswith("/cairn.v1.Workflows/")
    }
    assert covered == {m.name for m in service.methods}


def test_etcd_messages_do_not_clash_with_another_etcd_client() -> None:
    # What python-etcd3 / aetcd do: register etcdserverpb.AuthenticateRequest from their
    # own file in the default pool.
    fd = descriptor_pb2.FileDescriptorProto(
        name="test-other-etcd-client/rpc.proto", package="etcdserverpb", syntax="proto3"
    )
    msg = fd.message_type.add(name="AuthenticateRequest")
    msg.field.add(name="name", number=1, type=9, label=1)
    descriptor_pool.Default().Add(fd)
    found = descriptor_pool.Default().FindMessageTypeByName("etcdserverpb.AuthenticateRequest")
    assert found.file.name == "test-other-etcd-client/rpc.proto"
    # Ours still works, from its own pool.
    req = auth_pb2.AuthenticateRequest(name="u", password="p")
    assert auth_pb2.AuthenticateRequest.FromString(req.SerializeToString()).password == "p"
    assert kv_pb2.PutRequest.DESCRIPTOR.file.pool is descriptor_pool.Default()
