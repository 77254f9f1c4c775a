"""A write that fails during training (a full disk, a read-only folder): one line, and a clean exit.

HDF5, which writes Keras' .weights.h5 files, cannot fail cleanly on a full
disk (h5py issue 914): it reports the failed write as a ValueError or
RuntimeError carrying the C library's text over several lines, prints more
of them as "Exception ignored" tracebacks while Python frees its objects,
and may then crash with a segmentation fault when the file is closed, or
when Python exits. So this module:
  * refuses a save that might not fit before any weights file is opened
    (`check_free_space`), which is what a full disk usually meets;
  * turns h5py's errors into the OSError they stand for (`lost_write`),
    those it reports while freeing its objects too (`LostWriteHooks`);
  * exits at once after the one line (`exit_at_once`), skipping the
    interpreter's teardown where HDF5 would crash. That is safe: every file
    is written atomically (checkpoint.py), so what is on disk is complete.
"""
import contextlib
import errno
import os
import re
import shutil
import sys

from machinery.options import one_line

SAVE_MARGIN = 2 * 2**20  # bytes for the grid, metrics.csv, the plot and TensorBoard's events of an epoch
DATASET_OVERHEAD = 4096  # HDF5's bytes per array besides its values, generously


def weights_bytes(model):
    """Bytes a .weights.h5 file of `model` takes at most: its variables (and its optimizer's, if compiled)."""
    optimizer = getattr(model, "optimizer", None)
    variables = list(model.variables) + list(getattr(optimizer, "variables", None) or [])
    return sum(int(_size(variable.shape)) * _itemsize(variable.dtype) + DATASET_OVERHEAD for variable in variables)


def _size(shape):
    count = 1
    for dimension in shape:
        count *= int(dimension)
    return count


def _itemsize(dtype):
    import numpy as np

    return np.dtype(getattr(dtype, "name", dtype)).itemsize


def check_free_space(folder, byte_count):
    """Raise OSError(ENOSPC) unless the disk holding `folder` has `byte_count` bytes and a margin free."""
    need, free = byte_count + SAVE_MARGIN, shutil.disk_usage(folder).free
    if free < need:
        raise OSError(errno.ENOSPC, f"only {free / 2**20:.1f} MB free on that disk, a save needs about "
                      f"{need / 2**20:.1f} MB", folder)


def lost_write(error):
    """The OSError behind a failed write: `error` itself, or the errno in h5py's text; None if no write failed."""
    if isinstance(error, OSError):
        return error
    match = re.search(r"errno = (\d+)", str(error)) if isinstance(error, (ValueError, RuntimeError)) else None
    if not match:
        return None
    name = re.search(r"filename = '([^']*)'", str(error))
    return OSError(int(match[1]), os.strerror(int(match[1])), name[1] if name else None)


def describe(error, folder, resume):
    """One line for a failed write, with what to do about its cause (from its errno)."""
    where = error.filename or folder
    # Name the run's folder, not a half-written temporary, nor a file in a checkpoint being assembled.
    while any(part.startswith(".tmp-") for part in where.split(os.sep)):
        where = os.path.dirname(where)
    reason = os.strerror(error.errno) if error.errno else str(error.strerror or error).splitlines()[0][:200]
    if error.errno in (errno.ENOSPC, errno.EDQUOT) and error.strerror and "MB free" in error.strerror:
        reason = error.strerror  # check_free_space's own words say how much is missing
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = "Free some space"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = f"{where} is not writable: make it writable (or move the run)"
    else:
        advice = "Fix that"
    return one_line(f"error: could not write to {where} ({reason}); the last complete checkpoint is intact. "
                    f"{advice}, then: {resume}")


def exit_at_once(message, code=1):
    """Print `message`, flush, and end the process without Python's teardown (see the module's comment)."""
    print(message, file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(code)


class LostWriteHooks:
    """While in use (`with`): h5py's failed writes reported while it frees its objects, which no
    `try` can catch, call `on_lost_write(OSError)`. h5py prints each through sys.excepthook, then
    reports it to sys.unraisablehook ("Exception ignored in ..."); anything else goes on as before."""

    def __init__(self, on_lost_write):
        self.on_lost_write = on_lost_write

    def __enter__(self):
        self.previous = sys.excepthook, sys.unraisablehook
        sys.excepthook, sys.unraisablehook = self.excepthook, self.unraisablehook
        return self

    def __exit__(self, *exception):
        sys.excepthook, sys.unraisablehook = self.previous

    def excepthook(self, kind, value, traceback):
        self.report(value, traceback and traceback.tb_frame.f_code.co_filename, lambda: self.previous[0](
            kind, value, traceback))

    def unraisablehook(self, unraisable):
        self.report(unraisable.exc_value, repr(unraisable.object), lambda: self.previous[1](unraisable))

    def report(self, value, where, otherwise):
        error = lost_write(value) if "h5py" in str(where) else None
        if error is None:
            return otherwise()
        self.on_lost_write(error)


@contextlib.contextmanager
def failures_in_one_line(plan, args):
    """Around the training loop: a failure a long run can meet becomes one line
    that says how to resume, and a multi-worker helper's private folder goes."""
    import tensorflow as tf

    from machinery.runs import resume_command

    resume = f"{resume_command(plan.chief_dir)} --epochs {args.epochs}"
    failed = []  # the one line of a failed write, once known

    def stop_now(error):  # a failed write h5py reports while freeing its objects, where no `try` sees it
        exit_at_once(describe(error, plan.run_dir, resume))

    try:
        with LostWriteHooks(stop_now):
            yield
    except tf.errors.UnavailableError:  # under --strategy multi-worker: another worker died or was stopped
        if args.strategy != "multi-worker":
            raise
        raise SystemExit(f"error: another worker of the cluster stopped answering (TensorFlow's UnavailableError); "
                         f"every checkpoint written is intact. Start every worker again with: "
                         f"{resume} --strategy multi-worker") from None
    except (OSError, ValueError, RuntimeError) as error:  # a full disk, a folder made read-only ...
        lost = lost_write(error)  # h5py's ValueError or RuntimeError of a failed write included
        if lost is None:
            raise
        failed.append(describe(lost, plan.run_dir, resume))  # every file written so far is complete
    finally:
        if plan.helper:  # the chief's run directory holds the same weights; this private copy is not needed
            shutil.rmtree(plan.run_dir, ignore_errors=True)
            print(f"removed this helper worker's private copy {plan.run_dir}; the chief worker writes {plan.chief_dir}",
                  flush=True)
        if failed:
            exit_at_once(failed[0])
