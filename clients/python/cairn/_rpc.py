"""Typed unary gRPC methods: a method's path with its request and response classes, checked
against the generated descriptors when defined (so a renamed RPC or a changed message type
fails at import, not on the first call). The table of the methods the client calls is
:mod:`cairn._methods`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.descriptor import FileDescriptor
from google.protobuf.message import Message

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)


@dataclass(frozen=True, eq=False)
class Unary(Generic[Req, Resp]):
    """One unary RPC: ``path`` is ``/package.Service/Method``."""

    path: str
    request: type[Req]
    response: type[Resp]


def unary(
    file: FileDescriptor,
    service: str,
    method: str,
    request: type[Req],
    response: type[Resp],
) -> Unary[Req, Resp]:
    """The method ``service.method`` of ``file``, checked to take ``request`` and return
    ``response``."""
    desc = file.services_by_name[service].methods_by_name[method]
    if desc.input_type.full_name != request.DESCRIPTOR.full_name:
        raise TypeError(f"{service}.{method} takes {desc.input_type.full_name}")
    if desc.output_type.full_name != response.DESCRIPTOR.full_name:
        raise TypeError(f"{service}.{method} returns {desc.output_type.full_name}")
    return Unary(f"/{desc.containing_service.full_name}/{desc.name}", request, response)
