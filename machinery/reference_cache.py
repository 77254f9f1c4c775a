"""The cache of evaluate.py's reference statistics (--cache-dir, ~/.cache/keras-gan-cifar10 by default).

The statistics of the real images are the same for every run scored with the
same data, feature network, N and image size, and computing them takes minutes, so each
combination is kept as one .npz file. The cache saves time; it is never a
reason to fail, nor a way in:
  * the folder is checked before any work: a path that can never be a folder
    is one line at once; a folder we cannot write to is a warning, and the
    scores are computed all the same, only not kept;
  * a cached file that cannot be read, holds other arrays, arrays of the wrong
    shape or non-finite values is computed again and replaced;
  * it is read with np.load(allow_pickle=False), so a planted file cannot run code.
"""
import hashlib
import json
import os
import stat

import numpy as np

from machinery.checkpoint import atomic_save
from machinery.options import RunError, check_writable_folder

REFERENCE_KEYS = {"mean", "covariance", "kid_features", "count"}
OPTIONAL_KEYS = {"inception_score"}  # (mean, std), kept when the network gives class probabilities


def check_cache_dir(folder):
    """Returns None when reference statistics can be cached in `folder`, else a warning to print.
    Raises RunError for a path that can never be a folder."""
    existing = os.path.abspath(folder)
    while not os.path.lexists(existing):  # the cache folder is made inside the nearest one that exists
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        what = "exists and" if existing == os.path.abspath(folder) else f"{existing}, which would hold it,"
        raise RunError(f"--cache-dir {folder}: {what} is not a folder")
    try:
        check_writable_folder("--cache-dir", existing)
    except RunError as error:
        return f"warning: {error}; the reference statistics will not be cached"
    return None


def reference_path(cache_dir, data, split, identity, n, image_size):
    """The cache file of the statistics of n images of `data`'s split ("train" or "test"), at image_size x
    image_size, through the network with this identity."""
    source = os.path.abspath(data) if data else "keras-download"
    if data and os.path.exists(data):  # a changed archive gets new statistics
        source += f"|{os.path.getsize(data)}|{int(os.path.getmtime(data))}"
    # Upscaled images have other features. 32x32 keys have no size in them: they are the keys of the caches
    # written before --image-size existed, which stay valid.
    parts = [source, split, identity, n] + ([image_size] if image_size != 32 else [])
    key = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:20]
    return os.path.join(cache_dir, f"reference-{key}.npz")


def load_reference(path, feature_size):
    """The cached statistics at `path` as a dict, or None when there are none or they are unusable
    (then a note says so, and the caller computes them again)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as error:
        print(f"note: {path}: unreadable ({error.strerror}); computing them again")
        return None
    problem = "not a regular file" if not stat.S_ISREG(info.st_mode) else None
    if problem is None:
        try:
            with np.load(path, allow_pickle=False) as cached:
                reference = {name: cached[name] for name in cached.files}
            problem = reference_problem(reference, feature_size)
        except Exception as error:  # whatever is wrong with a cache file (zip, zlib, numpy), it is computed again
            problem = f"unreadable ({type(error).__name__})"
    if problem:
        print(f"note: cached reference statistics {path}: {problem}; computing them again")
        return None
    return reference


def reference_problem(reference, feature_size):
    """What is wrong with statistics read from a cache file, or None."""
    if not REFERENCE_KEYS <= set(reference) <= REFERENCE_KEYS | OPTIONAL_KEYS:
        return f"holds {', '.join(sorted(reference)) or 'nothing'}, not {', '.join(sorted(REFERENCE_KEYS))}"
    if "inception_score" in reference and reference["inception_score"].shape != (2,):
        return "an Inception Score that is not (mean, std)"
    mean, covariance, kept, count = (reference[name] for name in ("mean", "covariance", "kid_features", "count"))
    d = feature_size
    if (mean.shape != (d,) or covariance.shape != (d, d) or kept.ndim != 2 or kept.shape[1] != d
            or count.shape != () or not np.issubdtype(count.dtype, np.integer) or not d < count):
        return f"arrays of the wrong shape for {d} features"
    arrays = [mean, covariance, kept] + [reference[name] for name in OPTIONAL_KEYS & set(reference)]
    if not all(np.issubdtype(a.dtype, np.floating) and np.isfinite(a).all() for a in arrays):
        return "values that are not finite numbers"
    return None


def save_reference(path, reference):
    """Keep the statistics for next time; a cache that cannot take them is a warning, not a failure."""
    def save(temporary):
        with open(temporary, "wb") as file_object:
            np.savez(file_object, **reference)

    try:
        if os.path.islink(path) or (os.path.lexists(path) and not os.path.isfile(path)):
            raise OSError(0, "a file that is not ours is in the way")  # a link, folder or FIFO: left alone
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_save(path, save)
    except OSError as error:
        print(f"warning: {path}: could not cache the reference statistics ({error.strerror or error})")
