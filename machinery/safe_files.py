"""Opening a run's files without trusting what sits at their names. A first reading can skip it.

A run folder may hold anything a person (or a script) put there: a symbolic
link named `.lock` or `config.json`, a FIFO, `/dev/zero` under a run file's
name. Opening such a path the ordinary way can write through the link into a
file far outside the run, or wait for ever for a writer that never comes. So
every run file this project opens goes through `open_regular`, which refuses
a link (O_NOFOLLOW) and anything that is not a regular file, without blocking
(O_NONBLOCK) and without truncating anything.
"""
import errno
import json
import os
import stat


class NotRegularFile(OSError):
    """A run file's name holds a link, a folder, a FIFO or a device. Its `strerror` says which."""


def kind_of(mode):
    """What a file that is not a regular file is, in words, from its st_mode."""
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    return "is not a regular file"


def names_a_link(path):
    """True when `path` names a symbolic link, however it is spelled: `link/`, `link/.` and `link/sub/..` all
    name the link's target through the link, though os.path.islink is False for each of them."""
    return os.path.islink(os.path.normpath(path))


def refuse_unless_regular(path):
    """Raise NotRegularFile if `path` exists and is anything but a regular file (a link included)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise NotRegularFile(errno.EINVAL, kind_of(mode), path)


def open_regular(path, flags=os.O_RDONLY, mode=0o666):
    """os.open(path, flags) for a regular file only: returns the descriptor, or raises
    NotRegularFile for a link or a special file (and OSError as open does). Never blocks
    on a FIFO, and never truncates: pass O_TRUNC yourself if you mean it."""
    try:
        descriptor = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):  # a link; a FIFO nobody reads; a folder
            refuse_unless_regular(path)
        raise
    status = os.fstat(descriptor)
    if not stat.S_ISREG(status.st_mode):
        os.close(descriptor)
        raise NotRegularFile(errno.EINVAL, kind_of(status.st_mode), path)
    os.set_blocking(descriptor, True)  # a regular file: ordinary reads and writes from here on
    return descriptor


def read_json(path, limit=None, what="such a file"):
    """The JSON value in a regular file (of at most `limit` bytes). Raises OSError (NotRegularFile
    included) or ValueError; a value nested too deeply for Python's parser is a ValueError too."""
    with open(open_regular(path), encoding="utf-8") as file_object:
        size = os.fstat(file_object.fileno()).st_size
        if limit is not None and size > limit:
            raise ValueError(f"{size} bytes, more than {what} holds (at most {limit})")
        try:
            return json.load(file_object)
        except RecursionError:
            raise ValueError("nested too deeply to be a run file") from None
