#!/usr/bin/env python3
"""Puts a build of the ArtEm native client core where the Unreal plugin's ThirdParty module
(ArtEm/Source/ThirdParty/ArtEmNative) looks for it: the C header, and the Linux library: the
statically linked libartem_native.a when the build has one, else libartem_native.so with the
shared libraries it needs beside it (it finds them there: DT_RPATH $ORIGIN). A Windows build's
artem_native.lib (and artem_native.dll) is copied too when the build folder has them.

    python3 engine_clients/unreal/stage_native.py build/native [--plugin PATH/TO/ArtEm]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = HERE.parent / "native" / "include" / "artem" / "artem.h"
BUNDLE = HERE.parents[1] / "scripts" / "bundle_native_linux.py"
LINUX = Path("lib") / "Linux" / "x86_64-unknown-linux-gnu"
WIN64 = Path("lib") / "Win64"


def stage(build: Path, plugin: Path) -> list[Path]:
    """Copies what `build` has into the plugin's ArtEmNative folder; returns the files staged."""
    module = plugin / "Source" / "ThirdParty" / "ArtEmNative"
    if not (module / "ArtEmNative.Build.cs").is_file():
        raise SystemExit(f"{plugin}: not the ArtEm plugin (no Source/ThirdParty/ArtEmNative)")
    for old in (module / "include", module / "lib"):
        shutil.rmtree(old, ignore_errors=True)
    (module / "include" / "artem").mkdir(parents=True)
    staged = [Path(shutil.copy2(HEADER, module / "include" / "artem" / HEADER.name))]
    static, shared = build / "libartem_native.a", build / "libartem_native.so"
    linux = module / LINUX
    if static.is_file():
        linux.mkdir(parents=True)
        staged.append(Path(shutil.copy2(static, linux / static.name)))
    elif shared.is_file():
        bundled = subprocess.run([sys.executable, str(BUNDLE), str(build), str(linux)], text=True)
        if bundled.returncode != 0:
            raise SystemExit(f"bundling {shared} failed")
        staged += sorted(linux.iterdir())
    windows = [build / name for name in ("artem_native.lib", "artem_native.dll")]
    if windows[0].is_file():
        (module / WIN64).mkdir(parents=True)
        staged += [Path(shutil.copy2(f, module / WIN64 / f.name)) for f in windows if f.is_file()]
    if len(staged) == 1:
        raise SystemExit(f"{build}: no libartem_native.a, libartem_native.so or artem_native.lib")
    return staged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", type=Path, help="a build folder of engine_clients/native")
    parser.add_argument("--plugin", type=Path, default=HERE / "ArtEm", help="the plugin folder")
    args = parser.parse_args(argv)
    files = stage(args.build, args.plugin)
    size = sum(f.stat().st_size for f in files)
    print(f"staged {len(files)} files ({size / 2**20:.1f} MiB) into {args.plugin}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
