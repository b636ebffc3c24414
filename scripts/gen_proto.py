#!/usr/bin/env python3
"""Generate the Python gRPC code for proto/artem/v1/*.proto into protocol/artem_protocol/rpc/.

Run after editing a .proto: `.venv/bin/python scripts/gen_proto.py`. The output is committed;
tests/test_proto_codegen.py fails when it no longer matches the .proto.

grpc_tools writes absolute imports (`from artem.v1 import stylizer_pb2`) that only resolve with
proto/ on sys.path; they are rewritten to relative imports so the code lives inside the protocol
package (artem_protocol.rpc), which the server and the clients share.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
OUT = ROOT / "protocol" / "artem_protocol" / "rpc"


def generate(out_dir: Path = OUT) -> list[Path]:
    """Write the generated modules under `out_dir`; returns the files written."""
    from grpc_tools import protoc

    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        rc = protoc.main(
            [
                "protoc",
                f"-I{PROTO_ROOT}",
                f"--python_out={tmp}",
                f"--pyi_out={tmp}",
                f"--grpc_python_out={tmp}",
                *protos,
            ]
        )
        if rc != 0:
            raise RuntimeError(f"protoc failed with exit code {rc}")
        written = []
        for src in sorted(Path(tmp).rglob("*.py*")):
            text = re.sub(
                r"^from artem\.v1 import (\w+)", r"from . import \1", src.read_text(), flags=re.M
            )
            dst = out_dir / src.relative_to(tmp)
            dst.parent.mkdir(parents=True, exist_ok=True)
            for pkg in dst.relative_to(out_dir).parents:
                (out_dir / pkg / "__init__.py").touch()
            dst.write_text(text)
            written.append(dst)
    return written


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
