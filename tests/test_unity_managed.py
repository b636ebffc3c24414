"""The Unity package's managed gRPC client (engine_clients/unity/Runtime/Managed: HTTP/2, HPACK,
protobuf by hand, JPEG views), the path for headsets where the native core cannot load, compiled
with Mono's C# compiler and run against a real `artem serve` on loopback
(Tests~/ManagedClient.cs prints what it got; the checks are here, with the photos decoded in
Python).

Needs Mono (`mcs`, `mono`; Debian: mono-devel, which .ci/run installs); skipped without it."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from artem_protocol.rpc import pb, pb_grpc
from google.protobuf.descriptor import FieldDescriptor
from hardening_util import ServeProcess
from PIL import Image
from skimage import data
from test_unity_binding import ENGINE_FREE, UNITY, mcs

SIDE = 256


@pytest.fixture(scope="module")
def managed_exe(tmp_path_factory) -> Path:
    return mcs(
        tmp_path_factory.mktemp("unity-managed") / "ManagedClient.exe",
        ENGINE_FREE + [UNITY / "Tests~" / "ManagedClient.cs"],
    )


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    """`artem serve` with its built-in styles (an empty models directory of its own)."""
    folder = tmp_path_factory.mktemp("managed-serve")
    s = ServeProcess(folder, ["--models-dir", str(folder / "models")])
    yield s
    s.stop()


def run(
    exe: Path, *args: str, timeout: float = 300, native: bool = True
) -> subprocess.CompletedProcess:
    """`exe` under Mono; `native=False`: with no library path, so the native core does not load
    (as on Android)."""
    env = {k: v for k, v in os.environ.items() if native or k != "LD_LIBRARY_PATH"}
    return subprocess.run(
        ["nice", "-n", "10", "mono", str(exe), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def photo(name: str = "astronaut", side: int = SIDE) -> np.ndarray:
    image = getattr(data, name)()
    return np.asarray(Image.fromarray(image).convert("RGB").resize((side, side), Image.BILINEAR))


def jpeg_bytes(rgb: np.ndarray, quality: int = 90) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=quality)
    return out.getvalue()


def decoded(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).astype(np.int16)


def python_stylize(
    address: str, style: str, jpeg: bytes, token: str | None = None
) -> pb.StylizedFrame:
    """The Python side of the contract (the generated stub), for the same JPEG."""
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    view = pb.View(
        width=SIDE,
        height=SIDE,
        format=pb.PIXEL_FORMAT_RGBA8,
        color_space=pb.COLOR_SPACE_SRGB,
        jpeg=jpeg,
    )
    requests = [
        pb.StylizeRequest(config=pb.SessionConfig(style=style, strength=1.0, jpeg_quality=90)),
        pb.StylizeRequest(frame=pb.Frame(id=1, views=[view])),
    ]
    with grpc.insecure_channel(address) as channel:
        replies = list(pb_grpc.StylizerStub(channel).Stylize(iter(requests), metadata=metadata))
    session, reply = replies
    assert not session.HasField("error"), session.error
    return reply.frame


def proto_type(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        name = field.message_type.full_name
    elif field.enum_type is not None:
        name = field.enum_type.full_name
    else:
        types = {
            v: k[len("TYPE_") :].lower()
            for k, v in vars(FieldDescriptor).items()
            if k.startswith("TYPE_")
        }
        name = types[field.type]
    if field.is_repeated:
        return "repeated " + name
    oneof = field.containing_oneof
    return "optional " + name if oneof is not None and oneof.name == "_" + field.name else name


def test_the_runtime_compiles_against_the_dotnet_framework_api(tmp_path):
    """Unity compiles the package against .NET Standard 2.1 (its default API level) or .NET
    Framework 4.x (NET_4_6 defined); the engine-free runtime, managed client included, compiles
    against Mono's .NET Framework 4.8 reference assemblies too (TLS, which needs ALPN, is
    refused there)."""
    api = Path("/usr/lib/mono/4.8-api")
    if not (api / "mscorlib.dll").is_file():
        pytest.skip("Mono's 4.8-api reference assemblies are not installed")
    mcs(
        tmp_path / "ArtEm.Stylizer.dll",
        ENGINE_FREE,
        "-target:library",
        "-nostdlib",
        "-define:NET_4_6",
        f"-lib:{api}",
        *(f"-r:{api / name}" for name in ("mscorlib.dll", "System.dll")),
    )


def test_the_managed_wire_code_matches_the_contract(managed_exe):
    """Every field number and type the hand-written protobuf code uses is the .proto's (read from
    the generated descriptors), as are the pixel format values: a contract change not made in
    Runtime/Managed/StylizerWire.cs fails here."""
    done = run(managed_exe, "fields")
    assert done.returncode == 0, done.stdout + done.stderr
    fields = re.findall(r"^field (\S+)\.(\w+) (\d+) (.+)$", done.stdout, re.M)
    assert len(fields) >= 30, done.stdout
    for message, name, number, type_ in fields:
        descriptor = pb.DESCRIPTOR.message_types_by_name[message.removeprefix("artem.v1.")]
        field = descriptor.fields_by_name.get(name)
        assert field is not None, f"{message}.{name} is not in the contract"
        assert (field.number, proto_type(field)) == (int(number), type_), (message, name)
    enums = re.findall(r"^enum artem\.v1\.PixelFormat (\w+) (\d+)$", done.stdout, re.M)
    assert enums
    for name, value in enums:
        assert pb.PixelFormat.Value(f"PIXEL_FORMAT_{name.upper()}") == int(value), name


# RFC 7541 Appendix C.4 (requests, Huffman, 4096-byte table) and C.6 (responses, Huffman,
# a 256-byte table, so entries are evicted), then C.4.1 with its padding's last bit cleared.
HPACK_REQUESTS = [
    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
    "8286 84be 5886 a8eb 1064 9cbf",
    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
]
HPACK_RESPONSES = [
    "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e"
    " 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
    "4883 640e ffc1 c0bf",
    "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7"
    " 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed"
    " 4ee5 b106 3d50 07",
]
REQUEST = ":method: GET\n:scheme: {}\n:path: {}\n:authority: www.example.com\n"
RESPONSE = (
    ":status: {}\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:2{} GMT\n"
    "location: https://www.example.com\n"
)


def test_hpack_decodes_the_rfc_examples_and_refuses_bad_padding(managed_exe):
    """The HPACK decoder against RFC 7541's own examples: Huffman strings, the dynamic table
    shared across header blocks (its size after each), eviction from a small table; a Huffman
    string whose padding is not all ones is refused."""
    done = run(managed_exe, "hpack", 4096, *HPACK_REQUESTS, HPACK_REQUESTS[0][:-1] + "e")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == (
        "block 1 size 57\n"
        + REQUEST.format("http", "/")
        + "block 2 size 110\n"
        + REQUEST.format("http", "/")
        + "cache-control: no-cache\n"
        + "block 3 size 164\n"
        + REQUEST.format("https", "/index.html")
        + "custom-key: custom-value\n"
        + "block 4 malformed\nall checks passed\n"
    )
    done = run(managed_exe, "hpack", 256, *HPACK_RESPONSES)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == (
        "block 1 size 222\n"
        + RESPONSE.format(302, 1)
        + "block 2 size 222\n"
        + RESPONSE.format(307, 1)
        + "block 3 size 215\n"
        + RESPONSE.format(200, 2)
        + "content-encoding: gzip\n"
        + "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1\n"
        + "all checks passed\n"
    )


def test_list_styles_gives_what_the_server_lists(managed_exe, serve):
    """ListStyles through the managed client: every style, its kind and its PNG thumbnail, as the
    server lists them to the Python stub."""
    done = run(managed_exe, "styles", serve.address)
    assert done.returncode == 0, done.stdout + done.stderr
    got = {
        m[0]: (m[1], int(m[2])) for m in re.findall(r"^style (\S+) (\S+) (\d+)", done.stdout, re.M)
    }
    with grpc.insecure_channel(serve.address) as channel:
        listed = pb_grpc.StylizerStub(channel).ListStyles(pb.ListStylesRequest(), timeout=30)
    assert got == {s.id: (s.kind, len(s.thumbnail_png)) for s in listed.styles}
    assert "identity" in got and "tessera" in got and got["tessera"][1] > 1000


def test_the_style_list_falls_back_to_the_managed_client_without_the_native_core(
    managed_exe, serve
):
    """ArtemStyles.List (the inspector's style list) where the native library does not load
    (no libartem_native.so beside the program, no library path: as on Android, or a macOS
    editor) lists the server's styles through the managed client."""
    done = run(managed_exe, "list", serve.address, timeout=120, native=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "native core loads: False" in done.stdout
    got = {m[0]: m[1] for m in re.findall(r"^style (\S+) (\S+) \d+", done.stdout, re.M)}
    with grpc.insecure_channel(serve.address) as channel:
        listed = pb_grpc.StylizerStub(channel).ListStyles(pb.ListStylesRequest(), timeout=30)
    assert got == {s.id: s.kind for s in listed.styles}


def test_jpeg_frames_come_back_through_identity_and_a_builtin_style(managed_exe, serve, tmp_path):
    """A photo as JPEG, stereo and mono: identity brings it back close to the input (JPEG both
    ways), the built-in 'tessera' changes it and gives what the server gives the Python stub
    for the same JPEG, within JPEG tolerance."""
    rgb = photo()
    source = tmp_path / "astronaut.jpg"
    source.write_bytes(jpeg_bytes(rgb))
    out = {}
    for style, views, frames in (("identity", 2, 3), ("tessera", 1, 2)):
        folder = tmp_path / style
        folder.mkdir()
        done = run(
            managed_exe, "stream", serve.address, style, source, SIDE, SIDE, views, frames, folder
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"session {style} " in done.stdout and "quality 90" in done.stdout
        replies = sorted(folder.glob("reply-*.jpg"))
        assert len(replies) == views * frames
        out[style] = [decoded(p.read_bytes()) for p in replies]
    for image in out["identity"]:
        assert image.shape == rgb.shape
        assert np.abs(image - rgb).mean() < 4, np.abs(image - rgb).mean()
    peer = decoded(python_stylize(serve.address, "tessera", source.read_bytes()).views[0].jpeg)
    for image in out["tessera"]:
        assert np.abs(image - rgb).mean() > 15, "the style did not change the photo"
        diff = np.abs(image - peer)
        assert diff.mean() < 1.5 and np.percentile(diff, 99) <= 12, (diff.mean(), diff.max())


def test_frames_sent_at_once_are_answered_latest_first(managed_exe, serve, tmp_path):
    """Eight stereo frames written back to back to a style slower than that: replies come in
    increasing order, the last frame is answered, and every frame is either answered or counted
    as dropped by a later reply (latest frame wins)."""
    source = tmp_path / "coffee.jpg"
    source.write_bytes(jpeg_bytes(photo("coffee")))
    done = run(managed_exe, "burst", serve.address, "tessera", source, SIDE, SIDE, 8)
    assert done.returncode == 0, done.stdout + done.stderr
    replies, dropped, last = map(
        int, re.search(r"burst replies (\d+) dropped (\d+) last (\d+)", done.stdout).groups()
    )
    assert last == 8 and replies + dropped == 8 and dropped > 0, done.stdout


def test_the_component_logic_streams_jpeg_through_the_managed_client(managed_exe, serve, tmp_path):
    """StylizerLink as ArtemStylizer drives it where the native core cannot load: a 90 Hz render
    loop reads three photos in turn into the slots (single-pass instanced stereo), the encoder
    gets exactly the slot's pixels, only newer replies are shown, the last frame is shown, every
    slot is free at the end; a style switch and a refused one on the same stream. Each shown
    reply is its own frame's photo (identity), not another's."""
    names = ["astronaut", "coffee", "chelsea"]
    side = 96
    for i, name in enumerate(names):
        rgb = photo(name, side)
        rgba = np.dstack([rgb, np.full((side, side), 255, np.uint8)])
        (tmp_path / f"frame-{i}.rgba").write_bytes(rgba.tobytes())
        (tmp_path / f"frame-{i}.jpg").write_bytes(jpeg_bytes(rgb))
    done = run(managed_exe, "link", serve.address, "identity", tmp_path, len(names))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all checks passed" in done.stdout
    assert "via Jpeg (managed client)" in done.stdout
    shown = sorted(tmp_path.glob("shown-*.jpg"))
    assert len(shown) >= 4, done.stdout
    photos = [photo(n, side).astype(np.int16) for n in names]
    for path in shown:
        which = int(path.stem.split("-")[2])
        image = decoded(path.read_bytes())
        errors = [np.abs(image - p).mean() for p in photos]
        assert int(np.argmin(errors)) == which and errors[which] < 5, (path.name, errors)


def test_refusals_carry_the_servers_code_and_message(managed_exe, serve, tmp_path):
    """An unknown style is refused with the code and message the server sends (the same the
    Python stub gets); a frame whose JPEG is not the size it claims is refused with
    INVALID_ARGUMENT naming the field, and the stream goes on; a refused style switch leaves the
    old style in force."""
    source = tmp_path / "rocket.jpg"
    source.write_bytes(jpeg_bytes(photo("rocket")))
    done = run(managed_exe, "refuse", serve.address, "identity", source, SIDE, SIDE)
    assert done.returncode == 0, done.stdout + done.stderr
    requests = [pb.StylizeRequest(config=pb.SessionConfig(style="no-such-style"))]
    with grpc.insecure_channel(serve.address) as channel:
        (reply,) = pb_grpc.StylizerStub(channel).Stylize(iter(requests))
    expected = f"{reply.error.code}: {reply.error.message}"
    assert reply.error.code == 5  # NOT_FOUND
    assert f"refused style {expected}" in done.stdout
    assert f"refused switch {expected}" in done.stdout
    frame = re.search(r"refused frame 1 (\d+): (.+)", done.stdout)
    assert frame and int(frame.group(1)) == 3 and "jpeg" in frame.group(2), done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_server_not_listening_is_a_clear_error_naming_the_address(managed_exe):
    address = f"127.0.0.1:{free_port()}"
    done = run(managed_exe, "open", address, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert re.search(rf"error 14: cannot connect to {re.escape(address)}: \S", done.stdout)
    assert int(re.search(r"after (\d+) ms", done.stdout).group(1)) < 10000


def streaming(exe: Path, address: str, source: Path, *ping: str) -> subprocess.Popen:
    """The test program streaming frames to `address` until it fails, once its third frame has
    come back (killed, and the test failed, if that takes over two minutes)."""
    client = subprocess.Popen(
        ["mono", str(exe), "forever", address, str(source), str(SIDE), str(SIDE), *ping],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    guard = threading.Timer(120, client.kill)
    guard.start()
    assert client.stdout is not None
    for line in client.stdout:
        if line.startswith("frame 3"):
            break
    guard.cancel()
    assert client.poll() is None, "the stream did not get going"
    return client


def test_a_server_killed_mid_stream_ends_the_stream_with_an_error(managed_exe, tmp_path):
    """SIGKILL while frames flow: the client's next call fails with UNAVAILABLE naming the
    address, within seconds; it does not hang."""
    serve = ServeProcess(tmp_path / "serve", ["--models-dir", str(tmp_path / "models")])
    source = tmp_path / "chelsea.jpg"
    source.write_bytes(jpeg_bytes(photo("chelsea")))
    try:
        client = streaming(managed_exe, serve.address, source)
        try:
            serve.proc.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            out, err = client.communicate(timeout=60)
            assert time.monotonic() - killed < 30
        finally:
            client.kill()
    finally:
        serve.stop()
    assert client.returncode == 2, out + err
    assert re.search(rf"error 14: .*{re.escape(serve.address)}", out), out + err


def test_a_server_that_stops_answering_is_noticed_by_ping(managed_exe, tmp_path):
    """A server that stops mid-stream without closing the connection (SIGSTOP: the kernel keeps
    the TCP connection up, as when a headset's Wi-Fi drops) is declared gone once its ping goes
    unanswered: UNAVAILABLE naming the address, in seconds. A live server that is merely quiet
    for longer than the ping interval answers the ping and the stream goes on."""
    serve = ServeProcess(tmp_path / "serve", ["--models-dir", str(tmp_path / "models")])
    source = tmp_path / "astronaut.jpg"
    source.write_bytes(jpeg_bytes(photo()))
    try:
        quiet = run(managed_exe, "idle", serve.address, source, SIDE, SIDE, 6, 1000, 2000)
        assert quiet.returncode == 0 and "idle then frame ok" in quiet.stdout, (
            quiet.stdout + quiet.stderr
        )
        client = streaming(managed_exe, serve.address, source, "2000", "3000")
        try:
            serve.proc.send_signal(signal.SIGSTOP)
            stopped = time.monotonic()
            out, err = client.communicate(timeout=60)
            waited = time.monotonic() - stopped
        finally:
            client.kill()
            serve.proc.send_signal(signal.SIGCONT)
    finally:
        serve.stop()
    assert client.returncode == 2, out + err
    assert re.search(rf"error 14: .*{re.escape(serve.address)}.*did not answer a ping", out), out
    assert waited < 20, waited


def test_the_bearer_token_is_sent(managed_exe, tmp_path):
    """A server started with --token-file answers the managed client that has its token
    (ListStyles, and a frame whose reply equals the Python stub's with the token) and refuses
    one without it, or with another, with UNAUTHENTICATED."""
    token = "managed-client-T0ken-0123456789"
    (tmp_path / "token").write_text(token + "\n")
    serve = ServeProcess(
        tmp_path / "serve",
        ["--models-dir", str(tmp_path / "models"), "--token-file", str(tmp_path / "token")],
    )
    try:
        listed = run(managed_exe, "styles", serve.address, token)
        assert listed.returncode == 0 and "style identity identity" in listed.stdout, (
            listed.stdout + listed.stderr
        )
        for wrong in ([], ["not-the-token-at-all-xx"]):
            refused = run(managed_exe, "styles", serve.address, *wrong)
            assert refused.returncode == 2 and "error 16:" in refused.stdout, refused.stdout
        opened = run(managed_exe, "open", serve.address)
        assert "error 16:" in opened.stdout, opened.stdout
        source = tmp_path / "astronaut.jpg"
        source.write_bytes(jpeg_bytes(photo()))
        out = tmp_path / "out"
        out.mkdir()
        done = run(
            managed_exe, "stream", serve.address, "identity", source, SIDE, SIDE, 1, 1, out, token
        )
        assert done.returncode == 0, done.stdout + done.stderr
        peer = python_stylize(serve.address, "identity", source.read_bytes(), token)
        assert (out / "reply-1-0.jpg").read_bytes() == peer.views[0].jpeg
    finally:
        serve.stop()


def test_tls_checks_the_ca_and_without_alpn_in_this_runtime_is_refused_clearly(
    managed_exe, tmp_path
):
    """gRPC servers need HTTP/2 agreed by ALPN in the TLS handshake; Mono's SslStream here cannot
    send or report it, so the managed client refuses with UNAVAILABLE saying so, rather than
    hanging or sending HTTP/2 into a connection the server will close. Before that, the
    certificate check of a CA file (`GrpcOptions.TrustingCaFile`, what the component's TLS CA
    file gives) passes for the server's CA and name, and fails for another CA or another name.
    RSA keys: this Mono cannot read EC public keys."""
    from certs import CertificateAuthority

    ca = CertificateAuthority(tmp_path / "pki", "artem", rsa=True)
    rogue = CertificateAuthority(tmp_path / "pki", "rogue", rsa=True)
    issued = ca.issue("server", server=True)
    serve = ServeProcess(
        tmp_path / "serve",
        ["--models-dir", str(tmp_path / "models")]
        + ["--tls-cert", str(issued.cert), "--tls-key", str(issued.key)],
    )
    try:
        trusted = run(managed_exe, "tls", serve.address, ca.issued.cert, "localhost", timeout=60)
        other_ca = run(managed_exe, "tls", serve.address, rogue.issued.cert, "localhost")
        other_name = run(managed_exe, "tls", serve.address, ca.issued.cert, "elsewhere.test")
    finally:
        serve.stop()
    assert trusted.returncode == 2, trusted.stdout + trusted.stderr
    assert "error 14: TLS with" in trusted.stdout and "ALPN" in trusted.stdout, trusted.stdout
    for refused in (other_ca, other_name):
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "error 14: TLS with" in refused.stdout and "ALPN" not in refused.stdout, (
            refused.stdout
        )
