#!/usr/bin/env python3
"""Puts a build of the ArtEm native client core where the Unreal plugin's ThirdParty module
(ArtEm/Source/ThirdParty/ArtEmNative) looks for it: the C header, and the Linux library: the
statically linked libartem_native.a when the build has one, else libartem_native.so with the
shared libraries it needs beside it (it finds them there: DT_RPATH $ORIGIN). A Windows build's
artem_native.lib (and artem_native.dll) is copied too when the build folder has them; a DLL
without its import library gets one made from the header's functions by MinGW's dlltool.

--shipped stages the self-contained binaries the repository ships (engine_clients/unity/Plugins/
x86_64, made by scripts/build_native.py): the Linux .so alone, and the MinGW-built DLL with an
import library made for it.

    python3 engine_clients/unreal/stage_native.py build/native [--plugin PATH/TO/ArtEm]
    python3 engine_clients/unreal/stage_native.py --shipped [--plugin PATH/TO/ArtEm]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = HERE.parent / "native" / "include" / "artem" / "artem.h"
BUNDLE = HERE.parents[1] / "scripts" / "bundle_native_linux.py"
SHIPPED = HERE.parent / "unity" / "Plugins" / "x86_64"
DLLTOOL = "x86_64-w64-mingw32-dlltool"
OBJDUMP = "x86_64-w64-mingw32-objdump"
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
    lib, dll = build / "artem_native.lib", build / "artem_native.dll"
    if lib.is_file() or dll.is_file():
        (module / WIN64).mkdir(parents=True)
        staged += [
            Path(shutil.copy2(f, module / WIN64 / f.name)) for f in (lib, dll) if f.is_file()
        ]
        if not lib.is_file():
            staged.append(import_library(dll, module / WIN64 / lib.name))
    if len(staged) == 1:
        raise SystemExit(
            f"{build}: no libartem_native.a, libartem_native.so, artem_native.lib or .dll"
        )
    return staged


def exported_functions() -> list[str]:
    """The C ABI's functions: every `ARTEM_API <type> artem_<name>(` the header declares."""
    return sorted(set(re.findall(r"^ARTEM_API [^(]*?\b(artem_\w+)\(", HEADER.read_text(), re.M)))


def import_library(dll: Path, lib: Path) -> Path:
    """Makes the import library MSVC's linker needs for `dll` with MinGW's dlltool, from a .def of
    the header's functions, after checking that the DLL exports exactly those."""
    names = exported_functions()
    for tool in (DLLTOOL, OBJDUMP):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not on PATH (apt-get install binutils-mingw-w64-x86-64)")
    table = subprocess.run([OBJDUMP, "-p", str(dll)], capture_output=True, text=True, check=True)
    exports = table.stdout.partition("[Ordinal/Name Pointer] Table")[2]
    found = sorted(re.findall(r"^\s*\[\s*\d+\] (\w+)$", exports, re.M))
    if found != names:
        raise SystemExit(f"{dll}: exports {found}, the header declares {names}")
    definition = lib.with_suffix(".def")
    definition.write_text(
        "LIBRARY artem_native.dll\nEXPORTS\n" + "".join(f"  {n}\n" for n in names)
    )
    try:
        subprocess.run(
            [DLLTOOL, "-d", definition.name, "-D", dll.name, "-m", "i386:x86-64", "-l", lib.name],
            cwd=lib.parent,  # the archive's members are named after the path given
            check=True,
        )
    finally:
        definition.unlink()
    return lib


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "build", type=Path, nargs="?", help="a build folder of engine_clients/native"
    )
    source.add_argument(
        "--shipped",
        action="store_true",
        help=f"the shipped binaries ({SHIPPED.relative_to(HERE.parents[1])})",
    )
    parser.add_argument("--plugin", type=Path, default=HERE / "ArtEm", help="the plugin folder")
    args = parser.parse_args(argv)
    files = stage(SHIPPED if args.shipped else args.build, args.plugin)
    size = sum(f.stat().st_size for f in files)
    print(f"staged {len(files)} files ({size / 2**20:.1f} MiB) into {args.plugin}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
