"""The xnor kernels against cuDNN fp16 on the same GPU, side by side in one run.

    python bench/xnor_gpu.py [--device cuda] [--json PATH] [--warmup 5] [--repeats 20]
    python bench/xnor_gpu.py --device cpu            (a dry run: tiny shapes, the CPU reference)

1. One residual conv for both Quest 2 eyes at 1/4 scale, 128 -> 128 on 2 x 128 x 480 x 458:
   cuDNN fp16 channels-last (zero padding inside cuDNN, and with a reflection pad first, as
   the generator needs), against the binary conv on the 1-bit tensor cores and on CUDA cores,
   packing included and alone, and the whole binary unit (norm statistics, pack, conv, shortcut
   add). Bytes/s counts what the kernels must read and write, beside a device copy's rate
   measured in the same run (the card's usable bandwidth). Whether the MMA and the CUDA-core
   outputs are bit-identical on this input is printed too.
2. The whole net at Quest 2 stereo (2 x 1832 x 1920): the fused fp16 generator (width 32, 5
   residual blocks, random weights) against its xnor twin on the kernels (same shape, binary
   residual blocks), with the xnor net's top kernels.
3. With a shipped or trained xnor entry (--xnor-style NAME, --models-dir): PSNR of its CUDA
   output against its CPU reference output on scikit-image's astronaut (the same answer, up to
   fp16).
Medians of CUDA-event timings after warm-up; prints tables, never asserts (tests do that).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from artem_server.backends.fused_generator import FusedGenerator
from artem_server.backends.fused_xnor import FusedXnor
from artem_server.models.generator import Generator, GeneratorConfig
from artem_server.models.xnor import XnorGenerator


def timed(fn: Callable[[], object], device: torch.device, warmup: int, repeats: int) -> float:
    """Median milliseconds of fn() (CUDA events on a GPU, wall clock on the CPU)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def copy_rate(device: torch.device, warmup: int, repeats: int) -> float:
    """GB/s of a device-to-device copy of 1 GiB, read plus write."""
    n = 2**30 if device.type == "cuda" else 2**24
    src = torch.empty(n, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    ms = timed(lambda: dst.copy_(src), device, warmup, repeats)
    return 2 * n / ms / 1e6


def conv_rows(device: torch.device, shape, warmup: int, repeats: int) -> tuple[list, dict]:
    from artem_kernels import xnor_reference as ref

    n, c, h, w = shape
    cl = torch.channels_last
    half = device.type == "cuda"
    dtype = torch.float16 if half else torch.float32
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g).to(device, dtype).contiguous(memory_format=cl)
    weight = torch.randn((c, c, 3, 3), generator=g)
    wd = weight.to(device, dtype).contiguous(memory_format=cl)
    conv = ref.pack_weights(weight, torch.randn(c, generator=g))
    gamma, beta = torch.ones(c, device=device), torch.zeros(c, device=device)
    rows: list[tuple[str, float, float]] = []  # (variant, ms, bytes moved)
    act = n * h * w * c * x.element_size()
    packed_bytes = n * (h + 2) * (w + 2) * ref.words_for(c) * 4
    extra: dict = {}
    rows.append(
        (
            "cuDNN conv, zero pad",
            timed(lambda: F.conv2d(x, wd, padding=1), device, warmup, repeats),
            2 * act,
        )
    )
    rows.append(
        (
            "cuDNN conv, reflection pad first",
            timed(lambda: F.conv2d(F.pad(x, [1] * 4, mode="reflect"), wd), device, warmup, repeats),
            4 * act,
        )
    )
    if device.type == "cuda":
        from artem_kernels import instnorm, xnor

        cd = conv.to(device)
        packed = xnor.pack(x)
        for path in ("mma", "xor") if xnor.tensor_cores(device) else ("xor",):
            rows.append(
                (
                    f"binary pack + conv ({path})",
                    timed(
                        lambda p=path: xnor.conv3x3(xnor.pack(x), cd, path=p),
                        device,
                        warmup,
                        repeats,
                    ),
                    act + 2 * packed_bytes + act,
                )
            )
            rows.append(
                (
                    f"binary conv alone ({path})",
                    timed(lambda p=path: xnor.conv3x3(packed, cd, path=p), device, warmup, repeats),
                    packed_bytes + act,
                )
            )
        rows.append(
            (
                "binary pack alone",
                timed(lambda: xnor.pack(x), device, warmup, repeats),
                act + packed_bytes,
            )
        )

        def unit():
            coef = instnorm.coefficients(x, instnorm.stats(x), gamma, beta, 1e-5)
            return xnor.conv3x3(xnor.pack(x, coef), cd, residual=x)

        rows.append(
            (
                "binary unit: stats + pack + conv + shortcut",
                timed(unit, device, warmup, repeats),
                4 * act + 2 * packed_bytes,
            )
        )
        if xnor.tensor_cores(device):
            same = torch.equal(
                xnor.conv3x3(packed, cd, path="mma"), xnor.conv3x3(packed, cd, path="xor")
            )
            extra["mma_equals_xor_bitwise"] = same
    else:
        rows.append(
            (
                "binary pack + conv (CPU reference)",
                timed(lambda: ref.conv3x3(ref.pack(x), conv, dtype=torch.float32), device, 1, 2),
                act + 2 * packed_bytes + act,
            )
        )
    return rows, extra


def generator_rows(
    device: torch.device, shape, warmup: int, repeats: int, profile: int
) -> tuple[list, str]:
    cl = torch.channels_last
    torch.manual_seed(0)
    teacher = Generator(GeneratorConfig(width=32, res_blocks=5)).eval()
    student = XnorGenerator.from_generator(teacher).eval().packed().eval()
    x = torch.rand(shape) * 255
    rows, top = [], ""
    with torch.inference_mode():
        if device.type == "cuda":
            gen = FusedGenerator(teacher.half().to(device, memory_format=cl), use_kernels=True)
            xn = FusedXnor(student.half().to(device, memory_format=cl))
            xin = x.to(device, torch.float16).contiguous(memory_format=cl)
            rows.append(("fused fp16 generator", timed(lambda: gen(xin), device, warmup, repeats)))
            rows.append(
                ("xnor fp16 on the kernels", timed(lambda: xn(xin), device, warmup, repeats))
            )
            if profile:
                from torch.profiler import ProfilerActivity
                from torch.profiler import profile as prof

                with prof(activities=[ProfilerActivity.CUDA]) as p:
                    for _ in range(profile):
                        xn(xin)
                    torch.cuda.synchronize()
                top = p.key_averages().table(sort_by="cuda_time_total", row_limit=12)
        else:
            rows.append(("generator fp32 (CPU)", timed(lambda: teacher(x), device, 1, 2)))
            rows.append(("xnor fp32, CPU reference", timed(lambda: student(x), device, 1, 2)))
    return rows, top


def agreement(style: str, models_dir: str) -> dict:
    """PSNR of an xnor entry's CUDA output against its CPU reference output (astronaut)."""
    import numpy as np
    from skimage import data

    from artem_server.models.store import read_entry
    from artem_server.models.xnor import XnorConfig, packed_from_state_dict

    entry = read_entry(Path(models_dir) / style)
    net = packed_from_state_dict(
        entry.load_weights(), XnorConfig.from_dict(entry.card.architecture)
    )
    img = torch.from_numpy(data.astronaut()[:508, :508]).permute(2, 0, 1)[None].float()
    with torch.inference_mode():
        cpu = net(img).clamp(0, 255)
        fused = FusedXnor(net.half().cuda().to(memory_format=torch.channels_last))
        gpu = fused(img.half().cuda().contiguous(memory_format=torch.channels_last)).float().cpu()
    mse = float(((gpu.clamp(0, 255) - cpu) ** 2).mean())
    return {"style": style, "psnr_cuda_vs_cpu_db": 10 * np.log10(255**2 / max(mse, 1e-12))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda or cpu (default cuda)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs (default 20)")
    parser.add_argument("--profile", type=int, default=3, help="profiled xnor frames (default 3)")
    parser.add_argument("--xnor-style", default="", help="an xnor entry to check CUDA vs CPU on")
    parser.add_argument("--models-dir", default="artem_server/builtin_models")
    parser.add_argument("--json", default="", help="write the figures here too")
    args = parser.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    torch.backends.cudnn.benchmark = True
    conv_shape = (2, 128, 480, 458) if cuda else (2, 128, 24, 22)
    frame = (2, 3, 1832, 1920) if cuda else (1, 3, 64, 64)
    result: dict = {"device": torch.cuda.get_device_name(device) if cuda else "cpu"}
    rate = copy_rate(device, args.warmup, args.repeats)
    result["copy_GBps"] = rate
    print(f"{result['device']}: device copy {rate:.0f} GB/s (read + write)")

    rows, extra = conv_rows(device, conv_shape, args.warmup, args.repeats)
    base = rows[0][1]
    print(f"\n| conv 128->128 on {conv_shape} | ms | x cuDNN | GB/s | of copy rate |")
    print("| --- | --- | --- | --- | --- |")
    for name, ms, moved in rows:
        gbps = moved / ms / 1e6
        print(f"| {name} | {ms:.3f} | {base / ms:.2f} | {gbps:.0f} | {100 * gbps / rate:.0f}% |")
    result["conv"] = [{"variant": n, "ms": ms, "bytes": b} for n, ms, b in rows]
    result.update(extra)
    if extra:
        print(f"MMA and CUDA-core outputs bit-identical: {extra['mma_equals_xor_bitwise']}")

    rows, top = generator_rows(
        device, frame, args.warmup, args.repeats, args.profile if cuda else 0
    )
    print(f"\n| whole net on {frame} | ms | x first row |")
    print("| --- | --- | --- |")
    for name, ms in rows:
        print(f"| {name} | {ms:.2f} | {rows[0][1] / ms:.2f} |")
    result["generator"] = [{"variant": n, "ms": ms} for n, ms in rows]
    if top:
        print("\nxnor net, top CUDA kernels:\n" + top)
    if args.xnor_style and cuda and (Path(args.models_dir) / args.xnor_style).is_dir():
        result["agreement"] = agreement(args.xnor_style, args.models_dir)
        print(f"\n{result['agreement']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
