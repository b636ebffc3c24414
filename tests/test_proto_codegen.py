"""The committed gRPC code must be what scripts/gen_proto.py makes from the .proto today."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_code_matches_the_proto(tmp_path):
    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "scripts" / "gen_proto.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    fresh = gen.generate(tmp_path)
    assert fresh, "no code generated"
    for path in fresh:
        committed = gen.OUT / path.relative_to(tmp_path)
        assert committed.exists(), f"{committed} is missing: run scripts/gen_proto.py"
        assert committed.read_text() == path.read_text(), (
            f"{committed} is stale: run scripts/gen_proto.py"
        )
