"""CIFAR-10 in, batches out.

This module is the one place that knows about CIFAR-10 files, class names and
pixel scaling. `train.py`, `samples.py` and the tests import from here.

Two ways to get the images:
  * `load_cifar10()` with no path downloads the official archive once into
    Keras' cache folder (~/.keras/datasets).
  * `load_cifar10("path")` reads an official `cifar-10-python.tar.gz` or an
    extracted `cifar-10-batches-py/` folder, for machines without internet.

The batch files inside the archive are Python pickles. Unpickling can run
arbitrary code, so they are read by machinery/safe_pickle.py, which builds
plain integer arrays and refuses everything else.

Reading the files needs only numpy. TensorFlow, which takes seconds to start,
is imported inside the functions that build tensors, so the scripts can check
their inputs (this data included) and answer a mistake at once.
"""
import os
import re
import tarfile
import zlib

import numpy as np

from machinery import safe_pickle
from machinery.downloads import DownloadError, download

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
    """uint8 pixels in [0, 255] -> float32 in [-1, 1]: numpy in, numpy out; a tensor in, a tensor out."""
    if isinstance(images_uint8, np.ndarray):
        return images_uint8.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    import tensorflow as tf

    return tf.cast(images_uint8, tf.float32) / 127.5 - 1.0


def unscale_images(images):
    """float images in [-1, 1] -> uint8 pixels in [0, 255], for saving PNGs."""
    images = np.asarray(images, dtype=np.float32)
    return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def _checked_labels(labels, count, where):
    """A batch's labels as int64, if they are a list or 1-D integer array of `count` values in 0-9."""
    if isinstance(labels, np.ndarray):
        if labels.ndim != 1:
            raise DataError(f"{where}: labels are a {labels.ndim}-D array, expected a list of class numbers")
    elif not isinstance(labels, list) or not all(type(label) is int for label in labels):
        raise DataError(f"{where}: labels are a {type(labels).__name__}, expected a list of class numbers")
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != count:
        raise DataError(f"{where}: {len(labels)} labels for {count} images")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CLASS_NAMES)):
        raise DataError(f"{where}: a label is outside 0-{len(CLASS_NAMES) - 1}")
    return labels


def _read_batch(file_object, where):
    """Unpickle one CIFAR-10 batch and return (images NHWC uint8, labels int64)."""
    try:
        batch = safe_pickle.load(file_object)  # plain integer arrays only: machinery/safe_pickle.py
    except safe_pickle.Refused as error:
        raise DataError(f"{where}: not a safe CIFAR-10 batch ({error})") from None
    except Exception as error:  # EOFError, UnpicklingError, zlib.error, ... from damaged files
        raise DataError(f"{where}: damaged or truncated batch file ({type(error).__name__}: {error})") from None
    data = batch.get(b"data") if isinstance(batch, dict) else None
    if not isinstance(data, np.ndarray) or b"labels" not in batch:
        raise DataError(f"{where}: not a CIFAR-10 batch (no 'data' array and 'labels' list)")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{where}: data is a {data.dtype} array of shape {data.shape}, expected N x 3072 uint8")
    labels = _checked_labels(batch[b"labels"], len(data), where)
    # Rows are stored channel-first (1024 red, 1024 green, 1024 blue values);
    # Keras and matplotlib want height x width x channels.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _batch_names(split, names, where, official):
    """The names among `names` that hold one split's batches, in order.

    Training batches must be data_batch_1..N with none missing (5 in the official
    layout, which also holds batches.meta): a lost file must not train silently
    on the rest.
    """
    if split == "test":
        return [name for name in names if name == "test_batch"]
    numbers = sorted(int(name[len("data_batch_"):]) for name in names if re.fullmatch(r"data_batch_\d+", name))
    expected = list(range(1, 6 if official else len(numbers) + 1))
    missing = sorted(set(expected) - set(numbers))
    if numbers and (missing or numbers != expected):
        name = f"data_batch_{missing[0]}" if missing else f"data_batch_{numbers[-1]}"
        raise DataError(f"{where}: {'missing' if missing else 'unexpected'} batch file {name} "
                        f"(expected data_batch_1 to data_batch_{expected[-1]})")
    return [f"data_batch_{number}" for number in numbers]


def _load_from_tar(path, split):
    try:
        with tarfile.open(path, "r:*") as archive:
            # We read members straight from the archive, never extracting to
            # disk, so a malicious member name cannot write outside anywhere.
            members = {os.path.basename(m.name): m for m in archive.getmembers() if m.isfile()}
            names = _batch_names(split, members, f"--data {path}", "batches.meta" in members)
            parts = [_read_batch(archive.extractfile(members[name]), f"{path}:{members[name].name}")
                     for name in names]
            # gzip checks its checksum only at the end of the stream: read to
            # the end, so that a damaged region cannot slip into training.
            while archive.fileobj.read(1 << 20):
                pass
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise DataError(f"--data {path}: damaged or truncated archive ({error})") from None
    return parts


def _load_from_folder(path, split):
    inner = os.path.join(path, "cifar-10-batches-py")
    folder = inner if os.path.isdir(inner) else path
    try:
        files = os.listdir(folder)
        names = _batch_names(split, files, f"--data {folder}", "batches.meta" in files)
        parts = []
        for name in names:
            with open(os.path.join(folder, name), "rb") as file_object:
                parts.append(_read_batch(file_object, os.path.join(folder, name)))
    except OSError as error:  # a batch that is a folder, a symbolic-link loop, no permission ...
        raise DataError(f"--data {path}: cannot read {error.filename or folder} ({error.strerror})") from None
    return parts


# The official archive, as keras.datasets.cifar10 fetches it, and its SHA-256.
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CACHE_DIR = os.path.join(os.path.expanduser("~"), ".keras", "datasets")  # where Keras keeps its data sets


def downloaded_cifar10():
    """The official archive in Keras' cache folder, downloaded the first time.

    We download it ourselves (not through keras.datasets) so that the data is
    read by this module's safe loader and the download needs no TensorFlow.
    """
    try:
        return download(CIFAR10_URL, os.path.join(CACHE_DIR, "cifar-10-python.tar.gz"), "sha256", CIFAR10_SHA256,
                        "CIFAR-10 (163 MB; offline? pass --data PATH)")
    except DownloadError as error:
        raise DataError(f"{error}; pass --data PATH to a cifar-10-python.tar.gz or cifar-10-batches-py folder") \
            from None


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
            raise DataError(f"--classes: unknown class {token!r} (use 0-9 or one of {', '.join(CLASS_NAMES)})")
    return sorted(indices)


def trained_classes(config):
    """The classes a conditional run draws: those it trained on (--classes; all ten by default).
    None for an unconditional run."""
    if not config["conditional"]:
        return None
    return config["classes"] or list(range(len(CLASS_NAMES)))


def _is_tarfile(path):
    try:
        return tarfile.is_tarfile(path)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"--data {path}: unreadable ({error})") from None


def load_cifar10(path=None, split="train", classes=None):
    """Return (images, labels): images uint8 [N, 32, 32, 3], labels int64 [N].

    `path` is None (the official archive, downloaded once), a .tar.gz archive or a folder.
    `classes` is a list of class indices to keep, or None for all ten.
    Images stay uint8 in memory (4x smaller than float32); they are scaled
    to [-1, 1] per batch by `make_dataset`.
    """
    path = downloaded_cifar10() if path is None else path
    if not os.path.exists(path):
        raise DataError(f"--data {path}: no such file or directory")
    if os.path.isdir(path):
        parts = _load_from_folder(path, split)
    elif _is_tarfile(path):
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


def make_dataset(images, batch_size, seed, epoch=0, flip=False, skip_batches=0, classes=None):
    """A tf.data pipeline for one epoch: shuffle, batch, scale, (flip), prefetch.

    The shuffle order and the flips depend only on (seed, epoch), so a run
    resumed in the middle of an epoch can rebuild the very same batches and
    skip the ones it already trained on (`skip_batches`). With `classes` (each
    image's class number, for a conditional GAN) it yields (images, classes).
    """
    import tensorflow as tf

    epoch_seed = seed * 100_003 + epoch  # a distinct, reproducible seed per epoch
    dataset = tf.data.Dataset.from_tensor_slices(images if classes is None else (images, classes.astype(np.int32)))
    # Reshuffle every epoch over the whole data set (the buffer holds all of it).
    dataset = dataset.shuffle(len(images), seed=epoch_seed, reshuffle_each_iteration=False)
    # drop_remainder keeps every batch the same shape, so Keras traces once.
    dataset = dataset.batch(batch_size, drop_remainder=True).enumerate()

    def prepare(batch_index, batch):
        batch, batch_classes = batch if classes is not None else (batch, None)
        batch = scale_images(batch)
        if flip:  # a mirrored horse is still a horse: free extra data
            batch = tf.image.stateless_random_flip_left_right(
                batch, seed=tf.stack([tf.cast(epoch_seed, tf.int64), batch_index]))
        return batch if classes is None else (batch, batch_classes)

    dataset = dataset.skip(skip_batches).map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
