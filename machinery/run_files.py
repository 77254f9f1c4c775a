"""What this project writes into a run folder, by exact name and place. A first reading can skip it.

Two things remove files from a run folder, and both remove only what this
project wrote, where it wrote it: `--overwrite` (remove_project_files) and a
resume, which clears the half-written temporaries a killed run left
(remove_stale_temporaries). A person's own file is never removed, however
much its name looks like ours: a `.tmp-draft/` folder, an `analysis/` folder
with temporaries inside, a file named like a TensorBoard event file. So the
names below are exact: the temporaries are those of checkpoint.atomic_save
(`.tmp-XXXXXXXX-NAME`, next to the project file NAME it becomes), of
checkpoint.save_checkpoint (`checkpoints/.tmp-XXXXXXXX/` holding a
checkpoint's files) and of options.check_writable_folder (`.tmp-write-probe-PID`).
"""
import os
import re
import stat

from machinery.options import RunError

# TensorBoard's event file names: events.out.tfevents.TIME.HOST.PID.N.v2 (tf.summary.create_file_writer).
EVENT_FILE = r"events\.out\.tfevents\.\d+\.[^/]+\.\d+\.\d+\.v2"
# The files a checkpoint folder holds (checkpoint.py), and the checkpoint folders' names.
CHECKPOINT_FILES = r"(state\.weights\.h5|(ema_generator|generator\.ema)\.weights\.h5|fixed_noise\.npy|state\.json)"
CHECKPOINT_FOLDER = r"checkpoints/(damaged-)?step-\d{8}(-\d+)?"
# Every file this project writes into a run directory (train.py, samples.py and
# evaluate.py with their default names), as a path relative to it.
PROJECT_FILES = re.compile(
    r"config\.json|metrics\.csv|losses\.png|eval\.json|samples\.png|interpolation\.png|nearest\.png|\.lock"
    r"|(generator|discriminator|generator\.ema|generator\.best)\.weights\.h5|progress/epoch_\d+\.png"
    rf"|tensorboard/{EVENT_FILE}|{CHECKPOINT_FOLDER}/{CHECKPOINT_FILES}")
PROJECT_FOLDERS = re.compile(rf"progress|tensorboard|checkpoints|{CHECKPOINT_FOLDER}")
# The folders of a run the project writes temporaries into: the run folder itself and these.
TEMPORARY_PLACES = ("", "progress", "tensorboard", "checkpoints")
# tempfile's random part is 8 characters of [a-z0-9_]: .tmp-XXXXXXXX-NAME, or a probe.
TEMPORARY_FILE = re.compile(r"\.tmp-(write-probe-\d+|[a-z0-9_]{8}-(?P<name>[^/]+))")
TEMPORARY_CHECKPOINT = re.compile(r"checkpoints/\.tmp-[a-z0-9_]{8}")  # a checkpoint being assembled


def is_temporary_file(relative):
    """True for a half-written file of this project: `.tmp-XXXXXXXX-NAME` in the folder where the
    project writes NAME, or a write probe in one of the run's folders."""
    place, name = os.path.split(relative)
    match = TEMPORARY_FILE.fullmatch(name)
    if not match or place not in TEMPORARY_PLACES:
        return False
    return match["name"] is None or bool(PROJECT_FILES.fullmatch(os.path.join(place, match["name"])))


def is_temporary_checkpoint(run_dir, relative):
    """True for a checkpoint folder save_checkpoint was assembling: checkpoints/.tmp-XXXXXXXX, a real
    folder holding only regular files named as a checkpoint's files."""
    path = os.path.join(run_dir, relative)
    if not TEMPORARY_CHECKPOINT.fullmatch(relative) or not is_kind(path, stat.S_ISDIR):
        return False
    return all(re.fullmatch(CHECKPOINT_FILES, name) and is_kind(os.path.join(path, name), stat.S_ISREG)
               for name in os.listdir(path))


def is_kind(path, test):
    """Whether `path` itself (never a link's target) is of the kind `test` (stat.S_ISDIR, S_ISREG) tells."""
    try:
        return test(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def project_files(run_dir):
    """(files, folders, first foreign path or None) below run_dir; folders deepest first.
    A symbolic link is never the project's: removing it could reach outside the run."""
    files, folders = [], []
    for folder, subfolders, names in os.walk(run_dir):
        for name in sorted(subfolders) + sorted(names):
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, run_dir)
            if is_kind(path, stat.S_ISDIR) and (PROJECT_FOLDERS.fullmatch(relative)
                                                or is_temporary_checkpoint(run_dir, relative)):
                folders.append(path)
            elif is_kind(path, stat.S_ISREG) and (PROJECT_FILES.fullmatch(relative) or is_temporary_file(relative)
                                                  or in_temporary_checkpoint(run_dir, relative)):
                files.append(path)
            else:
                return files, folders[::-1], path
    return files, folders[::-1], None


def in_temporary_checkpoint(run_dir, relative):
    return is_temporary_checkpoint(run_dir, os.path.dirname(relative))


def foreign_file(run_dir):
    """The first file or folder below run_dir that this project did not write, or None."""
    return project_files(run_dir)[2]


def remove_project_files(run_dir):
    """Delete what this project wrote in run_dir, and only that (refuses if anything else is there)."""
    files, folders, foreign = project_files(run_dir)
    if foreign:
        raise RunError(f"{run_dir}: holds {foreign}, which this project did not write; nothing removed")
    for path in files:
        os.remove(path)
    for path in folders:
        os.rmdir(path)


def stale_temporaries(run_dir):
    """(files, folders) that a killed run left half-written, at the places where the project writes them."""
    files, folders = [], []
    for place in TEMPORARY_PLACES:
        if not is_kind(os.path.join(run_dir, place), stat.S_ISDIR):
            continue
        for name in sorted(os.listdir(os.path.join(run_dir, place))):
            relative = os.path.join(place, name)
            path = os.path.join(run_dir, relative)
            if is_temporary_file(relative) and is_kind(path, stat.S_ISREG):
                files.append(path)
            elif is_temporary_checkpoint(run_dir, relative):
                folders.append(path)
    return files, folders


def remove_stale_temporaries(run_dir, report=lambda line: print(line, flush=True)):
    """Delete the half-written files and checkpoint folders that a killed run left behind (never a person's),
    and say so in one line: nothing in a run folder disappears without a word."""
    files, folders = stale_temporaries(run_dir)
    for path in files:
        os.remove(path)
    for folder in folders:
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
        os.rmdir(folder)
    removed = [os.path.relpath(path, run_dir) for path in files + folders]
    if removed:
        more = f" and {len(removed) - 3} more" if len(removed) > 3 else ""
        noun = "temporary" if len(removed) == 1 else "temporaries"
        report(f"removed {len(removed)} half-written {noun} a stopped run left in {run_dir}: "
               f"{', '.join(removed[:3])}{more}")
