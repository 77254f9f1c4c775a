"""A folder of the user's own pictures, listed: which files are images, and which class each belongs to.

defDATA.load_data calls `list_images` before anything is decoded (datafiles/image_decoding.py
decodes, datafiles/image_cache.py keeps the result); a first reading can skip this module.
The rules, as keras.utils.image_dataset_from_directory has them where it has one:
  * images are .png, .jpg/.jpeg, .bmp, .gif and .webp files (any case: .JPG too), found in the
    folder and every folder below it, in sorted order, so the same folder gives the same run;
  * the subfolders directly inside the folder are the classes, named by the subfolder, sorted:
    photos/cat/*.jpg and photos/dog/*.jpg are two classes. An image deeper down belongs to the
    class folder it is in (photos/cat/kittens/a.jpg is a cat). With class subfolders, images lying
    directly in the top folder belong to no class and are left out (a warning says how many), as
    Keras leaves them out. Without subfolders the folder is one unlabelled set;
  * names starting with "." are hidden files and folders (.git, .ipynb_checkpoints), skipped, so
    that a notebook's checkpoint folder never becomes a class;
  * a symbolic link is followed, to a file or to a folder (each folder is read once), but a link
    leading back to a folder that holds it (a loop) is refused: the walk would never end;
  * a named pipe (FIFO), a device or a socket named like an image is skipped and never opened:
    reading one would wait for ever, or never end.
Every problem is a DataError, one line naming the file; a file name that is not valid UTF-8 is
shown with its odd bytes as \\xNN escapes (`shown`).
"""
import collections
import os
import stat

from datafiles.bounded_reads import kind
from datafiles.cifar_files import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
MAX_DEPTH = 64  # folders inside folders; deeper is a mistake, or a loop that inode numbers cannot see
MAX_FILES = 10_000_000  # images in one folder: far beyond what one machine trains on

# One image file: its path, its path inside the folder (the cache's key), its size and modification time
# (a changed file is decoded again), and its class number (0 without classes).
ImageFile = collections.namedtuple("ImageFile", "path relative size mtime_ns label")
# A listed folder: its image files, its class names (None: no classes), the images left out for lying
# beside the class folders, and the image files skipped before decoding: (path, what is wrong).
Listing = collections.namedtuple("Listing", "root files class_names loose skipped")


def shown(path):
    """A path as one printable line: bytes that are not UTF-8 become \\xNN, line breaks \\n."""
    text = os.fsencode(path).decode("utf-8", errors="backslashreplace")
    return text.replace("\r", "\\r").replace("\n", "\\n")


def is_image_name(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


def is_cifar_folder(path):
    """Whether a folder is CIFAR-10's (its batch files, or an extracted cifar-10-batches-py inside it),
    rather than a folder of images."""
    inner = os.path.join(path, "cifar-10-batches-py")
    folder = inner if os.path.isdir(inner) else path
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    return any(name.startswith("data_batch_") or name == "test_batch" for name in names)


def list_images(root):
    """The Listing of a folder of images (the rules: this module's docstring). Raises DataError."""
    found, skipped = [], []
    top = os.stat(root)
    _walk(root, root, "", 0, {(top.st_dev, top.st_ino)}, set(), found, skipped)
    if not found:
        what = f" ({len(skipped)} could not be read: {shown(skipped[0][0])} {skipped[0][1]})" if skipped else ""
        raise DataError(f"--data {shown(root)}: no image files found (looked for "
                        f"{', '.join(IMAGE_EXTENSIONS)}, in subfolders too){what}")
    class_names = sorted({relative.split(os.sep)[0] for relative, _ in found if os.sep in relative})
    loose = [relative for relative, _ in found if os.sep not in relative]
    files = []
    for relative, info in found:
        if class_names and os.sep not in relative:
            continue  # beside the class folders: no class (Keras leaves these out too)
        label = class_names.index(relative.split(os.sep)[0]) if class_names else 0
        files.append(ImageFile(os.path.join(root, relative), relative, info.st_size, info.st_mtime_ns, label))
    for name in class_names:
        check_class_name(root, name)
    return Listing(root, files, tuple(class_names) or None, loose if class_names else [], skipped)


def check_class_name(root, name):
    """A class name goes into config.json and is typed after samples.py --class: it must be readable text."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(f"--data {shown(root)}: the class folder {shown(name)!r} has a name that is not valid "
                        "UTF-8 text; rename it (class names are written to config.json and typed after --class)") \
            from None


def _walk(root, folder, relative, depth, ancestors, seen, found, skipped):
    """Add (path inside root, os.stat result) of every image file below `folder` to `found`, sorted by name,
    and (path, reason) of the image files that cannot be read to `skipped`. `ancestors` holds the
    (device, inode) of the folders that lead here (a link to one of them is a loop), `seen` every folder read."""
    if depth > MAX_DEPTH:
        raise DataError(f"--data {shown(root)}: {shown(folder)} lies more than {MAX_DEPTH} folders deep")
    try:
        with os.scandir(folder) as entries:
            names = sorted((entry.name for entry in entries if not entry.name.startswith(".")), key=os.fsencode)
    except OSError as error:
        raise DataError(f"--data {shown(root)}: cannot read the folder {shown(folder)} ({error.strerror})") from None
    for name in names:
        path, inside = os.path.join(folder, name), os.path.join(relative, name)
        try:
            info = os.stat(path)  # follows a symbolic link; never opens the file, so a FIFO cannot block
        except OSError as error:  # a broken link, a link to itself (a loop), no permission
            if is_image_name(name):
                skipped.append((path, f"cannot be read ({error.strerror})"))
            continue
        if stat.S_ISDIR(info.st_mode):
            identity = (info.st_dev, info.st_ino)
            if identity in ancestors:
                raise DataError(f"--data {shown(root)}: {shown(path)} is a symbolic link loop (it leads back to "
                                "a folder that holds it); remove the link")
            if identity not in seen:  # a second link to a folder already read: its images count once
                seen.add(identity)
                _walk(root, path, inside, depth + 1, ancestors | {identity}, seen, found, skipped)
        elif is_image_name(name):
            if stat.S_ISREG(info.st_mode):
                found.append((inside, info))
            else:
                skipped.append((path, f"is {kind(info.st_mode)}, not a regular file"))
            if len(found) > MAX_FILES:
                raise DataError(f"--data {shown(root)}: more than {MAX_FILES} images")
