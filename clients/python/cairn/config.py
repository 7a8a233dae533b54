"""Client settings: timeouts, retry budget, backoff bounds, TLS and login credentials
(``cairn_client::ClientConfig``, ``TlsOptions``, ``Credentials``). Durations are seconds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from cairn.errors import InvalidArgument

__all__ = ["ClientConfig", "ClientSettings", "Credentials", "TlsOptions"]


@dataclass(frozen=True)
class TlsOptions:
    """PEM material for TLS, read once (re-create the client to rotate).

    ``ca_pem`` signs the servers' certificates (None: the system roots); ``cert_pem`` and
    ``key_pem`` are this client's, for clusters with ``--client-cert-auth``; ``domain`` is the
    name to check the servers' certificates against instead of the endpoint's host.
    """

    ca_pem: bytes | None = None
    cert_pem: bytes | None = None
    key_pem: bytes | None = field(default=None, repr=False)
    domain: str | None = None

    def __post_init__(self) -> None:
        if (self.cert_pem is None) != (self.key_pem is None):
            raise InvalidArgument("a client certificate needs its key (cert with key)")

    @classmethod
    def from_files(
        cls,
        ca: str | Path | None = None,
        cert: str | Path | None = None,
        key: str | Path | None = None,
        *,
        domain: str | None = None,
    ) -> TlsOptions:
        """Reads etcdctl-style ``--cacert``, ``--cert`` and ``--key`` files."""
        if (cert is None) != (key is None):
            raise InvalidArgument("a client certificate needs its key (--cert with --key)")
        return cls(
            ca_pem=_read(ca, "CA file"),
            cert_pem=_read(cert, "certificate"),
            key_pem=_read(key, "key"),
            domain=domain,
        )


def _read(path: str | Path | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise InvalidArgument(f"{what} {path}: {e}") from e


@dataclass(frozen=True)
class Credentials:
    """A user and password for a cluster with auth on (``etcdctl --user``)."""

    user: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class ClientConfig:
    """How patient a client is.

    The defaults suit a LAN cluster with 0.5-1 s election timeouts: a leader failover
    completes well inside the 15 s retry budget, and backoff stays short enough that a write
    resumes within a few hundred milliseconds of the new leader being elected.
    """

    #: Upper bound for one attempt. The server gets a slightly later deadline, so it abandons
    #: work the client has given up on.
    request_timeout: float = 5.0
    #: Total time one call may spend across all attempts and backoff sleeps.
    retry_deadline: float = 15.0
    #: First backoff ceiling; doubles per consecutive failure.
    backoff_base: float = 0.02
    #: Largest backoff ceiling.
    backoff_max: float = 0.5
    #: How long a connection attempt to a node may take before the node counts as down.
    connect_timeout: float = 2.0
    #: TLS for every endpoint (None: plaintext). Endpoints without a scheme then use https.
    tls: TlsOptions | None = None
    #: A user to log in as, for clusters with auth on.
    credentials: Credentials | None = None

    def __post_init__(self) -> None:
        for name in ("request_timeout", "retry_deadline", "connect_timeout"):
            if not getattr(self, name) > 0:
                raise InvalidArgument(f"{name} must be positive")
        if self.backoff_base < 0 or self.backoff_max < 0:
            raise InvalidArgument("backoff bounds must not be negative")


class ClientSettings(TypedDict, total=False):
    """Keyword overrides of :class:`ClientConfig` fields that ``Client(...)`` accepts."""

    request_timeout: float
    retry_deadline: float
    backoff_base: float
    backoff_max: float
    connect_timeout: float
    tls: TlsOptions | None
    credentials: Credentials | None
