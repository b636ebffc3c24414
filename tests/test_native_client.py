"""The native client core (engine_clients/native): built with CMake, its own ctest checks, then
frames through a real server on loopback by shared memory and inline, against the Python side.

Needs CMake and a C++17 compiler (the `native_build` fixture in conftest.py skips
without them); the Windows region, MinGW-w64 and Wine."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from artem_client.frames import decode_view, encode_view, from_rgb
from artem_protocol.rpc import pb
from conftest import RunningServer, native_has_tls

NATIVE = Path(__file__).resolve().parents[1] / "engine_clients" / "native"
FORMATS = {
    "rgba8": pb.PIXEL_FORMAT_RGBA8,
    "bgra8": pb.PIXEL_FORMAT_BGRA8,
    "rgb8": pb.PIXEL_FORMAT_RGB8,
}


def roundtrip(build: Path, server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(build / "artem_native_roundtrip"), "--server", server.address, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ctest_layout_and_c_abi(native_build):
    """The region's header and slot offsets are the documented bytes; the C ABI reports bad
    arguments as status codes with messages; HPACK decodes RFC 7541's examples (C.3-C.6, with
    eviction); the HTTP/2 client copes with CONTINUATION, padding, PING, GOAWAY and a server
    that does not speak HTTP/2 (a scripted server)."""
    done = subprocess.run(
        ["ctest", "--output-on-failure"],
        cwd=native_build,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "100% tests passed, 0 tests failed out of 4" in done.stdout, done.stdout
    for name in ("shm_layout", "c_api_errors", "hpack", "http2_frames"):
        assert f" {name} " in done.stdout, name


@pytest.mark.parametrize("transport", ["shm", "inline"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_identity_round_trips_bit_for_bit(native_build, server, transport, fmt):
    """Stereo frames of odd sizes in every format come back unchanged, through the native
    client's own region (the server maps what C++ created) or inline (the hand-framed messages
    both ways)."""
    done = roundtrip(
        native_build,
        server,
        "--transport",
        transport,
        "--format",
        fmt,
        "--size",
        "37x23",
        "--stereo",
        "--frames",
        "5",
        "--expect-identity",
    )
    assert done.returncode == 0, done.stderr
    assert (
        f"5 frames 37x23 stereo via {transport}, 1 in flight: 5 answered, 0 dropped" in done.stdout
    )


@pytest.mark.parametrize("transport", ["shm", "inline"])
def test_several_frames_in_flight_are_each_answered_or_dropped(native_build, server, transport):
    """Send/Receive with three frames out over three slots, as a render thread that never
    waits: every frame is answered or dropped (latest frame wins), answered ones unchanged."""
    done = roundtrip(
        native_build,
        server,
        "--transport",
        transport,
        "--size",
        "37x23",
        "--stereo",
        "--frames",
        "60",
        "--slots",
        "3",
        "--in-flight",
        "3",
        "--expect-identity",
    )
    assert done.returncode == 0, done.stderr
    answered, dropped = (
        int(x) for x in re.search(r"(\d+) answered, (\d+) dropped", done.stdout).groups()
    )
    assert answered + dropped == 60 and answered > 0


@pytest.mark.parametrize("transport", ["shm", "inline"])
def test_a_style_gives_what_the_python_client_gets(
    native_build, server, client, photo, tmp_path, transport
):
    rgb = np.ascontiguousarray(photo[100:148, 60:124])
    sent = from_rgb(rgb, pb.PIXEL_FORMAT_RGBA8)
    (tmp_path / "in.raw").write_bytes(sent.tobytes())
    done = roundtrip(
        native_build,
        server,
        "--transport",
        transport,
        "--style",
        "gen-a",
        "--size",
        "64x48",
        "--frames",
        "2",
        "--input",
        str(tmp_path / "in.raw"),
        "--output",
        str(tmp_path / "out.raw"),
    )
    assert done.returncode == 0, done.stderr
    native = np.frombuffer((tmp_path / "out.raw").read_bytes(), np.uint8).reshape(48, 64, 4)
    replies = list(
        client.stub.Stylize(
            iter(
                [
                    pb.StylizeRequest(config=pb.SessionConfig(style="gen-a")),
                    pb.StylizeRequest(frame=pb.Frame(id=1, views=[encode_view(sent, 1)])),
                ]
            ),
            timeout=60,
        )
    )
    python = decode_view(replies[-1].frame.views[0])
    assert np.abs(native.astype(int) - python.astype(int)).max() <= 1
    assert (
        np.abs(native[..., :3].astype(int) - rgb.astype(int)).mean() > 10
    )  # styled, not passed through
    np.testing.assert_array_equal(native[..., 3], sent[..., 3])


def test_the_library_exports_the_header_functions_and_the_readme_counts_them(native_build):
    """An engine binds to exactly the C ABI: every function the header declares is exported,
    nothing else is, the C# binding declares each one, and the README says how many there are."""
    header = (NATIVE / "include" / "artem" / "artem.h").read_text()
    declared = set(re.findall(r"ARTEM_API\s+[\w\s*]+?\b(artem_\w+)\(", header))
    nm = subprocess.run(
        ["nm", "-D", "--defined-only", str(native_build / "libartem_native.so")],
        capture_output=True,
        text=True,
        check=True,
    )
    names = {line.split()[-1] for line in nm.stdout.splitlines()}
    exported = {name for name in names if name.startswith("artem_")}
    assert exported == declared, (sorted(exported - declared), sorted(declared - exported))
    assert names == exported, sorted(names - exported)[:5]  # not even weak libstdc++ instances
    binding = (NATIVE.parent / "unity" / "Runtime" / "ArtemNative.cs").read_text()
    assert declared == set(re.findall(r"static extern \w+ (artem_\w+)\(", binding))
    words = {15: "fifteen"}
    assert (
        f"exports the {words[len(declared)]} `artem_*` functions"
        in (NATIVE / "README.md").read_text()
    )


def c_roundtrip(build: Path, address: str, *options: str) -> subprocess.CompletedProcess:
    """tests/c_roundtrip.c: inline stereo identity frames and ListStyles through the C ABI."""
    return subprocess.run(
        [str(build / "c_roundtrip"), address, *options],
        capture_output=True,
        text=True,
        timeout=120,
    )


def needs_tls(build: Path) -> None:
    if not native_has_tls(build):
        pytest.skip(
            "mbedTLS is not installed (apt-get install libmbedtls-dev): no TLS in this build"
        )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_c_abi_streams_from_a_tls_server_with_its_token(native_build, secured_server, host):
    """artem_open_ex and artem_list_styles_ex with the token and the CA of the server's
    certificate: inline stereo frames come back byte for byte over TLS, ListStyles answers; by
    IP address and by name, both of which the certificate carries."""
    needs_tls(native_build)
    port = secured_server.address.rsplit(":", 1)[1]
    done = c_roundtrip(
        native_build,
        f"{host}:{port}",
        *("--token", secured_server.token, "--tls-ca", str(secured_server.ca)),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "round trip ok" in done.stdout


def test_the_c_abi_streams_from_a_tls_server_with_an_rsa_certificate(
    native_build, models_dir, tmp_path
):
    """ECDHE-RSA as well as ECDHE-ECDSA (the secured_server fixture's): a server whose CA and
    certificate have RSA keys is reached the same way."""
    needs_tls(native_build)
    from certs import CertificateAuthority

    from artem_server.security import TlsFiles
    from artem_server.server import ServerConfig

    ca = CertificateAuthority(tmp_path, "rsa", rsa=True)
    issued = ca.issue("server", server=True)
    token = "rsa-T0ken-0123456789abcdef"
    tls = TlsFiles(issued.cert, issued.key)
    s = RunningServer(
        ServerConfig(port=0, models_dir=models_dir, device="cpu", tls=tls, token=token)
    )
    try:
        done = c_roundtrip(
            native_build, s.address, "--token", token, "--tls-ca", str(ca.issued.cert)
        )
    finally:
        s.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "round trip ok" in done.stdout


# What a user who gets the connection wrong sees: (options, code, message).
REFUSALS = {
    "no token": (["--tls-ca", "{ca}"], 16, "requires `authorization: Bearer <token>`"),
    "wrong token": (
        ["--tls-ca", "{ca}", "--token", "not-the-servers-token"],
        16,
        "requires `authorization: Bearer <token>`",
    ),
    "other CA": (
        ["--tls-ca", "{other_ca}", "--token", "{token}"],
        14,
        "over TLS: the server's certificate was refused: The certificate is not correctly signed "
        "by the trusted CA (is {other_ca} the CA that signed the server's certificate?)",
    ),
    "wrong server name": (
        ["--tls-ca", "{ca}", "--token", "{token}", "--tls-server-name", "artem.example"],
        14,
        "over TLS: the server's certificate was refused: it is for localhost, 127.0.0.1, not "
        "artem.example (set the TLS server name to one of those)",
    ),
    "plaintext to TLS": (
        ["--token", "{token}"],
        14,
        "ended: the server did not answer in HTTP/2 (a TLS server? then connect with the CA file "
        "of its certificate)",
    ),
    "CA file not a certificate": (
        ["--tls-ca", "{token_file}", "--token", "{token}"],
        3,
        "options->tls_ca_file = {token_file}: expected PEM certificates",
    ),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_a_wrong_token_or_tls_setting_is_refused_with_the_reason(
    native_build, secured_server, case
):
    """Each mistake fails artem_open_ex with its status code and a message that says what is
    wrong: the server's own UNAUTHENTICATED message for the token, UNAVAILABLE with the TLS or
    HTTP/2 reason for the connection, INVALID_ARGUMENT naming the field for a bad file."""
    needs_tls(native_build)
    options, code, message = REFUSALS[case]
    fill = {k: str(v) for k, v in vars(secured_server).items()}
    done = c_roundtrip(native_build, secured_server.address, *(o.format(**fill) for o in options))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"open: {code} " in done.stderr and message.format(**fill) in done.stderr, done.stderr


def test_tls_to_a_plaintext_server_is_refused_with_the_reason(native_build, server, secured_server):
    needs_tls(native_build)
    done = c_roundtrip(native_build, server.address, "--tls-ca", str(secured_server.ca))
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        f"open: 14 failed to connect to {server.address} over TLS: the server did not answer in "
        "TLS (a plaintext server? then connect without a TLS CA file)" in done.stderr
    ), done.stderr


@pytest.mark.parametrize("fmt", FORMATS)
def test_jpeg_transport_brings_the_photo_back_close_in_its_layout(
    native_build, server, photo, tmp_path, fmt
):
    """JPEG both ways (a server over a network): an identity frame of a photograph comes back
    close to what was sent, channels in the view's order, alpha 255 (JPEG carries none)."""
    rgb = np.ascontiguousarray(photo[64:192, 96:256])
    sent = from_rgb(rgb, FORMATS[fmt])
    (tmp_path / "in.raw").write_bytes(np.concatenate([sent.ravel(), sent.ravel()]).tobytes())
    done = roundtrip(
        native_build,
        server,
        "--transport",
        "jpeg",
        "--format",
        fmt,
        "--size",
        "160x128",
        "--stereo",
        "--frames",
        "3",
        "--input",
        str(tmp_path / "in.raw"),
        "--output",
        str(tmp_path / "out.raw"),
    )
    if "has no JPEG" in done.stderr:
        pytest.skip("the native core was built without libjpeg-turbo (apt-get install libjpeg-dev)")
    assert done.returncode == 0, done.stderr
    assert "3 frames 160x128 stereo via jpeg, 1 in flight: 3 answered" in done.stdout
    back = np.frombuffer((tmp_path / "out.raw").read_bytes(), np.uint8).reshape(2, *sent.shape)
    for eye in back:
        colour = slice(0, 3)
        assert np.abs(eye[..., colour].astype(int) - sent[..., colour].astype(int)).mean() < 6
        if fmt != "rgb8":
            assert (eye[..., 3] == 255).all()


def test_refusals_name_the_field_and_keep_the_status_code(native_build, server):
    unknown = roundtrip(native_build, server, "--style", "no-such-style", "--frames", "1")
    assert (
        unknown.returncode == 2
        and "error 5:" in unknown.stderr
        and "config.style" in unknown.stderr
    )
    assert "identity" in unknown.stderr  # the known styles are listed
    too_big = roundtrip(
        native_build, server, "--size", "2000x1200", "--frames", "1"
    )  # over this server's 4 MiB
    assert (
        too_big.returncode == 2
        and "error 8:" in too_big.stderr
        and "max_frame_bytes" in too_big.stderr
    )
    usage = roundtrip(native_build, server, "--format", "yuv")
    assert usage.returncode == 64 and "--format yuv" in usage.stderr


def test_the_windows_region_keeps_the_layout(tmp_path):
    """The region's Windows code (a named file mapping, as Python's SharedMemory makes there),
    cross-compiled with MinGW and run under Wine: the same layout checks as on Linux."""
    compiler = shutil.which("x86_64-w64-mingw32-g++-posix") or shutil.which(
        "x86_64-w64-mingw32-g++"
    )
    wine = shutil.which("wine64") or next(
        (p for p in ("/usr/lib/wine/wine64",) if Path(p).exists()), None
    )
    if compiler is None or wine is None:
        pytest.skip("needs MinGW-w64 and Wine (apt-get install g++-mingw-w64-x86-64-posix wine64)")
    exe = tmp_path / "shm_layout_test.exe"
    native = Path(__file__).resolve().parents[1] / "engine_clients" / "native"
    built = subprocess.run(
        [
            compiler,
            "-std=c++17",
            "-O1",
            "-static",
            "-Wall",
            "-Wextra",
            f"-I{native / 'src'}",
            str(native / "tests" / "shm_layout_test.cpp"),
            str(native / "src" / "shm_region.cpp"),
            "-o",
            str(exe),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    env = {**os.environ, "WINEDEBUG": "-all", "WINEPREFIX": str(tmp_path / "wine")}
    ran = subprocess.run([wine, str(exe)], capture_output=True, text=True, env=env, timeout=180)
    assert ran.returncode == 0, ran.stdout + ran.stderr


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_server_that_goes_away_ends_the_native_stream_cleanly(native_build, tmp_path, how):
    """Stopped mid-stream (gracefully, or killed), the server's end reaches the native client as
    UNAVAILABLE, the tool exits with its error status, and the client's region is unlinked."""
    from hardening_util import ServeProcess

    serve = ServeProcess(tmp_path / "serve", ["--models-dir", str(tmp_path / "models")])
    tool = subprocess.Popen(
        [
            str(native_build / "artem_native_roundtrip"),
            "--server",
            serve.address,
            "--size",
            "640x480",
            "--stereo",
            "--frames",
            "1000000",
            "--in-flight",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        region = f"artem-native-{tool.pid}-"
        deadline = time.monotonic() + 30
        while not any(p.name.startswith(region) for p in Path("/dev/shm").iterdir()):
            assert tool.poll() is None and time.monotonic() < deadline, (
                tool.stderr.read() if tool.stderr else ""
            )
            time.sleep(0.05)
        time.sleep(0.5)  # frames flowing
        serve.proc.send_signal(signal.SIGTERM if how == "SIGTERM" else signal.SIGKILL)
        _, err = tool.communicate(timeout=60)
    finally:
        tool.kill()
        serve.stop()
    assert tool.returncode == 2 and "error 14:" in err, err
    assert not any(p.name.startswith(region) for p in Path("/dev/shm").iterdir())
