#!/usr/bin/env python3
"""Makes a folder from which a native client core built with the system's libraries loads on
another Linux x86-64 machine: the built libartem_native.so and every shared library it needs
beyond the C and C++ runtimes (now only libjpeg, for the JPEG transport), found with ldd. The
library looks in its own folder first (DT_RPATH $ORIGIN, set by CMakeLists.txt), so the folder
works wherever it is put, e.g. a Unity project's Assets/Plugins/x86_64.

    python3 scripts/bundle_native_linux.py build/native dist/artem-native-linux-x86_64

The target needs a glibc and libstdc++ at least as new as the build machine's (Debian 12: glibc
2.36). The Unity package ships a self-contained library instead (scripts/build_native.py).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

# What every Linux desktop has, and what must come from the machine itself (one glibc a process).
SYSTEM = re.compile(
    r"^(linux-vdso|ld-linux|libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s)\.so"
)


def dependencies(library: Path) -> dict[str, Path | None]:
    """soname: where the dynamic linker finds it for `library` (None: not found)."""
    out = subprocess.run(["ldd", str(library)], capture_output=True, text=True, check=True).stdout
    found: dict[str, Path | None] = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) => (not found|(\S+) \(0x[0-9a-f]+\))", line)
        if m:
            found[m.group(1)] = Path(m.group(3)) if m.group(3) else None
    return found


def bundle(build: Path, out: Path) -> list[Path]:
    """Copies the library and its non-system dependencies into `out`; returns what is there."""
    library = build / "libartem_native.so"
    if not library.is_file():
        raise SystemExit(f"{library}: not found (build engine_clients/native first)")
    out.mkdir(parents=True, exist_ok=True)
    copied = [Path(shutil.copy2(library, out / library.name))]
    for soname, path in sorted(dependencies(library).items()):
        if SYSTEM.match(soname):
            continue
        if path is None:
            raise SystemExit(
                f"{library.name} needs {soname}, which the dynamic linker does not find"
            )
        copied.append(
            Path(shutil.copyfile(path, out / soname))
        )  # the file itself, under its soname
    return copied


def check(out: Path) -> list[str]:
    """What the bundled library would load from outside `out` besides the system's runtimes."""
    return [
        f"{soname} => {path}"
        for soname, path in dependencies(out / "libartem_native.so").items()
        if not SYSTEM.match(soname) and (path is None or path.parent.resolve() != out.resolve())
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", type=Path, help="a CMake build folder of engine_clients/native")
    parser.add_argument("out", type=Path, help="the folder to make")
    args = parser.parse_args(argv)
    files = bundle(args.build, args.out)
    outside = check(args.out)
    for line in outside:
        print(f"not from the folder: {line}", file=sys.stderr)
    size = sum(f.stat().st_size for f in files)
    print(f"{len(files)} files, {size / 2**20:.1f} MiB in {args.out}")
    return 1 if outside else 0


if __name__ == "__main__":
    sys.exit(main())
