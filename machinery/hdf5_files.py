"""Closing the HDF5 files a failed save left open.

Keras writes a .weights.h5 file through h5py, and when a write fails half-way
(a disk that filled after write_failures.check_free_space) it leaves that file
open. h5py then closes it whenever Python frees the objects, flushing what is
buffered into the full disk, and reports that failure as "Exception ignored
... __dealloc__" tracebacks, or crashes (h5py issue 914). Closing the files at
once, where the error can still be caught, leaves one error: the first one,
which write_failures.describe turns into one line.
"""
import contextlib
import os


def close_files_below(path):
    """Close every HDF5 file h5py holds open at `path`, or below it if it is a folder; a failure to close
    (the same full disk) is ignored: the file is a temporary, about to be removed."""
    import h5py

    place = os.path.abspath(path)
    for file_id in h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE):
        name = os.path.abspath(os.fsdecode(file_id.name))
        if name == place or name.startswith(place + os.sep):
            try:
                h5py.File(file_id).close()  # closes the file's groups and datasets too
            except Exception:  # noqa: BLE001  HDF5's error for the flush that cannot be written
                pass


@contextlib.contextmanager
def closed_on_failure(path):
    """Around a save into `path` (a file, or a folder of them): if it fails, its HDF5 files are closed at once."""
    try:
        yield
    except BaseException:
        close_files_below(path)
        raise
