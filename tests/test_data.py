"""defDATA: safe loading of official-format archives, class filters, scaling, tf.data."""
import os
import pickle
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from conftest import ROOT, batch_bytes, synthetic_batches, write_archive
from defDATA import (CLASS_NAMES, DataError, load_cifar10, make_dataset, parse_classes,
                     scale_images, unscale_images)


def expected(batches, names):
    return (np.concatenate([batches[n][0] for n in names]), np.concatenate([batches[n][1] for n in names]))


def test_loads_tar_gz_with_odd_batch_sizes(synthetic):
    path, batches = synthetic
    assert b"numpy.core.multiarray" in batch_bytes(*batches["data_batch_1"], old_numpy_names=True)
    images, labels = load_cifar10(path)
    want_images, want_labels = expected(batches, ["data_batch_1", "data_batch_2", "data_batch_3"])
    assert images.dtype == np.uint8 and images.shape == (15, 32, 32, 3)
    np.testing.assert_array_equal(images, want_images)  # CHW rows turned into HWC correctly
    np.testing.assert_array_equal(labels, want_labels)
    test_images, _ = load_cifar10(path, split="test")
    np.testing.assert_array_equal(test_images, batches["test_batch"][0])


def test_loads_extracted_folder_and_its_parent(synthetic, tmp_path):
    path, batches = synthetic
    with tarfile.open(path) as archive:
        archive.extractall(tmp_path / "extracted", filter="data")
    from_parent, _ = load_cifar10(str(tmp_path / "extracted"))
    from_folder, labels = load_cifar10(str(tmp_path / "extracted" / "cifar-10-batches-py"))
    np.testing.assert_array_equal(from_parent, from_folder)
    np.testing.assert_array_equal(from_folder, expected(batches, ["data_batch_1", "data_batch_2", "data_batch_3"])[0])


def test_class_filter(synthetic):
    path, _ = synthetic
    _, labels = load_cifar10(path, classes=parse_classes("horse,1"))
    assert sorted(set(labels.tolist())) == [1, 7] and len(labels) == 3  # labels 0..14 cycle over classes
    assert parse_classes("") is None and parse_classes("truck") == [9]
    with pytest.raises(DataError, match="unknown class 'zebra'"):
        parse_classes("horse,zebra")
    assert len(CLASS_NAMES) == 10


def test_scaling_round_trip_and_range():
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    scaled = scale_images(pixels)
    assert scaled.dtype == np.float32 and scaled.min() == -1.0 and scaled.max() == 1.0
    np.testing.assert_array_equal(unscale_images(scaled), pixels)
    import tensorflow as tf
    np.testing.assert_array_equal(scale_images(tf.constant(pixels)).numpy(), scaled)  # tf.data's path: the same


def test_dataset_batches_are_scaled_reshuffled_and_exact(synthetic):
    path, _ = synthetic
    images, _ = load_cifar10(path)
    first = [b.numpy() for b in make_dataset(images, 4, seed=1, epoch=0)]
    again = [b.numpy() for b in make_dataset(images, 4, seed=1, epoch=0)]
    second = [b.numpy() for b in make_dataset(images, 4, seed=1, epoch=1)]
    assert len(first) == 3 and all(b.shape == (4, 32, 32, 3) for b in first)  # 15 // 4, remainder dropped
    assert all(b.dtype == np.float32 and b.min() >= -1 and b.max() <= 1 for b in first)
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(again))  # (seed, epoch) fixes the order
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))     # a new epoch reshuffles
    skipped = [b.numpy() for b in make_dataset(images, 4, seed=1, epoch=0, skip_batches=2)]
    np.testing.assert_array_equal(skipped[0], first[2])


def test_flip_mirrors_some_images_only(synthetic):
    path, _ = synthetic
    images, _ = load_cifar10(path)
    plain = np.concatenate([b.numpy() for b in make_dataset(images, 5, seed=3)])
    flipped = np.concatenate([b.numpy() for b in make_dataset(images, 5, seed=3, flip=True)])
    mirrored = [np.array_equal(f, p[:, ::-1]) for f, p in zip(flipped, plain)]
    same = [np.array_equal(f, p) for f, p in zip(flipped, plain)]
    assert all(m or s for m, s in zip(mirrored, same)) and any(mirrored) and any(same)


class Exploit:
    """Unpickling this would call os.system and create a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickle_with_foreign_global_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    batches = synthetic_batches(sizes=(3,))
    evil = pickle.dumps({b"data": Exploit(marker), b"labels": [0]}, protocol=3)
    path = write_archive(tmp_path / "evil.tar.gz", {"test_batch": batches["test_batch"]},
                         extra={"data_batch_1": evil})
    with pytest.raises(DataError, match="refusing to load global (posix|os).system"):
        load_cifar10(path)
    assert not marker.exists()


def test_missing_path_gives_clear_error(tmp_path):
    with pytest.raises(DataError, match="no such file or directory"):
        load_cifar10(str(tmp_path / "nope.tar.gz"))


def test_non_tar_file_gives_clear_error(tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello")
    with pytest.raises(DataError, match="not a tar archive"):
        load_cifar10(str(bogus))


def test_truncated_pickle_gives_clear_error(tmp_path):
    blob = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}, protocol=3)
    path = write_archive(tmp_path / "cut.tar.gz", {}, extra={"data_batch_1": blob[: len(blob) // 2]})
    with pytest.raises(DataError, match="damaged or truncated batch file"):
        load_cifar10(path)


def test_truncated_archive_gives_clear_error(synthetic, tmp_path):
    path, _ = synthetic
    cut = tmp_path / "cut.tar.gz"
    data = open(path, "rb").read()
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DataError, match="damaged or truncated"):
        load_cifar10(str(cut))


def test_archive_without_batches_gives_clear_error(tmp_path):
    path = write_archive(tmp_path / "empty.tar.gz", {}, extra={"readme.html": b"hi"})
    with pytest.raises(DataError, match="no CIFAR-10 train batches"):
        load_cifar10(path)


# ---------------------------------------------------------------------------
# Tampered and damaged files: each refused with one line (DataError), nothing crashes.
# ---------------------------------------------------------------------------
try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct


class ObjectDtypeWithClearedFlags:
    """np.dtype('O8') whose reference-count flags a crafted __setstate__ clears."""

    def __reduce__(self):
        return np.dtype, ("O8", False, True), (3, "|", None, None, None, -1, -1, 0)


class FakePointers:
    """An 'object' array whose bytes numpy would read as memory addresses (a segfault, exit 139)."""

    def __reduce__(self):
        return _reconstruct, (np.ndarray, (0,), b"b"), (1, (64,), ObjectDtypeWithClearedFlags(), False, b"A" * 512)


def tampered_blob(labels, data=None):
    data = np.zeros((64, 3072), np.uint8) if data is None else data
    return pickle.dumps({b"data": data, b"labels": labels}, protocol=4)


@pytest.mark.parametrize("where", ["tar", "folder"])
def test_object_dtype_payload_is_refused_without_crashing(tmp_path, where):
    """The pickle uses only allowed globals, yet once crashed the process (exit 139)."""
    blob = tampered_blob(FakePointers())
    if where == "tar":
        path = write_archive(tmp_path / "evil.tar.gz", {}, extra={"data_batch_1": blob})
    else:
        (tmp_path / "evil" / "cifar-10-batches-py").mkdir(parents=True)
        (tmp_path / "evil" / "cifar-10-batches-py" / "data_batch_1").write_bytes(blob)
        path = str(tmp_path / "evil")
    # In a child process, so that a regression shows as a crash of the child, not of pytest.
    code = f"import defDATA\ntry:\n    defDATA.load_cifar10({path!r})\nexcept defDATA.DataError as e:\n    print(e)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-500:]}"
    assert "refusing array dtype 'O8'" in result.stdout


@pytest.mark.parametrize("labels, data, message", [
    (np.array([1] * 64, dtype=object), None, "refusing array dtype 'O8'"),
    (np.zeros(64, np.float32), None, "refusing array dtype 'f4'"),
    ("0123456789" * 6 + "0123", None, "labels are a str, expected a list"),
    (3, None, "labels are a int, expected a list"),
    ([0] * 63, None, "63 labels for 64 images"),
    ([0] * 63 + [10], None, "a label is outside 0-9"),
    ([0] * 63 + [True], None, "labels are a list, expected a list of class numbers"),
    (np.zeros((64, 1), np.int64), None, "labels are a 2-D array"),
    ([0] * 64, np.zeros((64, 3072), np.int16), "data is a int16 array of shape (64, 3072)"),
    ([0] * 64, np.zeros((64, 100), np.uint8), "expected N x 3072 uint8"),
])
def test_wrong_array_types_are_refused(tmp_path, labels, data, message):
    path = write_archive(tmp_path / "odd.tar.gz", {}, extra={"data_batch_1": tampered_blob(labels, data)})
    with pytest.raises(DataError) as error:
        load_cifar10(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_labels_stored_as_an_integer_array_are_accepted(tmp_path):
    path = write_archive(tmp_path / "ok.tar.gz", {}, extra={"data_batch_1": tampered_blob(np.arange(64) % 10)})
    assert load_cifar10(path)[1].tolist() == (np.arange(64) % 10).tolist()


def test_missing_batch_file_is_refused(synthetic, tmp_path):
    _, batches = synthetic
    del batches["data_batch_2"]
    path = write_archive(tmp_path / "gap.tar.gz", batches)
    with pytest.raises(DataError, match="missing batch file data_batch_2"):
        load_cifar10(path)
    # The official layout (it has batches.meta) has five: a lost data_batch_5 is noticed too.
    official = synthetic_batches(sizes=(2, 2, 2, 2))
    path = write_archive(tmp_path / "four.tar.gz", official, extra={"batches.meta": b"meta"})
    with pytest.raises(DataError, match="missing batch file data_batch_5"):
        load_cifar10(path)


def test_corrupted_gzip_region_is_noticed(synthetic, tmp_path):
    """A flipped byte inside the compressed stream: zlib error or checksum mismatch, never silent training."""
    path, _ = synthetic
    data = bytearray(open(path, "rb").read())
    for offset in (len(data) // 3, len(data) // 2, len(data) - 12):
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        (tmp_path / "bad.tar.gz").write_bytes(bytes(damaged))
        with pytest.raises(DataError, match="damaged or truncated archive|unreadable|damaged or truncated batch"):
            load_cifar10(str(tmp_path / "bad.tar.gz"))


def test_batch_that_is_a_folder_or_a_symlink_loop(synthetic, tmp_path):
    path, _ = synthetic
    with tarfile.open(path) as archive:
        archive.extractall(tmp_path / "x", filter="data")
    folder = tmp_path / "x" / "cifar-10-batches-py"
    os.remove(folder / "data_batch_1")
    (folder / "data_batch_1").mkdir()
    with pytest.raises(DataError, match="cannot read .*data_batch_1"):
        load_cifar10(str(tmp_path / "x"))
    (folder / "data_batch_1").rmdir()
    os.symlink(folder / "data_batch_1", folder / "data_batch_1")  # points at itself
    with pytest.raises(DataError, match="cannot read .*data_batch_1"):
        load_cifar10(str(tmp_path / "x"))
