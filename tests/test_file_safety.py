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
