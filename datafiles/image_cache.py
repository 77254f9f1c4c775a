"""A folder of images, decoded once: the pixels are kept on disk as one uint8 .npy file per folder and size.

Decoding thousands of JPEGs takes minutes; training reads the same pixels every epoch and every
run. So `load_image_folder` (which defDATA.load_data calls; a first reading can skip this module)
decodes a folder once (datafiles/image_decoding.py) into
    CACHE_FOLDER/<key>.npy    the images, uint8 [N, size, size, 3], in the listing's order
    CACHE_FOLDER/<key>.json   each image's class number, the files skipped and why
and every later run on the same folder at the same size reads that file, in seconds. The key is
a hash of everything the pixels depend on: each file's path inside the folder, size in bytes,
modification time and class, the image size, FORMAT_VERSION (raised whenever the decoding
changes) and Pillow's version. A file added, removed, renamed or edited gives a new key, so a
stale cache is never read; old entries stay until the cache folder is deleted.

Writing is atomic: each file is written under a temporary name in the cache folder and renamed
into place (os.replace), the .npy first, so a run killed half-way leaves no half-written cache
that looks whole; os.replace replaces a link planted at the final name, never writes through it,
and a cache file that is a link is never read. A cache that cannot be written (a read-only home,
a full disk) is only a warning: the images are decoded into memory, for this run only.

Memory: images up to MEMORY_BUDGET are read into memory; a larger folder stays on disk and is
read through a memory map, a batch at a time (defDATA.make_dataset). 100,000 images take
100,000 x 64 x 64 x 3 bytes = 1.2 GB at 64 pixels (in memory) and 4.9 GB at 128 (memory-mapped).
"""
import collections
import hashlib
import json
import os
import stat
import sys
import tempfile

import numpy as np
import PIL

from datafiles.cifar_files import DataError
from datafiles.image_decoding import decode_files
from datafiles.image_folders import shown

FORMAT_VERSION = 1  # raise it whenever image_decoding.py would decode a file differently
MEMORY_BUDGET = 2 * 2**30  # 2 GiB: images up to this are held in memory, larger sets memory-mapped
HEADER_BYTES = 128  # the .npy header (numpy pads it to 64-byte multiples: 128 for any 4-D uint8 shape)
NAMED_SKIPPED = 20  # skipped files named in the .json; the rest are counted
MAX_META_BYTES = 64 * 2**20  # a .json: a class number per image, at most ~10 million images

# The decoded folder: images uint8 [N, size, size, 3] (a numpy array, or a read-only memory map beyond the
# budget), labels int64 [N], the number of files skipped, (path, reason) of the first of them, and where
# the pixels came from, in words.
FolderImages = collections.namedtuple("FolderImages", "images labels skipped_count skipped source")


def cache_folder():
    """Where decoded folders are kept: $XDG_CACHE_HOME/keras-gan-cifar10/image-folders, by default
    ~/.cache/..., beside evaluate.py's reference statistics (scoring/statistics.py)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "keras-gan-cifar10", "image-folders")


def cache_key(listing, size):
    """A hash of everything the decoded pixels depend on (the module's docstring)."""
    digest = hashlib.sha256(json.dumps([FORMAT_VERSION, size, PIL.__version__]).encode())
    for entry in listing.files:
        digest.update(os.fsencode(entry.relative) + f"\0{entry.size}\0{entry.mtime_ns}\0{entry.label}\n".encode())
    return digest.hexdigest()[:32]


def load_image_folder(listing, size, budget=None):
    """FolderImages of a listed folder (datafiles/image_folders.py) at size x size: from the cache, or decoded
    (with a progress bar) and cached; in memory up to `budget` bytes (default: MEMORY_BUDGET). Raises DataError
    when no image can be read."""
    budget = MEMORY_BUDGET if budget is None else budget
    folder = cache_folder()
    base = os.path.join(folder, cache_key(listing, size))
    found = read_cache(base, size, budget, listing.root)
    if found is None:
        try:
            write_cache(folder, base, listing, size)
            found = read_cache(base, size, budget, listing.root)
        except OSError as error:
            print(f"warning: cannot write the image cache in {shown(folder)} ({error.strerror or error}); "
                  "decoding into memory, for this run only", file=sys.stderr, flush=True)
        if found is None:
            found = decode_in_memory(listing, size)
        else:
            found = found._replace(source=f"decoded once, cached in {shown(base)}.npy")
    if not len(found.images):
        first = f": {found.skipped[0][0]} {found.skipped[0][1]}" if found.skipped else ""
        raise DataError(f"--data {shown(listing.root)}: none of its {found.skipped_count} image files could be "
                        f"decoded{first}")
    return found


def skipped_table(listing, skipped):
    """The skipped files' count and the first NAMED_SKIPPED of them as [path inside the folder, reason]."""
    return len(skipped), [[shown(listing.files[index].relative), reason] for index, reason in skipped[:NAMED_SKIPPED]]


def decode_in_memory(listing, size):
    images, rows = [], []
    skipped = decode_files([entry.path for entry in listing.files], size,
                           lambda index, image: (images.append(image), rows.append(index)))
    count, named = skipped_table(listing, skipped)
    stacked = np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)
    labels = np.array([listing.files[index].label for index in rows], np.int64)
    return FolderImages(stacked, labels, count, [(os.path.join(shown(listing.root), n), r) for n, r in named],
                        "decoded into memory (not cached)")


def write_cache(folder, base, listing, size):
    """Decode the folder into base.npy and write base.json, each atomically. Raises OSError."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    rows = []

    def write_rows(out):
        out.write(b"\0" * HEADER_BYTES)  # the header, once the count of readable images is known
        skipped = decode_files([entry.path for entry in listing.files], size,
                               lambda index, image: (out.write(image.tobytes()), rows.append(index)))
        out.seek(0)
        header(out, (len(rows), size, size, 3))
        return skipped

    skipped = write_atomically(folder, base + ".npy", write_rows)
    count, named = skipped_table(listing, skipped)
    meta = {"format": FORMAT_VERSION, "size": size, "count": len(rows), "skipped_count": count, "skipped": named,
            "labels": [listing.files[index].label for index in rows]}
    write_atomically(folder, base + ".json", lambda out: out.write(json.dumps(meta).encode()))


def header(out, shape):
    """Write a .npy header of exactly HEADER_BYTES for a C-ordered uint8 array of `shape`."""
    start = out.tell()
    np.lib.format.write_array_header_1_0(out, {"descr": "|u1", "fortran_order": False, "shape": shape})
    if out.tell() - start != HEADER_BYTES:  # only for a shape no folder has; the cache is then skipped
        raise OSError(f"unexpected .npy header length for shape {shape}")


def write_atomically(folder, path, write):
    """Call write(binary file) on a new temporary file in `folder`, then rename it to `path`; returns write's
    result. mkstemp makes a new file of a random name, so no link planted in advance is written through."""
    descriptor, temporary = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(descriptor, "wb") as out:
            result = write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
        return result
    except BaseException:
        os.remove(temporary)
        raise


def read_cache(base, size, budget, root):
    """FolderImages from base.npy and base.json, or None when they are missing, damaged or links."""
    try:
        with open_no_link(base + ".json") as meta_file:
            meta = json.loads(meta_file.read(MAX_META_BYTES + 1))
        count, labels = meta["count"], np.asarray(meta["labels"], np.int64)
        with open_no_link(base + ".npy") as array_file:
            if np.lib.format.read_magic(array_file) != (1, 0):
                raise ValueError("not the .npy version this module writes")
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(array_file)
            expected = (count, size, size, 3)
            if (shape, fortran, dtype, array_file.tell(), len(labels)) != (expected, False, np.uint8, HEADER_BYTES,
                                                                           count):
                raise ValueError("does not match its .json")
            if os.fstat(array_file.fileno()).st_size != HEADER_BYTES + count * size * size * 3:
                raise ValueError("wrong length")
            if count * size * size * 3 <= budget:  # read into memory: faster batches
                images = np.empty(expected, np.uint8)
                if array_file.readinto(memoryview(images).cast("B")) != images.nbytes:
                    raise ValueError("cut short")
            else:  # pages are read from the file as batches need them, and dropped when memory is short
                images = np.memmap(array_file, np.uint8, "r", HEADER_BYTES, expected)
        skipped = [(os.path.join(shown(root), name), reason) for name, reason in meta["skipped"]]
        return FolderImages(images, labels, meta["skipped_count"], skipped, f"read from the cache {shown(base)}.npy")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"note: the image cache {shown(base)}.npy is unusable ({str(error)[:100]}); decoding again",
              file=sys.stderr, flush=True)
        return None


def open_no_link(path):
    """A regular file opened for reading, never through a link, never waiting on a FIFO."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    file_object = os.fdopen(descriptor, "rb")
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        file_object.close()
        raise ValueError("not a regular file")
    return file_object


def warnings_of(listing, found):
    """One line each, for what a user should know about the folder's images: those left out, those skipped
    (the first few named), classes with fewer than two images."""
    lines, root = [], shown(listing.root)
    if listing.loose:
        lines.append(f"{root}: {len(listing.loose)} images lie beside the class folders, in no class, and are "
                     f"left out (the first: {shown(listing.loose[0])}); move them into a class folder")
    skipped = [(shown(path), reason) for path, reason in listing.skipped] + found.skipped
    count = len(listing.skipped) + found.skipped_count
    if count:
        named = "; ".join(f"{path} {reason}" for path, reason in skipped[:3])
        lines.append(f"{root}: skipped {count} of {len(listing.files) + len(listing.skipped)} image files that "
                     f"cannot be used: {named}{'; ...' if count > 3 else ''}")
    if listing.class_names:
        counts = np.bincount(found.labels, minlength=len(listing.class_names))
        for name, number in zip(listing.class_names, counts):
            if number < 2:
                lines.append(f"{root}: class {name!r} has {'only one image' if number else 'no usable image'}; "
                             "a conditional GAN learns such a class poorly, or not at all")
    return lines
