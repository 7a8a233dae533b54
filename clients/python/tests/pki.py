"""A throwaway PKI made with the openssl command (the Python side of testdata/src/pki.rs):
one CA, a certificate per node naming it (``node-<id>.cairn``, the name the peer port checks)
and valid for 127.0.0.1 and localhost, and client certificates whose common name is the user.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise FileNotFoundError("the TLS tests need the openssl command (apt-get install openssl)")
    subprocess.run([exe, *args], cwd=cwd, check=True, capture_output=True)


@dataclass(frozen=True)
class Pki:
    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    def cert(self, name: str) -> Path:
        return self.dir / f"{name}.pem"

    def key(self, name: str) -> Path:
        return self.dir / f"{name}-key.pem"

    def serve_flags(self, id: int) -> list[str]:
        """TLS on every port of node ``id``, client certificates required on the client
        port as on the peer port."""
        node = f"node-{id}"
        return [
            "--cert-file", str(self.cert(node)),
            "--key-file", str(self.key(node)),
            "--trusted-ca-file", str(self.ca),
            "--peer-cert-file", str(self.cert(node)),
            "--peer-key-file", str(self.key(node)),
            "--peer-trusted-ca-file", str(self.ca),
            "--client-cert-auth",
        ]  # fmt: skip


def generate(dir: Path, nodes: int, users: list[str]) -> Pki:
    dir.mkdir(parents=True, exist_ok=True)
    pki = Pki(dir)
    key = ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out"]
    _openssl(*key, "ca-key.pem", cwd=dir)
    _openssl(
        "req", "-x509", "-new", "-key", "ca-key.pem", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=cairn test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        cwd=dir,
    )  # fmt: skip

    def issue(name: str, cn: str, ext: str) -> None:
        _openssl(*key, pki.key(name).name, cwd=dir)
        _openssl("req", "-new", "-key", pki.key(name).name, "-out", f"{name}.csr",
                 "-subj", f"/CN={cn}", cwd=dir)  # fmt: skip
        (dir / f"{name}.ext").write_text(ext)
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
            "-CAcreateserial", "-out", pki.cert(name).name, "-days", "2",
            "-extfile", f"{name}.ext",
            cwd=dir,
        )  # fmt: skip

    for i in range(1, nodes + 1):
        issue(
            f"node-{i}",
            f"node-{i}.cairn",
            "basicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth,clientAuth\n"
            f"subjectAltName=DNS:node-{i}.cairn,DNS:localhost,IP:127.0.0.1\n",
        )
    for user in users:
        issue(
            f"client-{user}",
            user,
            "basicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=clientAuth\n",
        )
    return pki
