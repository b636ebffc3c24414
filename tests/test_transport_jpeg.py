"""JPEG frames both ways against a real server: quality within its expected PSNR, refusals."""

from __future__ import annotations

import io

import grpc
import numpy as np
import pytest
import torch
from artem_client.frames import from_rgb
from artem_protocol.rpc import pb
from PIL import Image

from artem_server.transport.jpeg import JpegCodec

FORMATS = [pb.PIXEL_FORMAT_RGBA8, pb.PIXEL_FORMAT_BGRA8, pb.PIXEL_FORMAT_RGB8]
RGB = {
    pb.PIXEL_FORMAT_RGBA8: [0, 1, 2],
    pb.PIXEL_FORMAT_BGRA8: [2, 1, 0],
    pb.PIXEL_FORMAT_RGB8: [0, 1, 2],
}
# Two JPEG generations (client encode, server re-encode) of a photograph, identity style:
# measured 39.3 / 34.0 dB at q95, 34.7 / 30.7 at q75, 32.1 / 28.3 at q40 on the two crops used
# here (libjpeg-turbo 2.1). The floors sit ~1.5 dB below the worse crop, room for other libjpeg
# builds; a broken path (channels swapped, a generation lost to garbage) is far below them.
EXPECTED_PSNR_DB = {95: 32.5, 75: 29.0, 40: 26.5}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: pb.PixelFormat.Name(f))
@pytest.mark.parametrize("stereo", [False, True], ids=["mono", "stereo"])
@pytest.mark.parametrize("quality", sorted(EXPECTED_PSNR_DB))
def test_jpeg_round_trip_meets_the_quality_psnr(client, photo, fmt, stereo, quality):
    eyes = [np.ascontiguousarray(photo[40:200, 60:280])] + (
        [np.ascontiguousarray(photo[240:400, 60:280])] if stereo else []
    )
    got = {}
    stats = client.stream(
        iter([[from_rgb(e, fmt) for e in eyes]]),
        "identity",
        fmt=fmt,
        transport="jpeg",
        jpeg_quality=quality,
        on_images=lambda i, imgs: got.__setitem__(i, imgs),
    )
    assert stats.received == 1
    assert stats.server_transfer_ms[0] > 0  # decoding and encoding are transfer time
    for sent, back in zip(eyes, got[0]):
        assert back.shape == (*sent.shape[:2], 3 if fmt == pb.PIXEL_FORMAT_RGB8 else 4)
        assert psnr(back[..., RGB[fmt]], sent) >= EXPECTED_PSNR_DB[quality]
        if fmt != pb.PIXEL_FORMAT_RGB8:
            assert (back[..., 3] == 255).all()  # JPEG carries no alpha


def test_higher_quality_means_closer_pixels_and_more_bytes(client, photo):
    rgb = np.ascontiguousarray(photo[:128, :128])
    sizes, errors = [], []
    for q in (30, 95):
        replies = list(
            client.stub.Stylize(
                iter(
                    [
                        pb.StylizeRequest(
                            config=pb.SessionConfig(style="identity", jpeg_quality=q)
                        ),
                        pb.StylizeRequest(
                            frame=pb.Frame(
                                id=1,
                                views=[
                                    pb.View(
                                        width=128,
                                        height=128,
                                        format=pb.PIXEL_FORMAT_RGB8,
                                        jpeg=JpegCodec().encode(rgb, 100),
                                    )
                                ],
                            )
                        ),
                    ]
                ),
                timeout=60,
            )
        )
        assert replies[0].session.jpeg_quality == q
        view = replies[1].frame.views[0]
        assert view.WhichOneof("pixels") == "jpeg"
        sizes.append(len(view.jpeg))
        errors.append(psnr(np.asarray(Image.open(io.BytesIO(view.jpeg))), rgb))
    assert sizes[1] > sizes[0] and errors[1] > errors[0]


def refusal(client, config: pb.SessionConfig, view: pb.View | None = None) -> pb.Status:
    requests = [pb.StylizeRequest(config=config)]
    if view is not None:
        requests.append(pb.StylizeRequest(frame=pb.Frame(id=1, views=[view])))
    replies = list(client.stub.Stylize(iter(requests), timeout=60))
    return next(r.error for r in replies if r.HasField("error"))


@pytest.mark.parametrize(
    "case, field",
    [
        ("not-jpeg", "frame.views[0].jpeg is not a JPEG"),
        ("wrong-size", "frame.views[0].jpeg is 16x16: expected 20x16"),
        ("truncated", "frame.views[0].jpeg"),
        ("empty", "frame.views[0].jpeg is empty"),
    ],
)
def test_a_bad_jpeg_view_is_invalid_argument(client, case, field):
    good = JpegCodec().encode(np.full((16, 16, 3), 120, np.uint8), 90)
    data = {
        "not-jpeg": b"\x89PNG not at all",
        "wrong-size": good,
        "truncated": good[: len(good) // 2],
        "empty": b"",
    }[case]
    view = pb.View(
        width=20 if case == "wrong-size" else 16, height=16, format=pb.PIXEL_FORMAT_RGB8, jpeg=data
    )
    err = refusal(client, pb.SessionConfig(style="identity"), view)
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert field in err.message, err.message


@pytest.mark.parametrize("quality", [0, 101])
def test_a_jpeg_quality_out_of_range_is_invalid_argument(client, quality):
    err = refusal(client, pb.SessionConfig(style="identity", jpeg_quality=quality))
    assert (
        err.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        and "config.jpeg_quality" in err.message
    )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_nvjpeg_codes_like_libjpeg(photo):
    """On CUDA with torchvision, nvJPEG's round trip is as faithful as Pillow's."""
    rgb = np.ascontiguousarray(photo[:256, :256])
    gpu, cpu = JpegCodec(torch.device("cuda")), JpegCodec()
    if gpu.name != "nvjpeg":
        pytest.skip("torchvision with nvJPEG is not installed")
    back = gpu.decode(gpu.encode(rgb, 90), 256, 256, "v")
    ref = cpu.decode(cpu.encode(rgb, 90), 256, 256, "v")
    assert abs(psnr(back, rgb) - psnr(ref, rgb)) < 2.0
