"""train.py --image-size 64 on CIFAR-10, end to end: the images upscaled once, training and exact resume,
the progress grids and TensorBoard's image, samples.py, evaluate.py and the real statistics' cache."""
import glob
import json
import os

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_script
from test_long_runs import assert_same_training

MOBILENET = os.path.join(ROOT, "..", "shared", "models", "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite")
# A tiny run (width 0.125, batch 8) with state of its own that must resume exactly: the EMA copy,
# DiffAugment's random state, batch-norm statistics.
TINY_64 = ["--image-size", "64", "--width", "0.125", "--latent-dim", "16", "--batch-size", "8",
           "--steps-per-epoch", "2", "--ema", "0.9", "--augment", "translation,cutout", "--batch-norm"]
PAD = 2  # machinery/progress.GRID_PADDING


def grid_side(cells, size=64):
    """Pixels across a grid of `cells` images of size x size: black padding around and between them."""
    return cells * (size + PAD) + PAD


def train(data, run_dir, *extra):
    result = run_script("train.py", "--data", data, "--out", run_dir, *TINY_64, *extra)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def run64(real_archive, tmp_path_factory):
    """(run directory, train.py's output) of a 2-epoch 64x64 run."""
    run_dir = str(tmp_path_factory.mktemp("size64") / "run")
    return run_dir, train(real_archive, run_dir, "--epochs", "2").stdout


def test_resize_images_is_antialiased_and_keeps_uint8():
    from defDATA import resize_images

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    assert resize_images(images, 32) is images  # the run's own size: nothing to do
    bigger = resize_images(images, 64)
    assert bigger.dtype == np.uint8 and bigger.shape == (3, 64, 64, 3)
    assert abs(float(bigger.mean()) - float(images.mean())) < 2  # smooth, not shifted
    flat = np.full((1, 32, 32, 3), 77, np.uint8)
    assert (resize_images(flat, 128) == 77).all()
    # Antialiased: a one-pixel checkerboard shrunk to half its size averages to grey (a plain subsampling
    # would keep every other pixel: all black or all white).
    board = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    shrunk = resize_images(np.repeat(board[None, :, :, None], 3, axis=3), 32)
    assert 100 < shrunk[0, 4:-4, 4:-4].mean() < 155 and shrunk[0, 4:-4, 4:-4].std() < 40
    with pytest.raises(ValueError, match="expected uint8 images"):
        resize_images(images.astype(np.float32), 64)


def test_a_64_pixel_run_trains_and_writes_64_pixel_grids(run64):
    run_dir, output = run64
    assert "upscaling" in output and "to 64x64" in output and "no new detail" in output
    with open(os.path.join(run_dir, "config.json")) as file_object:
        assert json.load(file_object)["image_size"] == 64
    for epoch in (1, 2):
        grid = np.asarray(Image.open(os.path.join(run_dir, "progress", f"epoch_{epoch:04d}.png")).convert("RGB"))
        assert grid.shape == (grid_side(8), grid_side(8), 3)  # 8x8 cells of 64 pixels: 530, not 32-pixel's 274
        lines = [PAD + row * (64 + PAD) - offset for row in range(9) for offset in (1, 2)]  # the black padding
        assert not grid[lines].any() and not grid[:, lines].any()
        assert grid[PAD:PAD + 64, PAD:PAD + 64].any()  # a drawn image inside the first cell


def test_tensorboard_holds_the_64_pixel_grid(run64):
    import tensorflow as tf

    run_dir, _ = run64
    sizes = []
    for path in glob.glob(os.path.join(run_dir, "tensorboard", "events.*")):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.tag == "fixed-noise grid":  # written as a tensor of [width, height, PNG bytes]
                    encoded = tf.make_ndarray(value.tensor)
                    sizes.append(tf.io.decode_png(encoded[2]).shape.as_list())
    assert sizes == [[grid_side(8), grid_side(8), 3]] * 2


def test_a_64_pixel_run_resumes_exactly(real_archive, run64, tmp_path):
    run_dir = str(tmp_path / "run")
    train(real_archive, run_dir, "--epochs", "1")
    result = run_script("train.py", "--resume", run_dir, "--epochs", "2", "--data", real_archive)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resuming" in result.stdout
    assert_same_training(run64[0], run_dir)  # bit for bit what the uninterrupted run holds
    # A resumed run keeps its size: another is one line.
    result = run_script("train.py", "--resume", run_dir, "--epochs", "3", "--image-size", "32")
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and "--image-size 32 differs from the run's 64" in lines[0]


def test_samples_draws_64_pixel_images(run64, real_archive, tmp_path):
    run_dir, _ = run64
    out, each = tmp_path / "grid.png", tmp_path / "each"
    result = run_script("samples.py", run_dir, "--rows", "2", "--cols", "3", "--out", str(out),
                        "--individual", str(each))
    assert result.returncode == 0, result.stderr[-2000:]
    assert Image.open(out).size == (grid_side(3), grid_side(2))
    files = sorted(each.iterdir())
    assert len(files) == 6 and {Image.open(path).size for path in files} == {(64, 64)}
    # The memorisation check searches the training images upscaled to 64x64, in pixel space.
    nearest = tmp_path / "nearest.png"
    result = run_script("samples.py", run_dir, "--nearest", "--data", real_archive, "--rows", "2", "--cols", "3",
                        "--out", str(nearest))
    assert result.returncode == 0, result.stderr[-2000:]
    assert Image.open(nearest).size == (grid_side(3), grid_side(2))
    # The progress animation: one 64x64-cell grid a frame, the epoch written above it.
    gif = tmp_path / "progress.gif"
    result = run_script("samples.py", run_dir, "--progress", str(gif))
    assert result.returncode == 0 and "2 frames" in result.stdout, result.stdout + result.stderr
    assert Image.open(gif).size == (grid_side(8), grid_side(8) + 14)


def test_nearest_search_upscales_the_training_images(real_archive):
    from defDATA import load_cifar10, resize_images, scale_images
    from scoring.nearest import nearest_training_grid, training_images_to_search

    training = training_images_to_search(real_archive, [3], None, 2, 64)
    assert training.dtype == np.uint8 and training.shape[1:] == (64, 64, 3)
    np.testing.assert_array_equal(training, resize_images(load_cifar10(real_archive, classes=[3])[0], 64))
    copied = [5, 40]
    generated = scale_images(training[copied]) + 0.01
    grid, space = nearest_training_grid(generated, training, None, neighbours=1)
    assert space == "pixels" and grid.shape == (4, 64, 64, 3)
    np.testing.assert_array_equal(grid[1::2], scale_images(training[copied]))


def test_evaluate_scores_a_64_pixel_run_against_upscaled_real_images(run64, real_archive, tiny_features, tmp_path):
    from machinery.reference_cache import reference_path
    from scoring.features import file_identity

    run_dir, _ = run64
    cache = tmp_path / "cache"
    result = run_script("evaluate.py", run_dir, "--data", real_archive, "--features", tiny_features, "--n", "60",
                        "--batch-size", "32", "--cache-dir", str(cache))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "vs CIFAR-10 train upscaled to 64x64, 60 images" in result.stdout
    with open(os.path.join(run_dir, "eval.json")) as file_object:
        entry = json.load(file_object)[-1]
    assert entry["image_size"] == 64 and np.isfinite(entry["fd"])
    # The real images' statistics are cached under a key that holds the size; 32x32's keeps its old key.
    identity = file_identity(tiny_features)
    path64 = reference_path(str(cache), real_archive, "train", identity, 60, 64)
    path32 = reference_path(str(cache), real_archive, "train", identity, 60, 32)
    assert sorted(os.listdir(cache)) == [os.path.basename(path64)] and path32 != path64


def test_real_statistics_differ_between_sizes(real_archive, tiny_features, tmp_path):
    import hashlib

    from defDATA import resize_images
    from machinery.reference_cache import reference_path
    from scoring.features import load_feature_network
    from scoring.statistics import pick_real, real_statistics

    small, big = pick_real(real_archive, "train", 50, 0, 32), pick_real(real_archive, "train", 50, 0, 64)
    np.testing.assert_array_equal(big, resize_images(small, 64))  # the same images, upscaled
    network = load_feature_network(tiny_features)
    stats = {size: real_statistics(network, real_archive, "train", 60, 32, str(tmp_path), size) for size in (32, 64)}
    assert not np.allclose(stats[32]["mean"], stats[64]["mean"])
    assert len(os.listdir(tmp_path)) == 2
    # The 32x32 key is the one caches had before --image-size existed: they stay valid.
    source = f"{os.path.abspath(real_archive)}|{os.path.getsize(real_archive)}|{int(os.path.getmtime(real_archive))}"
    old_key = hashlib.sha256(json.dumps([source, "train", network.identity, 60]).encode()).hexdigest()[:20]
    assert os.path.basename(reference_path(str(tmp_path), real_archive, "train", network.identity, 60, 32)) \
        == f"reference-{old_key}.npz"


@pytest.mark.skipif(not os.path.exists(MOBILENET), reason="needs ../shared/models")
def test_mobilenet_features_of_64_and_128_pixel_images():
    """The .tflite network resizes any size to its 224x224: upscaled images have features near those of
    the 32x32 originals, and far nearer than those of other images."""
    from defDATA import resize_images, scale_images
    from scoring.features import TFLiteFeatures

    rng = np.random.default_rng(0)
    network = TFLiteFeatures(MOBILENET)
    images = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    images[:, 8:24, 8:24] = rng.integers(0, 256, (4, 1, 1, 3), dtype=np.uint8)  # a coloured square in each
    base = network(scale_images(images))[0]
    for size in (64, 128):
        features, probabilities = network(scale_images(resize_images(images, size)))
        assert features.shape == (4, 1024) and probabilities is None and np.isfinite(features).all()
        same = np.linalg.norm(features - base, axis=1)
        other = np.linalg.norm(features - np.roll(base, 1, axis=0), axis=1)
        assert (same < other).all()


def test_an_image_size_no_network_has_is_one_line(tmp_path):
    result = run_script("train.py", "--image-size", "48", "--out", str(tmp_path / "run"))
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and "--image-size" in lines[0] and "48" in lines[0], lines
    assert not (tmp_path / "run").exists()


def test_a_run_from_before_image_size_reads_as_32(tmp_path):
    from machinery.options import read_config

    config = {"width": 0.5}
    (tmp_path / "config.json").write_text(json.dumps(config))
    read = read_config(str(tmp_path))
    assert read["image_size"] == 32 and read["class_names"] is None
