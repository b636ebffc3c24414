#!/usr/bin/env python3
"""Builds the native client core as the self-contained plugins the Unity package ships:
engine_clients/unity/Plugins/x86_64/libartem_native.so (Linux x86-64) and artem_native.dll
beside it (Windows x64, cross-built with MinGW-w64). Each needs nothing beyond the system's C
runtime: the core speaks gRPC itself, libjpeg-turbo (the JPEG transport) and mbedTLS (TLS to
a server started with --tls-cert) are built from their source releases as position-independent
code and linked in, and so are libstdc++ and libgcc.

Both sources come from Debian's source packages (apt-get source, the only network here
besides PyPI), checked against the SHA-256s below and cached with their builds under
~/.cache/artem-native (or $ARTEM_NATIVE_CACHE). The library carries the SHA-256 of the sources
it was built from (`source_stamp`), so tests can tell a committed plugin from a stale one.

    python3 scripts/build_native.py                       # both plugins, into the package
    python3 scripts/build_native.py --target linux-x86_64 --out DIR
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NATIVE = ROOT / "engine_clients" / "native"
PLUGINS = ROOT / "engine_clients" / "unity" / "Plugins" / "x86_64"

JPEG_VERSION = "2.1.5"
JPEG_DEBIAN = "1:2.1.5-2"
JPEG_TARBALL = f"libjpeg-turbo_{JPEG_VERSION}.orig.tar.gz"
JPEG_SHA256 = "254f3642b04e309fee775123133c6464181addc150499561020312ec61c1bf7c"

TLS_VERSION = "2.28.3"
TLS_DEBIAN = "2.28.3-1"
TLS_TARBALL = f"mbedtls_{TLS_VERSION}.orig.tar.gz"
TLS_SHA256 = "3b4953aa55a681e084d31892d9904cc5328d6b4958ea57b90ae4b4f94ae69a8d"

MINGW = "x86_64-w64-mingw32-"
TARGETS = {  # name: (library file, CMake options for the cross-compiler, strip command)
    "linux-x86_64": ("libartem_native.so", [], "strip"),
    "windows-x64": (
        "artem_native.dll",
        [
            "-DCMAKE_SYSTEM_NAME=Windows",
            "-DCMAKE_SYSTEM_PROCESSOR=AMD64",
            f"-DCMAKE_C_COMPILER={MINGW}gcc-posix",  # posix threads: std::thread, std::mutex
            f"-DCMAKE_CXX_COMPILER={MINGW}g++-posix",
            f"-DCMAKE_RC_COMPILER={MINGW}windres",
        ],
        f"{MINGW}strip",
    ),
}


def cache_root() -> Path:
    return Path(os.environ.get("ARTEM_NATIVE_CACHE", Path.home() / ".cache" / "artem-native"))


def source_stamp() -> str:
    """SHA-256 over the native core's sources (paths and bytes) and the libjpeg-turbo and
    mbedTLS releases."""
    h = hashlib.sha256(f"libjpeg-turbo {JPEG_SHA256}\nmbedtls {TLS_SHA256}\n".encode())
    files = [
        NATIVE / "CMakeLists.txt",
        *sorted((NATIVE / "include").rglob("*")),
        *sorted((NATIVE / "src").rglob("*")),
    ]
    for f in files:
        if f.is_file():
            h.update(f.relative_to(NATIVE).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def run(cmd: list[str], **kwargs) -> None:
    subprocess.run(["nice", "-n", "10", *cmd], check=True, **kwargs)


def debian_tarball(cache: Path, package: str, version: str, name: str, sha256: str) -> Path:
    """The upstream source release `name` of Debian's source package `package`=`version`,
    downloaded when not cached yet, checked against `sha256`."""
    tarball = cache / name
    if not tarball.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            t = Path(tmp)
            (t / "lists" / "partial").mkdir(parents=True)
            (t / "parts").mkdir()
            (t / "parts" / "src.sources").write_text(
                "Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n"
                "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
            )
            apt = [
                "apt-get",
                "-qq",
                "-o",
                "Dir::Etc::SourceList=/dev/null",
                "-o",
                f"Dir::Etc::SourceParts={t / 'parts'}",
                "-o",
                f"Dir::State::Lists={t / 'lists'}",
            ]
            subprocess.run([*apt, "update"], check=True)
            subprocess.run(
                [*apt, "source", "--download-only", f"{package}={version}"],
                cwd=t,
                check=True,
            )
            shutil.copyfile(t / name, tarball)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != sha256:
        raise SystemExit(f"{tarball}: SHA-256 {digest}, expected {sha256}")
    return tarball


def cmake_static(
    src: Path, build: Path, target: str, options: list[str], build_target: str | None = None
) -> None:
    """Configures and builds the CMake project `src` in `build` for `target` as Release,
    position-independent code (static libraries that go into the plugin)."""
    run(
        [
            "cmake",
            *("-S", str(src), "-B", str(build)),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DCMAKE_POSITION_INDEPENDENT_CODE=ON",
            *options,
            *TARGETS[target][1],
        ],
        stdout=subprocess.DEVNULL,
    )
    only = ["--target", build_target] if build_target else []
    run(["cmake", "--build", str(build), *only, "-j", "2"], stdout=subprocess.DEVNULL)


def static_jpeg(target: str, cache: Path) -> Path:
    """A prefix with include/ and lib/libjpeg.a: libjpeg-turbo as static position-independent
    code for `target` (its SIMD code needs nasm, which is not assumed: plain C)."""
    prefix = cache / f"libjpeg-turbo-{JPEG_VERSION}-{target}"
    if (prefix / "lib" / "libjpeg.a").is_file():
        return prefix
    src = cache / f"libjpeg-turbo-{JPEG_VERSION}"
    if not (src / "CMakeLists.txt").is_file():
        tarball = debian_tarball(cache, "libjpeg-turbo", JPEG_DEBIAN, JPEG_TARBALL, JPEG_SHA256)
        with tarfile.open(tarball) as tar:
            tar.extractall(cache, filter="data")
    build = cache / f"libjpeg-turbo-{JPEG_VERSION}-{target}-build"
    cmake_static(
        src,
        build,
        target,
        ["-DENABLE_SHARED=OFF", "-DENABLE_STATIC=ON", "-DWITH_TURBOJPEG=OFF", "-DWITH_SIMD=OFF"],
        "jpeg-static",
    )
    (prefix / "include").mkdir(parents=True, exist_ok=True)
    (prefix / "lib").mkdir(exist_ok=True)
    for header in ("jpeglib.h", "jmorecfg.h", "jerror.h"):
        shutil.copyfile(src / header, prefix / "include" / header)
    shutil.copyfile(build / "jconfig.h", prefix / "include" / "jconfig.h")
    shutil.copyfile(build / "libjpeg.a", prefix / "lib" / "libjpeg.a")
    return prefix


def static_mbedtls(target: str, cache: Path) -> Path:
    """A prefix with include/ and lib/libmbed{tls,x509,crypto}.a: mbedTLS (TLS 1.2, ALPN, its
    default configuration) as static position-independent code for `target`."""
    prefix = cache / f"mbedtls-{TLS_VERSION}-{target}"
    if (prefix / "lib" / "libmbedcrypto.a").is_file():
        return prefix
    src = cache / f"mbedtls-{TLS_VERSION}"
    if not (src / "CMakeLists.txt").is_file():
        tarball = debian_tarball(cache, "mbedtls", TLS_DEBIAN, TLS_TARBALL, TLS_SHA256)
        with tempfile.TemporaryDirectory(dir=cache) as tmp, tarfile.open(tarball) as tar:
            tar.extractall(tmp, filter="data")
            (top,) = Path(tmp).iterdir()  # named for a commit, not the version
            top.rename(src)
    build = cache / f"mbedtls-{TLS_VERSION}-{target}-build"
    cmake_static(
        src,
        build,
        target,
        [
            "-DENABLE_PROGRAMS=OFF",
            "-DENABLE_TESTING=OFF",
            "-DMBEDTLS_FATAL_WARNINGS=OFF",
            "-DUSE_SHARED_MBEDTLS_LIBRARY=OFF",
            "-DUSE_STATIC_MBEDTLS_LIBRARY=ON",
            "-DCMAKE_C_FLAGS=-ffunction-sections -fdata-sections",  # the plugin keeps what it uses
        ],
    )
    shutil.copytree(src / "include" / "mbedtls", prefix / "include" / "mbedtls", dirs_exist_ok=True)
    shutil.copytree(src / "include" / "psa", prefix / "include" / "psa", dirs_exist_ok=True)
    (prefix / "lib").mkdir(exist_ok=True)
    for lib in ("libmbedtls.a", "libmbedx509.a", "libmbedcrypto.a"):
        shutil.copyfile(build / "library" / lib, prefix / "lib" / lib)
    return prefix


def build(target: str, out: Path) -> Path:
    """Builds the plugin for `target` into `out`; returns its path."""
    cache = cache_root()
    library, cross, strip = TARGETS[target]
    jpeg = static_jpeg(target, cache)
    tls = static_mbedtls(target, cache)
    stamp = source_stamp()
    build_dir = cache / f"native-{target}-{stamp[:12]}"
    run(
        [
            "cmake",
            "-S",
            str(NATIVE),
            "-B",
            str(build_dir),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DARTEM_SELF_CONTAINED=ON",
            f"-DARTEM_SOURCE_STAMP={stamp}",
            f"-DJPEG_INCLUDE_DIR={jpeg / 'include'}",
            f"-DJPEG_LIBRARY={jpeg / 'lib' / 'libjpeg.a'}",
            f"-DARTEM_MBEDTLS_ROOT={tls}",
            *cross,
        ],
        stdout=subprocess.DEVNULL,
    )
    run(
        ["cmake", "--build", str(build_dir), "--target", "artem_native", "-j", "2"],
        stdout=subprocess.DEVNULL,
    )
    out.mkdir(parents=True, exist_ok=True)
    made = out / library
    shutil.copyfile(build_dir / library, made)
    subprocess.run([strip, "--strip-unneeded", str(made)], check=True)
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=sorted(TARGETS), action="append")
    parser.add_argument("--out", type=Path, default=PLUGINS, help=f"default: {PLUGINS}")
    args = parser.parse_args(argv)
    for target in args.target or sorted(TARGETS):
        made = build(target, args.out)
        print(f"{made} ({made.stat().st_size / 2**20:.2f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
