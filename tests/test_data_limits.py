"""Hostile data: sizes beyond the CIFAR-10 format, files that are not regular files,
odd batch names and damaged compression. Each is refused with one DataError line,
in bounded time and memory, never a traceback, a hang or an exhausted memory."""
import io
import os
import pickle
import re
import tarfile

import numpy as np
import pytest

from datafiles import cifar_files
from conftest import TINY, batch_bytes, run_script, synthetic_batches, write_archive
from defDATA import DataError, load_cifar10


def member(name, blob=b"", kind=tarfile.REGTYPE, size=None, target=""):
    """(TarInfo, data) of one archive member; `size` may claim more than `blob` holds."""
    info = tarfile.TarInfo("cifar-10-batches-py/" + name)
    info.type, info.linkname = kind, target
    info.size = len(blob) if size is None else size
    return info, blob


def write_tar(path, members, mode="w:gz"):
    """An archive of (TarInfo, data) members; a member claiming more than its data makes a truncated archive."""
    with tarfile.open(path, mode) as archive:
        for info, blob in members:
            if info.size > len(blob):  # write the header alone: the data that should follow is missing
                archive.fileobj.write(info.tobuf(archive.format, archive.encoding, archive.errors))
                archive.fileobj.write(blob)
                archive.offset += tarfile.BLOCKSIZE + len(blob)
            else:
                archive.addfile(info, io.BytesIO(blob) if info.isfile() else None)
    return str(path)


def good_members():
    return [member(name, batch_bytes(*batch)) for name, batch in synthetic_batches().items()]


def refused_in_a_child(path, timeout=60):
    """load_cifar10(path) in a child process, which a hang cannot take the tests down with; its one line."""
    code = ("import sys, defDATA\ntry:\n    defDATA.load_cifar10(sys.argv[1])\n"
            "except defDATA.DataError as error:\n    sys.exit(f'error: {error}')\nprint('accepted')")
    result = run_script("-c", code, str(path), timeout=timeout)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, lines[-5:]
    return lines[0]


# ---------------------------------------------------------------------------
# 1. Every size is bounded by the format before anything is allocated for it.
# ---------------------------------------------------------------------------
def test_a_batch_of_more_than_ten_thousand_images_is_refused(tmp_path):
    blob = pickle.dumps({b"data": np.zeros((10_001, 3072), np.uint8), b"labels": [0] * 10_001}, protocol=4)
    path = write_tar(tmp_path / "big.tar.gz", [member("data_batch_1", blob)])
    with pytest.raises(DataError, match="10001 images; a CIFAR-10 batch holds at most 10000"):
        load_cifar10(path)


def test_a_member_declaring_gigabytes_is_refused_from_its_header(tmp_path):
    """The header claims 3 GB (its data is not even there): refused before a byte of it is read."""
    path = write_tar(tmp_path / "huge.tar.gz", [member("data_batch_1", b"\x80\x04", size=3 * 10**9)])
    with pytest.raises(DataError, match=r"data_batch_1: 3000000000 bytes, more than a CIFAR-10 batch file holds"):
        load_cifar10(path)


def test_a_batch_file_of_gigabytes_in_a_folder_is_refused_unread(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    with open(folder / "data_batch_1", "wb") as file_object:
        file_object.truncate(3 * 10**9)  # a sparse file: 3 GB long, no disk used
    with pytest.raises(DataError, match="data_batch_1: 3000000000 bytes, more than a CIFAR-10 batch file holds"):
        load_cifar10(str(tmp_path))


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz"])
def test_decompressed_output_is_bounded(tmp_path, monkeypatch, mode):
    """A small archive that expands without end (a decompression bomb): reading stops at the bound.
    The bound is lowered here so that the test stays small; the real one is a few full batches."""
    monkeypatch.setattr(cifar_files, "MAX_ARCHIVE_BYTES", 2**20)
    path = write_tar(tmp_path / "bomb.tar", good_members() + [member("readme.html", bytes(2**21))], mode)
    with pytest.raises(DataError, match=r"decompresses to more than 1048576 bytes"):
        load_cifar10(path)


def test_more_than_five_training_batches_are_refused(tmp_path):
    batches = synthetic_batches(sizes=(1,) * 6)
    path = write_archive(tmp_path / "six.tar.gz", batches)
    with pytest.raises(DataError, match="unexpected batch file 'data_batch_6'.*data_batch_1 to data_batch_5"):
        load_cifar10(path)


# ---------------------------------------------------------------------------
# 2. Only regular files are opened: a FIFO blocks for ever, a device never ends.
# ---------------------------------------------------------------------------
def test_a_fifo_as_data_is_refused_at_once(tmp_path):
    fifo = tmp_path / "cifar-10-python.tar.gz"
    os.mkfifo(fifo)
    result = run_script("train.py", "--data", str(fifo), "--out", str(tmp_path / "run"), *TINY, timeout=60)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, lines[-5:]
    assert lines[0] == f"error: --data {fifo}: is a named pipe (FIFO), not a regular file or folder"
    assert not (tmp_path / "run").exists()


def test_dev_zero_as_data_is_refused_at_once():
    assert refused_in_a_child("/dev/zero") == "error: --data /dev/zero: is a character device, " \
        "not a regular file or folder"


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_a_batch_file_that_is_not_a_regular_file_is_refused(tmp_path, special):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    if special == "fifo":
        os.mkfifo(folder / "data_batch_1")
    else:
        os.symlink(special, folder / "data_batch_1")
    kind = "a named pipe (FIFO)" if special == "fifo" else "a character device"
    assert refused_in_a_child(tmp_path).endswith(f"data_batch_1: is {kind}, not a regular file")


@pytest.mark.parametrize("kind, words", [(tarfile.SYMTYPE, "a symbolic link"), (tarfile.LNKTYPE, "a hard link"),
                                         (tarfile.FIFOTYPE, "a named pipe (FIFO)"),
                                         (tarfile.CHRTYPE, "a character device")])
def test_an_archive_member_that_is_not_a_regular_file_is_refused(tmp_path, kind, words):
    members = good_members()
    members[0] = member("data_batch_1", kind=kind, target="/dev/zero")
    path = write_tar(tmp_path / "links.tar.gz", members)
    with pytest.raises(DataError, match=re.escape(f"cifar-10-batches-py/data_batch_1: is {words}, not a regular file")):
        load_cifar10(path)


# ---------------------------------------------------------------------------
# 3. What once escaped as a traceback.
# ---------------------------------------------------------------------------
def test_labels_beyond_int64_are_refused(tmp_path):
    blob = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [2**70, 0]}, protocol=4)
    path = write_tar(tmp_path / "labels.tar.gz", [member("data_batch_1", blob)])
    with pytest.raises(DataError, match="a label is outside 0-9"):
        load_cifar10(path)


@pytest.mark.parametrize("name", ["data_batch_\u0661", "data_batch_\u00b2", "data_batch_\uff11", "data_batch_01",
                                  "data_batch_" + "7" * 5000])
def test_batch_names_with_odd_numbers_are_refused(tmp_path, name):
    """int() reads '\u0661' as 1 and fails on '\u00b2' and on 5000 digits; the file is then looked up by
    the name the number gives back, which is not its name: a KeyError, a ValueError, or a silent mix-up."""
    members = good_members() + [member(name, batch_bytes(*synthetic_batches(sizes=(1,))["data_batch_1"]))]
    paths = [write_tar(tmp_path / "odd.tar.gz", members)]
    if len(name) < 255:  # a folder cannot hold a name of 5000 characters
        folder = tmp_path / "folder"
        folder.mkdir()
        for info, blob in members:
            (folder / os.path.basename(info.name)).write_bytes(blob)
        paths.append(str(folder))
    for path in paths:
        with pytest.raises(DataError, match="unexpected batch file") as error:
            load_cifar10(path)
        assert len(str(error.value)) < 300  # the 5000 digits are not all printed


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz"])
def test_damaged_compression_is_one_line(tmp_path, mode):
    path = write_tar(tmp_path / "good.tar", good_members(), mode)
    data = open(path, "rb").read()
    for offset in (len(data) // 2, len(data) - 6):
        damaged = bytearray(data)
        damaged[offset] ^= 0x55
        (tmp_path / "bad").write_bytes(bytes(damaged))
        with pytest.raises(DataError, match="damaged or truncated"):
            load_cifar10(str(tmp_path / "bad"))
    (tmp_path / "cut").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="damaged or truncated"):
        load_cifar10(str(tmp_path / "cut"))


def test_all_three_compressions_and_a_plain_tar_load(tmp_path):
    want = load_cifar10(write_tar(tmp_path / "a.tar.gz", good_members()))
    for mode in ("w:bz2", "w:xz", "w"):
        got = load_cifar10(write_tar(tmp_path / f"a.{mode[2:] or 'plain'}", good_members(), mode))
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_quality_benchmark_refuses_bad_data_in_one_line(tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello")
    result = run_script("benchmarks/quality.py", "--steps", "2", "--data", str(bogus), "--out",
                        str(tmp_path / "q"), timeout=120)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, lines[-5:]
    assert lines[0] == f"error: --data {bogus}: not a tar archive or folder (expected cifar-10-python.tar.gz)"
    assert not (tmp_path / "q").exists()
