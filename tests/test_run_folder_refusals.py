"""Commands that would replace or write through a trained run are refused in one line, before
anything is written (from the last hostile pass)."""
import os

import pytest

from conftest import TINY
from test_bad_input import finished_run, refused  # noqa: F401  finished_run is a fixture


@pytest.mark.parametrize("flag", ["--overwrite", "--resume"])
def test_dry_run_never_replaces_or_continues_a_run(real_archive, finished_run, flag):  # noqa: F811
    """--dry-run --overwrite once replaced a trained run with a 2-step smoke test, eval.json included."""
    target = ["--out", finished_run, "--overwrite"] if flag == "--overwrite" else ["--resume", finished_run]
    refused(["--dry-run", "--data", real_archive, *target, *TINY], f"--dry-run: not with {flag}", finished_run)
