"""Commands that would replace or write through a trained run are refused in one line, before
anything is written (from the last hostile pass)."""
import os

import pytest

from conftest import TINY, run_script
from test_bad_input import finished_run, refused  # noqa: F401  finished_run is a fixture


@pytest.mark.parametrize("flag", ["--overwrite", "--resume"])
def test_dry_run_never_replaces_or_continues_a_run(real_archive, finished_run, flag):  # noqa: F811
    """--dry-run --overwrite once replaced a trained run with a 2-step smoke test, eval.json included."""
    target = ["--out", finished_run, "--overwrite"] if flag == "--overwrite" else ["--resume", finished_run]
    refused(["--dry-run", "--data", real_archive, *target, *TINY], f"--dry-run: not with {flag}", finished_run)


@pytest.fixture
def linked_run(finished_run, tmp_path):  # noqa: F811
    """A symbolic link to the finished run, as a person might make one for a shorter name."""
    link = tmp_path / "link"
    link.symlink_to(finished_run, target_is_directory=True)
    return str(link)


@pytest.mark.parametrize("arguments", [["--out", "{link}", "--overwrite"], ["--resume", "{link}", "--epochs", "2"],
                                       ["--resume", "{link}/", "--epochs", "2"]])
def test_a_run_folder_that_is_a_link_is_never_written_through(real_archive, finished_run, linked_run,  # noqa: F811
                                                              arguments):
    arguments = [value.format(link=linked_run) for value in arguments]
    flag = arguments[0]
    refused(["--data", real_archive, *arguments, *TINY], f"{flag} {arguments[1]}: is a symbolic link",
            finished_run)


def test_a_new_run_folder_that_is_a_link_to_an_empty_folder_is_refused(real_archive, finished_run,  # noqa: F811
                                                                      tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "empty", target_is_directory=True)
    refused(["--data", real_archive, "--out", str(tmp_path / "link"), "--epochs", "1", "--steps-per-epoch", "1", *TINY],
            f"--out {tmp_path / 'link'}: is a symbolic link", finished_run)
    assert os.listdir(tmp_path / "empty") == []


def test_samples_and_evaluate_never_write_into_a_linked_run(finished_run, linked_run, tmp_path,  # noqa: F811
                                                           tiny_features):
    """Reading a run through a link is fine; writing its samples.png or eval.json through one is not."""
    refused([linked_run], f"RUN_DIR {linked_run}: is a symbolic link", finished_run, script="samples.py")
    refused([linked_run, "--features", tiny_features, "--n", "20"], f"RUN_DIR {linked_run}: is a symbolic link",
            finished_run, script="evaluate.py")
    grid = tmp_path / "grid.png"
    result = run_script("samples.py", linked_run, "--out", str(grid))
    assert result.returncode == 0 and grid.is_file(), result.stderr[-1500:]
