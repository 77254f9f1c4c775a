"""Scores of a conditional generator (scoring/class_scores.py, evaluate.py --classifier)."""
import json
import os
import sys

import numpy as np
import pytest

from scoring.class_scores import class_agreement, class_scores, per_class_kid
from conftest import ROOT, TINY, run_script


def mmd_by_hand(x, y):
    """Unbiased squared MMD with the cubic kernel (a.b / d + 1)^3, written out element by element."""
    def k(a, b):
        return (np.dot(a, b) / len(a) + 1) ** 3

    m, n = len(x), len(y)
    within_x = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    within_y = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    between = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return within_x + within_y - 2 * between


def test_per_class_kid_compares_each_class_with_its_own_real_images():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((12, 3))
    real_classes = np.array([1] * 6 + [4] * 6)
    generated = rng.standard_normal((12, 3)) + np.where(np.arange(12) < 6, 0.0, 2.0)[:, None]  # class 4 shifted
    generated_classes = np.array([1] * 6 + [4] * 6)
    kids = per_class_kid(generated, generated_classes, real, real_classes, [1, 4])
    for c in (1, 4):  # subsets of all 6 images each: the whole sets, so the mean equals the full MMD
        expected = mmd_by_hand(generated[generated_classes == c], real[real_classes == c])
        np.testing.assert_allclose(kids[c], expected, rtol=1e-9)
    assert kids[4] > kids[1]  # the shifted class is the worse one


def test_class_agreement_counts_the_most_probable_class():
    probabilities = np.array([[0.1, 0.9, 0.0], [0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.0, 0.4, 0.6]])
    assert class_agreement(probabilities, [1, 0, 1, 2]) == 0.75


class AlwaysClass:
    """A stub classifier with known outputs: every image is class `number`. It takes 32x32 images, as
    benchmarks/train_classifier.py's, and records the shape of each batch it was given."""
    input_shape = (None, 32, 32, 3)

    def __init__(self, number):
        self.number, self.shapes = number, []

    def predict_on_batch(self, images):
        self.shapes.append(images.shape[1:])
        return np.eye(10)[np.full(len(images), self.number)]


def test_class_scores_on_stubs(real_archive):
    from defDATA import load_cifar10

    asked = np.array([3, 8] * 20, np.int32)
    generated = np.zeros((40, 32, 32, 3), np.float32)

    def network(images):  # features: the mean of each colour channel
        return np.asarray(images).mean(axis=(1, 2)), None

    entry = class_scores(generated, asked, network(generated)[0], network, real_archive, [3, 8], 16, AlwaysClass(8))
    assert set(entry["class_kid"]) == {"cat", "ship"} and entry["worst_class"] in ("cat", "ship")
    assert entry["class_agreement"] == 0.5  # the stub says "ship" for all; half were asked to be ships
    _, test_classes = load_cifar10(real_archive, split="test", classes=[3, 8])
    assert entry["classifier_test_accuracy"] == round(float(np.mean(test_classes == 8)), 4)


def test_class_scores_of_64_pixel_images(real_archive):
    """--image-size 64: the per-class KID compares with real images upscaled to 64x64, and the 32x32
    classifier gets the generated images shrunk to its size (it was given 64x64 ones, which it cannot take)."""
    asked = np.array([3, 8] * 20, np.int32)
    generated = np.zeros((40, 64, 64, 3), np.float32)
    sizes = []

    def network(images):  # features: the mean of each colour channel, and the size it was given
        sizes.append(np.asarray(images).shape[1:])
        return np.asarray(images).mean(axis=(1, 2)), None

    classifier = AlwaysClass(8)
    entry = class_scores(generated, asked, network(generated)[0], network, real_archive, [3, 8], 16, classifier)
    assert set(sizes) == {(64, 64, 3)}  # generated and real images alike
    assert set(classifier.shapes) == {(32, 32, 3)} and entry["class_agreement"] == 0.5


def archive_without(path, missing, single=None):
    """A synthetic archive with no image of the `missing` classes, and one training image of class `single`."""
    from conftest import synthetic_batches, write_archive

    batches = synthetic_batches(sizes=(40, 40), test_size=20)
    for _, labels in batches.values():
        labels[np.isin(labels, missing + [single])] = 3
    if single is not None:
        batches["data_batch_1"][1][0] = single
    return write_archive(path, batches)


def test_classes_without_real_images_are_named_not_scored_as_nan(tmp_path):
    """A KID needs two real images of a class: an empty class gave NaN (with RuntimeWarnings) in eval.json."""
    import warnings

    archive = archive_without(tmp_path / "cifar-10-python.tar.gz", missing=[8], single=9)
    asked = np.array([3, 8, 9] * 10, np.int32)
    generated = np.random.default_rng(0).uniform(-1, 1, (30, 32, 32, 3)).astype(np.float32)

    def network(images):
        return np.asarray(images).mean(axis=(1, 2)), None

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Mean of empty slice" and "invalid value" fail the test
        entry = class_scores(generated, asked, network(generated)[0], network, archive, [3, 8, 9], 16, AlwaysClass(8))
    json.dumps(entry, allow_nan=False)  # raises on NaN or infinity
    assert set(entry["class_kid"]) == {"cat"} and entry["worst_class"] == "cat"
    assert entry["classes_not_scored"] == ["ship", "truck"]
    assert entry["classifier_test_accuracy"] == 0.0  # the test images are all cats, the stub says ship


def test_evaluate_scores_a_conditional_run_per_class(real_archive, tiny_features, tmp_path):
    import keras

    run_dir = str(tmp_path / "run")
    trained = run_script("train.py", "--data", real_archive, "--out", run_dir, "--epochs", "1", "--steps-per-epoch",
                         "2", "--conditional", "--classes", "cat,ship,truck", *TINY)
    assert trained.returncode == 0, trained.stderr[-2000:]
    images = keras.Input((32, 32, 3))
    classifier = str(tmp_path / "classifier.keras")
    keras.Model(images, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(images))).save(classifier)
    common = ["--features", tiny_features, "--n", "60", "--batch-size", "32", "--cache-dir", str(tmp_path / "c")]
    result = run_script("evaluate.py", run_dir, *common, "--classifier", classifier)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "per-class KID" in result.stdout and "class agreement" in result.stdout
    with open(os.path.join(run_dir, "eval.json")) as file_object:
        entry = json.load(file_object)[-1]
    assert set(entry["class_kid"]) == {"cat", "ship", "truck"} and 0 <= entry["class_agreement"] <= 1
    assert 0 <= entry["classifier_test_accuracy"] <= 1
    no_trucks = archive_without(tmp_path / "no_trucks.tar.gz", missing=[9])
    result = run_script("evaluate.py", run_dir, *common, "--data", no_trucks)
    assert result.returncode == 0 and "RuntimeWarning" not in result.stderr, result.stderr[-2000:]
    assert "truck: no real training images" in result.stdout
    with open(os.path.join(run_dir, "eval.json")) as file_object:
        text = file_object.read()
    assert "NaN" not in text and json.loads(text)[-1]["classes_not_scored"] == ["truck"]


def test_classifier_needs_a_conditional_run_and_a_keras_file(trained_run, tiny_features, tmp_path):
    run_dir, _ = trained_run
    common = ["--features", tiny_features, "--cache-dir", str(tmp_path)]
    for flags, message in ((["--classifier", tiny_features], "needs a conditional run"),
                           (["--classifier", str(tmp_path / "none.keras")], "no such file"),
                           (["--classifier", __file__], "not a .keras file")):
        result = run_script("evaluate.py", run_dir, *common, *flags)
        assert result.returncode != 0 and message in result.stderr, result.stderr
        assert len((result.stdout + result.stderr).strip().splitlines()) == 1


def numpy_shift(images, rows, columns):
    """The image moved `rows` down and `columns` right, the uncovered edge black (-1), written out in numpy."""
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=-1.0)
    return padded[:, 2 - rows:34 - rows, 2 - columns:34 - columns]


def test_the_saved_classifier_averages_eighteen_views_of_each_image(tmp_path):
    """benchmarks/train_classifier.py saves its network wrapped in a test-time average; the .keras file must load
    with no custom code (evaluate.py loads it plainly) and answer the mean over the image and its mirror, each
    shifted by 0, 1 or 2 pixels in one direction."""
    import keras

    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    from train_classifier import with_test_time_average

    images = keras.Input((32, 32, 3))
    single = keras.Model(images, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(images)))
    path = str(tmp_path / "classifier.keras")
    with_test_time_average(single).save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)).astype("float32")
    assert numpy_shift(x, 1, 0)[0, 1, 0, 0] == x[0, 0, 0, 0] and numpy_shift(x, 0, -2)[0, 0, 29, 0] == x[0, 0, 31, 0]
    shifts = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (2, 0), (-2, 0), (0, 2), (0, -2)]
    views = [numpy_shift(view, rows, columns) for view in (x, x[:, :, ::-1]) for rows, columns in shifts]
    by_hand = np.mean([single.predict(view, verbose=0) for view in views], axis=0)
    assert np.abs(by_hand - single.predict(x, verbose=0)).max() > 1e-3  # the stub tells the views apart
    np.testing.assert_allclose(loaded.predict(x, verbose=0), by_hand, atol=1e-6)
    np.testing.assert_allclose(loaded.predict(x[:, :, ::-1], verbose=0), loaded.predict(x, verbose=0), atol=1e-6)


def test_train_classifier_saves_a_small_test_time_averaged_file(real_archive, tmp_path):
    """One short epoch of the real script: it prints both test accuracies and saves weights only (no Adam state,
    which would triple the file), in a file that answers the same for an image and its mirror."""
    import h5py
    import keras
    import zipfile

    out = str(tmp_path / "classifier.keras")
    result = run_script(os.path.join("benchmarks", "train_classifier.py"), "--data", real_archive, "--epochs", "1",
                        "--width", "4", "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "test accuracy (one view)" in result.stdout and "test accuracy (18 views averaged, saved)" in result.stdout
    with zipfile.ZipFile(out) as archive:
        archive.extract("model.weights.h5", str(tmp_path))
    with h5py.File(str(tmp_path / "model.weights.h5")) as weights:
        names = []
        weights.visit(names.append)
    assert names and not [name for name in names if "optimizer" in name]
    x = np.random.default_rng(1).uniform(-1, 1, (3, 32, 32, 3)).astype("float32")
    loaded = keras.saving.load_model(out)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), loaded.predict(x[:, :, ::-1], verbose=0), atol=1e-6)


def test_train_classifier_bad_input_is_one_line(real_archive, tmp_path):
    existing = tmp_path / "mine.keras"
    existing.write_bytes(b"not the project's")
    for flags, message in ((["--data", str(tmp_path / "none")], "no such file"),
                           (["--data", real_archive, "--label-smoothing", "1.5"], "below 1"),
                           (["--data", real_archive, "--out", str(existing)], "already exists"),
                           (["--data", real_archive, "--epochs", "0"], "--epochs 0: must be at least 1"),
                           (["--data", real_archive, "--width", "0"], "--width 0: must be at least 1"),
                           (["--data", real_archive, "--batch-size", "-2"], "--batch-size -2: must be at least 1")):
        result = run_script(os.path.join("benchmarks", "train_classifier.py"), *flags)
        assert result.returncode != 0 and message in result.stderr, result.stderr
        assert len((result.stdout + result.stderr).strip().splitlines()) == 1  # no usage block, no traceback
    assert existing.read_bytes() == b"not the project's"


def test_a_classifier_without_an_input_shape_is_one_line(monkeypatch, tmp_path):
    """A .keras file whose model was never built has no input_shape: an AttributeError traceback before."""
    import keras

    from scoring.class_scores import load_classifier

    class NeverBuilt:
        @property
        def input_shape(self):
            raise AttributeError("Sequential model has no defined input shape yet.")

    monkeypatch.setattr(keras.models, "load_model", lambda path, compile: NeverBuilt())
    with pytest.raises(ValueError, match="--classifier x.keras: unreadable \\(AttributeError\\)"):
        load_classifier("x.keras")
