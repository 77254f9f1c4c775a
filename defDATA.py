"""The training images in, batches out: CIFAR-10, or a folder of your own pictures.

New to GANs? Read README.md, "What a GAN is", first: a generator G turns random
numbers z into images, a discriminator D tells real images from generated ones.

This module is the one place that knows where images come from, their class
names and pixel scaling. `train.py`, `samples.py` and the tests import from here.

Three ways to get the images (`load_data`):
  * no --data: the official CIFAR-10 archive, downloaded once into Keras'
    cache folder (~/.keras/datasets);
  * --data PATH to an official `cifar-10-python.tar.gz` or an extracted
    `cifar-10-batches-py/` folder, for machines without internet;
  * --data FOLDER of your own pictures (.png, .jpg, .bmp, .gif, .webp, in
    subfolders too). Subfolders directly inside it are classes, as in
    keras.utils.image_dataset_from_directory (photos/cat/, photos/dog/: a
    --conditional run draws the class you name). Each picture becomes RGB,
    its largest centred square, resized to --image-size (32, 64 or 128).
    Decoding is slow, so it is done once and cached (datafiles/image_cache.py).

CIFAR-10's batch files are Python pickles. Unpickling can run arbitrary code,
so they are read by datafiles/safe_pickle.py, which builds plain integer arrays
and refuses everything else. The datafiles/ package reads every file safely:
regular files only, every size bounded, a damaged picture skipped and named,
a picture too large to decode refused before it is decoded.

Reading the files needs only numpy and Pillow. TensorFlow, which takes seconds
to start, is imported inside the functions that build tensors, so the scripts
can check their inputs (this data included) and answer a mistake at once.
"""
import os
import re
import stat
import sys

import numpy as np

from datafiles.cifar_files import DataError, load_from_folder, load_from_tar  # noqa: F401  DataError is re-exported: callers catch defDATA.DataError
from datafiles.downloads import DownloadError, download
from datafiles.bounded_reads import kind
from datafiles import image_cache, image_folders

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
CIFAR_IMAGE_SHAPE = (32, 32, 3)  # CIFAR-10: 32x32 pixels, 3 colour channels
# --image-size: the square sizes a run can train at. Each doubling beyond 32 adds one upsampling block to
# the generator and one downsampling block to the discriminator (gene_keras.py, discri_keras.py).
IMAGE_SIZES = (32, 64, 128)


def image_shape(config):
    """The shape of one image of a run: (size, size, 3)."""
    return (config["image_size"], config["image_size"], 3)


def extra_blocks(image_size):
    """How many more doubling blocks than a 32x32 network a size needs: 0 (32), 1 (64) or 2 (128)."""
    return IMAGE_SIZES.index(image_size)


def class_names(config):
    """The names of a run's classes: its image folder's class subfolders, or CIFAR-10's ten."""
    return tuple(config["class_names"] or CLASS_NAMES)


def resize_images(images_uint8, size):
    """uint8 images [N, H, W, 3] -> uint8 [N, size, size, 3], each resized once with antialiasing.

    The same resizing as a folder's pictures get (datafiles/image_decoding.square: Lanczos, whose filter
    widens with the scale, so a shrunk image is averaged, not aliased, and an enlarged one is smooth).
    Images already size x size are returned as they are (the same array). For CIFAR-10, square already.
    Upscaling its 32x32 images adds no detail: --image-size 64 or 128 on CIFAR-10 is for trying the networks.
    """
    images_uint8 = np.asarray(images_uint8)
    if images_uint8.ndim != 4 or images_uint8.shape[3] != 3 or images_uint8.dtype != np.uint8:
        raise ValueError(f"resize_images: expected uint8 images [N, H, W, 3], got {images_uint8.dtype} "
                         f"{list(images_uint8.shape)}")
    if images_uint8.shape[1:3] == (size, size):
        return images_uint8
    from PIL import Image

    from datafiles.image_decoding import square

    resized = np.empty((len(images_uint8), size, size, 3), np.uint8)
    for index, image in enumerate(images_uint8):
        resized[index] = square(Image.fromarray(image), size)
    return resized

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
                        "CIFAR-10 (163 MB)")
    except DownloadError as error:
        raise DataError(f"{error}; pass --data PATH to a cifar-10-python.tar.gz or cifar-10-batches-py folder") \
            from None


def parse_classes(spec, names=CLASS_NAMES):
    """'horse,cat' or '7' or '' -> sorted list of class indices (None = all).

    `names`: the data's class names (CIFAR-10's, or an image folder's class subfolders, data_class_names).
    A name is matched as written, else ignoring case when that finds one class; a number is the class's
    place in `names`, counting from 0."""
    if spec is None or str(spec).strip() == "":
        return None
    indices = set()
    for token in str(spec).split(","):
        token = token.strip()
        folded = [index for index, name in enumerate(names) if name.lower() == token.lower()]
        if token in names:
            indices.add(names.index(token))
        elif len(folded) == 1:
            indices.add(folded[0])
        elif re.fullmatch("[0-9]+", token) and int(token) < len(names):  # ASCII digits: "\u00b2".isdigit() is
            indices.add(int(token))                                       # True, and int() then fails
        else:
            listed = ", ".join(names[:12]) + (f", ... ({len(names)} classes)" if len(names) > 12 else "")
            raise DataError(f"--classes: unknown class {token!r} (use 0-{len(names) - 1} or one of {listed})")
    return sorted(indices)


def trained_classes(config):
    """The classes a conditional run draws: those it trained on (--classes; all ten by default).
    None for an unconditional run."""
    if not config["conditional"]:
        return None
    return config["classes"] or list(range(len(class_names(config))))


def real_images_per_step(config):
    """Real images one training step uses: half of each discriminator batch (the other half is generated),
    d_steps times (each D update sees new real images)."""
    return config["batch_size"] // 2 * config["d_steps"]


def steps_per_epoch(config, image_count):
    """Steps in one epoch: one pass over the images, or --steps-per-epoch if that is fewer."""
    full = image_count // real_images_per_step(config)
    return min(full, config["steps_per_epoch"] or full)


def load_cifar10(path=None, split="train", classes=None):
    """Return (images, image_classes): images uint8 [N, 32, 32, 3], each image's class number int64 [N].

    `path` is None (the official archive, downloaded once), a .tar.gz archive or a folder.
    `classes` is a list of class indices to keep, or None for all ten.
    Images stay uint8 in memory (4x smaller than float32); they are scaled
    to [-1, 1] per batch by `make_dataset`.
    """
    path = downloaded_cifar10() if path is None else path
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise DataError(f"--data {path}: no such file or directory") from None
    except OSError as error:
        raise DataError(f"--data {path}: cannot read ({error.strerror})") from None
    if stat.S_ISDIR(mode):
        parts = load_from_folder(path, split)
    elif stat.S_ISREG(mode):  # not a FIFO, which would block for ever, nor /dev/zero, which never ends
        parts = load_from_tar(path, split)
    else:
        raise DataError(f"--data {path}: is {kind(mode)}, not a regular file or folder")
    if not parts:
        raise DataError(f"--data {path}: no CIFAR-10 {split} batches found inside")
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if classes is not None:
        keep = np.isin(labels, classes)
        images, labels = images[keep], labels[keep]
    return images, labels


def is_image_folder(path):
    """Whether --data names a folder of pictures (rather than CIFAR-10's archive or batch folder)."""
    return path is not None and os.path.isdir(path) and not image_folders.is_cifar_folder(path)


def data_class_names(path):
    """The class names of --data: an image folder's class subfolders, sorted; None for CIFAR-10 (its ten,
    CLASS_NAMES) and for a folder without subfolders (no classes). Lists the folder; decodes nothing."""
    return image_folders.list_images(path).class_names if is_image_folder(path) else None


def data_version(path, image_size):
    """A short text that changes whenever the images load_data returns would (for caches of what is computed
    from them): an image folder's cache key (its files' names, sizes and times, and the size); "" for CIFAR-10."""
    return image_cache.cache_key(image_folders.list_images(path), image_size) if is_image_folder(path) else ""


def data_name(path, split, image_size):
    """How scores name real images: "CIFAR-10 train" (upscaled to 64x64, ...), or a folder and its size."""
    if is_image_folder(path):
        return f"{image_folders.shown(path)} at {image_size}x{image_size}"
    upscaled = f" upscaled to {image_size}x{image_size}" if image_size != CIFAR_IMAGE_SHAPE[0] else ""
    return f"CIFAR-10 {split}{upscaled}"


def load_data(path=None, split="train", classes=None, image_size=32):
    """Return (images, image_classes) of CIFAR-10 (load_cifar10) or of a folder of pictures, at image_size.

    A folder's pictures are decoded once, with a progress bar, then cached (datafiles/image_cache.py);
    its classes are its subfolders (data_class_names), each image's class number its subfolder's place
    among them (0 for all without subfolders). A folder is one training set: it has no "test" split.
    Up to image_cache.MEMORY_BUDGET the images are a numpy array in memory; beyond it, a read-only
    memory map of the cache file, which make_dataset reads a batch at a time.
    """
    if not is_image_folder(path):
        images, labels = load_cifar10(path, split, classes)
        if image_size != CIFAR_IMAGE_SHAPE[0]:
            print(f"upscaling {len(images)} CIFAR-10 images to {image_size}x{image_size} (smooth, with no new "
                  "detail: upscaled CIFAR-10 is for trying the bigger networks)", flush=True)
        return resize_images(images, image_size), labels
    if split != "train":
        raise DataError(f"--data {image_folders.shown(path)}: a folder of pictures has no {split} split (only "
                        "CIFAR-10 has one); the whole folder is the training split")
    listing = image_folders.list_images(path)
    found = image_cache.load_image_folder(listing, image_size)
    print(f"{len(found.images)} images of {image_folders.shown(path)} at {image_size}x{image_size}, {found.source}",
          flush=True)
    for line in image_cache.warnings_of(listing, found):
        print(f"warning: {line}", file=sys.stderr, flush=True)
    images, labels = found.images, found.labels
    if classes is not None:  # a memory map's chosen rows are read into memory
        keep = np.isin(labels, classes)
        images, labels = images[keep], labels[keep]
    return images, labels


def make_dataset(images, batch_size, seed, epoch=0, flip=False, skip_batches=0, classes=None):
    """A tf.data pipeline for one epoch: shuffle, batch, scale, (flip), prefetch.

    The shuffle order and the flips depend only on (seed, epoch), so a run
    resumed in the middle of an epoch can rebuild the very same batches and
    skip the ones it already trained on (`skip_batches`). With `classes` (each
    image's class number, for a conditional GAN) it yields (images, classes).
    `images` is a numpy array, or a memory map of the cache file for a folder
    too large for memory (load_data); each batch is read from it as needed.
    """
    import tensorflow as tf

    epoch_seed = seed * 100_003 + epoch  # a distinct, reproducible seed per epoch
    # Shuffle image *numbers*, not images: the shuffle buffer holds the whole data set, and as numbers it
    # takes 8 bytes an image instead of a second copy of every pixel. A new order each epoch comes from
    # epoch_seed (this dataset is rebuilt every epoch); it depends on the seed and the count only.
    dataset = tf.data.Dataset.range(len(images)).shuffle(len(images), seed=epoch_seed, reshuffle_each_iteration=False)
    # drop_remainder keeps every batch the same shape, so Keras traces once.
    dataset = dataset.batch(batch_size, drop_remainder=True).enumerate()
    class_numbers = None if classes is None else classes.astype(np.int32)

    def prepare(batch_index, numbers):
        batch = tf.numpy_function(lambda chosen: rows_of(images, chosen), [numbers], tf.uint8)  # uint8 pixels
        batch.set_shape((batch_size,) + images.shape[1:])
        batch = scale_images(batch)
        if flip:  # a mirrored horse is still a horse: free extra data
            batch = tf.image.stateless_random_flip_left_right(
                batch, seed=tf.stack([tf.cast(epoch_seed, tf.int64), batch_index]))
        return batch if classes is None else (batch, tf.gather(class_numbers, numbers))

    dataset = dataset.skip(skip_batches).map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def rows_of(images, numbers):
    """images[numbers], read in file order (faster from a memory map on disk), returned in `numbers`' order."""
    order = np.argsort(numbers)
    batch = np.empty((len(numbers),) + images.shape[1:], np.uint8)
    batch[order] = images[numbers[order]]
    return batch
