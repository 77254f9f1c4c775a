"""Writing an output image without harming what is already there (samples.py).

A path the user names may already hold something: a grid drawn yesterday, or
a diary that happens to be called `notes.png`. So an existing file is refused
unless the user adds --force, and even then only an image (PNG, JPEG or GIF,
judged by its first bytes) is replaced. A symbolic link is never written
through, since the file it points to could be anything, and a FIFO or device
is never opened, since opening one can wait for ever.

The image is drawn into a temporary file beside the target and moved into
place when complete, so a crash leaves no half-written image either.
"""
import os
import stat
import tempfile

from machinery.safe_files import names_a_link

# How each image kind starts: the only files --force may replace.
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")


class OutputError(Exception):
    """An output path that must not be written, described in one line."""


def starts_like_an_image(path):
    """True when the regular file at `path` begins like a PNG, JPEG or GIF."""
    # O_NOFOLLOW and O_NONBLOCK: should a link or FIFO appear since we looked, this neither follows nor waits.
    handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(handle, "rb") as file_object:
        start = file_object.read(8)
    return start.startswith(IMAGE_SIGNATURES)


def check_new_file(flag, path, force):
    """Refuse `path` unless nothing is there, or (with force) an image that may be replaced."""
    try:
        info = os.lstat(path)  # lstat: the link itself, not the file it points to
    except FileNotFoundError:
        return
    except OSError as error:
        raise OutputError(f"{flag} {path}: cannot be checked ({error.strerror})") from None
    if stat.S_ISLNK(info.st_mode):
        raise OutputError(f"{flag} {path}: is a symbolic link; it is never written through, even with --force")
    if not stat.S_ISREG(info.st_mode):
        raise OutputError(f"{flag} {path}: exists and is not a regular file")
    if not force:
        raise OutputError(f"{flag} {path}: exists; use --force to replace it")
    try:
        is_image = info.st_size == 0 or starts_like_an_image(path)
    except OSError as error:
        raise OutputError(f"{flag} {path}: unreadable ({error.strerror})") from None
    if not is_image:
        raise OutputError(f"{flag} {path}: exists and is not an image, so it is not replaced, even with --force")


def write_new_file(flag, path, save, force):
    """Call `save(temporary path)` and move the result to `path`, checked again just before.

    Without force the move is a hard link, which fails if anything has
    appeared at `path` in the meantime; with force a rename replaces the old
    image (a rename replaces a link itself, never the file it points to).
    """
    folder, name = os.path.split(os.path.abspath(path))
    # The real name as suffix keeps the extension, from which matplotlib and Pillow choose the format.
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix="-" + name, dir=folder)
    os.close(handle)
    try:
        save(temporary)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temporary, 0o666 & ~mask)  # mkstemp makes private files; an image gets normal permissions
        check_new_file(flag, path, force)
        if force:
            os.replace(temporary, path)
        else:
            link_into_place(flag, temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def link_into_place(flag, temporary, path):
    """Give the finished file its name only if the name is still free."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise OutputError(f"{flag} {path}: exists; use --force to replace it") from None
    except OSError:  # a file system without hard links (FAT, some network shares): checked free just above
        os.replace(temporary, path)


def image_names(folder, count):
    """The names samples.py --individual gives its images: sample_0000.png, sample_0001.png, ..."""
    return [os.path.join(folder, f"sample_{index:04d}.png") for index in range(count)]


def check_new_images(flag, folder, count, force):
    """A folder for `count` single images: not a symbolic link, and none of their names taken (see --force)."""
    if names_a_link(folder):  # `link/` too: its images would land in the link's target
        raise OutputError(f"{flag} {folder}: is a symbolic link; give the folder itself")
    for path in image_names(folder, count):
        check_new_file(flag, path, force)


def write_images(flag, folder, images, force):
    """Each uint8 image as its own PNG in `folder` (checked first with check_new_images)."""
    import matplotlib.image

    os.makedirs(folder, exist_ok=True)
    for path, image in zip(image_names(folder, len(images)), images):
        write_new_file(flag, path, lambda temporary: matplotlib.image.imsave(temporary, image), force)
