"""The Unreal plugin (engine_clients/unreal/ArtEm) as far as it can be checked without the engine:
its descriptor against the plugin descriptor schema, its Build.cs rules compiled with Mono's C#
compiler against a stand-in of UnrealBuildTool's types and run for Linux and Win64, every source
file that includes no engine header compiled, and the engine-free core's ctest programs, one of
them streaming through a real server by the native core. Nothing here runs Unreal.

Needs cmake and a C++ compiler for the native core, Mono (`mcs`, `mono`), and MinGW's binutils
for the Win64 import library; each test skips and says why without its tools (.ci/run installs
them)."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import native_has_tls

ROOT = Path(__file__).resolve().parents[1]
UNREAL = ROOT / "engine_clients" / "unreal"
PLUGIN = UNREAL / "ArtEm"
SOURCE = PLUGIN / "Source"
STAND_IN = UNREAL / "Tests" / "UnrealBuildToolStandIn"
SCHEMA = json.loads((UNREAL / "Tests" / "uplugin.schema.json").read_text())


# --- the descriptor --------------------------------------------------------------------------


def schema_errors(value, schema: dict, where: str = "$") -> list[str]:
    """The draft-04 keywords the descriptor schema uses ($ref into definitions, type, enum,
    properties, additionalProperties false, required, items): one message per violation."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/definitions/")
        return schema_errors(value, SCHEMA["definitions"][name], where)
    types = {
        "object": dict,
        "array": list,
        "string": str,
        "boolean": bool,
        "number": (int, float),
        "integer": int,
    }
    expected = schema.get("type")
    if expected and (
        not isinstance(value, types[expected])
        or (expected in ("number", "integer") and isinstance(value, bool))
    ):
        return [f"{where} = {value!r}: expected {expected}"]
    errors = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where} = {value!r}: expected one of {', '.join(schema['enum'])}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{where}: required key {key} is missing")
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(item, properties[key], f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}.{key}: not a key of the descriptor")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{where}[{i}]")
    return errors


def descriptor() -> dict:
    return json.loads((PLUGIN / "ArtEm.uplugin").read_text())


def test_the_descriptor_matches_the_plugin_descriptor_schema():
    plugin = descriptor()
    assert schema_errors(plugin, SCHEMA) == []
    assert plugin["FileVersion"] == 3 and plugin["EngineVersion"].startswith("5.")
    assert {m["Name"]: m["Type"] for m in plugin["Modules"]} == {
        "ArtEmCore": "Runtime",
        "ArtEm": "Runtime",
        "ArtEmEditor": "Editor",
    }
    assert set(plugin["SupportedTargetPlatforms"]) == {"Win64", "Linux"}


@pytest.mark.parametrize(
    "spoil, message",
    [
        (
            lambda p: p.update(FriendlyNmae=p.pop("FriendlyName")),
            "$.FriendlyNmae: not a key",
        ),
        (
            lambda p: p["Modules"][1].update(LoadingPhse=p["Modules"][1].pop("LoadingPhase")),
            "$.Modules[1].LoadingPhse: not a key",
        ),
        (
            lambda p: p["Modules"][0].update(LoadingPhase="PostEngineStart"),
            "$.Modules[0].LoadingPhase = 'PostEngineStart': expected one of EarliestPossible",
        ),
        (
            lambda p: p["Modules"][2].update(Type="EditorOnly"),
            "$.Modules[2].Type = 'EditorOnly'",
        ),
        (
            lambda p: p.update(CanContainContent="no"),
            "$.CanContainContent = 'no': expected boolean",
        ),
        (
            lambda p: p["Modules"][0].pop("Type"),
            "$.Modules[0]: required key Type is missing",
        ),
        (lambda p: p.pop("FileVersion"), "$: required key FileVersion is missing"),
    ],
    ids=[
        "misspelt-key",
        "misspelt-module-key",
        "bad-loading-phase",
        "bad-type",
        "bad-bool",
        "no-type",
        "no-file-version",
    ],
)
def test_a_spoilt_descriptor_fails_naming_the_key(spoil, message):
    plugin = copy.deepcopy(descriptor())
    spoil(plugin)
    errors = schema_errors(plugin, SCHEMA)
    assert any(e.startswith(message) for e in errors), errors


def test_every_module_of_the_descriptor_has_its_rules_and_sources():
    """Unreal finds a module by Source/<Name>/<Name>.Build.cs; the ThirdParty module is the only
    one the descriptor does not list (it has no code of its own)."""
    rules = {p.name.removesuffix(".Build.cs"): p for p in SOURCE.rglob("*.Build.cs")}
    listed = {m["Name"] for m in descriptor()["Modules"]}
    assert set(rules) == listed | {"ArtEmNative"}
    for name in listed:
        assert rules[name].parent == SOURCE / name
        assert any((SOURCE / name / "Private").glob("*.cpp")), name


# --- the Build.cs rules, compiled and run against the UnrealBuildTool stand-in ---------------


def mcs(out: Path, sources: list[Path], *options: str) -> Path:
    if shutil.which("mcs") is None or shutil.which("mono") is None:
        pytest.skip("Mono is not installed (apt-get install mono-devel)")
    done = subprocess.run(
        ["mcs", "-warnaserror", f"-out:{out}", *options, *map(str, sources)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="module")
def rules(tmp_path_factory) -> tuple[Path, Path]:
    """(Rules.dll, RunRules.exe): every Build.cs of the plugin compiled against the stand-in."""
    out = tmp_path_factory.mktemp("ubt")
    ubt = mcs(
        out / "UnrealBuildToolStandIn.dll",
        [STAND_IN / "UnrealBuildToolStandIn.cs"],
        "-target:library",
    )
    dll = mcs(
        out / "Rules.dll",
        sorted(SOURCE.rglob("*.Build.cs")),
        "-target:library",
        f"-r:{ubt}",
    )
    exe = mcs(out / "RunRules.exe", [STAND_IN / "RunRules.cs"], f"-r:{ubt}")
    return dll, exe


def run_rules(
    rules: tuple[Path, Path], name: str, module_dir: Path, platform: str
) -> dict[str, list[str]]:
    dll, exe = rules
    done = subprocess.run(
        ["mono", str(exe), str(dll), name, str(module_dir), platform],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    fields: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(": ")
        fields.setdefault(key, []).append(value)
    return fields


@pytest.mark.parametrize("platform", ["Linux", "Win64"])
def test_the_module_rules_depend_on_the_core_and_not_on_any_grpc(rules, platform):
    runtime = run_rules(rules, "ArtEm", SOURCE / "ArtEm", platform)
    deps = runtime["PublicDependencyModuleNames"] + runtime["PrivateDependencyModuleNames"]
    assert {
        "ArtEmCore",
        "ArtEmNative",
        "Renderer",
        "RenderCore",
        "DeveloperSettings",
    } <= set(deps)
    core = run_rules(rules, "ArtEmCore", SOURCE / "ArtEmCore", platform)
    assert core["bEnableExceptions"] == ["False"]  # the core is built and tested without them
    editor = run_rules(rules, "ArtEmEditor", SOURCE / "ArtEmEditor", platform)
    assert {"ArtEm", "ArtEmCore", "PropertyEditor", "UnrealEd"} <= set(
        editor["PrivateDependencyModuleNames"]
    )
    for fields in (runtime, core, editor):
        names = (
            fields.get("PublicDependencyModuleNames", []) + fields["PrivateDependencyModuleNames"]
        )
        assert not [n for n in names if "grpc" in n.lower() or "protobuf" in n.lower()]


def test_the_third_party_rules_say_what_is_missing_before_staging(rules, tmp_path):
    module = tmp_path / "ArtEmNative"
    module.mkdir()
    out = run_rules(rules, "ArtEmNative", module, "Linux")
    assert out["BuildException"][0].startswith(f"ArtEm: {module}/include/artem/artem.h is missing")
    (module / "include" / "artem").mkdir(parents=True)
    shutil.copy2(
        ROOT / "engine_clients" / "native" / "include" / "artem" / "artem.h",
        module / "include" / "artem",
    )
    out = run_rules(rules, "ArtEmNative", module, "Linux")
    assert "libartem_native.a nor" in out["BuildException"][0]
    out = run_rules(rules, "ArtEmNative", module, "Win64")
    assert out["BuildException"][0].endswith(
        "lib/Win64/artem_native.lib is missing: the Windows build of the native core has to be "
        "staged there (see the plugin's README)"
    )
    out = run_rules(rules, "ArtEmNative", module, "Android")
    assert out["BuildException"] == [
        "ArtEm: no native core for Android (Win64 and Linux are built)"
    ]


def stage(build: Path, plugin: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(UNREAL / "stage_native.py"),
            str(build),
            "--plugin",
            str(plugin),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_staging_the_native_build_gives_the_rules_a_library_that_loads_alone(
    rules, native_build, tmp_path
):
    """stage_native.py puts the header and the Linux library (with the libraries it needs beside
    it) where ArtEmNative.Build.cs looks; the rules then link it and ship every file of that
    folder next to the game's binary, and the library resolves nothing outside the folder but
    the C and C++ runtimes."""
    plugin = tmp_path / "ArtEm"
    shutil.copytree(PLUGIN, plugin, ignore=shutil.ignore_patterns("include", "lib"))
    done = stage(native_build, plugin)
    assert done.returncode == 0, done.stdout + done.stderr
    module = plugin / "Source" / "ThirdParty" / "ArtEmNative"
    lib = module / "lib" / "Linux" / "x86_64-unknown-linux-gnu"
    assert (module / "include" / "artem" / "artem.h").read_bytes() == (
        ROOT / "engine_clients" / "native" / "include" / "artem" / "artem.h"
    ).read_bytes()
    out = run_rules(rules, "ArtEmNative", module, "Linux")
    assert "BuildException" not in out, out
    assert out["Type"] == ["External"]
    assert out["PublicSystemIncludePaths"] == [str(module / "include")]
    static = lib / "libartem_native.a"
    if static.exists():  # a statically linked core: nothing to ship beside the game
        assert out["PublicAdditionalLibraries"] == [str(static)]
    else:
        assert out["PublicAdditionalLibraries"] == [str(lib / "libartem_native.so")]
        shipped = {line.split(" <- ")[1] for line in out["RuntimeDependencies"]}
        assert shipped == {str(p) for p in lib.glob("*.so*")} and len(shipped) > 1
        assert all(line.startswith("$(BinaryOutputDir)/") for line in out["RuntimeDependencies"])
        ldd = subprocess.run(
            ["ldd", str(lib / "libartem_native.so")],
            capture_output=True,
            text=True,
            check=True,
        )
        for line in ldd.stdout.splitlines():
            if "=>" in line and not re.match(
                r"\s*(linux-vdso|ld-linux|lib(c|m|pthread|dl|rt|stdc\+\+|gcc_s))\.so",
                line,
            ):
                assert str(lib) in line, line


def test_the_windows_rules_delay_load_a_staged_dll(rules, tmp_path):
    """With a DLL's import library and the DLL staged, the rules link the import library, delay-
    load the DLL (the module loads it from the plugin's binaries at startup) and ship it."""
    module = tmp_path / "ArtEmNative"
    (module / "include" / "artem").mkdir(parents=True)
    shutil.copy2(
        ROOT / "engine_clients" / "native" / "include" / "artem" / "artem.h",
        module / "include" / "artem",
    )
    (module / "lib" / "Win64").mkdir(parents=True)
    for name in (
        "artem_native.lib",
        "artem_native.dll",
    ):  # names only: the rules pick by file
        (module / "lib" / "Win64" / name).write_bytes(b"")
    out = run_rules(rules, "ArtEmNative", module, "Win64")
    assert out["PublicAdditionalLibraries"] == [str(module / "lib" / "Win64" / "artem_native.lib")]
    assert out["PublicDelayLoadDLLs"] == ["artem_native.dll"]
    assert out["RuntimeDependencies"] == [
        f"$(BinaryOutputDir)/artem_native.dll <- {module / 'lib' / 'Win64' / 'artem_native.dll'}"
    ]
    assert out["PublicDefinitions"] == ["ARTEM_NATIVE_DLL=1"]


def test_staging_the_shipped_binaries_gives_linux_and_win64_what_the_rules_ask_for(rules, tmp_path):
    """stage_native.py --shipped stages the self-contained binaries the repository ships: the
    Linux .so alone (it needs nothing beside it), and for Win64 the MinGW-built DLL with an
    import library made by dlltool that names exactly the header's functions; the rules of both
    platforms then link and ship what was staged."""
    for tool in ("x86_64-w64-mingw32-dlltool", "x86_64-w64-mingw32-nm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install binutils-mingw-w64-x86-64)")
    plugin = tmp_path / "ArtEm"
    shutil.copytree(PLUGIN, plugin, ignore=shutil.ignore_patterns("include", "lib"))
    done = subprocess.run(
        [sys.executable, str(UNREAL / "stage_native.py"), "--shipped", "--plugin", str(plugin)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    module = plugin / "Source" / "ThirdParty" / "ArtEmNative"
    linux = module / "lib" / "Linux" / "x86_64-unknown-linux-gnu"
    win64 = module / "lib" / "Win64"
    shipped = ROOT / "engine_clients" / "unity" / "Plugins" / "x86_64"
    assert [p.name for p in linux.iterdir()] == ["libartem_native.so"]
    assert sorted(p.name for p in win64.iterdir()) == ["artem_native.dll", "artem_native.lib"]
    for name, folder in (("libartem_native.so", linux), ("artem_native.dll", win64)):
        assert (folder / name).read_bytes() == (shipped / name).read_bytes()

    header = (module / "include" / "artem" / "artem.h").read_text()
    declared = set(re.findall(r"^ARTEM_API [^(]*?\b(artem_\w+)\(", header, re.M))
    assert len(declared) == 15
    symbols = subprocess.run(
        ["x86_64-w64-mingw32-nm", str(win64 / "artem_native.lib")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    imports = set(re.findall(r" I __imp_(artem_\w+)$", symbols, re.M))
    assert imports == declared
    assert "artem_native.dll" in (win64 / "artem_native.lib").read_bytes().decode("latin-1")

    out = run_rules(rules, "ArtEmNative", module, "Linux")
    assert "BuildException" not in out, out
    assert out["PublicAdditionalLibraries"] == [str(linux / "libartem_native.so")]
    assert out["RuntimeDependencies"] == [
        f"$(BinaryOutputDir)/libartem_native.so <- {linux / 'libartem_native.so'}"
    ]
    out = run_rules(rules, "ArtEmNative", module, "Win64")
    assert "BuildException" not in out, out
    assert out["PublicAdditionalLibraries"] == [str(win64 / "artem_native.lib")]
    assert out["PublicDelayLoadDLLs"] == ["artem_native.dll"]
    assert out["RuntimeDependencies"] == [
        f"$(BinaryOutputDir)/artem_native.dll <- {win64 / 'artem_native.dll'}"
    ]


# --- C++ outside the engine ------------------------------------------------------------------

STANDARD = re.compile(r"[a-z_]+(\.h)?")  # <vector>, <cstdint>, <stddef.h>


def engine_free(path: Path) -> bool:
    """Whether a source file includes only the standard library, the core's own headers and the
    native core's C header (no Unreal header, directly or through a header of its own)."""
    for quoted, angled in re.findall(r'#include\s+(?:"([^"]+)"|<([^>]+)>)', path.read_text()):
        if angled and not STANDARD.fullmatch(angled):
            return False
        if quoted and not quoted.startswith(("ArtEmCore/", "artem/")):
            return False
    return True


def cpp_files() -> list[Path]:
    return sorted(p for p in SOURCE.rglob("*") if p.suffix in (".cpp", ".h"))


def test_the_engine_facing_code_is_thin_and_the_rest_compiles_without_the_engine(
    tmp_path,
):
    """Every .cpp/.h that includes no engine header compiles as Unreal compiles modules (C++17,
    no exceptions, no RTTI, warnings as errors); all of ArtEmCore is such code except its module
    boilerplate, and no engine-facing file is in the core."""
    if shutil.which("g++") is None:
        pytest.skip("g++ is not on PATH")
    free = [p for p in cpp_files() if engine_free(p)]
    facing = [p for p in cpp_files() if not engine_free(p)]
    core = SOURCE / "ArtEmCore"
    assert [p.relative_to(SOURCE).as_posix() for p in facing if core in p.parents] == [
        "ArtEmCore/Private/ArtEmCoreModule.cpp"
    ]
    assert len(free) >= 12 and all(core in p.parents for p in free)
    includes = [
        "-I",
        str(core / "Public"),
        "-I",
        str(ROOT / "engine_clients" / "native" / "include"),
    ]
    for path in free:  # a header on its own: a unit that includes only it
        done = subprocess.run(
            [
                "g++",
                "-std=c++17",
                "-fsyntax-only",
                "-fno-exceptions",
                "-fno-rtti",
                "-Wall",
                "-Wextra",
                "-Wpedantic",
                "-Werror",
                *includes,
                "-x",
                "c++",
                "-",
            ],
            input=f'#include "{path}"\n',
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, f"{path}:\n{done.stderr}"


@pytest.fixture(scope="module")
def core_build(native_build, tmp_path_factory) -> Path:
    """engine_clients/unreal's CMake project (the core and its ctest programs) over the native
    core built by the native_build fixture."""
    out = tmp_path_factory.mktemp("unreal-core")
    configure = subprocess.run(
        [
            "cmake",
            "-S",
            str(UNREAL),
            "-B",
            str(out),
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DARTEM_NATIVE_LIBRARY={native_build / 'libartem_native.so'}",
        ],
        capture_output=True,
        text=True,
    )
    assert configure.returncode == 0, configure.stdout + configure.stderr
    made = subprocess.run(
        ["nice", "cmake", "--build", str(out), "-j", "2"],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stdout[-4000:] + made.stderr[-4000:]
    return out


def ctest(build: Path, name: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ctest", "--output-on-failure", "--verbose", "-R", f"^{name}$"],
        cwd=build,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


@pytest.fixture(scope="module")
def logic_build(tmp_path_factory) -> Path:
    """The core's logic test alone: CMake and a C++ compiler, no native core."""
    if shutil.which("cmake") is None or shutil.which("c++") is None:
        pytest.skip("cmake or a C++ compiler is not on PATH")
    out = tmp_path_factory.mktemp("unreal-logic")
    for step in (
        ["cmake", "-S", str(UNREAL), "-B", str(out), "-DARTEM_UNREAL_STREAMING=OFF"],
        ["nice", "cmake", "--build", str(out), "-j", "2"],
    ):
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return out


def test_ctest_the_core_logic(logic_build):
    """Slots (latest frame wins), the readback ring's order, the stereo layout of Unreal's views,
    transport, colour and token choices, the row copy out of a padded staging buffer."""
    done = ctest(logic_build, "core_logic")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "core_logic: all checks passed" in done.stdout


@pytest.mark.parametrize("transport", ["shm", "inline"])
def test_ctest_the_streamer_against_a_real_server(
    native_build, core_build, server, secured_server, transport
):
    """The streaming thread as the view extension drives it: a render loop faster than the server
    shows only newer frames, each with both eyes its own pixels, and the newest complete frame
    last; a new layout reopens the stream; style switch and refusal on the same stream; the style
    catalog with thumbnails; an unreachable server (14); a short token file (3); a TLS server
    with a token, reached with the settings' token and CA files (frames and styles), refusing no
    token (16) and another CA (14); with shm, also a stereo frame through the JPEG transport
    (each eye's colour back within 8 levels). The TLS part needs a native build with mbedTLS."""
    tls = native_has_tls(native_build)
    secured = {
        "ARTEM_TEST_SECURED_SERVER": secured_server.address,
        "ARTEM_TEST_TOKEN_FILE": str(secured_server.token_file),
        "ARTEM_TEST_CA_FILE": str(secured_server.ca),
        "ARTEM_TEST_OTHER_CA_FILE": str(secured_server.other_ca),
    }
    done = ctest(
        core_build,
        "streamer",
        ARTEM_TEST_SERVER=server.address,
        ARTEM_TEST_TRANSPORT=transport,
        **(secured if tls else {}),
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "streamer: all checks passed" in done.stdout
    assert f"connected via {'SharedMemory' if transport == 'shm' else 'Inline'}" in done.stdout
    assert not tls or re.search(
        r"secured, no token: failed \S+: this server requires `authorization: Bearer <token>`.*"
        r"\(code 16\)",
        done.stdout,
    ), done.stdout[-3000:]


def test_the_streamer_test_skips_without_a_server(core_build):
    done = ctest(core_build, "streamer", ARTEM_TEST_SERVER="")
    assert done.returncode == 0 and "Skipped" in done.stdout, done.stdout
