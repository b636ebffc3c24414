"""`artem bench`: size and variant parsing, ratios against the same run's baseline, the table,
the JSON, and a whole small run through the CLI (model only and end to end)."""

from __future__ import annotations

import json
import math

import pytest

from artem_server.benchmark.model_bench import Variant, default_variants
from artem_server.benchmark.report import Row, fill_ratios, table
from artem_server.benchmark.sizes import NAMED, parse_size
from artem_server.cli import main


def test_named_sizes_are_the_headsets_per_eye():
    assert (
        NAMED["quest2-stereo"].views,
        NAMED["quest2-stereo"].width,
        NAMED["quest2-stereo"].height,
    ) == (2, 1832, 1920)
    assert (NAMED["vive-stereo"].width, NAMED["vive-stereo"].height) == (1080, 1200)
    assert NAMED["1080p"].views == 1
    s = parse_size("320x200-stereo")
    assert (s.views, s.width, s.height) == (2, 320, 200)
    assert parse_size("64x48").views == 1
    with pytest.raises(ValueError, match="expected one of vive-stereo"):
        parse_size("quest9")


def test_variants_parse_and_default_to_what_the_device_has():
    import torch

    assert Variant.parse("torch-optimized:fp16:compile") == Variant(
        "torch-optimized", "fp16", "compile"
    )
    with pytest.raises(ValueError, match="BACKEND:PRECISION"):
        Variant.parse("torch-eager")
    cpu = default_variants(torch.device("cpu"))
    assert cpu[0] == Variant("torch-eager", "fp32")
    assert Variant("onnxruntime", "fp32") in cpu


def test_ratios_compare_with_the_baseline_of_the_same_kind_size_and_style():
    rows = [
        Row("model", "s", "a", "torch-eager", "fp32", median_ms=10.0),
        Row("model", "s", "a", "torch-optimized", "fp16", "graph", median_ms=4.0),
        Row("model", "s", "b", "torch-optimized", "fp16", median_ms=4.0),  # no baseline for b
        Row("e2e", "s", "a", "torch-eager", "fp32", median_ms=20.0),
        Row("e2e", "s", "a", "onnxruntime", "fp32", median_ms=40.0),
        Row("model", "s", "a", "onnxruntime", "fp16", error="no CUDA provider"),
    ]
    fill_ratios(rows)
    assert [r.ratio for r in rows[:2]] == [1.0, 2.5]
    assert math.isnan(rows[2].ratio) and math.isnan(rows[5].ratio)
    assert rows[4].ratio == 0.5
    text = table(rows)
    assert "| s | a | torch-optimized fp16 graph | 4.00 |" in text
    assert "skipped: no CUDA provider" in text


def test_cli_bench_runs_model_and_end_to_end_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = main(
        [
            "--log-level",
            "WARNING",
            "bench",
            "--size",
            "tiny",
            "--variant",
            "torch-eager:fp32",
            "--variant",
            "torch-optimized:bf16:eager",
            "--e2e-variant",
            "torch-optimized:bf16:eager",
            "--warmup",
            "1",
            "--repeats",
            "2",
            "--frames",
            "2",
            "--transport",
            "inline",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "model only" in printed and "end to end" in printed
    data = json.loads(out.read_text())
    rows = data["rows"]
    assert data["environment"]["device"] == "cpu"
    model = [r for r in rows if r["kind"] == "model"]
    assert [(r["backend"], r["precision"]) for r in model] == [
        ("torch-eager", "fp32"),
        ("torch-optimized", "bf16"),
    ]
    assert all(r["median_ms"] > 0 and r["samples"] == 2 and not r["error"] for r in model)
    assert model[0]["ratio"] == 1.0 and model[1]["psnr_db"] > 30  # bf16 vs fp32 on photographs
    e2e = [r for r in rows if r["kind"] == "e2e"]
    assert {r["style"] for r in e2e} == {"identity", "random-generator"}
    assert [(r["backend"], r["style"]) for r in e2e] == [  # eager fp32 always; identity once
        ("torch-eager", "identity"),
        ("torch-eager", "random-generator"),
        ("torch-optimized", "random-generator"),
    ]
    assert all(
        r["samples"] == 2 and r["server_model_ms"] is not None for r in e2e if not r["error"]
    )
    assert all(not r["error"] for r in e2e), [r["error"] for r in e2e]


def test_cli_bench_refuses_a_bad_size(capsys):
    assert main(["bench", "--size", "huge", "--what", "model"]) == 2
    assert "expected one of vive-stereo" in capsys.readouterr().err


def test_cli_bench_times_a_synthetic_adain_style(tmp_path):
    out = tmp_path / "adain.json"
    assert (
        main(
            [
                "--log-level",
                "WARNING",
                "bench",
                "--what",
                "model",
                "--size",
                "tiny",
                "--style",
                "random-adain",
                "--variant",
                "torch-eager:fp32",
                "--warmup",
                "0",
                "--repeats",
                "1",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    (row,) = json.loads(out.read_text())["rows"]
    assert (row["style"], row["error"]) == ("random-adain", "") and row["median_ms"] > 0


def test_cli_bench_refuses_an_unknown_style_without_models_dir(capsys):
    assert main(["bench", "--what", "model", "--size", "tiny", "--style", "mosaic"]) == 2
    assert "expected one of random-generator, random-adain" in capsys.readouterr().err


def test_cli_bench_profile_names_where_the_time_goes(capsys):
    assert (
        main(
            [
                "--log-level",
                "WARNING",
                "bench",
                "--what",
                "model",
                "--size",
                "tiny",
                "--variant",
                "torch-optimized:bf16:eager",
                "--warmup",
                "0",
                "--repeats",
                "1",
                "--profile",
                "5",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    # one table, for the variant asked for (not the baseline that runs for the ratios)
    assert (
        printed.count("profile: tiny random-generator") == 1
        and "torch-optimized" in printed.split("profile:")[1]
    )
    table = printed.split("profile:")[1]
    assert "aten::" in table and "Self CPU" in table
