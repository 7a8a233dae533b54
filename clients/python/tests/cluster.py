"""A cluster of real ``cairn serve`` processes for the integration tests (the Python side of
cluster-tests/src/cluster.rs): free loopback ports, a temporary data directory per node, a
log file per node, waits on conditions with deadlines, and every process killed by its PID.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc

from cairn import _methods as m
from cairn._proto.cairn.v1 import admin_pb2

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[3]


def cairn_bin() -> Path:
    """The binary under test: ``$CAIRN_BIN``, or the debug build of this repository. Missing is
    an error that says how to get one, never a skip."""
    env = os.environ.get("CAIRN_BIN")
    path = Path(env) if env else REPO / "target" / "debug" / "cairn"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise FileNotFoundError(
            f"cairn binary not found at {path}: run `cargo build --bin cairn` in {REPO} "
            "or set CAIRN_BIN to a built binary"
        )
    return path


# ---- ports ----

_HANDED_OUT: set[int] = set()


def _ephemeral_start() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A currently free loopback port below the kernel's ephemeral range, never returned twice
    by this process. Not port 0: a port the kernel hands out for bind(0) lies inside the
    ephemeral range, where another node's outgoing connection can take it as its source port
    between this check and the node's own bind (cluster-tests/src/ports.rs)."""
    high = max(_ephemeral_start(), 12_000)
    for _ in range(1000):
        port = random.randrange(10_000, high)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port below {high}")


def wait_until(timeout: float, what: str, probe: Callable[[], T | None], every: float = 0.05) -> T:
    """Polls ``probe`` until it returns something other than None, or fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


async def eventually(
    what: str, probe: Callable[[], Awaitable[T | None]], timeout: float = 20.0
) -> T:
    """Polls the coroutine ``probe`` until it returns something other than None; fails after
    ``timeout`` seconds (the async form of :func:`wait_until`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if value is not None:
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)


def _die_with_parent() -> list[str]:
    """A prefix that makes a node get SIGTERM if the test process dies (PR_SET_PDEATHSIG via
    util-linux's setpriv), so an interrupted run leaves no process behind. Not a preexec_fn:
    forking a process that runs gRPC threads runs gRPC's fork handlers in the child, which can
    wedge it before it execs."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


@dataclass
class NodeProc:
    id: int
    client_addr: str
    peer_addr: str
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


@dataclass
class Cluster:
    root: Path
    n: int = 3
    extra_args: Sequence[str] = ()
    #: Per-node flags, e.g. TLS certificates (node id -> flags).
    node_args: Callable[[int], Sequence[str]] = lambda _id: ()
    #: Client-side gRPC credentials for status probes (TLS clusters).
    probe_credentials: grpc.ChannelCredentials | None = None
    nodes: list[NodeProc] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bin = cairn_bin()
        self.root.mkdir(parents=True, exist_ok=True)
        for i in range(1, self.n + 1):
            self.nodes.append(
                NodeProc(
                    id=i,
                    client_addr=f"127.0.0.1:{free_port()}",
                    peer_addr=f"127.0.0.1:{free_port()}",
                    data_dir=self.root / f"node-{i}",
                    log_path=self.root / f"node-{i}.log",
                )
            )
        self.members = ",".join(f"{p.id}={p.peer_addr}/{p.client_addr}" for p in self.nodes)

    # ---- lifecycle ----

    def start(self, timeout: float = 30.0) -> Cluster:
        """Starts every node and waits until they agree on a leader and have all applied the
        cluster id (so that entry never lands among a test's writes)."""
        for p in self.nodes:
            self.spawn(p.id)
        try:
            self.leader(timeout)
            wait_until(timeout, "the cluster id on every node", self._cluster_id_everywhere)
        except BaseException as e:
            self.kill_all()
            raise RuntimeError(f"cluster start failed; logs in {self.root}\n{self.logs()}") from e
        return self

    def node(self, id: int) -> NodeProc:
        return self.nodes[id - 1]

    def endpoints(self) -> list[str]:
        return [p.client_addr for p in self.nodes]

    def spawn(self, id: int) -> None:
        p = self.node(id)
        if p.running:
            raise RuntimeError(f"node {id} is already running")
        args = [
            *_die_with_parent(),
            str(self.bin), "serve",
            "--id", str(id),
            "--data-dir", str(p.data_dir),
            "--client-addr", p.client_addr,
            "--peer-addr", p.peer_addr,
            "--member", self.members,
            *self.extra_args,
            *self.node_args(id),
        ]  # fmt: skip
        env = dict(os.environ, CAIRN_LOG="info,openraft=info")
        with open(p.log_path, "ab") as log:
            p.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def kill(self, id: int) -> None:
        """SIGKILL by PID: the process gets no chance to flush anything."""
        p = self.node(id)
        if p.proc is not None and p.proc.poll() is None:
            os.kill(p.proc.pid, signal.SIGKILL)
            p.proc.wait(timeout=30)
        p.proc = None

    def kill_all(self) -> None:
        for p in self.nodes:
            self.kill(p.id)

    # ---- observation ----

    def status(self, id: int, timeout: float = 2.0) -> admin_pb2.StatusResponse | None:
        """Node ``id``'s Admin.Status, or None if it does not answer."""
        p = self.node(id)
        if self.probe_credentials is not None:
            channel = grpc.secure_channel(p.client_addr, self.probe_credentials)
        else:
            channel = grpc.insecure_channel(p.client_addr)
        try:
            call = channel.unary_unary(
                m.ADMIN_STATUS.path,
                request_serializer=admin_pb2.StatusRequest.SerializeToString,
                response_deserializer=admin_pb2.StatusResponse.FromString,
            )
            resp: admin_pb2.StatusResponse = call(admin_pb2.StatusRequest(), timeout=timeout)
            return resp
        except grpc.RpcError:
            return None
        finally:
            channel.close()

    def exited(self) -> list[int]:
        """Nodes that exited without being killed by the test."""
        return [p.id for p in self.nodes if p.proc is not None and p.proc.poll() is not None]

    def _agreed_leader(self) -> int | None:
        if self.exited():
            raise RuntimeError(f"nodes {self.exited()} exited\n{self.logs()}")
        leader: int | None = None
        for p in (p for p in self.nodes if p.running):
            s = self.status(p.id)
            if s is None or not s.HasField("leader_id"):
                return None
            if leader is not None and s.leader_id != leader:
                return None
            leader = s.leader_id
        if leader is None or not self.node(leader).running:
            return None
        s = self.status(leader)
        return leader if s is not None and s.state == "leader" else None

    def leader(self, timeout: float = 30.0) -> int:
        """Waits until every running node names the same leader, which is running and says it
        leads; returns its id."""
        return wait_until(timeout, "an agreed leader", self._agreed_leader, every=0.1)

    def _cluster_id_everywhere(self) -> bool | None:
        for p in self.nodes:
            if p.running:
                s = self.status(p.id)
                if s is None or s.cluster_id == 0:
                    return None
        return True

    def logs(self, lines: int = 30) -> str:
        out = []
        for p in self.nodes:
            try:
                tail = p.log_path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                tail = ["<no log>"]
            out.append(f"--- node {p.id} ({p.log_path}):\n" + "\n".join(tail))
        return "\n".join(out)
