"""Namespace limits: how many workflows and stored checkpoint bytes a namespace may hold, and
what it holds; and the list of namespaces with both. A create or checkpoint save past a limit
fails with ResourceExhausted (``kind == "namespace_full"``) and writes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from cairn import _methods as m
from cairn._core import ClientCore
from cairn._json import bad_reply
from cairn._proto.cairn.v1 import workflow_pb2 as pb

__all__ = ["NamespaceLimits", "NamespaceQuota", "NamespaceUsage", "NamespacesApi"]


@dataclass(frozen=True)
class NamespaceLimits:
    """What a namespace may hold; None is no limit."""

    max_workflows: int | None = None
    #: Committed checkpoint payload bytes as stored (after compression).
    max_checkpoint_bytes: int | None = None


@dataclass(frozen=True)
class NamespaceUsage:
    workflows: int
    checkpoint_bytes: int


@dataclass(frozen=True)
class NamespaceQuota:
    namespace: str
    limits: NamespaceLimits
    usage: NamespaceUsage

    @classmethod
    def from_pb(
        cls, r: pb.SetNamespaceLimitsResponse | pb.GetNamespaceQuotaResponse
    ) -> NamespaceQuota:
        if not r.HasField("quota"):
            raise bad_reply("reply without a namespace quota")
        return cls.from_msg(r.quota)

    @classmethod
    def from_msg(cls, q: pb.NamespaceQuota) -> NamespaceQuota:
        lim = q.limits
        return cls(
            namespace=q.namespace,
            limits=NamespaceLimits(
                max_workflows=lim.max_workflows if lim.HasField("max_workflows") else None,
                max_checkpoint_bytes=(
                    lim.max_checkpoint_bytes if lim.HasField("max_checkpoint_bytes") else None
                ),
            ),
            usage=NamespaceUsage(q.usage.workflows, q.usage.checkpoint_bytes),
        )


class NamespacesApi(ClientCore):
    async def set_namespace_limits(self, namespace: str, limits: NamespaceLimits) -> NamespaceQuota:
        """Replaces ``namespace``'s limits (``NamespaceLimits()`` removes them) and returns
        its limits and usage. Root only while auth is on. Lowering a limit below usage keeps
        what exists and refuses growth. Safe to retry as it is (setting the same limits twice
        changes nothing), so, as in the Rust client, it carries no idempotency header."""
        req = pb.SetNamespaceLimitsRequest(
            namespace=namespace,
            limits=pb.NamespaceLimits(
                max_workflows=limits.max_workflows,
                max_checkpoint_bytes=limits.max_checkpoint_bytes,
            ),
        )
        resp = await self._call("set_namespace_limits", m.SET_NAMESPACE_LIMITS, req)
        return NamespaceQuota.from_pb(resp)

    async def namespace_quota(
        self, namespace: str, *, serializable: bool = False
    ) -> NamespaceQuota:
        """``namespace``'s limits and usage."""
        req = pb.GetNamespaceQuotaRequest(namespace=namespace, serializable=serializable)
        resp = await self._call("get_namespace_quota", m.GET_NAMESPACE_QUOTA, req)
        return NamespaceQuota.from_pb(resp)

    async def namespaces(self, *, serializable: bool = False) -> list[NamespaceQuota]:
        """Every namespace that holds something or has limits, that the caller may read,
        ordered by name, each with its limits and usage (``.namespace`` names it)."""
        req = pb.ListNamespacesRequest(serializable=serializable)
        resp = await self._call("list_namespaces", m.LIST_NAMESPACES, req)
        return [NamespaceQuota.from_msg(q) for q in resp.namespaces]
