"""TLS on every port with client certificates required: the client connects with its CA,
certificate and key; without a certificate, or over plaintext, it gets nowhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

import cairn
from cairn.config import ClientSettings

from .cluster import Cluster
from .pki import generate


async def test_tls_with_client_certificates(
    new_cluster: Callable[..., Cluster], tmp_path: Path
) -> None:
    pki = generate(tmp_path / "pki", 3, ["root"])
    probe = grpc.ssl_channel_credentials(
        root_certificates=pki.ca.read_bytes(),
        private_key=pki.key("client-root").read_bytes(),
        certificate_chain=pki.cert("client-root").read_bytes(),
    )
    cluster = new_cluster(node_args=pki.serve_flags, probe_credentials=probe)
    eps = cluster.endpoints()

    tls = cairn.TlsOptions.from_files(
        ca=pki.ca, cert=pki.cert("client-root"), key=pki.key("client-root")
    )
    async with cairn.Client(eps, tls=tls) as client:
        rev = await client.put("tls/k", "v")
        kv = await client.get("tls/k")
        assert kv is not None and kv.mod_revision == rev
        created = await client.create_workflow("tls-wf")
        assert created.created
        # https:// endpoints are the same thing when TLS is configured.
    async with cairn.Client([f"https://{e}" for e in eps], tls=tls) as client:
        assert (await client.get("tls/k")) is not None

    fast: ClientSettings = {"retry_deadline": 1.5, "request_timeout": 0.5}
    no_cert = cairn.TlsOptions.from_files(ca=pki.ca)
    async with cairn.Client(eps, tls=no_cert, **fast) as client:
        with pytest.raises((cairn.Unavailable, cairn.Timeout)):
            await client.get("tls/k")
    async with cairn.Client(eps, **fast) as plaintext:
        with pytest.raises((cairn.Unavailable, cairn.Timeout)):
            await plaintext.get("tls/k")
