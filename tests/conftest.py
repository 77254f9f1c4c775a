"""Shared test helpers: a tiny synthetic CIFAR-10 archive in the official layout,
the real mini archive when it is present, and a way to run the scripts."""
import io
import os
import pickle
import subprocess
import sys
import tarfile

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import machinery.tensorflow_settings  # noqa: E402,F401  first, as in the scripts: before TensorFlow loads
MINI_ARCHIVE = os.path.join(ROOT, "..", "shared", "data", "cifar10-mini", "cifar-10-python.tar.gz")
# Small, fast networks for the tests: the architecture is the same, the filter counts shrink.
TINY = ["--width", "0.125", "--latent-dim", "16", "--batch-size", "16"]


def batch_bytes(images, labels, old_numpy_names=False):
    """One batch file in the official layout: a pickled dict of bytes keys, CHW rows.

    Protocol 3 stores bytes natively and names globals as plain text, so the
    numpy module can be renamed to the `numpy.core` spelling of the official
    (numpy 1.x era) files, to check that the loader accepts both spellings.
    """
    data = np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), 3072))
    blob = pickle.dumps({b"batch_label": b"synthetic", b"labels": [int(v) for v in labels],
                         b"data": data, b"filenames": [b"x.png"] * len(images)}, protocol=3)
    if old_numpy_names:
        blob = blob.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    return blob


def synthetic_batches(sizes=(7, 5, 3), test_size=4, seed=0):
    """{file name: (images, labels)}: odd batch sizes, labels cycling over all classes."""
    rng, batches, start = np.random.default_rng(seed), {}, 0
    names = [f"data_batch_{i + 1}" for i in range(len(sizes))] + ["test_batch"]
    for name, size in zip(names, list(sizes) + [test_size]):
        images = rng.integers(0, 256, (size, 32, 32, 3), dtype=np.uint8)
        labels = (np.arange(start, start + size) % 10).astype(np.int64)
        batches[name], start = (images, labels), start + size
    return batches


def write_archive(path, batches, extra=None):
    """Write batches (and extra {name: bytes}) as cifar-10-python.tar.gz."""
    with tarfile.open(path, "w:gz") as archive:
        # Every other batch uses the old numpy spelling, as official files do.
        members = {name: batch_bytes(*batch, old_numpy_names=index % 2 == 0)
                   for index, (name, batch) in enumerate(batches.items())}
        members.update(extra or {})
        for name, blob in members.items():
            info = tarfile.TarInfo("cifar-10-batches-py/" + name)
            info.size = len(blob)
            archive.addfile(info, io.BytesIO(blob))
    return str(path)


@pytest.fixture
def synthetic(tmp_path):
    """(archive path, batches) of a synthetic CIFAR-10 in a temp dir."""
    batches = synthetic_batches()
    return write_archive(tmp_path / "cifar-10-python.tar.gz", batches), batches


@pytest.fixture(scope="session")
def real_archive(tmp_path_factory):
    """The real mini CIFAR-10 when ../shared is present (CI), else a larger synthetic one."""
    if os.path.exists(MINI_ARCHIVE):
        return os.path.abspath(MINI_ARCHIVE)
    folder = tmp_path_factory.mktemp("cifar")
    return write_archive(folder / "cifar-10-python.tar.gz", synthetic_batches(sizes=(300, 300), test_size=100))


def run_script(*args, timeout=600, **kwargs):
    """Run one of the project's scripts as a user would; returns CompletedProcess."""
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=environment, **kwargs)


def weights_of(path):
    """{dataset name: array} of an .h5 weights file."""
    import h5py  # Keras' own dependency for .weights.h5 files
    arrays = {}
    with h5py.File(path, "r") as file_object:
        file_object.visititems(lambda name, item: arrays.__setitem__(name, item[()])
                               if isinstance(item, h5py.Dataset) else None)
    return arrays


@pytest.fixture(scope="session")
def trained_run(real_archive, tmp_path_factory):
    """(run directory, train.py output) of a tiny 2-epoch run on real images."""
    run_dir = str(tmp_path_factory.mktemp("e2e") / "run")
    result = run_script("train.py", "--data", real_archive, "--out", run_dir, "--epochs", "2",
                        "--steps-per-epoch", "3", "--flip", *TINY)
    assert result.returncode == 0, result.stdout + result.stderr
    return run_dir, result.stdout


@pytest.fixture(scope="session")
def tiny_features(tmp_path_factory):
    """A small .keras feature network (pooled pixels, plus a softmax head for IS)."""
    import keras
    images = keras.Input((32, 32, 3))
    pooled = keras.layers.Flatten()(keras.layers.AveragePooling2D(8)(images))  # 4x4x3 = 48 features
    probabilities = keras.layers.Dense(10, activation="softmax")(pooled)
    path = str(tmp_path_factory.mktemp("features") / "pooled.keras")
    keras.Model(images, [pooled, probabilities]).save(path)
    return path


@pytest.fixture(autouse=True)
def float32_policy_after_each_test():
    """A test that starts a run in this process (train.main or session.prepare_run, with --precision auto) sets Keras' global
    precision policy; the tests after it must not inherit it."""
    yield
    if "keras" in sys.modules:
        sys.modules["keras"].mixed_precision.set_global_policy("float32")
