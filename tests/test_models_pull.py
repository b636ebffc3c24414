"""`artem models pull`: files served from a local HTTP server stand in for the publishers (via
--base-url). A good pull imports; a download that fails its size/hash or its import is refused
with nothing written; an unreachable host is a clear error with nothing written."""

from __future__ import annotations

import functools
import hashlib
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from adain_reference import peer_decoder_state_dict, peer_encoder_state_dict
from conftest import random_generator
from test_cli import artem

from artem_server import cli
from artem_server.models.generator import GeneratorConfig
from artem_server.models.loading import load_model
from artem_server.models.pull import CATALOGUE, Item, PullError, RemoteFile, pull
from artem_server.models.store import list_entry_dirs, read_entry

ZIP_PATH = "s/lrvwfehqdcxoza8/saved_models.zip"
ADAIN_PATH = "naoto0804/pytorch-AdaIN/releases/download/v0.0.0"


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, folder it serves): a loopback HTTP server in a thread."""
    root = tmp_path / "mirror"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def write_saved_models(root: Path, corrupt: str = "") -> dict[str, dict[str, torch.Tensor]]:
    """saved_models.zip as pytorch/examples publishes it (saved_models/<style>.pth), tiny nets;
    the member `corrupt` (if any) holds junk instead."""
    nets = {
        s: random_generator(i, GeneratorConfig(width=8, res_blocks=1)).state_dict()
        for i, s in enumerate(("candy", "mosaic", "rain_princess", "udnie"))
    }
    staging = root / "staging"
    staging.mkdir()
    path = root / ZIP_PATH
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w") as z:
        for style, sd in nets.items():
            torch.save(sd, staging / f"{style}.pth")
            if style == corrupt:
                (staging / f"{style}.pth").write_bytes(b"not a checkpoint")
            z.write(staging / f"{style}.pth", f"saved_models/{style}.pth")
    return nets


def run_cli(*args: str) -> int:
    return cli.main(["--log-level", "WARNING", "models", "pull", *args])


def test_catalogue_is_honest_about_hashes() -> None:
    for item in CATALOGUE.values():
        assert item.license and item.source.startswith("https://")
        for f in item.files:
            assert f.url.startswith("https://")
            if item.kind == "hub":  # torchvision's name carries the SHA-256 prefix we check
                assert f.sha256 and f.url.endswith(f"-{f.sha256}.pth")


def test_pull_one_style_through_the_real_cli(mirror, tmp_path: Path) -> None:
    base, root = mirror
    nets = write_saved_models(root)
    models = tmp_path / "models"
    proc = artem("models", "pull", "mosaic", "--models-dir", str(models), "--base-url", base)
    assert "licence: pytorch/examples is BSD-3-Clause" in proc.stdout and base in proc.stdout
    assert [p.name for p in list_entry_dirs(models)] == ["mosaic"]
    entry = read_entry(models / "mosaic")
    assert (
        entry.card.source.startswith("https://www.dropbox.com/")
        and "BSD-3-Clause" in entry.card.license
    )
    for k, v in load_model(entry).state_dict().items():
        torch.testing.assert_close(v, nets["mosaic"][k].float(), rtol=0, atol=2e-3)  # fp16 on disk


def test_pull_all_four_and_adain_via_env(mirror, tmp_path: Path, monkeypatch, capsys) -> None:
    base, root = mirror
    write_saved_models(root)
    (root / ADAIN_PATH).mkdir(parents=True)
    torch.save(peer_encoder_state_dict(), root / ADAIN_PATH / "vgg_normalised.pth")
    torch.save(peer_decoder_state_dict(width=16), root / ADAIN_PATH / "decoder.pth")
    monkeypatch.setenv("ARTEM_PULL_BASE_URL", base)
    models = tmp_path / "models"
    assert run_cli("fast-neural-style", "--models-dir", str(models)) == 0
    assert run_cli("pytorch-adain", "--models-dir", str(models)) == 0
    assert sorted(p.name for p in list_entry_dirs(models)) == [
        "candy",
        "mosaic",
        "pytorch-adain",
        "rain_princess",
        "udnie",
    ]
    assert read_entry(models / "pytorch-adain").card.kind == "adain"
    assert "MIT" in capsys.readouterr().out
    # A second pull refuses to replace what is there, before touching it.
    assert run_cli("mosaic", "--models-dir", str(models)) == 2
    assert "already exists" in capsys.readouterr().err


def test_hash_mismatch_is_refused_and_nothing_installed(mirror, tmp_path: Path) -> None:
    base, root = mirror
    (root / "models").mkdir()
    torch.save(
        {"features.0.weight": torch.zeros(64, 3, 3, 3)}, root / "models" / "vgg16-397923af.pth"
    )
    hub = tmp_path / "hub"
    with pytest.raises(PullError, match="SHA-256 .* does not match"):
        pull("vgg16", tmp_path / "models", base_url=base, hub_dir=hub)
    assert not hub.exists() and not (tmp_path / "models").exists()


def test_size_mismatch_is_refused_and_a_matching_file_installs(
    mirror, tmp_path: Path, monkeypatch
) -> None:
    base, root = mirror
    (root / "w").mkdir()
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, root / "w" / "vgg-test.pth")
    data = (root / "w" / "vgg-test.pth").read_bytes()
    good = RemoteFile(
        "https://example.org/w/vgg-test.pth", len(data), hashlib.sha256(data).hexdigest()
    )
    bad = RemoteFile(good.url, len(data) + 1, good.sha256)
    hub = tmp_path / "hub"
    for name, remote in (("bad-size", bad), ("good", good)):
        monkeypatch.setitem(
            CATALOGUE, name, Item(name, "hub", (remote,), "test", "https://example.org", "test")
        )
    with pytest.raises(PullError, match="bytes, the catalogue says"):
        pull("bad-size", tmp_path / "models", base_url=base, hub_dir=hub)
    assert not hub.exists()
    assert pull("good", tmp_path / "models", base_url=base, hub_dir=hub, say=lambda s: None) == [
        hub / "checkpoints" / "vgg-test.pth"
    ]


def test_corrupt_archive_member_is_refused_and_nothing_imported(
    mirror, tmp_path: Path, capsys
) -> None:
    base, root = mirror
    write_saved_models(root, corrupt="udnie")  # the last member: the other three read fine first
    models = tmp_path / "models"
    assert run_cli("fast-neural-style", "--models-dir", str(models), "--base-url", base) == 2
    assert "udnie.pth" in capsys.readouterr().err
    assert list_entry_dirs(models) == []


def test_unreachable_host_is_a_clear_error_and_changes_nothing(tmp_path: Path, capsys) -> None:
    models = tmp_path / "models"
    assert run_cli("candy", "--models-dir", str(models), "--base-url", "http://127.0.0.1:9") == 2
    err = capsys.readouterr().err
    assert "could not download http://127.0.0.1:9/" in err and "offline" in err
    assert not models.exists()


def test_missing_file_on_the_host_and_unknown_name(mirror, tmp_path: Path, capsys) -> None:
    base, _ = mirror
    assert run_cli("udnie", "--models-dir", str(tmp_path / "m"), "--base-url", base) == 2
    assert "HTTP 404" in capsys.readouterr().err
    assert run_cli("nonesuch", "--models-dir", str(tmp_path / "m")) == 2
    assert "known: vgg16" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
