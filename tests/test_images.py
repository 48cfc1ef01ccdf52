"""Images and feature tables through prepare, train, predict and export (issue 20), on small generated files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from earmark.config import AugmentConfig, FeatureConfig, ModelConfig, load_train_config
from earmark.data.dataset import PreparedData
from earmark.data.items import detect_kind
from earmark.data.prepare import PrepareOptions, prepare
from earmark.data.sources import LabelSpec
from earmark.errors import ConfigError
from earmark.features.items import ItemAugment, ItemFrontEnd
from earmark.inference import Predictor
from earmark.item_classifier import ItemClassifier
from earmark.training.loop import train

QUIET = {"log": lambda line: None}
FAST = ["trainer.threads=1", "trainer.batch_size=8", "trainer.epochs=2"]


def _bars(kind: str, rng: np.random.Generator, size: int = 10) -> np.ndarray:
    """A gray image with a bright horizontal bar, vertical bar or diagonal at a random place."""
    pixels = rng.integers(0, 40, (size, size)).astype(np.float64)
    at = int(rng.integers(1, size - 2))
    if kind == "h":
        pixels[at : at + 2, :] = 230
    elif kind == "v":
        pixels[:, at : at + 2] = 230
    else:
        pixels[np.arange(size), (np.arange(size) + at) % size] = 230
    return pixels.astype(np.uint8)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes × 10 images in four formats, plus a truncated, an empty and a non-image file."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for kind in ("h", "v", "d"):
        (root / kind).mkdir()
        for i in range(10):
            Image.fromarray(_bars(kind, rng)).save(root / kind / f"{i}.{('png', 'jpg', 'bmp', 'gif')[i % 4]}")
    whole = (root / "h" / "0.png").read_bytes()
    (root / "h" / "cut.png").write_bytes(whole[: len(whole) // 2])
    (root / "v" / "empty.png").write_bytes(b"")
    (root / "d" / "notes.jpg").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def image_data(image_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("image-data") / "data"
    prepare(image_folder, out, LabelSpec(), PrepareOptions(split="60/20/20", workers=1))
    return out


def test_image_folder_prepares_and_bad_files_get_one_line_each(image_data: Path) -> None:
    with (image_data / "rejected.csv").open() as handle:
        reasons = {row["source"]: row["reason"] for row in csv.DictReader(handle)}
    assert reasons == {"h/cut.png": reasons["h/cut.png"], "v/empty.png": "empty file (0 bytes)",
                       "d/notes.jpg": "not an image Pillow can read"}
    assert reasons["h/cut.png"].startswith("truncated or damaged image")
    data = PreparedData.open(image_data)
    assert (data.kind, data.item["shape"], len(data.rows)) == ("image", [1, 10, 10], 30)
    values = data.samples(data.rows[0])
    assert values.shape == (100,) and values.min() >= 0.0 and values.max() <= 1.0
    assert "images: 1x10x10" in (image_data / "report.md").read_text()


def test_duplicates_and_near_duplicates_across_splits_are_found(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    pictures = {f"{kind}{i}": _bars(kind, rng, 24) for kind in "hv" for i in range(4)}
    for name, pixels in pictures.items():
        Image.fromarray(pixels).save(tmp_path / f"{name}.png")
    Image.fromarray(pictures["h0"]).save(tmp_path / "h0-copy.bmp")  # the same pixels in another format
    brighter = np.clip(pictures["v0"].astype(int) + 12, 0, 255).astype(np.uint8)
    Image.fromarray(brighter).save(tmp_path / "v0-brighter.png")  # re-lit: near-identical, not identical
    splits = {"0": "train", "1": "val", "2": "train", "3": "test"}
    lines = [f"{name}.png,{name[0]},{splits[name[1]]}" for name in pictures]
    lines += ["h0-copy.bmp,h,test", "v0-brighter.png,v,val"]  # each in another split than its original
    (tmp_path / "labels.csv").write_text("path,label,split\n" + "\n".join(lines) + "\n")
    report = prepare(tmp_path, tmp_path / "out", LabelSpec(labels="csv:labels.csv"), PrepareOptions(workers=1))
    leak = report["leakage"]
    assert not leak["ok"]
    assert leak["duplicates_across_splits"] == [["h0-copy.bmp", "h0.png"]]
    assert ["v0-brighter.png", "v0.png"] in [sorted(s) for s in leak["near_duplicates_across_splits"]]
    assert all(len(s) == 2 for s in leak["near_duplicates"])  # distinct pictures are not merged


def _table(folder: Path, rows: int = 60) -> Path:
    """A feature table of three separable classes, a text column and one row with a non-numeric value."""
    rng = np.random.default_rng(2)
    path = folder / "features.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "f1", "f2", "f3", "note"])
        for i in range(rows):
            label = i % 3
            writer.writerow([f"c{label}", *(rng.normal(3.0 * label, 0.5, 3).round(4)), f"row {i}"])
        writer.writerow(["c0", "1.0", "oops", "2.0", "bad"])
    return path


def test_feature_table_prepares_and_rejects_a_non_numeric_value(tmp_path: Path) -> None:
    _table(tmp_path)
    spec = LabelSpec(labels="csv:features.csv")
    assert detect_kind(tmp_path, spec, None) == "table"
    report = prepare(tmp_path, tmp_path / "out", spec, PrepareOptions(workers=1))
    assert report["n_kept"] == 60 and report["item"]["columns"] == ["f1", "f2", "f3"]
    assert report["item"]["ignored_columns"] == ["note"]
    rejected = (tmp_path / "out" / "rejected.csv").read_text().splitlines()
    assert rejected[1:] == ["features.csv:62,feature 'f2' is not a finite number: 'oops' (features.csv line 62)"]


def test_image_run_predicts_and_exports_with_parity(image_folder: Path, image_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from earmark.export import export_run

    train(image_data, tmp_path / "run", load_train_config(None, [*FAST, "model.name=cnn"]), **QUIET)
    saved = torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt", weights_only=True)["config"]["features"]
    assert (saved["kind"], saved["shape"], saved["resize"]) == ("image", [1, 10, 10], "stretch")
    report = export_run(tmp_path / "run")
    assert report.parity.ok and report.parity.n_windows > 1
    files = [image_folder / "h" / "1.jpg", image_folder / "d" / "2.bmp"]
    eager = [Predictor.from_path(tmp_path / "run").predict(f) for f in files]
    exported = [Predictor.from_path(report.path).predict(f) for f in files]
    for a, b in zip(eager, exported):
        assert a.label == b.label and abs(a.score - b.score) < 1e-4 and a.windows == []


def test_table_run_predicts_csv_rows_and_exports_with_parity(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from earmark.export import export_run

    table = _table(tmp_path)
    prepare(tmp_path, tmp_path / "data", LabelSpec(labels="csv:features.csv"), PrepareOptions(workers=1))
    metrics = train(tmp_path / "data", tmp_path / "run",
                    load_train_config(None, [*FAST, "model.name=logreg", "trainer.epochs=5"]), **QUIET)
    assert metrics["test"]["n"] > 0
    report = export_run(tmp_path / "run")
    assert report.parity.ok
    good = tmp_path / "rows.csv"
    good.write_text("\n".join(table.read_text().splitlines()[:7]) + "\n")
    eager = Predictor.from_path(tmp_path / "run").predict_many(good)
    exported = Predictor.from_path(report.path).predict_many(good)
    assert [p.file for p in eager] == [f"rows.csv:{n}" for n in range(2, 8)]
    assert [p.label for p in eager] == [p.label for p in exported]
    assert max(abs(a.score - b.score) for a, b in zip(eager, exported)) < 1e-4


def test_colour_images_reach_multi_channel_models_only() -> None:
    features = FeatureConfig(kind="image", shape=[3, 12, 16], resize="stretch")
    for name in ("cnn", "mlp", "vgg-ultramini", "vgg-m"):
        model = ItemClassifier(features, ModelConfig(name=name), AugmentConfig(), 4).eval()
        assert model(torch.rand(2, 3 * 12 * 16)).shape == (2, 4)
    with pytest.raises(ConfigError, match="one-channel"):
        ItemClassifier(features, ModelConfig(name="tcresnet-8"), AugmentConfig(), 4)


def test_image_augmentation_is_train_only_and_keeps_the_pixels() -> None:
    frontend = ItemFrontEnd("image", [1, 8, 8], "none")
    images = frontend(torch.rand(16, 64))
    augment = ItemAugment(AugmentConfig(image_shift=0.25), "image")
    assert torch.equal(augment.eval()(images), images)
    shifted = augment.train()(images)
    assert shifted.shape == images.shape and not torch.equal(shifted, images)
    rows = shifted[0, 0].flatten().tolist()  # a shift moves pixels, zero-filling the margin
    assert all(value == 0.0 or value in images[0, 0].flatten().tolist() for value in rows)
    assert AugmentConfig().image_flip is False  # flipping is off unless asked: wrong for digits and text


def test_a_rotated_photo_is_decoded_upright(tmp_path: Path) -> None:
    from earmark.data.images import load_image, read_header

    pixels = np.zeros((10, 20, 3), np.uint8)
    pixels[:, :5] = 255  # a bright left edge; EXIF orientation 6 turns it into the top edge
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(tmp_path / "turned.jpg", exif=exif.tobytes(), quality=95)
    header = read_header(tmp_path / "turned.jpg")
    assert (header.width, header.height) == (10, 20)
    upright, _, _ = load_image(tmp_path / "turned.jpg", 1, 20, 10)
    assert upright[0, :3].mean() > 0.9 and upright[0, -3:].mean() < 0.1
