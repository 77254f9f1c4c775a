"""Fréchet distance, KID, Inception Score, the feature networks, and evaluate.py itself."""
import json
import os

import numpy as np
import pytest

from conftest import ROOT, run_script
from scoring.scores import IS_SPLITS, FeatureStatistics, InceptionScoreSums, frechet_distance, kernel_inception_distance

MOBILENET = os.path.join(ROOT, "..", "shared", "models", "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite")


def random_spd(dim, rng):
    a = rng.standard_normal((dim, dim))
    return a @ a.T / dim + 0.1 * np.eye(dim)


def test_frechet_distance_of_a_set_with_itself_is_zero_and_symmetric():
    rng = np.random.default_rng(0)
    mean1, cov1, mean2, cov2 = rng.standard_normal(8), random_spd(8, rng), rng.standard_normal(8), random_spd(8, rng)
    assert frechet_distance(mean1, cov1, mean1, cov1) == pytest.approx(0, abs=1e-8)
    forward, backward = frechet_distance(mean1, cov1, mean2, cov2), frechet_distance(mean2, cov2, mean1, cov1)
    assert forward == pytest.approx(backward, rel=1e-9)


def test_frechet_distance_matches_the_closed_form():
    # For C2 = c * C1 the two commute and tr((C1 C2)^1/2) = sqrt(c) tr(C1), so
    # FD = |m1 - m2|^2 + (1 + c - 2 sqrt(c)) tr(C1).
    rng = np.random.default_rng(1)
    cov, mean1, mean2, c = random_spd(16, rng), rng.standard_normal(16), rng.standard_normal(16), 2.5
    expected = np.sum((mean1 - mean2) ** 2) + (1 + c - 2 * np.sqrt(c)) * np.trace(cov)
    assert frechet_distance(mean1, cov, mean2, c * cov) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_sees_mean_shifts_and_covariance_changes():
    rng = np.random.default_rng(2)
    mean, cov = rng.standard_normal(6), random_spd(6, rng)
    assert frechet_distance(mean, cov, mean + 0.5, cov) == pytest.approx(6 * 0.25, rel=1e-9)
    assert frechet_distance(mean, cov, mean, cov * 1.5) > 0.01


def one_shot_inception_score(probabilities, splits=10):
    """The textbook formula, on the whole array at once."""
    scores = []
    for part in np.array_split(probabilities, splits):
        kl = np.sum(part * (np.log(part) - np.log(part.mean(axis=0))), axis=1)
        scores.append(np.exp(kl.mean()))
    return np.mean(scores), np.std(scores)


def test_streaming_statistics_equal_one_shot():
    rng = np.random.default_rng(3)
    features = rng.standard_normal((257, 5)) * [1, 2, 3, 4, 5] + 7
    probabilities = rng.dirichlet(np.full(7, 0.3), size=257)
    stats = FeatureStatistics(len(features))
    for start in range(0, len(features), 50):  # batches straddle the 10 IS splits
        stats.add(features[start:start + 50], probabilities[start:start + 50])
    np.testing.assert_allclose(stats.mean, features.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.covariance, np.cov(features, rowvar=False), rtol=1e-9)
    np.testing.assert_allclose(stats.is_sums.score(), one_shot_inception_score(probabilities), rtol=1e-6)
    assert len(stats.kid_features()) == 257  # fewer than KID_KEEP: all are kept


def test_kid_is_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(4)
    a, b, shifted = rng.standard_normal((600, 16)), rng.standard_normal((600, 16)), rng.standard_normal((600, 16)) + 1
    same_mean, same_std = kernel_inception_distance(a, b, subsets=20, subset_size=200)
    assert abs(same_mean) < 3 * same_std + 1e-3
    different_mean, different_std = kernel_inception_distance(a, shifted, subsets=20, subset_size=200)
    assert different_mean > 10 * different_std and different_mean > 0.5


def inception_score(probabilities):
    sums = InceptionScoreSums(len(probabilities), IS_SPLITS)
    sums.add(probabilities)
    return sums.score()


def test_inception_score_limits():
    identical = np.tile([0.2, 0.3, 0.5], (100, 1))
    assert inception_score(identical) == pytest.approx((1.0, 0.0), abs=1e-9)
    confident = np.eye(5)[np.arange(100) % 5]  # every split holds each of 5 classes equally often
    assert inception_score(confident)[0] == pytest.approx(5.0, rel=1e-6)


@pytest.mark.skipif(not os.path.exists(MOBILENET), reason="needs ../shared/models (present in CI)")
def test_tflite_mobilenet_ranks_real_images_closer_than_noise(real_archive):
    from scoring.statistics import feature_statistics, pick_real, real_batches
    from scoring.features import load_feature_network
    network = load_feature_network(MOBILENET)
    train, test = pick_real(real_archive, "train", 48, 0, 32), pick_real(real_archive, "test", 48, 0, 32)
    noise = np.random.default_rng(0).uniform(-1, 1, (48, 32, 32, 3)).astype(np.float32)
    # 48 images cannot fill a 1024-d covariance, but they do rank real against noise.
    train_stats = feature_statistics(real_batches(train, 16), network, 48, full_rank=False)
    assert len(train_stats.mean) == 1024
    test_stats = feature_statistics(real_batches(test, 16), network, 48, full_rank=False)
    noise_stats = feature_statistics([noise[:24], noise[24:]], network, 48, full_rank=False)
    real_fd = frechet_distance(test_stats.mean, test_stats.covariance, train_stats.mean, train_stats.covariance)
    noise_fd = frechet_distance(noise_stats.mean, noise_stats.covariance, train_stats.mean, train_stats.covariance)
    assert 0 < real_fd < noise_fd / 2


def test_inception_plumbing_without_downloading():
    from scoring.features import inception_features
    network = inception_features(None)  # random weights: nothing is downloaded
    features, probabilities = network(np.zeros((2, 32, 32, 3), np.float32))
    assert features.shape == (2, 2048) and probabilities.shape == (2, 1000)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-4)


def test_evaluate_cli_writes_eval_json(trained_run, tiny_features, tmp_path):
    run_dir, _ = trained_run
    common = ["--features", tiny_features, "--n", "200", "--batch-size", "64", "--cache-dir", str(tmp_path)]
    result = run_script("evaluate.py", run_dir, *common)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Fréchet distance" in result.stdout and "N=200 vs CIFAR-10 train, 200 images" in result.stdout
    floor = run_script("evaluate.py", run_dir, "--real-test", *common)
    assert floor.returncode == 0, floor.stderr[-2000:]
    with open(os.path.join(run_dir, "eval.json")) as file_object:
        generated, real = json.load(file_object)[-2:]  # appended, one entry per call
    for field in ("fd", "kid_mean", "kid_std", "is_mean", "is_std", "n", "reference", "features", "images",
                  "precision", "recall", "density", "coverage"):
        assert generated[field] is not None and real[field] is not None, field
    assert generated["features"] == "pooled" and generated["n"] == 200 and 1 <= generated["is_mean"] <= 10
    assert real["images"] == "real CIFAR-10 test images"
    assert 0 < real["fd"] < generated["fd"]  # a barely trained generator is far above the real-data floor
    assert real["recall"] > generated["recall"] and "precision" in result.stdout
    # Both splits are cached for next time: a second floor computes no features of real images.
    assert len([name for name in os.listdir(tmp_path) if name.startswith("reference-")]) == 2
    again = run_script("evaluate.py", run_dir, "--real-test", *common)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "real test images" not in again.stdout and "real train images" not in again.stdout
    with open(os.path.join(run_dir, "eval.json")) as file_object:
        assert json.load(file_object)[-1]["fd"] == real["fd"] and real["is_mean"] is not None


def test_evaluate_refuses_bad_input(trained_run, tiny_features, tmp_path):
    run_dir, _ = trained_run
    cache = ["--cache-dir", str(tmp_path)]
    bogus = tmp_path / "broken.tflite"
    bogus.write_bytes(b"not a model")
    cases = [([str(tmp_path), "--features", tiny_features, *cache], "holds no run (no config.json)"),
             ([run_dir, "--features", str(bogus), *cache], "not a .tflite file"),
             ([run_dir, "--features", str(tmp_path / "none.tflite"), *cache], "no such file"),
             ([run_dir, "--features", tiny_features, "--n", "30", *cache],
              "30 images are too few for a full-rank 48-d covariance"),
             ([run_dir, "--features", tiny_features, "--inception-weights", str(bogus), *cache],
              "--inception-weights {}: only with --features keras-inception".format(bogus))]
    for arguments, message in cases:
        result = run_script("evaluate.py", *arguments)
        assert result.returncode != 0 and message in result.stderr.strip().splitlines()[-1], result.stderr[-1500:]


def damaged_copies(folder):
    """{how: path} of the MobileNet file truncated, with its first bytes changed, and with six bytes flipped.
    TensorFlow Lite's interpreter does not check a file: each of these crashed it (exit 139, a segfault)."""
    import random

    with open(MOBILENET, "rb") as file_object:
        content = file_object.read()
    flipped = bytearray(content)
    for index in random.Random(1).sample(range(8, 200), 6):
        flipped[index] ^= 0xFF
    copies = {"truncated": content[:len(content) // 2], "header": b"\xff\xff\xff\x7f" + content[4:],
              "flipped": bytes(flipped)}
    for how, damaged in copies.items():
        (folder / f"{how}.tflite").write_bytes(damaged)
    return {how: str(folder / f"{how}.tflite") for how in copies}


def one_line_refusal(result, message):
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and message in lines[0], (result.returncode, lines[-12:])


@pytest.mark.skipif(not os.path.exists(MOBILENET), reason="needs ../shared/models (present in CI)")
def test_a_damaged_tflite_file_is_one_line_not_a_crash(trained_run, real_archive, tmp_path):
    run_dir, _ = trained_run
    damaged = damaged_copies(tmp_path)
    for path in damaged.values():
        result = run_script("evaluate.py", run_dir, "--features", path, "--cache-dir", str(tmp_path))
        one_line_refusal(result, f"--features {path}: not a usable TensorFlow Lite model")
    result = run_script("train.py", "--data", real_archive, "--out", str(tmp_path / "run"), "--eval-every", "1",
                        "--features", damaged["flipped"], "--steps-per-epoch", "1", "--epochs", "1")
    one_line_refusal(result, "not a usable TensorFlow Lite model")
    assert not os.path.exists(tmp_path / "run")
    result = run_script("samples.py", run_dir, "--nearest", "--data", real_archive, "--features", damaged["header"],
                        "--out", str(tmp_path / "nearest.png"))
    one_line_refusal(result, "not a usable TensorFlow Lite model")
    assert not os.path.exists(tmp_path / "nearest.png")


def test_an_h5_file_is_not_a_feature_network(trained_run, real_archive, tmp_path):
    """A weights file passed the check and then failed (evaluate.py) or was silently ignored (--nearest)."""
    run_dir, _ = trained_run
    weights = str(tmp_path / "weights.h5")
    with open(os.path.join(run_dir, "generator.weights.h5"), "rb") as source, open(weights, "wb") as copy:
        copy.write(source.read())
    message = f"--features {weights}: unknown kind (expected 'inception', 'keras-inception', a .pt, .keras or .tflite file)"
    one_line_refusal(run_script("evaluate.py", run_dir, "--features", weights, "--cache-dir", str(tmp_path)), message)
    one_line_refusal(run_script("samples.py", run_dir, "--nearest", "--data", real_archive, "--features", weights,
                                "--out", str(tmp_path / "nearest.png")), message)
    one_line_refusal(run_script("train.py", "--data", real_archive, "--out", str(tmp_path / "run"), "--eval-every",
                                "1", "--features", weights), message)
    assert not os.path.exists(tmp_path / "nearest.png") and not os.path.exists(tmp_path / "run")


def scored_fd(run_dir, *arguments):
    """Run evaluate.py; returns (the Fréchet distance it appended to eval.json, its output)."""
    result = run_script("evaluate.py", run_dir, *arguments)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    with open(os.path.join(run_dir, "eval.json")) as file_object:
        return json.load(file_object)[-1]["fd"], result.stdout


def test_a_damaged_or_foreign_cache_file_is_computed_again(trained_run, tiny_features, tmp_path):
    run_dir, _ = trained_run
    cache = tmp_path / "cache"
    common = ["--features", tiny_features, "--n", "60", "--batch-size", "64", "--cache-dir", str(cache)]
    fd, _ = scored_fd(run_dir, *common)
    [name] = os.listdir(cache)
    good = (cache / name).read_bytes()
    rng = np.random.default_rng(0)
    with open(tmp_path / "foreign.npz", "wb") as file_object:  # the right names, the wrong shapes
        np.savez(file_object, mean=rng.random(5), covariance=rng.random((5, 5)), kid_features=rng.random((9, 5)),
                 count=np.array(60))
    for damaged in (good[:len(good) // 2], (tmp_path / "foreign.npz").read_bytes(), b"PK\x03\x04 not a zip"):
        (cache / name).write_bytes(damaged)
        again, output = scored_fd(run_dir, *common)
        assert again == fd and "computing them again" in output
        assert (cache / name).read_bytes() == good  # the damaged file replaced by the statistics computed again


@pytest.mark.parametrize("where", ["under a file", "read-only"])
def test_cache_folder_problems_are_known_before_the_work(trained_run, tiny_features, tmp_path, where):
    import subprocess

    run_dir, _ = trained_run
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "locked").mkdir()
    cache = tmp_path / "a_file" / "cache" if where == "under a file" else tmp_path / "locked" / "cache"
    arguments = [run_dir, "--features", tiny_features, "--n", "60", "--batch-size", "64", "--cache-dir", str(cache)]
    if where == "under a file":  # can never be a folder: one line, before TensorFlow loads
        one_line_refusal(run_script("evaluate.py", *arguments), f"--cache-dir {cache}: ")
        return
    subprocess.run(["chattr", "+i", str(tmp_path / "locked")] if os.geteuid() == 0 else
                   ["chmod", "555", str(tmp_path / "locked")], check=True)  # root ignores permission bits
    try:
        result = run_script("evaluate.py", *arguments)
    finally:
        subprocess.run(["chattr", "-i", str(tmp_path / "locked")] if os.geteuid() == 0 else
                       ["chmod", "755", str(tmp_path / "locked")], check=True)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    warning = result.stdout.splitlines()[0]
    assert warning.startswith("warning: --cache-dir ") and "cannot write there" in warning and "not be cached" in warning
    assert os.listdir(tmp_path / "locked") == []


def test_offline_the_missing_inception_weights_are_one_line(trained_run, tiny_features, tmp_path, monkeypatch):
    """It printed "downloading ..." before the error; the official archive's download failed after TensorFlow
    had loaded."""
    run_dir, _ = trained_run
    monkeypatch.setenv("HOME", str(tmp_path))  # no weights downloaded before
    for variable in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")  # nothing listens there: as good as offline
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    one_line_refusal(run_script("evaluate.py", run_dir, "--cache-dir", str(tmp_path), timeout=120),
                     "--features inception: could not download the FID network")
    one_line_refusal(run_script("evaluate.py", run_dir, "--features", "keras-inception", "--cache-dir", str(tmp_path),
                                timeout=120), "--features keras-inception: could not download InceptionV3's")
    pretrained = os.path.join(ROOT, "pretrained", "cifar10")  # trained on the official archive: no --data
    one_line_refusal(run_script("evaluate.py", pretrained, "--features", tiny_features, "--cache-dir", str(tmp_path),
                                timeout=120), "could not download CIFAR-10")
    assert os.listdir(tmp_path) == []  # not even an empty ~/.keras


def test_too_small_an_n_is_refused_before_any_work(trained_run, tmp_path):
    run_dir, _ = trained_run
    weights = tmp_path / "inception.h5"  # an HDF5 file: enough for the check, never loaded
    with open(os.path.join(run_dir, "generator.weights.h5"), "rb") as file_object:
        weights.write_bytes(file_object.read())
    one_line_refusal(run_script("evaluate.py", run_dir, "--n", "100", "--features", "keras-inception",
                                "--inception-weights", str(weights),
                                "--cache-dir", str(tmp_path)),
                     "--n 100: 100 images are too few for a full-rank 2048-d covariance")
    if os.path.exists(MOBILENET):
        one_line_refusal(run_script("evaluate.py", run_dir, "--n", "1000", "--features", MOBILENET,
                                    "--cache-dir", str(tmp_path)),
                         "--n 1000: 1000 images are too few for a full-rank 1024-d covariance")
    assert os.listdir(tmp_path) == ["inception.h5"]  # nothing cached: no reference was computed


def test_scores_that_are_not_numbers_are_never_written(trained_run, tiny_features, tmp_path):
    """A generator whose weights hold NaN draws NaN images; their scores went into eval.json as NaN."""
    import shutil

    import h5py

    run_dir = str(tmp_path / "run")
    shutil.copytree(trained_run[0], run_dir)
    for name in ("generator.weights.h5", "generator.ema.weights.h5"):
        if os.path.exists(os.path.join(run_dir, name)):
            with h5py.File(os.path.join(run_dir, name), "r+") as weights:
                arrays = []
                weights.visititems(lambda _, item: arrays.append(item) if isinstance(item, h5py.Dataset) else None)
                arrays[-1][...] = np.nan
    eval_json = os.path.join(run_dir, "eval.json")
    before = open(eval_json, "rb").read() if os.path.exists(eval_json) else None
    result = run_script("evaluate.py", run_dir, "--features", tiny_features, "--n", "60", "--batch-size", "64",
                        "--cache-dir", str(tmp_path / "cache"))
    assert result.returncode == 1 and "not finite" in result.stderr.strip().splitlines()[-1], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert (open(eval_json, "rb").read() if os.path.exists(eval_json) else None) == before


def test_a_damaged_keras_file_is_refused_before_tensorflow_loads(real_archive, tmp_path):
    """A file that starts like a zip archive passed the check; Keras refused it only after TensorFlow's start-up
    lines. The same for --classifier."""
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"PK\x03\x04 and then nothing a zip archive holds")
    pretrained = os.path.join(ROOT, "pretrained", "cifar10")
    common = [pretrained, "--data", real_archive, "--cache-dir", str(tmp_path)]
    one_line_refusal(run_script("evaluate.py", *common, "--features", str(junk)),
                     f"--features {junk}: not a .keras file (damaged, or named wrongly)")
    one_line_refusal(run_script("evaluate.py", *common, "--classifier", str(junk)),
                     f"--classifier {junk}: not a .keras file (damaged, or named wrongly)")


def test_training_scores_every_epoch_and_keeps_the_best(real_archive, tiny_features, tmp_path):
    import csv
    import matplotlib.image
    run_dir = str(tmp_path / "run")
    result = run_script("train.py", "--data", real_archive, "--out", run_dir, "--epochs", "2", "--steps-per-epoch", "2",
                        "--width", "0.125", "--latent-dim", "16", "--batch-size", "16",
                        "--eval-every", "1", "--eval-samples", "100", "--features", tiny_features)
    assert result.returncode == 0, result.stderr[-2000:]
    with open(os.path.join(run_dir, "metrics.csv")) as file_object:
        scores = [float(row["fd"]) for row in csv.DictReader(file_object)]
    assert len(scores) == 2 and all(score > 0 for score in scores)
    assert os.path.exists(os.path.join(run_dir, "generator.best.weights.h5"))
    assert matplotlib.image.imread(os.path.join(run_dir, "losses.png")).shape[0] == 640  # the third panel is drawn


def test_training_refuses_a_bad_feature_network_before_writing(real_archive, tmp_path):
    result = run_script("train.py", "--data", real_archive, "--out", str(tmp_path / "run"), "--eval-every", "1",
                        "--features", str(tmp_path / "missing.tflite"))
    assert result.returncode != 0 and "no such file" in result.stderr.strip().splitlines()[-1]
    assert not os.path.exists(tmp_path / "run")


def test_batch_norm_reestimation_sets_the_mean_of_the_batches_statistics():
    import importlib.util

    from defGAN import build_models, sample_noise
    from presets import CLASSIC
    spec = importlib.util.spec_from_file_location("ema_batchnorm", os.path.join(ROOT, "benchmarks", "ema_batchnorm.py"))
    ema_batchnorm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ema_batchnorm)
    generator, _ = build_models(dict(CLASSIC, latent_dim=8, width=0.125, batch_norm=True))
    ema_batchnorm.reestimate_batch_norm(generator, batches=3, batch_size=16, seed=7)
    # The first batch norm normalizes the Dense layer's output: work out its statistics by hand.
    rng, dense = np.random.default_rng(7), generator.layers[1]
    outputs = [dense(sample_noise(rng, 16, 8)).numpy() for _ in range(3)]
    norm = generator.layers[2]
    np.testing.assert_allclose(norm.moving_mean.numpy(), np.mean([o.mean(axis=0) for o in outputs], axis=0),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(norm.moving_variance.numpy(), np.mean([o.var(axis=0) for o in outputs], axis=0),
                               rtol=1e-4, atol=1e-6)
    assert norm.momentum == 0.99


def test_ema_batchnorm_benchmark_scores_four_ways(real_archive, trained_run, tiny_features, tmp_path):
    run_dir = str(tmp_path / "run")
    trained = run_script("train.py", "--data", real_archive, "--out", run_dir, "--epochs", "1", "--steps-per-epoch",
                         "2", "--width", "0.125", "--latent-dim", "16", "--batch-size", "16", "--batch-norm")
    assert trained.returncode == 0, trained.stderr[-2000:]
    common = ["--data", real_archive, "--features", tiny_features, "--n", "60", "--batches", "2",
              "--cache-dir", str(tmp_path / "cache")]
    result = run_script("benchmarks/ema_batchnorm.py", run_dir, *common)
    assert result.returncode == 0, result.stderr[-2000:]
    scores = [float(line.split()[-1]) for line in result.stdout.splitlines() if line.startswith("  ")]
    assert len(scores) == 4 and all(np.isfinite(score) and score > 0 for score in scores)
    assert scores[0] != scores[1]  # re-estimating changed the statistics, so the images
    refused = run_script("benchmarks/ema_batchnorm.py", trained_run[0], *common)  # the default: no batch norm
    assert refused.returncode == 1 and "not trained with both --batch-norm and --ema" in refused.stderr.splitlines()[-1]


def test_precision_recall_density_coverage_by_hand():
    """1-D points, k = 1: every real point's ball reaches 1, the two generated points' balls reach 9.5."""
    from scoring.scores import precision_recall_density_coverage

    real, generated = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([[0.5], [10.0]])
    scores = precision_recall_density_coverage(real, generated, k=1)
    # 0.5 lies in the balls of 0 and 1, 10 in none: precision 1/2, density (2 + 0) / 2 / k.
    # Every real point lies within 9.5 of a generated one: recall 1. Only 0 and 1 have a
    # generated point inside their own ball: coverage 2/4.
    assert scores == {"precision": 0.5, "recall": 1.0, "density": 1.0, "coverage": 0.5}


def test_manifold_scores_of_one_distribution_and_of_a_collapse():
    from scoring.scores import precision_recall_density_coverage

    rng = np.random.default_rng(0)
    real, same = rng.standard_normal((600, 8)), rng.standard_normal((600, 8))
    scores = precision_recall_density_coverage(real, same)
    assert min(scores["precision"], scores["recall"], scores["coverage"]) > 0.75
    assert 0.8 < scores["density"] < 1.2
    collapsed = np.repeat(real.mean(axis=0, keepdims=True), 600, axis=0)  # one image, 600 times
    scores = precision_recall_density_coverage(real, collapsed)
    assert scores["recall"] < 0.05 and scores["coverage"] < 0.05


def test_manifold_scores_in_blocks_equal_one_shot():
    from scoring.scores import precision_recall_density_coverage

    rng = np.random.default_rng(1)
    real, generated = rng.standard_normal((230, 5)), rng.standard_normal((170, 5)) + 0.3
    assert (precision_recall_density_coverage(real, generated, block=7)
            == precision_recall_density_coverage(real, generated, block=10_000))
