"""CIFAR-10's files, read safely: the official archive, or its extracted folder.

defDATA.load_cifar10 calls `load_from_tar` or `load_from_folder`; a first
reading can skip this module. What it guards against, and how:
  * the batch files are Python pickles, and unpickling can run code: they are
    read by datafiles/safe_pickle.py, which builds plain integer arrays only;
  * a file can claim any size: each is bounded by the format (below) before
    anything is allocated for it, and the archive's decompressed bytes too;
  * a path can name a FIFO, which blocks for ever, or a device such as
    /dev/zero, which never ends: only regular files are opened
    (datafiles/bounded_reads.py), and only regular members of the archive read;
  * a lost or oddly named batch file must not train silently on the rest.
Every problem is a DataError: one line, naming the file and what is wrong.
"""
import io
import lzma
import os
import re
import tarfile
import zlib

import numpy as np

from datafiles import safe_pickle
from datafiles.bounded_reads import Refused, decompressed, open_bounded

CLASS_COUNT = 10  # labels are class numbers 0-9 (defDATA.CLASS_NAMES)

# The format bounds every size, and a file that claims more is refused before
# anything is allocated for it: else a batch declaring a million images (3 GB
# of zeros, 17 MB compressed) is read, and TensorFlow then dies of memory.
# CIFAR-10 has five training batches and one test batch of 10,000 images each;
# a batch file holds 3,072 bytes per image, and a label and a file name (each
# batch of the archive ../shared/data/make_cifar10.py rebuilds is 30,940,305
# bytes: 256 bytes per image leave room for longer names).
MAX_BATCH_IMAGES = 10_000
MAX_BATCH_BYTES = MAX_BATCH_IMAGES * (3072 + 256)
TRAIN_BATCHES = 5
# The whole archive, decompressed: six batches, batches.meta, readme.html and
# tar's headers (185.7 MB, rebuilt); the compressed file is smaller still.
MAX_ARCHIVE_BYTES = 8 * MAX_BATCH_BYTES
_TRAIN_NAME = re.compile(f"data_batch_[1-{TRAIN_BATCHES}]")  # ASCII digits only: see batch_names


class DataError(Exception):
    """A data problem we can describe to the user in one line."""


def _checked_labels(labels, count, where):
    """A batch's labels as int64, if they are a list or 1-D integer array of `count` values in 0-9."""
    if isinstance(labels, np.ndarray):
        if labels.ndim != 1:
            raise DataError(f"{where}: labels are a {labels.ndim}-D array, expected a list of class numbers")
    elif not isinstance(labels, list) or not all(type(label) is int for label in labels):
        raise DataError(f"{where}: labels are a {type(labels).__name__}, expected a list of class numbers")
    if len(labels) != count:
        raise DataError(f"{where}: {len(labels)} labels for {count} images")
    # Checked before numpy converts them: a Python integer beyond int64 would overflow.
    if count and (min(labels) < 0 or max(labels) >= CLASS_COUNT):
        raise DataError(f"{where}: a label is outside 0-{CLASS_COUNT - 1}")
    return np.asarray(labels, dtype=np.int64)


def read_batch(blob, where):
    """Unpickle one CIFAR-10 batch file's bytes and return (images NHWC uint8, labels int64)."""
    try:
        batch = safe_pickle.load(io.BytesIO(blob))  # plain integer arrays only: datafiles/safe_pickle.py
    except safe_pickle.Refused as error:
        raise DataError(f"{where}: not a safe CIFAR-10 batch ({error})") from None
    except Exception as error:  # EOFError, UnpicklingError, zlib.error, ... from damaged files
        raise DataError(f"{where}: damaged or truncated batch file ({type(error).__name__}: {error})") from None
    data = batch.get(b"data") if isinstance(batch, dict) else None
    if not isinstance(data, np.ndarray) or b"labels" not in batch:
        raise DataError(f"{where}: not a CIFAR-10 batch (no 'data' array and 'labels' list)")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{where}: data is a {data.dtype} array of shape {data.shape}, expected N x 3072 uint8")
    if len(data) > MAX_BATCH_IMAGES:
        raise DataError(f"{where}: {len(data)} images; a CIFAR-10 batch holds at most {MAX_BATCH_IMAGES}")
    labels = _checked_labels(batch[b"labels"], len(data), where)
    # Rows are stored channel-first (1024 red, 1024 green, 1024 blue values);
    # Keras and matplotlib want height x width x channels.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def batch_names(split, names, where, official):
    """The names among `names` that hold one split's batches, in order.

    Training batches must be data_batch_1..N with none missing (all five in the
    official layout, which also holds batches.meta): a lost file must not train
    silently on the rest. A name numbered otherwise is refused, not skipped:
    Python reads other scripts' digits too (int("\u0661") is 1), so data_batch_\u0661
    would pass for data_batch_1.
    """
    for name in names:
        number = name[len("data_batch_"):]
        if name.startswith("data_batch_") and number.isnumeric() and not _TRAIN_NAME.fullmatch(name):
            shown = repr(name) if len(name) < 40 else f"{name[:30]!r}... ({len(name)} characters)"
            raise DataError(f"{where}: unexpected batch file {shown} (CIFAR-10's training batches are "
                            f"data_batch_1 to data_batch_{TRAIN_BATCHES})")
    if split == "test":
        return [name for name in names if name == "test_batch"]
    numbers = sorted(int(name[len("data_batch_"):]) for name in names if _TRAIN_NAME.fullmatch(name))
    missing = sorted(set(range(1, TRAIN_BATCHES + 1 if official else len(numbers) + 1)) - set(numbers))
    if numbers and missing:
        raise DataError(f"{where}: missing batch file data_batch_{missing[0]} "
                        f"(expected data_batch_1 to data_batch_{max(numbers + missing)})")
    return [f"data_batch_{number}" for number in numbers]


def _wanted(name, split):
    return name == "test_batch" if split == "test" else bool(_TRAIN_NAME.fullmatch(name))


def _member_kind(member):
    """What a tar member that is not a regular file is, in words."""
    kinds = (("issym", "a symbolic link"), ("islnk", "a hard link"), ("isdir", "a folder"),
             ("isfifo", "a named pipe (FIFO)"), ("ischr", "a character device"), ("isblk", "a block device"))
    return next((words for test, words in kinds if getattr(member, test)()), f"of tar type {member.type!r}")


def _read_member(archive, member, where):
    """One batch member's bytes, once its header shows a regular file of a batch's size at most."""
    if not member.isreg():
        raise DataError(f"{where}: is {_member_kind(member)}, not a regular file")
    if member.size > MAX_BATCH_BYTES:
        raise DataError(f"{where}: {member.size} bytes, more than a CIFAR-10 batch file holds "
                        f"(at most {MAX_BATCH_BYTES})")
    return archive.extractfile(member).read()


# What damaged compressed data raises as it is read: gzip's BadGzipFile and
# bzip2's errors are OSErrors; a cut stream raises EOFError.
DAMAGED = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError)


def load_from_tar(path, split):
    try:
        raw = open_bounded(path, MAX_ARCHIVE_BYTES, "a CIFAR-10 archive")
    except OSError as error:  # no permission ...
        raise DataError(f"--data {path}: cannot read ({error.strerror})") from None
    try:
        with raw:
            return _read_tar(raw, path, split)
    except Refused as error:  # too large, or decompressing without end
        raise DataError(f"--data {path}: {error}") from None
    except DAMAGED as error:
        raise DataError(f"--data {path}: damaged or truncated archive ({error or type(error).__name__})") from None


def _read_tar(raw, path, split):
    """One pass through the archive, as a stream: each batch is read as it comes, so
    nothing is read twice and the decompressed bytes are bounded (bounded_reads.py)."""
    stream = decompressed(raw, MAX_ARCHIVE_BYTES)
    try:
        archive = tarfile.open(fileobj=stream, mode="r|")
    except tarfile.ReadError:
        # No tar header at the start. bzip2 hands out a block before checking it, so
        # read on: damaged compression raises here, and is then named as such.
        while stream.read(1 << 20):
            pass
        raise DataError(f"--data {path}: not a tar archive or folder (expected cifar-10-python.tar.gz)") from None
    parts, names = {}, set()
    # We read members straight from the archive, never extracting to
    # disk, so a malicious member name cannot write outside anywhere.
    for member in archive:
        name, where = os.path.basename(member.name), f"{path}:{member.name}"
        names.add(name)
        if _wanted(name, split):
            parts[name] = read_batch(_read_member(archive, member, where), where)
    # gzip checks its checksum only at the end of the stream: read to
    # the end, so that a damaged region cannot slip into training.
    while stream.read(1 << 20):
        pass
    return [parts[name] for name in batch_names(split, sorted(names), f"--data {path}", "batches.meta" in names)]


def load_from_folder(path, split):
    inner = os.path.join(path, "cifar-10-batches-py")
    folder = inner if os.path.isdir(inner) else path
    try:
        files = os.listdir(folder)
        names = batch_names(split, files, f"--data {folder}", "batches.meta" in files)
        parts = []
        for name in names:
            file_path = os.path.join(folder, name)
            try:
                with open_bounded(file_path, MAX_BATCH_BYTES, "a CIFAR-10 batch file") as file_object:
                    parts.append(read_batch(file_object.read(MAX_BATCH_BYTES + 1), file_path))
            except Refused as error:  # a FIFO would block for ever, /dev/zero never end
                raise DataError(f"--data {path}: cannot read {file_path}: {error}") from None
    except OSError as error:  # a batch that is a symbolic-link loop, no permission ...
        raise DataError(f"--data {path}: cannot read {error.filename or folder} ({error.strerror})") from None
    return parts
