"""Regenerate the committed gRPC stubs from the .proto files.

    python -m app.bridge.codegen          # rewrite app/bridge/*_pb2*.py(i), simulator/admin_pb2*
    python -m app.bridge.codegen --check  # exit 1 if the committed stubs are stale

Two contracts: the bridge's (``app/bridge/dict_bridge.proto``, the connector's client
and the simulator both use it) and the simulator's admin service
(``simulator/admin.proto``, which imports the bridge's). Protos are compiled from the
repository root so generated modules import each other by their package paths
(``app.bridge.…``, ``simulator.…``). Needs the dev extra (grpcio-tools, mypy-protobuf).
"""

from __future__ import annotations

import filecmp
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ["app/bridge/dict_bridge.proto", "simulator/admin.proto"]


def generate(out_dir: Path) -> list[Path]:
    """Compile every proto into ``out_dir``; return the files written, relative to it."""
    import grpc_tools
    from grpc_tools import protoc

    include = str(Path(grpc_tools.__file__).parent / "_proto")
    # The venv's bin is not on PATH when its python runs directly (as in CI).
    plugin = Path(sys.executable).parent / "protoc-gen-mypy"
    args = [
        "protoc",
        f"--plugin=protoc-gen-mypy={plugin}",
        f"--plugin=protoc-gen-mypy_grpc={plugin.with_name('protoc-gen-mypy_grpc')}",
        f"-I{ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",  # typed stubs: mypy --strict checks the calls
        *[str(ROOT / p) for p in PROTOS],
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed")
    return sorted(p.relative_to(out_dir) for p in out_dir.rglob("*_pb2*.py*"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with tempfile.TemporaryDirectory() as tmp:
        files = generate(Path(tmp))
        stale = [
            f
            for f in files
            if not (ROOT / f).exists() or not filecmp.cmp(Path(tmp) / f, ROOT / f, shallow=False)
        ]
        if "--check" in argv:
            for f in stale:
                print(f"stale: {f}", file=sys.stderr)
            return 1 if stale else 0
        for f in files:
            (ROOT / f).write_bytes((Path(tmp) / f).read_bytes())
            print(f"wrote {f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
