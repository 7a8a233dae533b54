"""The committed stubs in cairn/_proto are exactly what scripts/gen_protos.py makes from
api/proto today: a .proto change without regenerating fails here."""

from __future__ import annotations

import filecmp
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "cairn" / "_proto"


def files(d: Path) -> set[str]:
    return {
        p.relative_to(d).as_posix()
        for p in d.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def pinned_grpcio_tools() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'"grpcio-tools==([^"]+)"', text)
    assert match, "pyproject.toml pins no grpcio-tools version"
    return match.group(1)


def test_committed_stubs_are_fresh(tmp_path: Path) -> None:
    pinned, installed = pinned_grpcio_tools(), version("grpcio-tools")
    assert installed == pinned, (
        f"grpcio-tools {installed} is installed; the stubs are made with {pinned} "
        "(pip install 'clients/python[dev]')"
    )
    out = tmp_path / "_proto"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    fresh, committed = files(out), files(COMMITTED)
    assert fresh, "the generator produced nothing"
    missing, extra = fresh - committed, committed - fresh
    changed = sorted(
        f for f in fresh & committed if not filecmp.cmp(out / f, COMMITTED / f, shallow=False)
    )
    hint = "stale stubs: run `python clients/python/scripts/gen_protos.py` and commit cairn/_proto"
    assert not missing and not extra and not changed, (
        f"{hint}\n missing: {sorted(missing)}\n extra: {sorted(extra)}\n changed: {changed}"
    )


def test_every_cairn_proto_is_generated() -> None:
    protos = sorted(
        p.stem for p in (ROOT.parent.parent / "api" / "proto" / "cairn" / "v1").glob("*.proto")
    )
    assert protos, "api/proto/cairn/v1 not found beside clients/python"
    for stem in protos:
        assert (COMMITTED / "cairn" / "v1" / f"{stem}_pb2.py").is_file(), stem
        assert (COMMITTED / "cairn" / "v1" / f"{stem}_pb2.pyi").is_file(), stem
