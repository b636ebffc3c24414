"""ONNX style files into entries of kind `onnx`: what the importer reads from the graph (layout,
channel order, value range, size), what it settles by running the graph, what the flags
override, and that the served net computes what the file computes, at any frame size. The
files are made here (onnx_fixtures): the Model Zoo's fast-neural-style shape, Magenta's pair,
and our own generator's export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from conftest import random_generator
from onnx import TensorProto, helper, numpy_helper
from onnx_fixtures import SEPIA, SEPIA_BIAS, magenta_expected, magenta_pair, zoo_expected, zoo_style

from artem_server.backends import BackendUnavailable, create_runner
from artem_server.cli import main
from artem_server.models.onnx_export import ONNX_FILE, export_onnx
from artem_server.models.onnx_graph import (
    ImageSpec,
    OnnxGraphError,
    inspect_image_graph,
    load_graph,
    nearest_range,
    output_interval,
)
from artem_server.models.onnx_import import ImportFlags, import_network, import_pair
from artem_server.models.onnx_net import OnnxGraph, OnnxNet
from artem_server.models.onnx_pair import (
    load_pair,
    load_pair_style,
    style_vector,
    write_pair_style,
)
from artem_server.models.store import read_entry

CPU = torch.device("cpu")


def served(entry_path: Path) -> OnnxNet:
    """The net the server runs for a single-network entry."""
    entry = read_entry(entry_path)
    spec = ImageSpec.from_dict(entry.card.architecture)
    return OnnxNet(OnnxGraph((entry_path / ONNX_FILE).read_bytes()), spec)


def planar(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float()


def hwc(t: torch.Tensor) -> np.ndarray:
    return t[0].permute(1, 2, 0).numpy()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_zoo_shaped_file_imports_with_no_flags_and_runs_at_the_frames_size(
    tmp_path: Path, photo: np.ndarray
) -> None:
    got = import_network(write(tmp_path, "candy-9.onnx", zoo_style()), "candy", tmp_path / "m")
    spec = got.spec
    assert (spec.input, spec.output, spec.layout, spec.channels) == (
        "input1",
        "output1",
        "nchw",
        "rgb",
    )
    assert (spec.range, spec.output_range, spec.size) == ("0..255", "0..255", (224, 224))
    # exported at 224x224, but fully convolutional: served at the frame's size, in batches
    assert (spec.resize, spec.batch, spec.size_multiple) == (False, None, 2)
    card = read_entry(got.entry.path).card
    assert card.kind == "onnx" and "224x224; runs at any size" in card.made_by["read_from"]["size"]
    assert (got.entry.path / "thumbnail.png").stat().st_size > 0 and got.warnings == []
    rgb = photo[:100, :150]
    y = served(got.entry.path)(planar(rgb).repeat(2, 1, 1, 1))
    assert y.shape == (2, 3, 100, 150)
    np.testing.assert_allclose(hwc(y), zoo_expected(rgb), atol=1e-3)
    np.testing.assert_allclose(hwc(y[1:]), zoo_expected(rgb), atol=1e-3)


def test_a_graph_that_runs_at_its_size_only_is_served_by_resizing(tmp_path: Path) -> None:
    path = write(tmp_path, "fixed.onnx", zoo_style(reshape=True))
    got = import_network(path, "fixed", tmp_path / "m")
    assert (got.spec.resize, got.spec.size, got.spec.batch) == (True, (224, 224), 1)
    assert "frames are resized to it" in got.spec.sources["size"]
    colour = np.array([200.0, 120.0, 40.0], dtype=np.float32)
    x = torch.from_numpy(colour).view(1, 3, 1, 1).expand(2, 3, 90, 130).contiguous()
    y = served(got.entry.path)(x)  # a flat frame stays flat through both resizes
    assert y.shape == (2, 3, 90, 130)
    np.testing.assert_allclose(
        y[:, :, 10, 20].numpy(), [SEPIA @ colour + SEPIA_BIAS] * 2, rtol=1e-4
    )
    with pytest.raises(
        OnnxGraphError, match=r"layout nhwc: input input1 \[1, 3, 224, 224\] has 224"
    ):
        import_network(path, "fixed2", tmp_path / "m", ImportFlags(layout="nhwc"))
    with pytest.raises(OnnxGraphError, match="leave out --no-resize"):
        import_network(path, "fixed2", tmp_path / "m", ImportFlags(resize=False))


def test_our_generator_export_imports_with_no_flags_and_matches_the_net(
    tmp_path: Path, photo: np.ndarray
) -> None:
    net = random_generator(3)
    got = import_network(write(tmp_path, ONNX_FILE, export_onnx(net)), "gen", tmp_path / "m")
    assert (got.spec.input, got.spec.output, got.spec.layout, got.spec.range) == (
        "x",
        "y",
        "nchw",
        "0..255",
    )
    assert (got.spec.size, got.spec.batch, got.spec.size_multiple) == (None, None, 4)
    x = planar(photo[:48, :64]).repeat(2, 1, 1, 1)
    with torch.inference_mode():
        np.testing.assert_allclose(served(got.entry.path)(x).numpy(), net(x).numpy(), atol=0.05)


def _image_graph(nodes, inits=(), metadata=None, shape=(1, 3, "h", "w"), opset=13) -> bytes:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, list(shape))],
        initializer=list(inits),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8  # what the pinned ONNX Runtime reads (onnx writes newer by default)
    for k, v in (metadata or {}).items():
        model.metadata_props.add(key=k, value=v)
    return model.SerializeToString()


def _scalar(name: str, v: float):
    return numpy_helper.from_array(np.array(v, dtype=np.float32), name)


@pytest.mark.parametrize(
    ("nodes", "inits", "expected"),
    [
        ([helper.make_node("Sigmoid", ["image"], ["out"])], [], "0..1"),
        (  # Johnson's Lua nets: tanh * 150 + 127.5
            [
                helper.make_node("Tanh", ["image"], ["t"]),
                helper.make_node("Mul", ["t", "a"], ["m"]),
                helper.make_node("Add", ["m", "b"], ["out"]),
            ],
            [_scalar("a", 150.0), _scalar("b", 127.5)],
            "0..255",
        ),
        (
            [helper.make_node("Clip", ["image", "lo", "hi"], ["out"])],
            [_scalar("lo", -1.0), _scalar("hi", 1.0)],
            "-1..1",
        ),
        ([helper.make_node("Relu", ["image"], ["out"])], [], None),
    ],
)
def test_the_output_range_is_read_from_the_graphs_last_bounded_operation(
    nodes, inits, expected
) -> None:
    model = load_graph(_image_graph(nodes, inits))
    interval = output_interval(model, "out")
    assert (nearest_range(interval) if interval else None) == expected
    spec, _ = inspect_image_graph(model)
    assert spec.range == spec.output_range == (expected or "0..255")


def test_onnx_image_metadata_gives_channel_order_and_range_and_flags_override_it(
    tmp_path: Path,
) -> None:
    meta = {"Image.BitmapPixelFormat": "Bgr8", "Image.NominalPixelRange": "Normalized_1_1"}
    data = _image_graph([helper.make_node("Identity", ["image"], ["out"])], metadata=meta)
    spec, _ = inspect_image_graph(load_graph(data))
    assert (spec.channels, spec.range, spec.output_range) == ("bgr", "-1..1", "-1..1")
    assert spec.sources["channels"] == spec.sources["range"] == "graph metadata"
    got = import_network(
        write(tmp_path, "id.onnx", data),
        "id",
        tmp_path / "m",
        ImportFlags(channels="rgb", range="0..1"),
    )
    assert (got.spec.channels, got.spec.range, got.spec.output_range) == ("rgb", "0..1", "0..1")
    assert got.spec.sources["range"] == "flag"
    assert read_entry(got.entry.path).card.made_by["flags"] == {"channels": "rgb", "range": "0..1"}


def test_conversions_follow_layout_order_and_range_exactly() -> None:
    spec = ImageSpec("i", "o", "nhwc", "bgr", range="-1..1", output_range="-1..1")
    net = OnnxNet(OnnxGraph(b""), spec)
    x = torch.tensor([255.0, 0.0, 127.5]).view(1, 3, 1, 1).expand(1, 3, 2, 3)
    g = net.to_graph(x)
    assert g.shape == (1, 2, 3, 3)
    np.testing.assert_allclose(g[0, 1, 2].numpy(), [0.0, -1.0, 1.0])  # B, G, R in -1..1
    np.testing.assert_allclose(net.from_graph(g, (2, 3)).numpy(), x.numpy(), atol=1e-4)


def test_a_flat_output_is_reported_with_the_flag_that_fixes_it(tmp_path: Path) -> None:
    """A 0..1 net with no sign of it in the graph, imported as 0..255: it still imports (the
    user may mean it), and the import says what looked wrong and what to give."""
    nodes = [helper.make_node("Mul", ["image", "k"], ["out"])]
    data = _image_graph(nodes, [_scalar("k", 1 / 255)])
    got = import_network(write(tmp_path, "dim.onnx", data), "dim", tmp_path / "m")
    assert len(got.warnings) == 1 and "--range" in got.warnings[0]


def test_the_magenta_pair_imports_in_either_order_and_its_vectors_style_frames(
    tmp_path: Path, photo: np.ndarray
) -> None:
    predict, transfer = magenta_pair()
    paths = [write(tmp_path, "transfer.onnx", transfer), write(tmp_path, "predict.onnx", predict)]
    got = import_pair(paths, "magenta", tmp_path / "m")
    assert (got.spec.layout, got.spec.range, got.spec.output_range) == ("nhwc", "0..1", "0..1")
    assert got.spec.style_input == "mobilenet_conv/Conv/BiasAdd" and got.spec.style_dims == 100
    pair = load_pair(read_entry(got.entry.path))
    assert pair.predictor.spec.range == "0..1"  # the transfer network's, as the graph is silent
    style_rgb = np.zeros((64, 80, 3), np.uint8)
    style_rgb[..., 0], style_rgb[:32, :, 2] = 255, 200
    vector = style_vector(pair, style_rgb)
    np.testing.assert_allclose(vector[:3].numpy(), [1.0, 0.0, 100 / 255], atol=1e-5)
    entry = write_pair_style(tmp_path / "m", "red", pair, vector, (80, 64), source="test")
    net = load_pair_style(read_entry(entry.path), pair)
    rgb = photo[:40, :56]
    y = net(planar(rgb).repeat(2, 1, 1, 1))  # a graph of batch 1: one view at a time
    np.testing.assert_allclose(hwc(y), magenta_expected(rgb, style_rgb), atol=0.02)


def test_pairs_are_checked_against_each_other(tmp_path: Path) -> None:
    predict, transfer = magenta_pair()
    p, t = write(tmp_path, "p.onnx", predict), write(tmp_path, "t.onnx", transfer)
    with pytest.raises(OnnxGraphError, match=r"import it with its style-prediction network"):
        import_network(t, "half", tmp_path / "m")
    with pytest.raises(OnnxGraphError, match=r"style-prediction network; import it with"):
        import_network(p, "half", tmp_path / "m")
    with pytest.raises(OnnxGraphError, match=r"found .*t.onnx: transfer; .*t2.onnx: transfer"):
        import_pair([t, write(tmp_path, "t2.onnx", transfer)], "two", tmp_path / "m")
    short = onnx.load_model_from_string(predict)
    short.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.ones((3, 50), np.float32), "w"))
    short.graph.output[0].type.tensor_type.shape.dim[3].dim_value = 50
    s = write(tmp_path, "short.onnx", short.SerializeToString())
    with pytest.raises(OnnxGraphError, match=r"no vector of the 100 values"):
        import_pair([s, t], "short", tmp_path / "m")
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


def test_a_style_vector_from_another_predictor_is_refused(tmp_path: Path) -> None:
    predict, transfer = magenta_pair()
    paths = [write(tmp_path, "p.onnx", predict), write(tmp_path, "t.onnx", transfer)]
    pair = load_pair(read_entry(import_pair(paths, "mag", tmp_path / "m").entry.path))
    entry = write_pair_style(tmp_path / "m", "s", pair, torch.zeros(100), (8, 8), source="test")
    other_predict, _ = magenta_pair(seed=1)
    paths[0].write_bytes(other_predict)
    other = load_pair(
        read_entry(import_pair(paths, "mag", tmp_path / "m", overwrite=True).entry.path)
    )
    with pytest.raises(ValueError, match="add the style again"):
        load_pair_style(read_entry(entry.path), other)


def test_files_that_are_not_style_networks_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(OnnxGraphError, match="junk.onnx is not an ONNX model"):
        import_network(write(tmp_path, "junk.onnx", b"\x08\x07 not a graph"), "j", tmp_path / "m")
    # an adain export: the image plus the style's statistics and alpha
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "adain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])]
        + [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 512, 1, 1])
            for n in ("style_mean", "style_std")
        ]
        + [helper.make_tensor_value_info("alpha", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "h", "w"])],
    )
    data = helper.make_model(graph, ir_version=8).SerializeToString()
    with pytest.raises(OnnxGraphError, match=r"not a style network.*style_mean.*alpha"):
        import_network(write(tmp_path, "adain.onnx", data), "a", tmp_path / "m")


def test_a_graph_onnx_runtime_cannot_load_is_refused_with_its_reason(tmp_path: Path) -> None:
    model = onnx.load_model_from_string(zoo_style())
    model.ir_version = 99
    path = write(tmp_path, "future.onnx", model.SerializeToString())
    with pytest.raises(
        OnnxGraphError, match=r"future.onnx: ONNX Runtime cannot load it: .*IR version"
    ):
        import_network(path, "future", tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_the_onnxruntime_backend_runs_an_imported_graph_in_fp32_only(
    tmp_path: Path, photo: np.ndarray
) -> None:
    got = import_network(write(tmp_path, "z.onnx", zoo_style()), "z", tmp_path / "m")
    net = served(got.entry.path)
    runner = create_runner("onnxruntime", net, CPU, "fp32")
    assert runner.size_multiple == 2
    rgb = photo[:64, :96]
    np.testing.assert_allclose(hwc(runner(planar(rgb))), zoo_expected(rgb), atol=1e-3)
    with pytest.raises(BackendUnavailable, match="fp32"):
        create_runner("onnxruntime", net, CPU, "fp16")


def test_artem_bench_times_a_random_onnx_style(tmp_path: Path) -> None:
    """`artem bench --style random-onnx`: the full-size generator exported and imported."""
    out = tmp_path / "onnx.json"
    args = ["bench", "--what", "model", "--size", "tiny", "--style", "random-onnx"]
    args += ["--variant", "onnxruntime:fp32", "--warmup", "0", "--repeats", "1"]
    assert main(["--log-level", "WARNING", *args, "--json", str(out)]) == 0
    rows = {r["backend"]: r for r in json.loads(out.read_text())["rows"]}  # and the baseline
    row = rows["onnxruntime"]
    assert (row["style"], row["error"]) == ("random-onnx", "") and row["median_ms"] > 0
