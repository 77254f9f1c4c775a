"""Reading data files a user names, so that every read ends, soon, in bounded memory.

A path typed on the command line can name anything: a named pipe (FIFO),
whose first read waits until some other program writes to it, perhaps for
ever; a device such as /dev/zero, which never ends; a file far larger than
any the program expects; or a small archive that decompresses to terabytes.
So these helpers open regular files only, refuse a file longer than the
caller says is possible, and stop a decompressor at a bound. defDATA.py reads
CIFAR-10 through them. (A run's own files: machinery/safe_files.py.)
"""
import bz2
import gzip
import lzma
import os
import stat


class Refused(Exception):
    """A file we will not read, in words that follow its name: "is a named pipe (FIFO), ..."."""


# What a file is, in words, from its mode (os.stat's st_mode): the first test that holds.
KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
         (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"))


def kind(mode):
    return next((words for test, words in KINDS if test(mode)), "not a regular file")


def open_bounded(path, limit, what):
    """Open a regular file of at most `limit` bytes for reading (binary); refuse anything else.

    `what` names the largest such file in words, for the message ("a CIFAR-10 batch file").
    The file is checked before it is opened, because opening some devices acts on
    them (a tape rewinds), and again once open, in case it was swapped in between;
    O_NONBLOCK keeps that open from waiting on a FIFO. Raises Refused, or OSError
    when the file cannot be read at all.
    """
    check_regular(os.stat(path).st_mode)
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(descriptor)
        check_regular(info.st_mode)
        if info.st_size > limit:
            raise Refused(f"{info.st_size} bytes, more than {what} holds (at most {limit})")
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def check_regular(mode):
    if not stat.S_ISREG(mode):
        raise Refused(f"is {kind(mode)}, not a regular file")


class BoundedReader:
    """The first `limit` bytes of a stream; reading beyond them raises Refused.

    A decompressor's output must be bounded this way: a bzip2 archive of a few
    hundred bytes can expand to gigabytes of zeros, which would otherwise be
    read (and perhaps kept) for hours.
    """

    def __init__(self, stream, limit):
        self.stream, self.limit, self.left = stream, limit, limit

    def read(self, size=-1):
        wanted = self.left + 1 if size is None or size < 0 else min(size, self.left + 1)
        data = self.stream.read(wanted)
        self.left -= len(data)
        if self.left < 0:
            raise Refused(f"decompresses to more than {self.limit} bytes")
        return data


# The compressions a .tar archive comes in, told apart by their first bytes (tarfile's "r:*" does the same).
DECOMPRESSORS = ((b"\x1f\x8b", lambda raw: gzip.GzipFile(fileobj=raw, mode="rb")), (b"BZh", bz2.BZ2File),
                 (b"\xfd7zXZ\x00", lzma.LZMAFile))


def decompressed(file_object, limit):
    """The file's content, decompressed when it is gzip, bzip2 or xz, as a BoundedReader of `limit` bytes.
    Damaged compressed data raises OSError, EOFError, zlib.error or lzma.LZMAError as it is read."""
    start = file_object.read(6)
    file_object.seek(0)
    opener = next((opener for magic, opener in DECOMPRESSORS if start.startswith(magic)), None)
    return BoundedReader(opener(file_object) if opener else file_object, limit)
