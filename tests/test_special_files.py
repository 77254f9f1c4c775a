"""Files the project reads or probes that are not what they should be: a run's config.json
that is a FIFO (reading it blocked for ever) or huge, and a write probe's name taken by a
symbolic link (the probe once wrote through it)."""
import json
import os

import pytest

from conftest import run_script
from machinery.options import RunError, check_writable_folder, read_config


def test_a_config_json_that_is_a_fifo_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "config.json")
    code = ("import sys\nfrom machinery.options import RunError, read_config\ntry:\n    read_config(sys.argv[1])\n"
            "except RunError as error:\n    sys.exit(f'error: {error}')")
    result = run_script("-c", code, str(tmp_path), timeout=30)
    assert result.returncode != 0
    assert result.stderr.strip() == f"error: {tmp_path / 'config.json'}: unreadable (is a FIFO (named pipe), " \
        "not a regular file)"


def test_a_huge_config_json_is_refused_unread(tmp_path):
    with open(tmp_path / "config.json", "wb") as file_object:
        file_object.truncate(3 * 10**9)  # sparse: no disk used
    with pytest.raises(RunError, match="unreadable \\(3000000000 bytes, more than a run's config.json holds"):
        read_config(str(tmp_path))


def test_a_config_json_still_reads(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"latent_dim": 8}))
    # A run from before --conditional and --image-size reads as the 32x32 unconditional CIFAR-10 run it was.
    expected = {"latent_dim": 8, "conditional": False, "image_size": 32, "class_names": None}
    assert read_config(str(tmp_path)) == expected


def test_the_write_probe_never_writes_through_a_symbolic_link(tmp_path):
    """The probe's name is predictable (the process id): a link planted there once had its target created."""
    (tmp_path / "out").mkdir()
    target = tmp_path / "target"
    for name in (f".tmp-write-probe-{os.getpid()}",):
        os.symlink(target, tmp_path / "out" / name)
    check_writable_folder("--out", str(tmp_path / "out"))
    assert not target.exists()
