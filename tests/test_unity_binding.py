"""The Unity package's binding (engine_clients/unity/Runtime) compiled with Mono's C# compiler
and run against a real server through the native core, as a Unity scene would call it.

Needs Mono (`mcs`, `mono`; Debian: mono-devel, which .ci/run installs) and the native build;
skipped without them."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNITY = ROOT / "engine_clients" / "unity"


# Runtime/ without the component: the binding and the component's engine-free logic, which
# compile and run without Unity.
ENGINE_FREE = sorted(p for p in (UNITY / "Runtime").rglob("*.cs") if p.name != "ArtemStylizer.cs")


def mcs(out: Path, sources: list[Path], *options: str) -> Path:
    if shutil.which("mcs") is None or shutil.which("mono") is None:
        pytest.skip("Mono is not installed (apt-get install mono-devel)")
    done = subprocess.run(
        ["mcs", "-warnaserror", "-r:System.Core", f"-out:{out}", *options, *map(str, sources)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def run_mono(
    exe: Path, *args: str, library_path: Path | None = None, cwd: Path | None = None, timeout=120
) -> str:
    """Run a compiled check under Mono and return its output, asserting that it passed. The
    native library comes from `library_path`, or with no library path set at all (as in a Unity
    project, from beside the executable)."""
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    if library_path is not None:
        env["LD_LIBRARY_PATH"] = str(library_path)
    done = subprocess.run(
        ["mono", str(exe), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all checks passed" in done.stdout
    return done.stdout


def alone_in_a_folder(folder: Path, exe: Path, library: Path) -> Path:
    """`library` and a copy of `exe` in an otherwise empty `folder` (a Unity project's
    Assets/Plugins); returns the copy."""
    folder.mkdir(exist_ok=True)
    shutil.copy2(library, folder)
    return Path(shutil.copy2(exe, folder / exe.name))


@pytest.fixture(scope="module")
def roundtrip_exe(tmp_path_factory) -> Path:
    return mcs(
        tmp_path_factory.mktemp("unity") / "RoundTrip.exe",
        ENGINE_FREE + [UNITY / "Tests~" / "RoundTrip.cs"],
    )


@pytest.fixture(scope="module")
def logic_exe(tmp_path_factory) -> Path:
    return mcs(
        tmp_path_factory.mktemp("unity") / "StylizerLogic.exe",
        ENGINE_FREE + [UNITY / "Tests~" / "StylizerLogic.cs"],
    )


@pytest.fixture(scope="module")
def secured_exe(tmp_path_factory) -> Path:
    return mcs(
        tmp_path_factory.mktemp("unity") / "Secured.exe",
        ENGINE_FREE + [UNITY / "Tests~" / "Secured.cs"],
    )


@pytest.mark.parametrize("checks", [False, True], ids=["player", "editor-checks"])
def test_component_editor_and_sample_compile_against_the_unity_api_stand_in(tmp_path, checks):
    """Runtime/ (with the ArtemStylizer component), Editor/ (its inspector) and the sample compile
    against the stand-in of the Unity API they use (Tests~/UnityApiStandIn: signatures only), with
    and without the collections safety checks the editor compiles in. Not a Unity build."""
    stand_in = mcs(
        tmp_path / "UnityApiStandIn.dll",
        [UNITY / "Tests~" / "UnityApiStandIn" / "UnityApiStandIn.cs"],
        "-target:library",
        "-unsafe",
    )
    defines = ["-define:ENABLE_UNITY_COLLECTIONS_CHECKS"] if checks else []
    runtime = mcs(
        tmp_path / "ArtEm.Stylizer.dll",
        sorted((UNITY / "Runtime").rglob("*.cs")),
        "-target:library",
        "-unsafe",
        f"-r:{stand_in}",
        *defines,
    )
    mcs(
        tmp_path / "ArtEm.Stylizer.Editor.dll",
        sorted((UNITY / "Editor").glob("*.cs")),
        "-target:library",
        f"-r:{stand_in}",
        f"-r:{runtime}",
    )
    mcs(
        tmp_path / "Sample.dll",
        sorted((UNITY / "Samples~").rglob("*.cs")),
        "-target:library",
        f"-r:{stand_in}",
        f"-r:{runtime}",
    )
    runtime_asmdef = json.loads((UNITY / "Runtime" / "ArtEm.Stylizer.asmdef").read_text())
    editor_asmdef = json.loads((UNITY / "Editor" / "ArtEm.Stylizer.Editor.asmdef").read_text())
    assert (
        runtime_asmdef["allowUnsafeCode"] is True and runtime_asmdef["noEngineReferences"] is False
    )
    assert editor_asmdef["references"] == [runtime_asmdef["name"]] and editor_asmdef[
        "includePlatforms"
    ] == ["Editor"]


def test_the_engine_free_runtime_names_no_engine_type():
    """What the Mono tests run must be what Unity runs: only ArtemStylizer.cs may use the engine."""
    for source in ENGINE_FREE:
        text = source.read_text()
        assert "using UnityEngine" not in text and "using Unity." not in text, source.name


def test_package_manifest_has_the_fields_unity_reads():
    """package.json as the Package Manager reads it: a reverse-domain name, a semantic version,
    the minimum Unity version, a licence, samples that exist; the files it shows beside them."""
    manifest = json.loads((UNITY / "package.json").read_text())
    assert (
        re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+){2,}", manifest["name"])
        and len(manifest["name"]) <= 214
    )
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", manifest["version"])
    assert re.fullmatch(r"20\d\d\.\d", manifest["unity"])
    assert (
        manifest["displayName"]
        and manifest["description"]
        and manifest["license"] == "BSD-3-Clause"
    )
    assert manifest["samples"], "no samples listed"
    for sample in manifest["samples"]:
        assert sample["displayName"] and sample["description"]
        assert sample["path"].startswith("Samples~/") and any(
            (UNITY / sample["path"]).glob("*.cs")
        ), sample
    for name in ("README.md", "CHANGELOG.md", "LICENSE.md"):
        assert (UNITY / name).is_file(), name
    assert f"## [{manifest['version']}]" in (UNITY / "CHANGELOG.md").read_text()
    assembly = json.loads((UNITY / "Runtime" / "ArtEm.Stylizer.asmdef").read_text())
    assert assembly["name"] == "ArtEm.Stylizer"
    assert {"Android", "Editor", "LinuxStandalone64", "WindowsStandalone64"} <= set(
        assembly["includePlatforms"]
    )


def test_every_imported_file_has_a_meta_with_a_stable_unique_guid():
    """Installed from a git URL, Unity needs a .meta per file and folder; their GUIDs must not
    change from one checkout to the next (scenes refer to them) and must not collide."""
    checked = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "unity_meta.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, "run scripts/unity_meta.py:\n" + checked.stdout + checked.stderr
    metas = [
        m
        for m in UNITY.rglob("*.meta")
        if not any(p.endswith("~") for p in m.relative_to(UNITY).parts)
    ]
    guids = {}
    for meta in metas:
        found = re.search(r"^guid: ([0-9a-f]{32})$", meta.read_text(), re.M)
        assert found, meta
        asset = meta.relative_to(UNITY).as_posix()[: -len(".meta")]
        assert found.group(1) == hashlib.md5(f"com.artem.stylizer/{asset}".encode()).hexdigest(), (
            asset
        )
        guids.setdefault(found.group(1), []).append(asset)
    assert all(len(v) == 1 for v in guids.values()), [v for v in guids.values() if len(v) > 1]
    assert len(metas) >= 8 and (UNITY / "Runtime.meta").is_file()


def test_binding_streams_through_shared_memory(native_build, roundtrip_exe, server):
    """Identity frames come back unchanged through the region; a style switch on the same
    stream changes them and keeps alpha; refusals arrive as ArtemException with the status code."""
    out = run_mono(roundtrip_exe, server.address, "gen-a", library_path=native_build)
    assert "unknown style: code 5" in out and "slot out of range: code 3" in out


@pytest.mark.parametrize("transport", ["shm", "inline"])
def test_stylizer_logic_streams_latest_frame_wins(native_build, logic_exe, server, transport):
    """The component's engine-free logic as the component drives it, against a real server: a
    render loop faster than the server never waits, skips frames when every slot is out, shows
    only newer frames and each with its own pixels, frees every slot; single-pass instanced and
    multi-pass stereo; style switch and refusal on the same stream; the server's styles listed
    with PNG thumbnails; an unreachable server fails the link with code 14."""
    out = run_mono(
        logic_exe, server.address, "gen-a", transport, library_path=native_build, timeout=180
    )
    assert f"connected via {'SharedMemory' if transport == 'shm' else 'Inline'}" in out


def test_the_linux_bundle_loads_from_a_folder_of_its_own(
    native_build, roundtrip_exe, server, tmp_path
):
    """scripts/bundle_native_linux.py makes a Plugins folder of a build made with the system's
    libraries: the library and what it needs beyond the C and C++ runtimes (libjpeg), which it
    finds beside itself, and the binding streams through it from there with no library path
    set, as from a Unity project's Assets/Plugins."""
    plugins = tmp_path / "Plugins"
    made = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bundle_native_linux.py"),
            str(native_build),
            str(plugins),
        ],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    ldd = subprocess.run(
        ["ldd", str(plugins / "libartem_native.so")], capture_output=True, text=True, check=True
    )
    for line in ldd.stdout.splitlines():
        if "=>" in line and not re.match(
            r"\s*(linux-vdso|ld-linux|lib(c|m|pthread|dl|rt|stdc\+\+|gcc_s))\.so", line
        ):
            assert str(plugins) in line, line
    exe = Path(shutil.copy2(roundtrip_exe, plugins / roundtrip_exe.name))
    run_mono(exe, server.address, "gen-a", cwd=tmp_path)


def load_build_native():
    spec = importlib.util.spec_from_file_location(
        "build_native", ROOT / "scripts" / "build_native.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SHIPPED = UNITY / "Plugins" / "x86_64"


@pytest.mark.parametrize("library", ["libartem_native.so", "artem_native.dll"])
def test_the_shipped_plugins_are_built_from_these_sources(library):
    """The committed plugins carry the stamp of the sources they were built from
    (scripts/build_native.py): a change to engine_clients/native without rebuilding them fails
    here. Each has its .meta marking it for its platform's editor and player."""
    plugin = SHIPPED / library
    assert plugin.is_file(), f"{plugin} is missing: run scripts/build_native.py"
    stamp = load_build_native().source_stamp()
    found = re.search(rb"artem-native-sources:([0-9a-f]{64})", plugin.read_bytes())
    assert found, f"{library} carries no source stamp"
    assert found.group(1).decode() == stamp, f"{library} is stale: run scripts/build_native.py"
    meta = (SHIPPED / (library + ".meta")).read_text()
    player = "Linux64" if library.endswith(".so") else "Win64"
    assert "PluginImporter:" in meta
    assert re.search(rf"Standalone: {player}\n +second:\n +enabled: 1\n", meta), meta


def test_the_shipped_linux_plugin_needs_only_the_c_runtime_and_exports_the_c_abi():
    """ldd of the shipped libartem_native.so lists only the system's C runtime (libc, libgcc_s,
    the dynamic loader; libstdc++ and libjpeg are linked in), it asks for no glibc newer than
    2.34 (Ubuntu 22.04, Debian 12), and it exports the header's functions and nothing else."""
    plugin = SHIPPED / "libartem_native.so"
    ldd = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, check=True).stdout
    needed = {line.split()[0] for line in ldd.splitlines() if line.strip()}
    allowed = (
        r"(linux-vdso\.so\.1|/lib64/ld-linux-x86-64\.so\.2|lib(c|m|pthread|dl|rt|gcc_s)\.so\.\d+)"
    )
    assert all(re.fullmatch(allowed, name) for name in needed), needed
    symbols = subprocess.run(["objdump", "-T", str(plugin)], capture_output=True, text=True).stdout
    glibc = {tuple(map(int, v.split("."))) for v in re.findall(r"GLIBC_([\d.]+)", symbols)}
    assert max(glibc) <= (2, 34), max(glibc)
    header = (ROOT / "engine_clients" / "native" / "include" / "artem" / "artem.h").read_text()
    declared = set(re.findall(r"ARTEM_API\s+[\w\s*]+?\b(artem_\w+)\(", header))
    nm = subprocess.run(
        ["nm", "-D", "--defined-only", str(plugin)], capture_output=True, text=True, check=True
    )
    assert {line.split()[-1] for line in nm.stdout.splitlines()} == declared


def test_the_shipped_linux_plugin_streams_from_a_folder_of_its_own(roundtrip_exe, server, tmp_path):
    """A copy of the shipped plugin alone in an empty folder (no library path set, no other
    library beside it), as in a Unity project's Assets/Plugins: the C# binding's round trip
    (identity bit for bit, a style switch, refusals with their status codes) passes through it."""
    exe = alone_in_a_folder(tmp_path / "Plugins", roundtrip_exe, SHIPPED / "libartem_native.so")
    run_mono(exe, server.address, "gen-a", cwd=tmp_path)


def test_the_shipped_linux_plugin_streams_from_a_tls_server_with_its_token(
    secured_exe, secured_server, server, tmp_path
):
    """The shipped plugin (mbedTLS linked in) alone in a folder, through ConnectOptions as the
    component passes them (a token file, a CA file): identity frames over TLS unchanged,
    ListStyles, the component's link streaming; no token or a wrong one -> 16 with the server's
    message; a CA that did not sign the certificate, plaintext to the TLS server and TLS to a
    plaintext server -> 14 with the reason; a missing token file named."""
    exe = alone_in_a_folder(tmp_path / "Plugins", secured_exe, SHIPPED / "libartem_native.so")
    s = secured_server
    args = [s.address, server.address, str(s.token_file), str(s.ca), str(s.other_ca)]
    out = run_mono(exe, *args, timeout=180)
    assert "no token: code 16, this server requires `authorization: Bearer <token>`" in out
    assert "TLS to a plaintext server: code 14" in out


def test_the_shipped_windows_plugin_streams_under_wine(server, secured_server, tmp_path):
    """The shipped artem_native.dll, alone beside a C program that uses its C ABI (MinGW-w64,
    linked against the DLL itself), run under Wine against a real server: inline stereo frames
    come back byte for byte, an unknown style is refused with 5, ListStyles has the identity
    style; the same over TLS with the token. Wine's sockets are the host's, so this is the DLL's
    own gRPC client (and TLS) at work."""
    compiler = shutil.which("x86_64-w64-mingw32-gcc-posix") or shutil.which(
        "x86_64-w64-mingw32-gcc"
    )
    wine = shutil.which("wine64") or next(
        (p for p in ("/usr/lib/wine/wine64",) if Path(p).exists()), None
    )
    if compiler is None or wine is None:
        pytest.skip("needs MinGW-w64 and Wine (apt-get install g++-mingw-w64-x86-64-posix wine64)")
    folder = tmp_path / "bin"
    folder.mkdir()
    dll = Path(shutil.copy2(SHIPPED / "artem_native.dll", folder))
    native = ROOT / "engine_clients" / "native"
    exe = folder / "c_roundtrip.exe"
    built = subprocess.run(
        [
            compiler,
            "-O1",
            "-Wall",
            f"-I{native / 'include'}",
            str(native / "tests" / "c_roundtrip.c"),
            str(dll),
            "-o",
            str(exe),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    env = {**os.environ, "WINEDEBUG": "-all", "WINEPREFIX": str(tmp_path / "wine")}
    ran = subprocess.run(
        [wine, str(exe), server.address], capture_output=True, text=True, env=env, timeout=300
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "round trip ok" in ran.stdout

    # Over TLS with the token (mbedTLS inside the DLL; Wine sees the CA file on its Z: drive),
    # and a CA that did not sign the server's certificate refused with the reason.
    def windows(p: Path) -> str:
        return "Z:" + str(p).replace("/", "\\")

    secured = [secured_server.address, "--token", secured_server.token, "--tls-ca"]
    ran = subprocess.run(
        [wine, str(exe), *secured, windows(secured_server.ca)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "round trip ok" in ran.stdout
    ran = subprocess.run(
        [wine, str(exe), *secured, windows(secured_server.other_ca)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert ran.returncode == 1 and "open: 14 " in ran.stderr, ran.stdout + ran.stderr
    assert "The certificate is not correctly signed by the trusted CA" in ran.stderr
