"""Hostile run folders: links, special files, look-alike names and a full disk.

The project never writes through a symbolic link, never follows one out of
the run folder, never waits for ever on a file that is not a regular file,
and removes only what it wrote, where it wrote it. Each test hashes what a
command must leave alone before and after it.
"""
import hashlib
import os

import pytest

from machinery import runs


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
