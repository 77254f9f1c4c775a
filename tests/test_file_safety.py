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


def test_resume_removes_only_the_projects_own_temporaries(tmp_path):
    from machinery import run_files

    make_files(tmp_path, PROJECT_TEMPORARIES)
    kept = make_files(tmp_path, USERS_FILES)
    run_files.remove_stale_temporaries(str(tmp_path))
    assert not any(os.path.exists(tmp_path / relative) for relative in PROJECT_TEMPORARIES)
    assert not os.path.exists(tmp_path / "checkpoints" / ".tmp-q1w2e3r4")
    assert {relative: sha256(tmp_path / relative) for relative in USERS_FILES} == kept


@pytest.mark.parametrize("users_file", USERS_FILES + ["tensorboard/events.out.tfevents.my-notes.txt",
                                                      "tensorboard/events.out.tfevents.1796095574.vm.3747.0.v2.txt"])
def test_overwrite_counts_a_look_alike_as_a_persons_file(tmp_path, users_file):
    """--overwrite removed any .tmp-* file or folder of the run's own folders, and any tensorboard/events.out.tfevents.*."""
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
