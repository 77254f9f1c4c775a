"""Hostile run folders: links, special files, look-alike names and a full disk.

The project never writes through a symbolic link, never follows one out of
the run folder, never waits for ever on a file that is not a regular file,
and removes only what it wrote, where it wrote it. Each test hashes what a
command must leave alone before and after it.
"""
import hashlib
import os
import shutil

import pytest

from conftest import TINY, run_script
from machinery import runs
from test_bad_input import tree_digest
from test_every_flag import expect_one_line


@pytest.fixture(scope="module")
def finished(real_archive, tmp_path_factory):
    """A run of 2 epochs of 1 step: checkpoints step-00000001 and step-00000002, every output file."""
    run_dir = str(tmp_path_factory.mktemp("safety") / "run")
    result = run_script("train.py", "--data", real_archive, "--out", run_dir, "--epochs", "2", "--steps-per-epoch",
                        "1", "--ema", "0.9", *TINY)
    assert result.returncode == 0, result.stderr[-1500:]
    return run_dir


def sha256(path):
    with open(path, "rb") as file_object:
        return hashlib.sha256(file_object.read()).hexdigest()


def test_a_lock_that_is_a_link_is_refused_and_its_target_kept(tmp_path):
    """`.lock` was opened with "w": a link named .lock truncated the file it points to, wherever that was."""
    target = tmp_path / "precious.txt"
    target.write_text("a file outside the run that must survive")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    os.symlink(target, run_dir / ".lock")
    before = sha256(target)
    with pytest.raises(runs.RunError, match=r"\.lock: is a symbolic link"):
        runs.lock_run_dir(str(run_dir))
    assert sha256(target) == before and os.path.islink(run_dir / ".lock")


def test_a_lock_that_is_a_fifo_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / ".lock")
    with pytest.raises(runs.RunError, match=r"\.lock: is a FIFO \(named pipe\), not a regular file"):
        runs.lock_run_dir(str(tmp_path))


def make_files(root, relatives):
    """Create each relative path below root as a small file of its own content; returns {path: sha256}."""
    for relative in relatives:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"written by {relative}")
    return {relative: sha256(root / relative) for relative in relatives}


# What a killed run leaves: atomic_save's temporaries next to the files it writes, a half-assembled
# checkpoint folder, a write probe (machinery/checkpoint.py, options.check_writable_folder).
PROJECT_TEMPORARIES = [".tmp-ab_12xyz-config.json", "progress/.tmp-k2j4h6g8-epoch_0003.png",
                       ".tmp-00000000-generator.ema.weights.h5", "checkpoints/.tmp-q1w2e3r4/state.weights.h5",
                       "checkpoints/.tmp-q1w2e3r4/state.json", ".tmp-write-probe-4242",
                       "tensorboard/.tmp-zzzzzzzz-events.out.tfevents.1796095574.vm.3747.0.v2"]
# A person's files that merely start with .tmp- or look like an event file.
USERS_FILES = ["analysis/.tmp-draft/notes.txt", ".tmp-draft/notes.txt", ".tmp-notes.txt",
               "progress/.tmp-mine.png", ".tmp-ab_12xyz-my-notes.txt", "checkpoints/.tmp-keep/notes.txt",
               "checkpoints/.tmp-q1w2e3r5/my-notes.txt"]


def test_resume_removes_only_the_projects_own_temporaries_and_says_so(tmp_path, capsys):
    """It removed them silently: a person's file named like one would have vanished without a word."""
    from machinery import run_files

    run_files.remove_stale_temporaries(str(tmp_path))
    assert capsys.readouterr().out == ""  # nothing removed, nothing said
    make_files(tmp_path, PROJECT_TEMPORARIES)
    kept = make_files(tmp_path, USERS_FILES)
    run_files.remove_stale_temporaries(str(tmp_path))
    assert not any(os.path.exists(tmp_path / relative) for relative in PROJECT_TEMPORARIES)
    assert not os.path.exists(tmp_path / "checkpoints" / ".tmp-q1w2e3r4")
    assert {relative: sha256(tmp_path / relative) for relative in USERS_FILES} == kept
    lines = capsys.readouterr().out.splitlines()  # 5 files and a checkpoint folder: one line, the first 3 named
    assert len(lines) == 1 and lines[0].startswith(f"removed 6 half-written temporaries a stopped run left in "
                                                   f"{tmp_path}: .tmp-00000000-generator.ema.weights.h5, "), lines
    assert lines[0].endswith(" and 3 more"), lines


@pytest.mark.parametrize("users_file", USERS_FILES + ["tensorboard/events.out.tfevents.my-notes.txt",
                                                      "tensorboard/events.out.tfevents.1796095574.vm.3747.0.v2.txt"])
def test_overwrite_counts_a_look_alike_as_a_persons_file(tmp_path, users_file):
    """--overwrite removed any .tmp-* file or folder in the run's folders, and any tensorboard/events.out.tfevents.*."""
    from machinery import run_files

    make_files(tmp_path, ["config.json", "tensorboard/events.out.tfevents.1796095574.vm.3747.0.v2",
                          *PROJECT_TEMPORARIES])
    assert run_files.foreign_file(str(tmp_path)) is None  # the project's own files, temporaries included
    kept = make_files(tmp_path, [users_file])
    with pytest.raises(runs.RunError, match="which this project did not write; nothing removed"):
        run_files.remove_project_files(str(tmp_path))
    assert sha256(tmp_path / users_file) == kept[users_file]
    assert os.path.exists(tmp_path / "config.json")


# Each of the run's own paths, replaced by a link to a copy of it elsewhere.
OUTPUT_PATHS = ["progress", "checkpoints", "tensorboard", "metrics.csv", "losses.png", "generator.weights.h5",
                "config.json", "checkpoints/step-00000002", "progress/epoch_0002.png"]


@pytest.mark.parametrize("relative", OUTPUT_PATHS)
def test_a_link_among_the_runs_own_paths_is_refused_before_training(finished, tmp_path, relative):
    """--resume wrote its grids, checkpoints, events and files through such a link, wherever it pointed."""
    copy, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    shutil.copytree(finished, copy)
    elsewhere.mkdir()
    os.rename(copy / relative, elsewhere / "target")
    os.symlink(elsewhere / "target", copy / relative)
    before = tree_digest(str(elsewhere))
    expect_one_line("train.py", ["--resume", str(copy), "--epochs", "3"], f"{relative}: is a symbolic link",
                    str(copy))
    assert tree_digest(str(elsewhere)) == before and os.path.islink(copy / relative)


def test_atomic_writes_never_follow_a_link(tmp_path):
    """atomic_save replaced a link with a file of its own; a checkpoints/ link had checkpoints written through it."""
    from machinery import checkpoint

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "metrics.csv").write_text("someone else's file")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    os.symlink(elsewhere / "metrics.csv", run_dir / "metrics.csv")
    os.symlink(elsewhere, run_dir / "checkpoints")
    before = tree_digest(str(elsewhere))
    with pytest.raises(OSError, match="is a symbolic link"):
        checkpoint.atomic_write_text(str(run_dir / "metrics.csv"), "epoch,step\n")
    with pytest.raises(OSError, match="is a symbolic link"):
        checkpoint.save_checkpoint(str(run_dir), None, None, {"step": 1})
    assert tree_digest(str(elsewhere)) == before and sorted(os.listdir(run_dir)) == ["checkpoints", "metrics.csv"]
    assert os.path.islink(run_dir / "metrics.csv")


def mounted(folder, *options):
    """Mount a file system at `folder` (root only); False where this machine does not allow it."""
    import subprocess

    folder.mkdir(exist_ok=True)
    return subprocess.run(["mount", *options, str(folder)], capture_output=True).returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """An 8 MB file system (tmpfs), unmounted afterwards; the test is skipped where mounting is not allowed."""
    import subprocess

    disk = tmp_path / "disk"
    if not mounted(disk, "-t", "tmpfs", "-o", "size=8M", "tmpfs"):
        pytest.skip("cannot mount a small file system here (needs root)")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(folder):
    """Write a ballast file until the disk holding `folder` is full."""
    with open(folder / "ballast", "wb", buffering=0) as file_object:
        try:
            while True:
                file_object.write(b"\0" * 4096)
        except OSError:
            pass


def test_resume_on_a_full_disk_is_one_line_and_changes_nothing(finished, small_disk):
    """A full disk: an h5py message split over lines, "Exception ignored" tracebacks, then a segmentation fault."""
    copy = small_disk / "run"
    shutil.copytree(finished, copy)
    fill(small_disk)
    before = tree_digest(str(copy))
    result = run_script("train.py", "--resume", str(copy), "--epochs", "4", timeout=300)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, "\n".join(lines[-20:])
    assert lines[0].startswith("error: ") and "Free some space" in lines[0], lines[0]
    assert tree_digest(str(copy)) == before


def test_a_read_only_progress_folder_is_named_as_such(finished, tmp_path):
    """A read-only progress/ was reported, after an epoch of training, as a full disk ("Free some space")."""
    import subprocess

    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    progress = copy / "progress"
    if not mounted(progress, "--bind", str(progress)):
        pytest.skip("cannot bind-mount here (needs root)")
    try:
        assert mounted(progress, "-o", "remount,ro,bind")
        before = tree_digest(str(copy))
        result = run_script("train.py", "--resume", str(copy), "--epochs", "4", timeout=300)
        lines = (result.stdout + result.stderr).strip().splitlines()
        assert result.returncode != 0 and len(lines) == 1, "\n".join(lines[-20:])
        assert "progress" in lines[0] and "Read-only file system" in lines[0] and "space" not in lines[0], lines[0]
        assert tree_digest(str(copy)) == before
    finally:
        subprocess.run(["umount", "-l", str(progress)], check=False)


H5PY_MESSAGE = ("Can't synchronously write data (file write failed: time = Tue Dec  1 03:37:31 2026\n, filename = "
                "'run/checkpoints/.tmp-wqfa2ezk/state.weights.h5', errno = 28, error message = 'No space left')")


@pytest.mark.parametrize("error, cause", [(OSError(28, H5PY_MESSAGE), "Free some space"),
                                          (OSError(30, "Read-only file system"), "not writable"),
                                          (OSError(13, "Permission denied"), "not writable")])
def test_a_failed_write_during_training_is_one_line_naming_its_cause(tmp_path, monkeypatch, capsys, error, cause):
    """h5py's message spans lines; a read-only or forbidden folder is not a full disk."""
    from types import SimpleNamespace

    from machinery import write_failures

    exits = []
    monkeypatch.setattr(write_failures.os, "_exit", lambda code: exits.append(code) or (_ for _ in ()).throw(SystemExit))
    plan = SimpleNamespace(run_dir=str(tmp_path), chief_dir=str(tmp_path), helper=False)
    with pytest.raises(SystemExit):
        with write_failures.failures_in_one_line(plan, SimpleNamespace(strategy="none", epochs=4)):
            raise error
    lines = capsys.readouterr().err.strip().splitlines()
    assert exits == [1] and len(lines) == 1, lines
    assert lines[0].startswith("error: ") and cause in lines[0] and "--resume" in lines[0], lines[0]
    assert ("space" in lines[0]) == (cause == "Free some space"), lines[0]


def test_a_save_that_would_not_fit_writes_nothing(tmp_path, monkeypatch):
    """HDF5 cannot fail cleanly on a full disk (h5py issue 914: tracebacks while it frees its objects, then a
    segmentation fault when the file is closed), so a save that might not fit is refused before it starts."""
    import errno
    from types import SimpleNamespace

    import keras
    import numpy as np

    from machinery import checkpoint
    from machinery.callbacks import Checkpoints

    generator = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    discriminator = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    gan = keras.Sequential([generator, discriminator])
    models = SimpleNamespace(gan=gan, generator=generator, discriminator=discriminator, ema=None)
    plan = SimpleNamespace(run_dir=str(tmp_path), chief_dir=str(tmp_path), config={})
    args = SimpleNamespace(keep=2, checkpoint_every=0, epochs=1)
    saver = Checkpoints(plan, args, models, np.zeros((2, 4), np.float32), steps_per_epoch=1, record=None,
                        frechet=None, position=(0, 1, 0))
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 4096))
    with pytest.raises(OSError) as failed:
        saver.save()
    assert failed.value.errno == errno.ENOSPC and "MB free" in str(failed.value)
    assert os.listdir(tmp_path) == []


def test_temporaries_that_are_links_or_the_wrong_kind_are_left_alone(tmp_path):
    """A .tmp-* link was removed (or rmtree'd: a traceback), a .tmp-* file in checkpoints/ deleted."""
    from machinery import run_files

    elsewhere = tmp_path / "elsewhere"
    make_files(elsewhere, ["notes.txt", "folder/notes.txt"])
    before = tree_digest(str(elsewhere))
    run_dir = tmp_path / "run"
    kept = make_files(run_dir, ["checkpoints/.tmp-q1w2e3r4"])  # named like a staging folder, but a file
    os.symlink(elsewhere / "notes.txt", run_dir / ".tmp-ab_12xyz-config.json")
    os.symlink(elsewhere / "folder", run_dir / "checkpoints" / ".tmp-a1b2c3d4")
    run_files.remove_stale_temporaries(str(run_dir))
    assert os.path.islink(run_dir / ".tmp-ab_12xyz-config.json")
    assert os.path.islink(run_dir / "checkpoints" / ".tmp-a1b2c3d4")
    assert sha256(run_dir / "checkpoints/.tmp-q1w2e3r4") == kept["checkpoints/.tmp-q1w2e3r4"]
    assert tree_digest(str(elsewhere)) == before


def fifo(path):
    os.remove(path)
    os.mkfifo(path)


def dev_zero(path):
    os.remove(path)
    os.symlink("/dev/zero", path)


@pytest.mark.parametrize("relative", ["config.json", "checkpoints/step-00000002/state.json"])
@pytest.mark.parametrize("special", [fifo, dev_zero])
def test_a_special_file_as_a_run_file_is_refused_at_once(finished, tmp_path, relative, special):
    """A FIFO (no writer ever comes) or /dev/zero (no end) as config.json or state.json: a resume waited for ever."""
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    special(copy / relative)
    expect_one_line("train.py", ["--resume", str(copy), "--epochs", "3"], relative, str(copy))
    assert os.path.lexists(copy / relative)


@pytest.mark.parametrize("special", [fifo, dev_zero])
def test_a_special_file_as_config_json_is_refused_by_samples(finished, tmp_path, special):
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    special(copy / "config.json")
    expect_one_line("samples.py", [str(copy), "--out", str(tmp_path / "grid.png")], "config.json", str(copy))


@pytest.mark.parametrize("special", [fifo, dev_zero])
def test_eval_json_that_is_a_special_file_is_one_line_at_once(tmp_path, special):
    """evaluate.py reads a run's eval.json before appending to it: a FIFO made it wait for ever."""
    from machinery import progress

    (tmp_path / "eval.json").write_text("[]")
    special(tmp_path / "eval.json")
    with pytest.raises(runs.RunError, match=r"eval\.json: unreadable \(is a"):
        progress.read_results(str(tmp_path))
