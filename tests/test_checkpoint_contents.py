"""A checkpoint must make sense, not only match its checksums, which a person can recompute
(from the last hostile pass; test_damaged_runs.py has the rest)."""
import json
import os
import shutil

import numpy as np
import pytest

from conftest import run_script
from machinery.checkpoint import STATE_CHECKSUM, file_sha256, find_latest_checkpoint, state_checksum
from test_damaged_runs import after_start_up, two_checkpoints  # noqa: F401  two_checkpoints is a fixture


def with_noise(run_dir, tmp_path, noise):
    """A copy of run_dir whose newest checkpoint holds `noise` as its fixed noise, checksums recomputed."""
    copy = str(tmp_path / "run")
    shutil.copytree(run_dir, copy)
    folder = os.path.join(copy, "checkpoints", "step-00000002")
    np.save(os.path.join(folder, "fixed_noise.npy"), noise)
    with open(os.path.join(folder, "state.json")) as file_object:
        state = json.load(file_object)
    state["sha256"]["fixed_noise.npy"] = file_sha256(os.path.join(folder, "fixed_noise.npy"))
    state[STATE_CHECKSUM] = state_checksum(state)
    with open(os.path.join(folder, "state.json"), "w") as file_object:
        json.dump(state, file_object)
    return copy


@pytest.mark.parametrize("noise", [np.zeros((64, 8), np.float32), np.zeros((64,), np.float32),
                                   np.full((64, 16), np.nan, np.float32), np.zeros((64, 16), np.int64)],
                         ids=["wrong latent size", "one axis", "not finite", "integers"])
def test_fixed_noise_that_does_not_fit_the_run_sets_the_checkpoint_aside(two_checkpoints, tmp_path,  # noqa: F811
                                                                         noise):
    copy = with_noise(two_checkpoints, tmp_path, noise)
    warnings = []
    path, state, _ = find_latest_checkpoint(copy, report=warnings.append)
    assert os.path.basename(path) == "step-00000001" and state["step"] == 1
    assert len(warnings) == 1 and "fixed_noise.npy" in warnings[0], warnings


def test_resume_past_fixed_noise_of_the_wrong_shape(two_checkpoints, tmp_path):  # noqa: F811
    """A hostile pass: a traceback when the first grid was drawn from noise of latent size 8."""
    copy = with_noise(two_checkpoints, tmp_path, np.zeros((64, 8), np.float32))
    result = run_script("train.py", "--resume", copy, "--epochs", "3")
    lines = after_start_up(result.stdout + "\n" + result.stderr)
    assert result.returncode == 0 and not any("Traceback" in line for line in lines), "\n".join(lines[-30:])
    assert any(line.startswith("resuming ") and line.endswith("step-00000001: epoch 1, step 1") for line in lines)
    assert os.path.isdir(os.path.join(copy, "checkpoints", "damaged-step-00000002"))
