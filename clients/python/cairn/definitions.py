"""Workflow definitions: the states a workflow may be in and the legal transitions between
them (optionally named by events), registered in versions, plus their API."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cairn import _methods as m
from cairn._core import ClientCore
from cairn._json import bad_reply
from cairn._proto.cairn.v1 import workflow_pb2 as pb

__all__ = [
    "Definition",
    "DefinitionsApi",
    "RegisteredDefinition",
    "Transition",
    "VersionedDefinition",
]


@dataclass(frozen=True)
class Transition:
    """A legal edge ``from_ -> to``; ``event`` optionally names it (e.g. ``"pause"``)."""

    from_: str
    to: str
    event: str | None = None


@dataclass(frozen=True)
class Definition:
    """A workflow state machine. The built-in ``"default"`` is PENDING -> RUNNING ->
    PAUSED/COMPLETED/FAILED/CANCELLED with the events start, pause, resume, finish, fail and
    cancel."""

    name: str
    states: Sequence[str]
    initial: str
    terminal: Sequence[str] = ()
    transitions: Sequence[Transition] = field(default_factory=tuple)

    def to_pb(self) -> pb.WorkflowDefinition:
        return pb.WorkflowDefinition(
            name=self.name,
            states=list(self.states),
            initial=self.initial,
            terminal=list(self.terminal),
            transitions=[
                pb.WorkflowTransition(**{"from": t.from_}, to=t.to, event=t.event)
                for t in self.transitions
            ],
        )

    @classmethod
    def from_pb(cls, d: pb.WorkflowDefinition) -> Definition:
        return cls(
            name=d.name,
            states=tuple(d.states),
            initial=d.initial,
            terminal=tuple(d.terminal),
            transitions=tuple(
                Transition(
                    from_=getattr(t, "from"),
                    to=t.to,
                    event=t.event if t.HasField("event") else None,
                )
                for t in d.transitions
            ),
        )


@dataclass(frozen=True)
class VersionedDefinition:
    version: int
    definition: Definition

    @classmethod
    def from_pb(cls, v: pb.VersionedDefinition) -> VersionedDefinition:
        if not v.HasField("definition"):
            raise bad_reply("definition missing")
        return cls(v.version, Definition.from_pb(v.definition))


@dataclass(frozen=True)
class RegisteredDefinition:
    """The result of registering a definition."""

    name: str
    version: int
    #: False when it equals the latest registered version (nothing was written).
    created: bool
    #: States no path from the initial state reaches.
    unreachable: list[str]
    #: Non-terminal states without an outgoing edge.
    dead_ends: list[str]
    revision: int

    @classmethod
    def from_pb(cls, r: pb.RegisterDefinitionResponse) -> RegisteredDefinition:
        return cls(r.name, r.version, r.created, list(r.unreachable), list(r.dead_ends), r.revision)


class DefinitionsApi(ClientCore):
    async def register_definition(self, definition: Definition) -> RegisteredDefinition:
        """Registers ``definition``. An identical copy of the latest version is a no-op
        (``created`` False); a changed one becomes the next version. InvalidArgument if it is
        not a valid state machine."""
        d = definition.to_pb()
        return await self._write(
            "register_definition",
            m.REGISTER_DEFINITION,
            lambda h: pb.RegisterDefinitionRequest(header=h, definition=d),
            RegisteredDefinition.from_pb,
        )

    async def get_definition(
        self, name: str, version: int | None = None, *, serializable: bool = False
    ) -> VersionedDefinition | None:
        """A definition by name: its latest version, or ``version``. None when unknown."""
        req = pb.GetDefinitionRequest(name=name, version=version, serializable=serializable)
        resp = await self._call("get_definition", m.GET_DEFINITION, req)
        if not resp.HasField("definition"):
            return None
        return VersionedDefinition.from_pb(resp.definition)

    async def list_definitions(self, *, serializable: bool = False) -> list[VersionedDefinition]:
        """The latest version of every definition (the built-in ``default`` included)."""
        req = pb.ListDefinitionsRequest(serializable=serializable)
        resp = await self._call("list_definitions", m.LIST_DEFINITIONS, req)
        return [VersionedDefinition.from_pb(d) for d in resp.definitions]
