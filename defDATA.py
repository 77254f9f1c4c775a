"""CIFAR-10 in, batches out.

This module is the one place that knows about CIFAR-10 files, class names and
pixel scaling. `train.py`, `samples.py` and the tests import from here.

Two ways to get the images:
  * `load_cifar10()` with no path asks Keras to download and cache the data set.
  * `load_cifar10("path")` reads an official `cifar-10-python.tar.gz` or an
    extracted `cifar-10-batches-py/` folder, for machines without internet.

The batch files inside the archive are Python pickles. Unpickling can run
arbitrary code, so we use a restricted unpickler that admits only the numpy
globals a CIFAR-10 batch needs and refuses everything else.
"""
import io
import os
import pickle
import re
import tarfile

# Every script imports this module before TensorFlow, so TensorFlow's process
# settings live here. They must be set before TensorFlow is first imported.
# TensorFlow leaves its oneDNN CPU kernels off by default on non-Intel CPUs;
# on this project's AMD machines they made a training step 1.8x faster.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's start-up chatter

import keras
import numpy as np
import tensorflow as tf

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
IMAGE_SHAPE = (32, 32, 3)


class DataError(Exception):
    """A data problem we can describe to the user in one line."""


# ---------------------------------------------------------------------------
# Pixel scaling. The generator ends in tanh, whose outputs lie in [-1, 1], so
# the real images must be scaled to the same range: otherwise the
# discriminator can tell real from fake by the range alone and the GAN learns
# nothing useful. These two functions are the only place the scaling lives.
# ---------------------------------------------------------------------------
def scale_images(images_uint8):
    """uint8 pixels in [0, 255] -> float32 in [-1, 1] (works on numpy or tf)."""
    return tf.cast(images_uint8, tf.float32) / 127.5 - 1.0


def unscale_images(images):
    """float images in [-1, 1] -> uint8 pixels in [0, 255], for saving PNGs."""
    images = np.asarray(images, dtype=np.float32)
    return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------
# Safe loading of the pickled batch files.
# ---------------------------------------------------------------------------
try:  # numpy >= 2 moved the module; old pickles still name numpy.core.
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct

_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
}


class _RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global outside the numpy allow-list."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and nothing else."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        raise _RefusedGlobal(f"refusing to load global {module}.{name}")


def _read_batch(file_object, where):
    """Unpickle one CIFAR-10 batch and return (images NHWC uint8, labels int64)."""
    try:
        batch = _NumpyOnlyUnpickler(file_object, encoding="bytes").load()
    except _RefusedGlobal as error:
        raise DataError(f"{where}: not a safe CIFAR-10 batch ({error})") from None
    except Exception as error:  # EOFError, ValueError, zlib.error, ... from damaged files
        raise DataError(f"{where}: damaged or truncated batch file ({type(error).__name__}: {error})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{where}: not a CIFAR-10 batch (no 'data'/'labels' entries)")
    data, labels = batch[b"data"], np.asarray(batch[b"labels"], dtype=np.int64)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3072 or len(data) != len(labels):
        raise DataError(f"{where}: unexpected data layout {getattr(data, 'shape', None)}")
    # Rows are stored channel-first (1024 red, 1024 green, 1024 blue values);
    # Keras and matplotlib want height x width x channels.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _batch_names(split):
    """The batch file names of one split: data_batch_1..N or test_batch."""
    return re.compile(r"data_batch_\d+$") if split == "train" else re.compile(r"test_batch$")


def _load_from_tar(path, split):
    pattern, parts = _batch_names(split), []
    try:
        with tarfile.open(path, "r:*") as archive:
            # We read members straight from the archive, never extracting to
            # disk, so a malicious member name cannot write outside anywhere.
            members = sorted((m for m in archive.getmembers()
                              if m.isfile() and pattern.match(os.path.basename(m.name))),
                             key=lambda m: m.name)
            for member in members:
                blob = archive.extractfile(member).read()
                parts.append(_read_batch(io.BytesIO(blob), f"{path}:{member.name}"))
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DataError(f"{path}: damaged or truncated archive ({error})") from None
    return parts


def _load_from_folder(path, split):
    inner = os.path.join(path, "cifar-10-batches-py")
    folder = inner if os.path.isdir(inner) else path
    pattern, parts = _batch_names(split), []
    for name in sorted(n for n in os.listdir(folder) if pattern.match(n)):
        with open(os.path.join(folder, name), "rb") as file_object:
            parts.append(_read_batch(file_object, os.path.join(folder, name)))
    return parts


def _load_from_keras(split):
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise DataError(f"could not download CIFAR-10 ({reason}); "
                        "pass --data PATH to a cifar-10-python.tar.gz or cifar-10-batches-py folder") from None
    images, labels = (x_train, y_train) if split == "train" else (x_test, y_test)
    return images, labels.reshape(-1).astype(np.int64)


def parse_classes(spec):
    """'horse,cat' or '7' or '' -> sorted list of class indices (None = all)."""
    if spec is None or str(spec).strip() == "":
        return None
    indices = set()
    for token in str(spec).split(","):
        token = token.strip().lower()
        if token.isdigit() and int(token) < len(CLASS_NAMES):
            indices.add(int(token))
        elif token in CLASS_NAMES:
            indices.add(CLASS_NAMES.index(token))
        else:
            raise DataError(f"--classes: unknown class '{token}' (use 0-9 or one of {', '.join(CLASS_NAMES)})")
    return sorted(indices)


def load_cifar10(path=None, split="train", classes=None):
    """Return (images, labels): images uint8 [N, 32, 32, 3], labels int64 [N].

    `path` is None (download through Keras), a .tar.gz archive or a folder.
    `classes` is a list of class indices to keep, or None for all ten.
    Images stay uint8 in memory (4x smaller than float32); they are scaled
    to [-1, 1] per batch by `make_dataset`.
    """
    if path is None:
        images, labels = _load_from_keras(split)
    else:
        if not os.path.exists(path):
            raise DataError(f"--data {path}: no such file or directory")
        if os.path.isdir(path):
            parts = _load_from_folder(path, split)
        elif tarfile.is_tarfile(path):
            parts = _load_from_tar(path, split)
        else:
            raise DataError(f"--data {path}: not a tar archive or folder (expected cifar-10-python.tar.gz)")
        if not parts:
            raise DataError(f"--data {path}: no CIFAR-10 {split} batches found inside")
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
    if classes is not None:
        keep = np.isin(labels, classes)
        images, labels = images[keep], labels[keep]
    return images, labels


def make_dataset(images, batch_size, seed, epoch=0, flip=False, skip_batches=0):
    """A tf.data pipeline for one epoch: shuffle, batch, scale, (flip), prefetch.

    The shuffle order and the flips depend only on (seed, epoch), so a run
    resumed in the middle of an epoch can rebuild the very same batches and
    skip the ones it already trained on (`skip_batches`).
    """
    epoch_seed = seed * 100_003 + epoch  # a distinct, reproducible seed per epoch
    dataset = tf.data.Dataset.from_tensor_slices(images)
    # Reshuffle every epoch over the whole data set (the buffer holds all of it).
    dataset = dataset.shuffle(len(images), seed=epoch_seed, reshuffle_each_iteration=False)
    # drop_remainder keeps every batch the same shape, so Keras traces once.
    dataset = dataset.batch(batch_size, drop_remainder=True).enumerate()

    def prepare(batch_index, batch):
        batch = scale_images(batch)
        if flip:  # a mirrored horse is still a horse: free extra data
            batch = tf.image.stateless_random_flip_left_right(
                batch, seed=tf.stack([tf.cast(epoch_seed, tf.int64), batch_index]))
        return batch

    dataset = dataset.skip(skip_batches).map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
